"""What a person does in a browser, through nginx, Caddy and Traefik running the shipped
recipes: sign in and come back, stay signed in, sign out, register, and the pages around."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import MailEvent
from tests.support.chromium import Site, check_page, sign_in, upstream_saw
from tests.support.credentials import PASSWORD
from tests.support.processes import free_port

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def test_a_protected_page_sends_you_to_sign_in_and_back(page: Page, site: Site) -> None:
    email = site.account(firstName="Ada")

    page.goto(f"{site.url}/reports/1?x=1")
    expect(page).to_have_url(
        f"{site.url}/auth/login?rd={quote(site.url + '/reports/1?x=1', safe='')}"
    )
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check_page(page, site, "sign-in")
    sign_in(page, email)

    expect(page).to_have_url(f"{site.url}/reports/1?x=1")
    seen = upstream_saw(page)
    assert seen["path"] == "/reports/1?x=1"
    assert seen["headers"]["x-auth-email"] == [email]
    assert seen["headers"]["remote-name"] == ["Ada"]
    assert "cookie" in seen["headers"]  # the access cookie, which the app may verify too
    assert "_refresh=" not in seen["headers"]["cookie"][0]  # the refresh token never is


def test_a_session_outlives_its_access_tokens(
    page: Page, context: BrowserContext, site: Site
) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")
    sign_in(page, email)
    expect(page).to_have_url(f"{site.url}/app")
    first = access_cookie(context)

    for _ in range(3):  # three access token lifetimes, each renewed without a sign-in
        site.stack.clock.advance(minutes=16)
        response = page.goto(f"{site.url}/app?later=1")
        assert response is not None
        expect(page).to_have_url(f"{site.url}/app?later=1")
        hops = redirect_chain(response)
        assert any("/auth/refresh?rd=" in url for url in hops), hops
        assert upstream_saw(page)["headers"]["x-auth-email"] == [email]
    assert access_cookie(context) != first


def test_without_keep_me_signed_in_the_cookies_die_with_the_browser(
    page: Page, context: BrowserContext, site: Site
) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")

    sign_in(page, email, remember=False)

    expect(page).to_have_url(f"{site.url}/app")
    session = {
        c["name"]: c
        for c in context.cookies()
        if "gateway_auth" in c["name"] and not c["name"].endswith("_device")
    }
    assert set(session) >= {"__Host-gateway_auth", "__Secure-gateway_auth_refresh"}
    assert {c["expires"] for c in session.values()} == {-1}  # session cookies


def test_keep_me_signed_in_makes_cookies_that_last_for_the_session(
    page: Page, context: BrowserContext, site: Site
) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")

    sign_in(page, email, remember=True)

    expect(page).to_have_url(f"{site.url}/app")
    cookies = {c["name"]: c for c in context.cookies()}
    in_13_days = time.time() + 13 * 86400
    for name in ("__Host-gateway_auth", "__Secure-gateway_auth_refresh"):
        assert cookies[name]["expires"] > in_13_days, name  # REFRESH_TOKEN_TTL is 14 days
        assert cookies[name]["httpOnly"] is True
        assert cookies[name]["sameSite"] == "Lax"
    assert cookies["__Secure-gateway_auth_refresh"]["path"] == "/auth/refresh"


def test_signing_out_from_the_portal(page: Page, site: Site) -> None:
    email = site.account("grace@example.com", firstName="Grace", lastName="Hopper")
    page.goto(f"{site.url}/auth/login")
    sign_in(page, email)
    expect(page).to_have_url(f"{site.url}/auth/")
    expect(page.get_by_text(email).first).to_be_visible()
    check_page(page, site, "home")

    page.get_by_role("link", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign out?")).to_be_visible()
    check_page(page, site, "sign-out")
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{site.url}/auth/login?notice=signed_out")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{site.url}/app")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_an_app_signs_people_out_with_a_link_and_rd(page: Page, site: Site) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")
    sign_in(page, email)
    goodbye = f"{site.url}/app/goodbye"

    page.goto(f"{site.url}/auth/logout?rd={quote(goodbye, safe='')}")
    response = None
    with page.expect_response(lambda r: r.url.startswith(goodbye)) as info:
        page.get_by_role("button", name="Sign out").click()
    response = info.value

    assert response.status == 302  # the app page itself: no session any more
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page).to_have_url(f"{site.url}/auth/login?rd={quote(goodbye, safe='')}")


def test_a_wrong_password_keeps_the_email_and_says_so(page: Page, site: Site) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")

    sign_in(page, email, password="not the password")

    expect(page.get_by_role("alert")).to_have_text("The email address or password is incorrect.")
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Password")).to_be_focused()
    check_page(page, site, "sign-in-error")
    sign_in(page, email)
    expect(page).to_have_url(f"{site.url}/app")


def test_a_throttled_account_is_told_when_to_try_again(page: Page, site: Site) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")
    sign_in(page, email, password="not the password")
    expect(page.get_by_role("alert")).to_be_visible()
    for _ in range(9):  # the rest of the ten failures, quicker than through the page
        assert site.json_login(email, "not the password") == 401

    sign_in(page, email)

    expect(page.get_by_role("alert")).to_have_text(
        "Too many failed attempts to sign in to this account. "
        "Please wait 15 minutes, then try again."
    )
    check_page(page, site, "sign-in-throttled")


def test_registering_signs_you_in(page: Page, site: Site) -> None:
    email = f"new-{site.kind}@example.com"
    page.goto(f"{site.url}/auth/login")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("First name").fill("Katherine")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill("something else")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("The two passwords do not match.")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(email)
    expect(page.get_by_label("Repeat the password")).to_be_focused()
    check_page(page, site, "register-errors")

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(f"{site.url}/auth/")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("Katherine")).to_be_visible()


def test_the_sessions_list_signs_out_another_browser(
    chromium: Browser, page: Page, site: Site
) -> None:
    email = site.account()
    other = chromium.new_context(
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
    )
    try:
        phone = other.new_page()
        phone.goto(f"{site.url}/app")
        sign_in(phone, email)
        expect(phone).to_have_url(f"{site.url}/app")
        page.goto(f"{site.url}/auth/login")
        sign_in(page, email)
        page.get_by_role("link", name="Sessions").click()

        page.get_by_role("button", name="Sign out this one").click()

        expect(page.get_by_role("status")).to_have_text("That session has ended.")
        expect(page.get_by_role("button", name="Sign out this one")).to_have_count(0)
        phone.goto(f"{site.url}/app")
        expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        other.close()


def test_an_off_domain_rd_lands_on_the_portal_home(page: Page, site: Site) -> None:
    email = site.account()
    page.goto(f"{site.url}/auth/login?rd={quote('https://evil.example.net/', safe='')}")

    sign_in(page, email)

    expect(page).to_have_url(f"{site.url}/auth/")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def test_a_suspended_account_sees_a_page_saying_so(page: Page, site: Site) -> None:
    email = site.account()
    page.goto(f"{site.url}/app")
    sign_in(page, email)
    client_id = upstream_saw(page)["headers"]["x-auth-user-id"][0]
    assert site.stack.app is not None
    site.stack.call(site.stack.app[SERVICES].revocations.suspend_client(client_id))

    response = page.goto(f"{site.url}/app")

    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="This account is suspended")).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()
    check_page(page, site, "suspended")


def test_a_cross_site_form_post_is_refused(page: Page, site: Site) -> None:
    attacker = site.account()
    port = free_port()
    form = f"""<!doctype html><html lang="en"><title>win a prize</title>
<form method="post" action="{site.url}/auth/login">
<input name="email" value="{attacker}"><input name="password" value="{PASSWORD}">
<button>Claim</button></form>"""

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = form.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Evil)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://localhost:{port}/")  # another site than 127.0.0.1
        with page.expect_response(f"{site.url}/auth/login") as info:
            page.get_by_role("button", name="Claim").click()
    finally:
        server.shutdown()
        server.server_close()

    assert info.value.status == 403
    expect(page.get_by_role("heading", name="Cross-site request refused")).to_be_visible()
    page.goto(f"{site.url}/app")  # not signed in to the attacker's account
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_error_pages_are_pages(page: Page, site: Site) -> None:
    response = page.goto(f"{site.url}/auth/no-such-page")

    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    check_page(page, site, "not-found")


def access_cookie(context: BrowserContext) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "__Host-gateway_auth")


def redirect_chain(response: Any) -> list[str]:
    """Every URL the browser went through to get ``response``, first to last."""
    urls = []
    request = response.request
    while request is not None:
        urls.append(request.url)
        request = request.redirected_from
    return urls[::-1]


@pytest.fixture(autouse=True)
def _fail_on_server_errors(page: Page) -> None:
    """No page a person meets is a 5xx."""
    page.on("response", lambda r: _no_server_error(r.status, r.url))


def _no_server_error(status: int, url: str) -> None:
    assert status < 500, f"{status} from {url}"


def mailed_token(site: Site, purpose: str, email: str) -> str:
    """The token of the newest mail event of ``purpose`` to ``email`` (no Redis here: it waits
    in the outbox, where a mailer would have taken it from)."""
    app = site.stack.app
    assert app is not None

    async def newest() -> str:
        await app[SERVICES].links.settle()
        pending = await app[SERVICES].store.pending_events(1000)
        links = [
            p.event.link
            for p in pending
            if isinstance(p.event, MailEvent) and p.event.type == purpose and p.event.email == email
        ]
        assert links, f"no {purpose} mail to {email}"
        return parse_qs(urlsplit(links[-1]).query)["token"][0]

    return site.stack.call(newest())


def test_a_forgotten_password_is_reset_from_the_mailed_link(page: Page, site: Site) -> None:
    email = site.account()
    new_password = "a brand new passphrase"
    page.goto(f"{site.url}/auth/login")

    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    check_page(page, site, "password-reset")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    check_page(page, site, "reset-sent")
    token = mailed_token(site, "password-reset-requested", email)
    link = f"{site.url}/auth/password-reset/confirm?token={token}"
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    check_page(page, site, "new-password")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Repeat the new password").fill(new_password)
    page.get_by_role("button", name="Set the new password").click()

    expect(page.get_by_role("status")).to_contain_text("Sign in with your new password.")
    sign_in(page, email, password=new_password)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert site.json_login(email, PASSWORD) == 401
    page.goto(link)  # the link works once
    page.get_by_label("New password", exact=True).fill("yet another passphrase")
    page.get_by_label("Repeat the new password").fill("yet another passphrase")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", name="This link was used already")).to_be_visible()
    check_page(page, site, "link-used")


def test_the_mailed_link_verifies_the_address(page: Page, site: Site) -> None:
    email = site.account()
    page.goto(f"{site.url}/auth/login")
    sign_in(page, email)
    expect(page.get_by_text("Not verified")).to_be_visible()
    check_page(page, site, "home-unverified")

    token = mailed_token(site, "email-verification-requested", email)
    page.goto(f"{site.url}/auth/email-verification/confirm?token={token}")
    expect(page.get_by_role("heading", name="Verify your email address")).to_be_visible()
    check_page(page, site, "verify-email")
    page.get_by_role("button", name="Verify my email address").click()

    expect(page.get_by_role("status")).to_have_text("Your email address is verified.")
    expect(page.get_by_text("Verified", exact=True)).to_be_visible()
    page.goto(f"{site.url}/app")
    assert upstream_saw(page)["headers"]["x-auth-email-verified"] == ["true"]


def test_a_guest_starts_with_one_click_and_keeps_its_id_when_it_signs_up(
    page: Page, site: Site
) -> None:
    email = f"guest-{site.kind}@example.com"
    page.goto(f"{site.url}/app")
    page.get_by_role("button", name="Continue as a guest").click()

    expect(page).to_have_url(f"{site.url}/app")
    seen = upstream_saw(page)["headers"]
    assert seen["x-auth-kind"] == ["guest"]
    guest_id = seen["x-auth-user-id"][0]
    status = page.evaluate(
        """async ([url, email, password]) => (await fetch(url, {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({email, password})})).status""",
        [f"{site.url}/auth/me/upgrade", email, PASSWORD],
    )
    assert status == 200
    page.goto(f"{site.url}/app")
    seen = upstream_saw(page)["headers"]
    assert (seen["x-auth-kind"], seen["x-auth-user-id"]) == (["user"], [guest_id])
    assert site.json_login(email, PASSWORD) == 200


def test_a_fresh_password_puts_an_elevated_scope_in_force_for_a_while(
    page: Page, site: Site
) -> None:
    email = f"payer-{site.kind}@example.com"
    app = site.stack.app
    assert app is not None
    new = NewClient(email, PASSWORD)
    site.stack.call(app[SERVICES].accounts.create(new, kind="user", scopes=["payments:write"]))
    page.goto(f"{site.url}/auth/login?rd={quote(site.url + '/app', safe='')}")
    sign_in(page, email)
    assert upstream_saw(page)["headers"].get("x-auth-scopes", [""]) == [""]  # nginx: none

    page.goto(f"{site.url}/auth/elevate?rd={quote(site.url + '/app', safe='')}")
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    check_page(page, site, "elevate")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("The password is incorrect.")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(f"{site.url}/app")
    assert upstream_saw(page)["headers"]["x-auth-scopes"] == ["payments:write"]
    site.stack.clock.advance(minutes=10, seconds=1)
    page.goto(f"{site.url}/app")
    assert upstream_saw(page)["headers"].get("x-auth-scopes", [""]) == [""]  # nginx: none
