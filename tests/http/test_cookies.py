"""The session cookies' exact names and attributes, for each cookie configuration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.support.browser import Browser
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD


@pytest.mark.parametrize(
    ("env", "access", "refresh", "domain", "secure"),
    [
        ({}, "__Host-gateway_auth", "__Secure-gateway_auth_refresh", "", True),
        (
            {"COOKIE_DOMAIN": "example.com"},
            "__Secure-gateway_auth",
            "__Secure-gateway_auth_refresh",
            "example.com",
            True,
        ),
        ({"COOKIE_SECURE": "false"}, "gateway_auth", "gateway_auth_refresh", "", False),
    ],
)
async def test_cookies_are_set_and_cleared_with_matching_attributes(
    make_browser: Callable[..., Awaitable[Browser]],
    env: dict[str, str],
    access: str,
    refresh: str,
    domain: str,
    secure: bool,
) -> None:
    browser = await make_browser(**env)
    await browser.logged_in()
    set_cookies = {m.key: m for m in browser.last_set_cookies}

    logout = await browser.request("POST", "/logout")
    cleared = {m.key: m for m in logout.set_cookies}

    device = ("__Host-" if secure else "") + "gateway_auth_device"
    assert set(set_cookies) == {access, refresh, device}
    assert set(cleared) == {access, refresh}  # the device stays trusted after a logout
    # Both last as long as the session may: the access token inside expires in 15 minutes,
    # and its expiry is what sends the browser to the refresh hop.
    for name, path, max_age in ((access, "/", "1209600"), (refresh, "/refresh", "1209600")):
        made, gone = set_cookies[name], cleared[name]
        assert made["path"] == gone["path"] == path
        assert made["domain"] == gone["domain"] == domain
        assert bool(made["secure"]) is bool(gone["secure"]) is secure
        assert made["httponly"] is gone["httponly"] is True
        assert made["samesite"] == gone["samesite"] == "Lax"
        assert made["max-age"] == max_age
        assert gone["max-age"] == "0"
        assert gone["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
        assert gone.value == ""


async def test_samesite_strict_is_applied_to_both_cookies(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(COOKIE_SAMESITE="strict", COOKIE_NAME="sso")
    await browser.logged_in()

    assert {m.key: m["samesite"] for m in browser.last_set_cookies} == {
        "sso": "Strict",
        "sso_refresh": "Strict",
        "__Host-sso_device": "Strict",
    }


async def test_the_raw_set_cookie_header_of_the_default_policy(browser: Browser) -> None:
    await browser.register()

    async with browser.http.post(
        "/login", json={"email": "ada@example.com", "password": "correct horse battery staple"}
    ) as response:
        headers = response.headers.getall("Set-Cookie")

    access = next(h for h in headers if h.startswith("__Host-gateway_auth="))
    refresh = next(h for h in headers if h.startswith("__Secure-gateway_auth_refresh="))
    assert access.endswith("; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax; Secure")
    assert refresh.endswith("; HttpOnly; Max-Age=1209600; Path=/refresh; SameSite=Lax; Secure")
    assert "Domain" not in access


async def test_without_keep_me_signed_in_both_cookies_die_with_the_browser(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()

    login = await browser.request(
        "POST",
        "/login",
        json={"email": "ada@example.com", "password": PASSWORD, "remember": False},
    )
    clock.advance(minutes=20)
    refreshed = await browser.request("POST", "/refresh")

    for response in (login, refreshed):
        assert response.status == 200
        # The device cookie (login only) vouches for the browser, not the session: it lasts.
        session = [m for m in response.set_cookies if not m.key.endswith("_device")]
        assert len(session) == 2
        for morsel in session:
            assert morsel["max-age"] == ""
            assert morsel["expires"] == ""
    raw = refreshed.headers.getall("Set-Cookie")
    assert not any("Max-Age" in h or "Expires" in h for h in raw)


async def test_keep_me_signed_in_must_be_a_boolean(browser: Browser) -> None:
    await browser.register()

    response = await browser.request(
        "POST", "/login", json={"email": "ada@example.com", "password": PASSWORD, "remember": "no"}
    )

    assert response.status == 422
    assert response.json()["errors"] == [{"field": "remember", "message": "must be true or false"}]
