"""Fixtures: the real app on real SQLite files (tests/http: on every store), an injected clock,
and a cookie-keeping browser."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from gateway_auth.app import create_app
from gateway_auth.http.appkeys import SETTINGS
from gateway_auth.settings import Settings
from gateway_auth.stores.configured import StoreOpener, open_store
from tests.backends import stores_header
from tests.support import AppClient, Browser, FakeClock, RedisServer
from tests.wire import GatewayTestServer, parity_check


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def make_settings(data_dir: Path) -> Callable[..., Settings]:
    """Settings from GATEWAY_AUTH_* values given without the prefix; cheap bcrypt for speed,
    and a per-address limit that a suite signing in from one address many times stays under
    (tests/http/test_regulation.py sets the limits it tests)."""

    def make(**env: str) -> Settings:
        environ = {
            "GATEWAY_AUTH_DATA_DIR": str(data_dir),
            "GATEWAY_AUTH_BCRYPT_ROUNDS": "4",
            "GATEWAY_AUTH_RATE_LIMIT_PER_IP": "10000/minute",
        }
        environ.update({f"GATEWAY_AUTH_{name}": value for name, value in env.items()})
        return Settings.from_env(environ)

    return make


def pytest_report_header() -> str:
    return stores_header()


@pytest.fixture
def store_opener() -> StoreOpener:
    """How apps under test open their store; tests/http runs on every store instead."""
    return open_store


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    make_settings: Callable[..., Settings],
    clock: FakeClock,
    store_opener: StoreOpener,
    request: pytest.FixtureRequest,
) -> Callable[..., Awaitable[AppClient]]:
    """The app behind the server ``gateway-auth serve`` runs; every /verify answer the test
    gets is compared with aiohttp's own answer to the same request (unless marked
    ``no_parity``)."""
    parity = request.node.get_closest_marker("no_parity") is None

    async def make(**env: str) -> AppClient:
        app = create_app(
            make_settings(**env), clock=clock, hasher_workers=1, store_opener=store_opener
        )
        server = GatewayTestServer(app)
        if not parity:
            return await aiohttp_client(server)
        base = app[SETTINGS].base_path
        return await aiohttp_client(server, trace_configs=[parity_check(server, f"{base}/verify")])

    return make


@pytest.fixture
async def http(make_client: Callable[..., Awaitable[AppClient]]) -> AppClient:
    return await make_client()


@pytest.fixture
def browser(http: AppClient) -> Browser:
    return Browser(http)


@pytest.fixture
def make_browser(
    make_client: Callable[..., Awaitable[AppClient]],
) -> Callable[..., Awaitable[Browser]]:
    async def make(**env: str) -> Browser:
        return Browser(await make_client(**env))

    return make


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A fresh redis-server per test (a few milliseconds to start), so tests may kill it."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
