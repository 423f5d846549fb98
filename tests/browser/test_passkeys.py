"""Passkeys in real Chromium through nginx, Caddy and Traefik, with Chromium's own virtual
authenticator (the DevTools protocol's WebAuthn domain: a CTAP2 platform authenticator with
resident keys and user verification): a passkey added on the account page, a sign-in with the
passkey alone, the passkey as the second step after the password, and step-up with it; the
upstream told how each session was proved.

Passkeys need a domain name, so these pages are opened at localhost, not 127.0.0.1."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, CDPSession, Page, expect

from tests.support.chromium import Site, check_page, sign_in, upstream_saw
from tests.support.credentials import PASSWORD


def with_authenticator(context: BrowserContext, page: Page) -> tuple[CDPSession, str]:
    """Give ``page`` a platform authenticator that verifies its user without asking."""
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    added: dict[str, Any] = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "ctap2Version": "ctap2_1",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return devtools, added["authenticatorId"]


def at_localhost(site: Site) -> str:
    return site.url.replace("127.0.0.1", "localhost")


def sign_out(page: Page, url: str) -> None:
    page.goto(f"{url}/auth/logout")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def add_a_passkey(page: Page, site: Site, url: str) -> None:
    """From the account's two-step page: the password, then the authenticator makes one."""
    page.goto(f"{url}/auth/account/two-factor")
    check_page(page, site, "two-factor-no-passkeys")
    page.locator("#passkeyPassword").fill(PASSWORD)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("heading", name="Add a passkey")).to_be_visible()
    name = page.get_by_label("Name for this passkey")
    expect(name).not_to_have_value("")  # named after the browser and device, to start with
    check_page(page, site, "passkey-add")
    name.fill("This laptop")
    page.get_by_role("button", name="Create the passkey").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_text("This laptop", exact=True)).to_be_visible()
    check_page(page, site, "two-factor-passkeys")


def test_a_passkey_signs_in_alone_and_as_the_second_step(
    context: BrowserContext, page: Page, site: Site
) -> None:
    # Chromium's virtual authenticator answers the email field's autofill request at once,
    # which a person would pick from a list; this test takes the buttons, so it has none.
    page.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = async () => false")
    url = at_localhost(site)
    devtools, authenticator = with_authenticator(context, page)
    email = site.account()
    page.goto(f"{url}/app")
    sign_in(page, email)
    expect(page).to_have_url(f"{url}/app")
    add_a_passkey(page, site, url)
    credentials = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(credentials["credentials"]) == 1
    assert credentials["credentials"][0]["isResidentCredential"]
    sign_out(page, url)

    page.goto(f"{url}/reports?x=1")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
    check_page(page, site, "sign-in-passkey")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(f"{url}/reports?x=1")
    seen = upstream_saw(page)
    assert seen["headers"]["x-auth-email"] == [email]
    assert seen["headers"]["x-auth-amr"] == ["hwk,user,mfa"]
    sign_out(page, url)

    page.goto(f"{url}/orders")
    sign_in(page, email)
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    check_page(page, site, "second-factor-passkey")
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(f"{url}/orders")
    assert upstream_saw(page)["headers"]["x-auth-amr"] == ["pwd,hwk,user,mfa"]

    page.goto(f"{url}/auth/elevate?rd=%2Fpayments")
    check_page(page, site, "elevate-passkey")
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(f"{url}/payments")
    signed = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert signed["credentials"][0]["signCount"] >= 3  # the counter the server kept in step
    assert urlsplit(page.url).hostname == "localhost"


def test_the_email_fields_autofill_offers_the_passkey(
    context: BrowserContext, page: Page, site: Site
) -> None:
    url = at_localhost(site)
    with_authenticator(context, page)
    email = site.account()
    page.goto(f"{url}/auth/login")
    sign_in(page, email)
    add_a_passkey(page, site, url)

    page.goto(f"{url}/auth/logout")
    page.get_by_role("button", name="Sign out").click()
    # The sign-in page after signing out asks for a passkey in the autofill (conditional
    # mediation), which the virtual authenticator answers: signed in again, no button pressed.
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.goto(f"{url}/reports")
    assert upstream_saw(page)["headers"]["x-auth-amr"] == ["hwk,user,mfa"]


def test_a_browser_without_an_authenticator_keeps_the_password(page: Page, site: Site) -> None:
    url = at_localhost(site)
    email = site.account()
    page.goto(f"{url}/app")

    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page).to_have_url(f"{url}/app")
    assert upstream_saw(page)["headers"]["x-auth-amr"] == ["pwd"]
