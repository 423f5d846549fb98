"""A ``two_factor`` access rule in real Chromium through nginx, Caddy and Traefik: a person
without a second factor is sent to add one and comes back to the page; a session signed in
with the password alone (as sessions from before second factors are) is sent to confirm with
a code and comes back, without signing in again."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import Origin
from tests.support.chromium import Site, check_page, sign_in, upstream_saw
from tests.support.credentials import PASSWORD

RULES = """\
default_policy: authenticated
rules:
  - name: money
    paths: [/money]
    policy: two_factor
"""


@pytest.fixture(scope="module")
def site_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    rules: Path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text(RULES)
    return {"RULES_FILE": str(rules)}


def set_up_an_app_from_here(page: Page, site: Site) -> str:
    """On the two-step page the refusal led to: the app, then on; its secret."""
    page.locator("#setupPassword").fill(PASSWORD)
    page.get_by_role("button", name="Set up an authenticator app").click()
    secret = page.locator(".app-key code").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).at(site.stack.clock()))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    page.get_by_role("link", name="I have saved them").click()
    site.stack.clock.advance(seconds=30)
    return secret


def test_without_a_second_factor_the_rule_sends_you_to_add_one_and_back(
    page: Page, site: Site
) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")
    sign_in(page, email)
    expect(page).to_have_url(f"{site.url}/app")

    page.goto(f"{site.url}/money?x=1")
    if site.kind == "nginx":  # its error_page shows /denied, which knows there is no factor
        expect(page.get_by_role("heading", name="Add a second factor")).to_be_visible()
        check_page(page, site, "enrolment-needed")
    else:  # sent to confirm (the token cannot say there is nothing to confirm with)
        expect(page.get_by_text("Sent here for a second factor?")).to_be_visible()
        check_page(page, site, "elevate-no-factor")
    page.get_by_role("link", name="Set up two-step sign-in").click()
    expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()
    set_up_an_app_from_here(page, site)

    expect(page).to_have_url(f"{site.url}/money?x=1")
    assert upstream_saw(page)["headers"]["x-auth-amr"] == ["pwd,otp,mfa"]


def test_a_one_factor_session_confirms_with_a_code_and_comes_back(
    context: BrowserContext, page: Page, site: Site
) -> None:
    email = site.account()
    page.goto(f"{site.url}/auth/login")
    sign_in(page, email)
    page.goto(f"{site.url}/auth/account/two-factor")
    secret = set_up_an_app_from_here(page, site)
    app = site.stack.app
    assert app is not None
    services = app[SERVICES]
    credentials = site.stack.call(services.store.get_credentials(email))
    assert credentials is not None
    # A session as one from before second factors: signed in with the password alone.
    old = site.stack.call(
        services.sessions.start(credentials.client, Origin("127.0.0.1", "old"), persistent=False)
    )
    other = context.browser.new_context() if context.browser else None
    assert other is not None
    host = urlsplit(site.url).hostname
    other.add_cookies(
        [
            {
                "name": services.settings.cookie_name,
                "value": old.access_token,
                "domain": host,
                "path": "/",
                "secure": True,
                "httpOnly": True,
            }
        ]
    )
    there = other.new_page()

    there.goto(f"{site.url}/money")
    if site.kind == "nginx":
        expect(there.get_by_role("heading", name="Confirm it is you")).to_be_visible()
        check_page(there, site, "second-factor-needed")
        there.get_by_role("link", name="Confirm with a second factor").click()
    there.get_by_label("Code").fill(pyotp.TOTP(secret).at(site.stack.clock()))
    there.get_by_role("button", name="Confirm").click()

    expect(there).to_have_url(f"{site.url}/money")
    assert upstream_saw(there)["headers"]["x-auth-amr"] == ["pwd,otp,mfa"]
    other.close()
