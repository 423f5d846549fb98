"""Real Chromium (Debian's, driven by Playwright) through the real gateways of deploy/.

gateway-auth and the echo upstream run in a thread of their own (``LiveStack``), so a test can
drive the browser with Playwright's synchronous API while they answer, and still reach into the
running application (the injected clock, suspensions). One stack and one gateway per gateway
kind serve the whole module; every test signs in as accounts of its own, in a fresh context.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from gateway_auth.config.settings import Settings
from tests.support.chromium import (
    CHROMIUM_ARGS,
    SCREENSHOTS_ENV,
    LiveStack,
    Site,
    wait_until_routed,
)
from tests.support.clock import FakeClock
from tests.support.processes import require_binary
from tests.support.recipes import BASE_PATH, GATEWAYS, gateway


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable = require_binary("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Settings a test module adds to the site's (it overrides this fixture)."""
    return {}


@pytest.fixture(scope="module", params=GATEWAYS)
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    site_env: dict[str, str],
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
            **{f"GATEWAY_AUTH_{name}": value for name, value in site_env.items()},
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


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile: its own cookies."""
    context = chromium.new_context(viewport={"width": 1024, "height": 768})
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
