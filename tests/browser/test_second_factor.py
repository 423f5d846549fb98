"""Two-step sign-in in real Chromium through nginx, Caddy and Traefik: an authenticator app set
up on the account page (the test computes its codes with pyotp), then a sign-in with the
password and a code, a recovery code that works once, the upstream told how the session was
proved, step-up with a code, and an operator's reset."""

from __future__ import annotations

import re
from urllib.parse import quote

import pyotp
from playwright.sync_api import Page, expect

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES
from tests.support.chromium import Site, check_page, sign_in, upstream_saw
from tests.support.credentials import PASSWORD, wrong_code


def set_up_an_app(page: Page, site: Site) -> tuple[pyotp.TOTP, list[str]]:
    """From the account page: the app (its secret read off the page) and the recovery codes."""
    page.goto(f"{site.url}/auth/account/security")
    page.get_by_role("link", name="Set up two-step sign-in").click()
    expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()
    check_page(page, site, "two-factor-off")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.get_by_role("heading", name="Set up an authenticator app")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    check_page(page, site, "totp-enrol")
    secret = page.locator(".app-key code").inner_text().replace(" ", "")
    app = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill(app.at(site.stack.clock()))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    check_page(page, site, "recovery-codes")
    codes = page.locator(".codes code").all_inner_texts()
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
    check_page(page, site, "two-factor-on")
    site.stack.clock.advance(seconds=30)  # the confirming code is spent
    return app, codes


def sign_out(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/auth/logout")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_sign_in_asks_for_the_apps_code_and_the_upstream_sees_it(page: Page, site: Site) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")
    sign_in(page, email)
    expect(page).to_have_url(f"{site.url}/app")
    assert upstream_saw(page)["headers"]["x-auth-amr"] == ["pwd"]
    app, codes = set_up_an_app(page, site)
    sign_out(page, site)

    page.goto(f"{site.url}/reports?x=1")
    sign_in(page, email)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    assert re.search(r"/auth/login/second-factor\?rd=", page.url)
    check_page(page, site, "second-factor")
    page.get_by_label("Code").fill(wrong_code(app, site.stack.clock()))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    expect(page.get_by_label("Code")).to_be_focused()
    check_page(page, site, "second-factor-error")
    page.get_by_label("Code").fill(app.at(site.stack.clock()))
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{site.url}/reports?x=1")
    seen = upstream_saw(page)
    assert seen["headers"]["x-auth-email"] == [email]
    assert seen["headers"]["x-auth-amr"] == ["pwd,otp,mfa"]
    assert len(codes) == 10


def test_a_recovery_code_signs_in_once_when_the_phone_is_lost(page: Page, site: Site) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")
    sign_in(page, email)
    _, codes = set_up_an_app(page, site)
    sign_out(page, site)

    page.goto(f"{site.url}/app")
    sign_in(page, email)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site.url}/app")
    sign_out(page, site)
    page.goto(f"{site.url}/app")
    sign_in(page, email)
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    page.goto(f"{site.url}/auth/account/two-factor")
    expect(page).to_have_url(re.compile(r"/auth/login\?rd="))  # still not signed in


def test_step_up_takes_a_code_and_an_operator_resets_a_lost_phone(page: Page, site: Site) -> None:
    email = f"stepper-{site.kind}@example.com"
    app = site.stack.app
    assert app is not None
    new = NewClient(email, PASSWORD)
    client = site.stack.call(
        app[SERVICES].accounts.create(new, kind="user", scopes=["payments:write"])
    )
    page.goto(f"{site.url}/app")
    sign_in(page, email)
    expect(page).to_have_url(f"{site.url}/app")
    totp, _ = set_up_an_app(page, site)

    page.goto(f"{site.url}/auth/elevate?rd={quote(site.url + '/app', safe='')}")
    expect(page.get_by_text("Enter the code your authenticator app shows")).to_be_visible()
    check_page(page, site, "elevate-with-code")
    page.get_by_label("Code").fill(totp.at(site.stack.clock()))
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(f"{site.url}/app")
    assert upstream_saw(page)["headers"]["x-auth-scopes"] == ["payments:write"]

    site.stack.call(app[SERVICES].admin.reset_second_factors("cli", client.id))
    sign_out(page, site)
    page.goto(f"{site.url}/app")
    sign_in(page, email)

    expect(page).to_have_url(f"{site.url}/app")  # the password alone, after the reset
    assert upstream_saw(page)["headers"]["x-auth-amr"] == ["pwd"]
