"""Real gateways in front of gateway-auth and an upstream that echoes the headers it gets.

Each gateway runs its recipe from deploy/ as shipped (tests/support/recipes.py), only with real
ports in place of the service names; gateway-auth runs with BASE_PATH=/auth as the recipes
expect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web

from gateway_auth.config.settings import Settings
from gateway_auth.http.app import create_app
from gateway_auth.http.verify.fastpath import GatewayRunner
from tests.support.clock import FakeClock
from tests.support.gateways import Stack, wait_for_route
from tests.support.processes import listening_socket, port_of
from tests.support.recipes import BASE_PATH, echo_app, gateway

ACCESS_COOKIE = "gateway_auth"  # COOKIE_SECURE=false: plain http on loopback without prefixes


@pytest.fixture
def stack_settings() -> dict[str, str]:
    """More settings for gateway-auth behind the gateways (tests/gateways/test_rules.py)."""
    return {}


@pytest.fixture
async def stack(
    make_settings: Callable[..., Settings], clock: FakeClock, stack_settings: dict[str, str]
) -> AsyncIterator[Stack]:
    settings = make_settings(COOKIE_SECURE="false", BASE_PATH=BASE_PATH, **stack_settings)
    app = create_app(settings, hasher_workers=1, clock=clock)
    # gateway-auth listens as `gateway-auth serve` does: the fast /verify listener in front.
    runners = [GatewayRunner(app, access_log=None), web.AppRunner(echo_app(), access_log=None)]
    ports = []
    for runner in runners:
        await runner.setup()
        sock = listening_socket()
        ports.append(port_of(sock))
        await web.SockSite(runner, sock).start()
    async with ClientSession() as http:
        yield Stack(ports[0], ports[1], app, http)
    for runner in runners:
        await runner.cleanup()


def _running(kind: str, stack: Stack, tmp_path: Path) -> Iterator[int]:
    with gateway(kind, tmp_path, stack.auth_port, stack.upstream_port) as port:
        yield port


@pytest.fixture
def nginx(stack: Stack, tmp_path: Path) -> Iterator[int]:
    yield from _running("nginx", stack, tmp_path)


@pytest.fixture
def caddy(stack: Stack, tmp_path: Path) -> Iterator[int]:
    yield from _running("caddy", stack, tmp_path)


@pytest.fixture
def envoy(stack: Stack, tmp_path: Path) -> Iterator[int]:
    yield from _running("envoy", stack, tmp_path)


@pytest.fixture
async def traefik(stack: Stack, tmp_path: Path) -> AsyncIterator[int]:
    with gateway("traefik", tmp_path, stack.auth_port, stack.upstream_port) as port:
        await wait_for_route(stack.http, port)
        yield port
