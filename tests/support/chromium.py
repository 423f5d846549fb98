"""Real Chromium (Debian's, driven by Playwright) in front of the real gateways of deploy/.

gateway-auth and the echo upstream run in a thread of their own (``LiveStack``), so a test can
drive the browser with Playwright's synchronous API while they answer, and still reach into the
running application (the injected clock, suspensions).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from gateway_auth.config.settings import Settings
from gateway_auth.http.app import create_app
from gateway_auth.http.verify.fastpath import GatewayRunner
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD
from tests.support.processes import listening_socket, port_of
from tests.support.recipes import BASE_PATH, echo_app
from tests.support.waiting import until

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
README_SHOTS = frozenset(
    {
        "sign-in",
        "home",
        "totp-enrol",
        "recovery-codes",
        "second-factor",
        "sign-in-passkey",
        "passkey-add",
        "two-factor-passkeys",
        "second-factor-passkey",
        "enrolment-needed",
        "sign-in-providers",
        "sign-in-to-link",
        "home-providers",
        "link-confirm",
        "sign-in-de",
        "home-pt-BR",
        "account-security",
        "account-sessions",
        "home-dark",
        "guest-home",
        "delete-account",
    }
)
_accounts = itertools.count(1)


class LiveStack:
    """gateway-auth (default, secure settings but BASE_PATH=/auth) and the echo upstream,
    served by an event loop in a thread of their own."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self.settings = settings
        self.clock = clock
        self.auth_port = self.upstream_port = 0  # once started
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
        ports = []
        for app in (self.app, echo_app()):
            kind = GatewayRunner if app is self.app else web.AppRunner
            runner = kind(app, access_log=None)
            await runner.setup()
            sock = listening_socket()
            ports.append(port_of(sock))
            await web.SockSite(runner, sock).start()
            self._runners.append(runner)
        self.auth_port, self.upstream_port = ports

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


def wait_until_routed(site: Site) -> None:
    """Traefik loads its routes a moment after it accepts connections."""

    def routed() -> bool:
        try:
            with urllib.request.urlopen(f"{site.url}{BASE_PATH}/healthz", timeout=1):  # noqa: S310
                return True
        except OSError:
            return False

    until(routed, within=10, what=f"{site.kind} routing {BASE_PATH}/healthz")


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


def sign_in(page: Page, email: str, *, password: str = PASSWORD, remember: bool = False) -> None:
    """Fill in and submit the sign-in form shown on ``page``."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    if remember:
        page.get_by_label("Keep me signed in").check()
    page.get_by_role("button", name="Sign in", exact=True).click()


def upstream_saw(page: Page) -> dict[str, Any]:
    """What the echoing app received, as it shows it."""
    seen: dict[str, Any] = json.loads(page.locator("body").inner_text())
    return seen


def check_page(page: Page, site: Site, name: str) -> None:
    """Every portal page: a screenshot, nothing axe-core objects to, and fit for a phone."""
    site.screenshot(page, name)
    assert accessibility_violations(page) == [], name
    assert fits_a_phone(page), f"{name} scrolls sideways at 375 px"
