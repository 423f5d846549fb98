"""The sign-in portal in-process: signing in, registering and signing out with forms, the
refresh hop, and what people see instead of JSON. (tests/browser drives it in Chromium.)"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

import pytest

from gateway_auth.http.appkeys import SERVICES
from tests.support.browser import PAGE_LOAD, Browser, admin
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

TOKEN_FIELD = re.compile(r'name="csrf" value="[0-9a-f]{64}"')


def form_value(page_text: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page_text)
    assert match, f"no {name} field"
    return match[1]


async def test_the_sign_in_page_is_locked_down_and_carries_a_form_token(browser: Browser) -> None:
    page = await browser.page("/login?rd=%2Fapp%3Fx%3D%22%3E")

    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert form_value(page.text, "rd") == "/app?x=&#34;&gt;"  # escaped, never raw
    assert TOKEN_FIELD.search(page.text)
    csp = page.headers["Content-Security-Policy"]
    script = (files("gateway_auth") / "web" / "passkeys.js").read_bytes()
    script_hash = base64.b64encode(hashlib.sha256(script).digest()).decode()
    assert re.fullmatch(
        r"default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]{44}'; "
        rf"script-src 'sha256-{re.escape(script_hash)}'; img-src 'self'; "
        r"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        csp,
    )
    assert "<script" not in page.text  # at an IP address: no passkeys, so no script either
    assert page.headers["Referrer-Policy"] == "same-origin"  # keeps Origin on our own posts
    assert page.headers["Cache-Control"] == "no-store"
    nonce = page.cookie("__Host-gateway_auth_csrf")
    assert (nonce["path"], nonce["httponly"], nonce["secure"]) == ("/", True, True)
    assert (nonce["samesite"], nonce["max-age"], nonce["domain"]) == ("Lax", "", "")
    assert '<label for="email">Email</label>' in page.text
    assert '<html lang="en">' in page.text


async def test_signing_in_with_the_form_goes_back_to_a_safe_return_url(browser: Browser) -> None:
    await browser.register()
    page = await browser.page("/login?rd=%2Fdashboard%3Ftab%3D1")

    response = await browser.submit(
        page, "/login", {"email": "ada@example.com", "password": PASSWORD, "rd": "/dashboard?tab=1"}
    )

    assert response.status == 303
    assert response.headers["Location"] == "/dashboard?tab=1"
    assert (await browser.request("GET", "/verify")).status == 200


@pytest.mark.parametrize(
    "rd",
    ["https://evil.example.net/", "//evil.example.net/", "/\\evil.example.net", "javascript:x"],
)
async def test_an_unsafe_return_url_lands_on_the_portal_home(browser: Browser, rd: str) -> None:
    await browser.register()
    page = await browser.page(f"/login?rd={quote(rd, safe='')}")

    response = await browser.submit(
        page, "/login", {"email": "ada@example.com", "password": PASSWORD, "rd": rd}
    )

    assert form_value(page.text, "rd") == ""
    assert response.status == 303
    assert response.headers["Location"] == "/"


async def test_keep_me_signed_in_decides_between_session_and_lasting_cookies(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    brief = await make_browser()
    await brief.register()
    lasting = Browser(brief.http)

    session_only = await brief.signed_in_by_form(remember=False)
    remembered = await lasting.signed_in_by_form(remember=True)

    device = "__Host-gateway_auth_device"  # vouches for the browser, not the session
    for morsel in session_only.set_cookies:
        if morsel.key != device:
            assert (morsel["max-age"], morsel["expires"]) == ("", ""), morsel.key
    assert {m.key: m["max-age"] for m in remembered.set_cookies} == {
        "__Host-gateway_auth": "1209600",
        "__Secure-gateway_auth_refresh": "1209600",
        device: str(365 * 24 * 3600),
    }


async def test_a_wrong_password_shows_the_form_again_with_the_email_kept(
    browser: Browser,
) -> None:
    await browser.register()
    page = await browser.page("/login?rd=%2Fapp")

    response = await browser.submit(
        page,
        "/login",
        {"email": "ada@example.com", "password": "wrong password", "rd": "/app", "remember": "on"},
    )

    assert response.status == 401
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'role="alert">The email address or password is incorrect.' in response.text
    assert form_value(response.text, "email") == "ada@example.com"
    assert form_value(response.text, "rd") == "/app"
    assert 'id="remember" name="remember" type="checkbox" value="on" checked' in response.text
    assert [m.key for m in response.set_cookies] == []


async def test_a_throttled_account_is_told_when_to_retry_in_the_same_words_for_anyone(
    browser: Browser,
) -> None:
    await browser.register()
    answers = {}
    for email in ("ada@example.com", "nobody@example.com"):
        page = await browser.page("/login")
        for _ in range(10):
            await browser.submit(page, "/login", {"email": email, "password": "wrong password"})
        answers[email] = await browser.submit(
            page, "/login", {"email": email, "password": PASSWORD}
        )

    known, unknown = answers.values()
    assert known.status == unknown.status == 429
    assert known.headers["Retry-After"] == "900"
    message = "Too many failed attempts to sign in to this account. Please wait 15 minutes"
    assert message in known.text
    assert known.text.replace("ada@", "nobody@") == unknown.text.replace(
        form_value(unknown.text, "csrf"), form_value(known.text, "csrf")
    )


async def test_a_form_without_its_token_or_with_another_browsers_is_refused(
    browser: Browser,
) -> None:
    await browser.register()
    stranger = Browser(browser.http)
    strangers_page = await stranger.page("/login")
    await browser.page("/login")
    fields = {"email": "ada@example.com", "password": PASSWORD}
    headers = {**PAGE_LOAD, "Origin": browser.origin}

    missing = await browser.request("POST", "/login", data=fields, headers=headers)
    foreign = await browser.submit(strangers_page, "/login", fields)
    program = await browser.request("POST", "/login", data=fields)

    for response in (missing, foreign):
        assert response.status == 403
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "This form has expired or did not come from this site" in response.text
        assert response.set_cookies == [] or all(
            m.key.endswith("_csrf") for m in response.set_cookies
        )
    assert program.status == 403
    assert program.json()["type"] == "urn:gateway-auth:problem:form-token-invalid"


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Origin": "https://evil.example.net"}, False),
        ({"Origin": "null"}, False),
        ({"Origin": "https://sub.example.com", "Sec-Fetch-Site": "same-site"}, False),
        ({"Referer": "https://evil.example.net/form"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Origin": "https://portal.example.com", "Sec-Fetch-Site": "same-site"}, True),
        ({"Origin": "https://auth.example.com"}, True),  # PUBLIC_URL
        ({"Origin": "https://auth.example.com:443"}, True),
        ({}, True),  # a program: no browser headers at all
        ({"Sec-Fetch-Site": "same-origin"}, True),
    ],
)
async def test_json_state_changes_must_come_from_an_allowed_origin(
    make_browser: Callable[..., Awaitable[Browser]], headers: dict[str, str], allowed: bool
) -> None:
    browser = await make_browser(
        PUBLIC_URL="https://auth.example.com", ALLOWED_ORIGINS="https://portal.example.com"
    )
    await browser.register()

    login = await browser.request(
        "POST",
        "/login",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers=headers,
    )

    if allowed:
        assert login.status == 200
    else:
        assert login.status == 403
        assert login.json()["type"] == "urn:gateway-auth:problem:cross-site-request"
        assert login.set_cookies == []


async def test_the_own_origin_is_the_one_the_browser_used_through_a_trusted_proxy(
    browser: Browser,
) -> None:
    await browser.logged_in()
    through_proxy = {
        "Origin": "https://app.example.com",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "app.example.com",
    }

    allowed = await browser.request("PATCH", "/me", json={"firstName": "A"}, headers=through_proxy)
    refused = await browser.request(
        "PATCH", "/me", json={"firstName": "B"}, headers={"Origin": "https://app.example.com"}
    )

    assert allowed.status == 200
    assert refused.status == 403


async def test_a_bearer_token_call_is_never_taken_for_a_forged_one(browser: Browser) -> None:
    await browser.logged_in()
    token = browser.access_cookie()

    response = await browser.http.patch(
        "/me",
        json={"firstName": "Ada"},
        headers={"Authorization": f"Bearer {token}", "Origin": "https://elsewhere.example"},
    )

    assert response.status == 200


async def test_registering_with_the_form_signs_in_at_once(browser: Browser) -> None:
    page = await browser.page("/register?rd=%2Fapp")

    response = await browser.submit(
        page,
        "/register",
        {
            "email": "ada@example.com",
            "firstName": "Ada",
            "lastName": "",
            "password": PASSWORD,
            "passwordConfirmation": PASSWORD,
            "rd": "/app",
        },
    )

    assert response.status == 303
    assert response.headers["Location"] == "/app"
    verify = await browser.request("GET", "/verify")
    assert verify.headers["X-Auth-Email"] == "ada@example.com"
    assert verify.headers["Remote-Name"] == "Ada"


async def test_registration_errors_are_shown_beside_their_fields(browser: Browser) -> None:
    await browser.register(email="taken@example.com")
    page = await browser.page("/register")
    base = {"firstName": "Ada", "lastName": "L", "password": PASSWORD}

    invalid = await browser.submit(
        page,
        "/register",
        {**base, "email": "not-an-email", "password": "short", "passwordConfirmation": "short"},
    )
    mismatch = await browser.submit(
        page, "/register", {**base, "email": "ada@example.com", "passwordConfirmation": "other!!"}
    )
    taken = await browser.submit(
        page,
        "/register",
        {**base, "email": "TAKEN@example.com", "passwordConfirmation": PASSWORD},
    )

    assert invalid.status == mismatch.status == taken.status == 422
    assert 'aria-invalid="true" aria-describedby="email-error"' in invalid.text
    assert (
        '<p class="field-error" id="email-error">Email must be an email address such as'
        in invalid.text
    )
    assert "Password must be at least 8 characters." in invalid.text
    assert form_value(invalid.text, "firstName") == "Ada"
    assert form_value(invalid.text, "email") == "not-an-email"
    assert 'id="passwordConfirmation-error">The two passwords do not match.' in mismatch.text
    assert "already registered; sign in instead" in taken.text
    assert (await browser.request("GET", "/verify")).status == 401


async def test_closed_registration_has_no_page_and_no_link(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(REGISTRATION="closed")

    page = await browser.page("/register")
    login = await browser.page("/login")

    assert page.status == 403
    assert "Registration is closed; ask an administrator for an account." in page.text
    assert "Create an account" not in login.text


async def test_the_home_page_shows_who_you_are_and_where_you_are_signed_in(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register(firstName="Ada", lastName="Lovelace")
    phone = Browser(browser.http)
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
    await phone.request(
        "POST",
        "/login",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"User-Agent": iphone},
    )
    clock.advance(minutes=5)
    await browser.signed_in_by_form()

    home = await browser.page("/")
    sessions = await browser.page("/account/sessions")

    assert home.status == 200
    assert "<h1>Your account</h1>" in home.text
    assert '<dd>ada@example.com <span class="tag">Not verified</span></dd>' in home.text
    assert "Send the link again" in home.text
    assert "<dd>Ada Lovelace</dd>" in home.text
    assert "Account type" not in home.text  # a user is a user: nothing to say
    assert "Sign out this one" not in home.text  # that is the sessions section's
    assert '<a href="/" aria-current="page">Profile</a>' in home.text
    assert sessions.status == 200
    assert "<h1>Where you are signed in</h1>" in sessions.text
    assert '<a href="/account/sessions" aria-current="page">Sessions</a>' in sessions.text
    assert "This browser" in sessions.text
    assert "on iPhone" in sessions.text
    assert "last used 5 minutes ago" in sessions.text
    assert "Sign out this one" in sessions.text
    assert "Sign out everywhere else" in sessions.text


async def test_the_home_page_sends_a_stranger_to_sign_in_and_back(browser: Browser) -> None:
    response = await browser.page("/")

    assert response.status == 303
    assert response.headers["Location"] == "/login?rd=%2F"


async def test_me_in_a_browser_is_the_account_page_and_json_for_programs(
    browser: Browser,
) -> None:
    await browser.logged_in()

    page = await browser.page("/me")
    sessions = await browser.page("/me/sessions")
    program = await browser.request("GET", "/me")

    assert (page.status, page.headers["Location"]) == (303, "/")
    assert (sessions.status, sessions.headers["Location"]) == (303, "/account/sessions")
    assert program.json()["email"] == "ada@example.com"


async def test_profile_email_and_password_forms(browser: Browser) -> None:
    await browser.register()
    other = await Browser(browser.http).logged_in()
    await browser.signed_in_by_form()
    home = await browser.page("/")

    named = await browser.submit(home, "/account/profile", {"firstName": " Ada ", "lastName": ""})
    wrong = await browser.submit(
        home, "/account/email", {"email": "ada@new.example", "emailPassword": "nope nope"}
    )
    moved = await browser.submit(
        home, "/account/email", {"email": "ada@new.example", "emailPassword": PASSWORD}
    )
    new_password = "a new and long password"
    mismatch = await browser.submit(
        home,
        "/account/password",
        {
            "currentPassword": PASSWORD,
            "newPassword": new_password,
            "newPasswordConfirmation": "x",
        },
    )
    changed = await browser.submit(
        home,
        "/account/password",
        {
            "currentPassword": PASSWORD,
            "newPassword": new_password,
            "newPasswordConfirmation": new_password,
        },
    )

    assert (named.status, named.headers["Location"]) == (303, "/?done=profile")
    assert wrong.status == 401
    assert 'id="emailPassword-error">The current password is incorrect.' in wrong.text
    assert form_value(wrong.text, "email") == "ada@new.example"
    assert (moved.status, moved.headers["Location"]) == (303, "/account/security?done=email")
    assert mismatch.status == 422
    assert "The two new passwords do not match." in mismatch.text
    assert (changed.status, changed.headers["Location"]) == (
        303,
        "/account/security?done=password",
    )
    shown = await browser.page("/account/security?done=password")
    assert "Your password was changed, and your other sessions have ended." in shown.text
    me = (await browser.request("GET", "/me")).json()
    assert (me["firstName"], me["email"]) == ("Ada", "ada@new.example")
    assert (await other.request("GET", "/verify")).status == 401


async def test_signing_out_one_session_and_everywhere_else(browser: Browser) -> None:
    await browser.register()
    laptop, phone = Browser(browser.http), Browser(browser.http)
    for device in (laptop, phone):
        await device.login()
    await browser.signed_in_by_form()
    home = await browser.page("/")
    laptop_session = (await laptop.request("GET", "/verify")).headers["X-Auth-Session-Id"]

    one = await browser.submit(home, f"/account/sessions/{laptop_session}/end", {})
    laptop_after = await laptop.request("GET", "/verify")
    phone_between = await phone.request("GET", "/verify")
    rest = await browser.submit(home, "/account/sessions/end-others", {})

    assert (one.status, one.headers["Location"]) == (303, "/account/sessions?done=session")
    assert laptop_after.status == 401
    assert phone_between.status == 200
    assert (rest.status, rest.headers["Location"]) == (303, "/account/sessions?done=others")
    assert (await phone.request("GET", "/verify")).status == 401
    assert (await browser.request("GET", "/verify")).status == 200


async def test_signing_out_asks_first_then_ends_the_session_and_goes_to_rd(
    browser: Browser,
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    session_cookie = browser.access_cookie()

    confirm = await browser.page("/logout?rd=%2Fapp")
    done = await browser.submit(confirm, "/logout", {"rd": "/app"})

    assert confirm.status == 200
    assert "You are signed in as <strong>ada@example.com</strong>" in confirm.text
    assert form_value(confirm.text, "rd") == "/app"
    assert (done.status, done.headers["Location"]) == (303, "/app")
    assert {m.key for m in done.set_cookies if m["max-age"] == "0"} == {
        "__Host-gateway_auth",
        "__Secure-gateway_auth_refresh",
    }
    replay = await browser.http.get(
        "/verify", headers={"Cookie": f"__Host-gateway_auth={session_cookie}"}
    )
    assert replay.status == 401


async def test_signing_out_without_a_safe_rd_lands_on_the_sign_in_page_saying_so(
    browser: Browser,
) -> None:
    await browser.register()
    await browser.signed_in_by_form()

    confirm = await browser.page("/logout?rd=https%3A%2F%2Fevil.example.net%2F")
    done = await browser.submit(confirm, "/logout", {"rd": "https://evil.example.net/"})
    login = await browser.page(done.headers["Location"])
    again = await browser.page("/logout")

    assert done.headers["Location"] == "/login?notice=signed_out"
    assert 'role="status">You are signed out.' in login.text
    assert "You are signed out" in again.text
    assert "Sign out?" not in again.text


async def test_the_refresh_hop_renews_an_expired_session_and_goes_straight_back(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    clock.advance(minutes=16)
    stale_access = browser.access_cookie()

    hop = await browser.page("/refresh?rd=%2Fapp")

    assert (hop.status, hop.headers["Location"]) == (303, "/app")
    assert browser.access_cookie() != stale_access
    assert (await browser.request("GET", "/verify")).status == 200


async def test_the_refresh_hop_without_a_session_goes_to_sign_in(browser: Browser) -> None:
    hop = await browser.page("/refresh?rd=%2Fapp")
    login = await browser.page(hop.headers["Location"])

    assert (hop.status, hop.headers["Location"]) == (303, "/login?rd=%2Fapp&notice=session_ended")
    assert hop.set_cookies == []
    assert "Your session has ended. Please sign in again." in login.text


async def test_the_refresh_hop_gives_a_racing_tab_an_access_token_alone(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    clock.advance(minutes=16)
    other_tab = Browser(browser.http, cookies=dict(browser.cookies))

    first = await browser.page("/refresh?rd=%2Fapp")
    second = await other_tab.page("/refresh?rd=%2Fapp")

    assert first.headers["Location"] == second.headers["Location"] == "/app"
    # The winner's refresh cookie stands; the loser leaves the hop with a fresh access token.
    assert [m.key for m in second.set_cookies] == ["__Host-gateway_auth"]
    assert second.set_cookies[0].value != ""
    assert (await other_tab.request("GET", "/verify")).status == 200
    assert (await browser.request("GET", "/verify")).status == 200


async def test_a_lost_hop_answer_does_not_trap_the_browser_in_a_loop(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    clock.advance(minutes=16)
    before = dict(browser.cookies)
    await browser.page("/refresh?rd=%2Fapp")  # rotated, but say the answer never arrived
    browser.cookies = before

    retried = await browser.page("/refresh?rd=%2Fapp")
    verify = await browser.request("GET", "/verify")
    clock.advance(minutes=16)  # the stale refresh token is now plain reuse
    much_later = await browser.page("/refresh?rd=%2Fapp")

    assert (retried.status, retried.headers["Location"]) == (303, "/app")
    assert verify.status == 200
    assert much_later.headers["Location"] == "/login?rd=%2Fapp&notice=session_ended"
    assert (await browser.request("GET", "/verify")).status == 401


async def test_a_planted_refresh_cookie_never_signs_the_browser_in_as_someone_else(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    mallory = await Browser(browser.http).logged_in("mallory@example.com")
    planted = f"__Secure-gateway_auth_refresh={mallory.refresh_cookie()}"
    await browser.signed_in_by_form()
    clock.advance(minutes=16)
    own = f"__Host-gateway_auth={browser.access_cookie()}"

    alone = await browser.http.get(
        "/refresh?rd=%2F", headers={**PAGE_LOAD, "Cookie": planted}, allow_redirects=False
    )
    beside = await browser.http.get(
        "/refresh?rd=%2F",
        headers={**PAGE_LOAD, "Cookie": f"{own}; {planted}"},
        allow_redirects=False,
    )

    for hop in (alone, beside):
        assert hop.headers["Location"] == "/login?rd=%2F&notice=session_ended"
        assert "__Host-gateway_auth" not in hop.cookies  # signed in to nobody's session
    assert (await mallory.request("POST", "/refresh")).status == 200


async def test_a_hop_that_received_no_refresh_cookie_signs_nobody_out(
    browser: Browser, clock: FakeClock
) -> None:
    """``/%72efresh`` reaches the hop, but the browser keeps the cookie for ``/refresh``."""
    await browser.register()
    await browser.signed_in_by_form()

    hop = await browser.page("/%72efresh?rd=%2F")

    assert hop.status == 303
    assert hop.set_cookies == []
    assert (await browser.request("GET", "/verify")).status == 200


async def test_the_sign_in_page_does_not_bounce_back_to_a_hop_that_failed(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    browser.cookies.pop("__Secure-gateway_auth_refresh")
    clock.advance(minutes=16)

    page = await browser.page("/login?rd=%2Fapp&notice=session_ended")

    assert page.status == 200
    assert "Your session has ended. Please sign in again." in page.text


async def test_verify_sends_an_expired_browser_session_to_the_refresh_hop(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    clock.advance(minutes=16)
    forwarded = {"X-Original-URL": "http://app.example.com/page?x=1", "X-Original-Method": "GET"}
    back = quote("http://app.example.com/page?x=1", safe="")

    page_load = await browser.request("GET", "/verify", headers={**forwarded, **PAGE_LOAD})
    redirected = await browser.request(
        "GET", "/verify?redirect=true", headers={**forwarded, **PAGE_LOAD}
    )
    api = await browser.request("GET", "/verify", headers=forwarded)

    assert page_load.status == 401
    assert page_load.headers["Location"] == f"http://app.example.com/refresh?rd={back}"
    assert (redirected.status, redirected.headers["Location"]) == (
        302,
        page_load.headers["Location"],
    )
    assert api.status == 401
    assert "Location" not in api.headers
    assert api.json()["detail"] == "The access token has expired."


async def test_an_ended_session_goes_to_sign_in_not_to_the_hop(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    token = browser.access_cookie()
    refresh = browser.refresh_cookie()
    await browser.request("POST", "/logout")
    forwarded = {"X-Original-URL": "http://a.example/p", "X-Original-Method": "GET", **PAGE_LOAD}
    cookies = {"Cookie": f"__Host-gateway_auth={token}"}

    at_once = await browser.http.get("/verify", headers={**forwarded, **cookies})
    clock.advance(minutes=16)  # the mirror forgets revocations once no token can be valid
    later = await browser.http.get("/verify", headers={**forwarded, **cookies})
    both = f"__Host-gateway_auth={token}; __Secure-gateway_auth_refresh={refresh}"
    hop = await browser.http.get(
        "/refresh?rd=%2Fp", headers={**PAGE_LOAD, "Cookie": both}, allow_redirects=False
    )

    assert at_once.headers["Location"] == "http://a.example/login?rd=http%3A%2F%2Fa.example%2Fp"
    assert later.headers["Location"].startswith("http://a.example/refresh?rd=")
    assert (hop.status, hop.headers["Location"]) == (303, "/login?rd=%2Fp&notice=session_ended")
    assert hop.cookies["__Host-gateway_auth"].value == ""  # an ended session's cookies go


async def test_verify_refusals_of_a_page_load_are_pages_naming_the_account(
    browser: Browser,
) -> None:
    await browser.logged_in()
    forwarded = {"X-Original-URL": "http://app.example.com/billing", "X-Original-Method": "GET"}

    forbidden = await browser.request(
        "GET", "/verify?scope=billing", headers={**forwarded, **PAGE_LOAD}
    )

    assert forbidden.status == 403
    assert forbidden.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "You are signed in as <strong>ada@example.com</strong>" in forbidden.text
    switch = "/logout?rd=http%3A%2F%2Fapp.example.com%2Fbilling"
    assert f'href="{switch}"' in forbidden.text
    assert "X-Auth-User-Id" not in forbidden.headers


async def test_the_denied_page_for_nginx_names_the_account(browser: Browser) -> None:
    await browser.logged_in()

    page = await browser.page("/denied")

    assert page.status == 403
    assert "You are signed in as <strong>ada@example.com</strong>" in page.text


async def test_a_suspended_account_sees_why(browser: Browser) -> None:
    await browser.logged_in()
    client_id = (await browser.request("GET", "/me")).json()["id"]
    await browser.http.app[SERVICES].revocations.suspend_client(client_id)

    home = await browser.page("/")
    verify = await browser.request(
        "GET",
        "/verify",
        headers={
            **PAGE_LOAD,
            "X-Original-URL": "http://app.example.com/",
            "X-Original-Method": "GET",
        },
    )

    assert home.status == verify.status == 403
    for page in (home, verify):
        assert "<h1>This account is suspended</h1>" in page.text


async def test_the_branding_hook_names_the_pages_and_shows_the_logo(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(APP_NAME="Acme Staff", LOGO_URL="https://cdn.example.com/acme.svg")

    page = await browser.page("/login")

    assert "<title>Sign in · Acme Staff</title>" in page.text
    assert '<img src="https://cdn.example.com/acme.svg" alt="">' in page.text
    assert "img-src 'self' https://cdn.example.com;" in page.headers["Content-Security-Policy"]


async def test_a_logo_file_is_inlined(
    make_browser: Callable[..., Awaitable[Browser]], data_dir: Path
) -> None:
    logo = data_dir.parent / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    browser = await make_browser(LOGO_FILE=str(logo))

    page = await browser.page("/login")

    assert '<img src="data:image/png;base64,iVBORw0KGgo' in page.text
    assert "img-src 'self' data:;" in page.headers["Content-Security-Policy"]


async def test_an_admin_sees_their_permissions(browser: Browser) -> None:
    await admin(browser.http, browser)

    home = await browser.page("/")

    assert '<dd><span class="scope">admin</span>, <span class="scope">billing</span></dd>' in (
        home.text
    )


async def test_permissions_read_as_the_operator_labels_them(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(SCOPE_LABELS='{"billing": "Billing & invoices"}')
    await admin(browser.http, browser)

    home = await browser.page("/")

    # A labelled scope reads as its label (escaped); the others as their names.
    assert '<dd><span class="scope">admin</span>, Billing &amp; invoices</dd>' in home.text


async def test_the_sign_in_page_renews_an_expired_session_instead_of_asking(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    clock.advance(minutes=16)

    page = await browser.page("/login?rd=%2Fapp")
    hop = await browser.page(page.headers["Location"])

    assert (page.status, page.headers["Location"]) == (303, "/refresh?rd=%2Fapp")
    assert (hop.status, hop.headers["Location"]) == (303, "/app")
    assert (await browser.page("/login")).headers["Location"] == "/"  # signed in again


async def test_odd_form_tokens_and_hosts_are_refusals_not_errors(browser: Browser) -> None:
    await browser.register()
    page = await browser.page("/login")
    fields = {"email": "ada@example.com", "password": PASSWORD}
    headers = {**PAGE_LOAD, "Origin": browser.origin}

    non_ascii = await browser.request(
        "POST", "/login", data={**fields, "csrf": "é" * 64}, headers=headers
    )
    bad_host = await browser.request("GET", "/login?rd=%2Fx", headers={**PAGE_LOAD, "Host": "[x"})

    assert TOKEN_FIELD.search(page.text)
    assert non_ascii.status == 403
    assert bad_host.status == 200


async def test_a_header_that_only_looks_like_bearer_gets_no_pass_and_no_cookie(
    browser: Browser,
) -> None:
    await browser.logged_in()
    foreign = {"Origin": "https://evil.example.net", "Authorization": "Bearer "}

    forged = await browser.request("PATCH", "/me", json={"firstName": "X"}, headers=foreign)
    me = await browser.request("GET", "/me", headers={"Authorization": "Bearer "})

    assert forged.status == 403
    assert me.status == 401  # the empty bearer token is the credential: no cookie fallback


async def test_the_sessions_list_shows_the_fifty_most_recent(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    for number in range(51):
        clock.advance(seconds=1)
        await Browser(browser.http).request(
            "POST",
            "/login",
            json={"email": "ada@example.com", "password": PASSWORD},
            headers={"User-Agent": f"agent-{number}"},
        )
    await browser.signed_in_by_form()

    home = await browser.page("/account/sessions")

    assert home.text.count('class="device"') == 50
    assert "This browser" in home.text
    assert "And 2 older sessions" in home.text
    assert "agent-50" in home.text
    assert "agent-0<" not in home.text
