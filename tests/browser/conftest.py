"""Real Chromium (Debian's, driven by Playwright) through the real gateways of deploy/.

gateway-auth and the echo upstream run in a thread of their own (``LiveStack``), so a test can
drive the browser with Playwright's synchronous API while they answer, and still reach into the
running application (the injected clock, suspensions). One stack and one gateway per gateway
kind serve the whole module; every test signs in as accounts of its own, in a fresh context.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from gateway_auth.config.settings import Settings
from gateway_auth.http.app import create_app
from gateway_auth.http.verify.fastpath import GatewayRunner
from tests.recipes import BASE_PATH, GATEWAYS, echo_app, gateway
from tests.support import PASSWORD, FakeClock, free_port, require_binary

T = TypeVar("T")
# As the machine's browser probe starts it: no sandbox as root, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Set to a directory (e.g. docs/images) to also keep the README's screenshots there.
SCREENSHOTS_ENV = "GATEWAY_AUTH_TEST_SCREENSHOTS"
README_SHOTS = ("sign-in", "home")
_accounts = itertools.count(1)


class LiveStack:
    """gateway-auth (default, secure settings but BASE_PATH=/auth) and the echo upstream,
    served by an event loop in a thread of their own."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self.settings = settings
        self.clock = clock
        self.auth_port, self.upstream_port = free_port(), free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self.app: web.Application | None = None

    def __enter__(self) -> LiveStack:
        self._thread.start()
        self.call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the stack's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    async def _start(self) -> None:
        self.app = create_app(self.settings, clock=self.clock, hasher_workers=1)
        # gateway-auth listens as `gateway-auth serve` does: the fast /verify listener in front.
        for app, port in ((self.app, self.auth_port), (echo_app(), self.upstream_port)):
            kind = GatewayRunner if app is self.app else web.AppRunner
            runner = kind(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runners.append(runner)

    async def _stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()


@dataclass
class Site:
    """A gateway in front of the live stack, as a browser reaches it."""

    kind: str
    url: str
    stack: LiveStack
    shots: Path
    extra_shots: Path | None = None
    made: list[str] = field(default_factory=list)

    def account(self, email: str | None = None, **names: str) -> str:
        """A new account of this test's own (registered directly, as a program would)."""
        email = email or f"user{next(_accounts)}@example.com"
        body = json.dumps({"email": email, "password": PASSWORD, **names}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.stack.auth_port}{BASE_PATH}/register",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 201
        return email

    def json_login(self, email: str, password: str) -> int:
        """Sign in as a program would, directly at gateway-auth; the status."""
        body = json.dumps({"email": email, "password": password}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.stack.auth_port}{BASE_PATH}/login",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as error:
            error.close()
            return error.code

    def screenshot(self, page: Page, name: str) -> None:
        """Keep a picture of what the person sees, under the test's output directory."""
        page.screenshot(path=self.shots / f"{self.kind}-{name}.png", full_page=True)
        if self.extra_shots is not None and self.kind == "nginx" and name in README_SHOTS:
            page.screenshot(path=self.extra_shots / f"{name}.png", full_page=True)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable = require_binary("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=GATEWAYS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    kind: str = request.param
    directory = tmp_path_factory.mktemp(kind)
    settings = Settings.from_env(
        {
            "GATEWAY_AUTH_DATA_DIR": str(directory / "data"),
            "GATEWAY_AUTH_BCRYPT_ROUNDS": "4",
            "GATEWAY_AUTH_BASE_PATH": BASE_PATH,
            "GATEWAY_AUTH_APP_NAME": "Example Corp",
            # Every browser of the module signs in from 127.0.0.1, through the gateway.
            "GATEWAY_AUTH_RATE_LIMIT_PER_IP": "10000/minute",
            "GATEWAY_AUTH_GUESTS": "true",
            "GATEWAY_AUTH_ELEVATED_SCOPES": "payments:write",
        }
    )
    extra = os.environ.get(SCREENSHOTS_ENV)
    with (
        LiveStack(settings, FakeClock()) as stack,
        gateway(kind, directory, stack.auth_port, stack.upstream_port) as port,
    ):
        site = Site(kind, f"http://127.0.0.1:{port}", stack, directory / "screenshots")
        site.shots.mkdir()
        site.extra_shots = Path(extra) if extra else None
        wait_until_routed(site)
        yield site


def wait_until_routed(site: Site) -> None:
    """Traefik loads its routes a moment after it accepts connections."""
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{site.url}{BASE_PATH}/healthz", timeout=1):  # noqa: S310
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{site.kind} never routed {BASE_PATH}/healthz")


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile: its own cookies."""
    context = chromium.new_context(viewport={"width": 1024, "height": 768})
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def accessibility_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each."""
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'])})"
        for v in results.response["violations"]
    ]


def fits_a_phone(page: Page) -> bool:
    """Readable at 375 px: nothing wider than the screen, so no sideways scrolling."""
    page.set_viewport_size({"width": 375, "height": 740})
    width: int = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1024, "height": 768})
    return width <= 375
