"""Fixtures: the real app on real SQLite files (tests/http: on every store), an injected clock,
and a cookie-keeping browser."""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from gateway_auth.cli.invocation import PlainFormatter
from gateway_auth.config.settings import Settings
from gateway_auth.http.app import create_app
from gateway_auth.http.appkeys import SETTINGS
from gateway_auth.logging import JsonFormatter, TextFormatter
from gateway_auth.stores.configured import StoreOpener, open_store
from tests.support.browser import AppClient, Browser
from tests.support.clock import FakeClock
from tests.support.processes import RedisServer
from tests.support.stores import stores_header
from tests.support.wire import GatewayTestServer, parity_check


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


def pytest_configure(config: pytest.Config) -> None:
    """Give the processes the tests start Ctrl-C as a terminal's foreground job has it.

    A suite started in the background by a shell without job control (``make test &`` in a
    script, a CI step) inherits SIGINT ignored, and so does every process it starts: Python
    keeps an inherited SIG_IGN, and a command waiting at a password prompt would then sit out
    the Ctrl-C a test presses.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Undo a command's ``configure_logging`` (tests call ``main`` in-process): its handler
    writes to the stderr pytest captured for that one test, closed once the test ends."""
    root = logging.getLogger()
    level = root.level
    yield
    ours = (JsonFormatter, TextFormatter, PlainFormatter)
    root.handlers[:] = [h for h in root.handlers if not isinstance(h.formatter, ours)]
    root.setLevel(level)


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
