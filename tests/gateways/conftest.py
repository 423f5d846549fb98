"""Real gateways in front of gateway-auth and an upstream that echoes the headers it gets.

Each gateway runs its recipe from deploy/ as shipped (tests/recipes.py), only with real ports
in place of the service names; gateway-auth runs with BASE_PATH=/auth as the recipes expect."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientError, ClientSession, web

from gateway_auth.config.settings import Settings
from gateway_auth.http.app import create_app
from gateway_auth.http.verify.fastpath import GatewayRunner
from tests.recipes import BASE_PATH, echo_app, gateway
from tests.support import PASSWORD, FakeClock, free_port

ACCESS_COOKIE = "gateway_auth"  # COOKIE_SECURE=false: plain http on loopback without prefixes


@dataclass
class Stack:
    """gateway-auth and the echo upstream, both listening on real ports."""

    auth_port: int
    upstream_port: int
    app: web.Application
    http: ClientSession

    @property
    def base(self) -> str:
        """gateway-auth itself, reached directly (not through a gateway)."""
        return f"http://127.0.0.1:{self.auth_port}{BASE_PATH}"

    async def login(self, email: str = "ada@example.com") -> str:
        """Register and log in directly at gateway-auth; the access cookie's ``name=value``."""
        await self.http.post(f"{self.base}/register", json={"email": email, "password": PASSWORD})
        async with self.http.post(
            f"{self.base}/login", json={"email": email, "password": PASSWORD}
        ) as response:
            assert response.status == 200
            return f"{ACCESS_COOKIE}={response.cookies[ACCESS_COOKIE].value}"

    async def logout(self, cookie: str) -> None:
        url = f"{self.base}/logout"
        async with self.http.post(url, headers={"Cookie": cookie}) as response:
            assert response.status == 204


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
    ports = [free_port(), free_port()]
    for runner, port in zip(runners, ports, strict=True):
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
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


async def wait_for_route(http: ClientSession, port: int) -> None:
    """Traefik accepts connections before its routers are loaded (404 until then). Asked
    without blocking: gateway-auth answers from this same event loop."""
    try:
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/auth/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"Traefik on port {port} has no routes after 10 s")
