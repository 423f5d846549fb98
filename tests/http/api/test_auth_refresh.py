"""POST /refresh and POST /logout: rotation, reuse detection, races, expiry, cookie clearing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tests.support.browser import Browser, store_suspends
from tests.support.clock import FakeClock

REFRESH = "__Secure-gateway_auth_refresh"
ACCESS = "__Host-gateway_auth"


async def test_refresh_rotates_the_refresh_token_and_renews_access(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.logged_in()
    old_access, old_refresh = browser.access_cookie(), browser.refresh_cookie()
    clock.advance(minutes=5)

    response = await browser.request("POST", "/refresh")

    assert response.status == 200
    assert response.json() == {"expiresIn": 900}
    assert response.headers["Cache-Control"] == "no-store"
    assert browser.refresh_cookie() != old_refresh
    assert browser.access_cookie() != old_access
    assert (await browser.request("GET", "/me")).status == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_session(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.logged_in()
    stolen = {"Cookie": f"{ACCESS}={browser.access_cookie()}; {REFRESH}={browser.refresh_cookie()}"}
    await browser.request("POST", "/refresh")
    clock.advance(seconds=30)  # past the concurrent-refresh grace window

    replay = await browser.http.post("/refresh", headers=stolen)

    assert replay.status == 401
    # The whole session is gone: the legitimate newer tokens stop working too.
    assert (await browser.request("POST", "/refresh")).status == 401
    assert (await browser.request("GET", "/me")).status == 401


async def test_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(
    browser: Browser,
) -> None:
    await browser.logged_in()
    access = browser.access_cookie()
    cookie = {"Cookie": f"{ACCESS}={access}; {REFRESH}={browser.refresh_cookie()}"}

    first, second = await asyncio.gather(
        browser.http.post("/refresh", headers=cookie), browser.http.post("/refresh", headers=cookie)
    )

    statuses = sorted([first.status, second.status])
    assert statuses == [200, 401]
    winner, loser = (first, second) if first.status == 200 else (second, first)
    loser_body = await loser.json()
    assert loser_body["type"] == "urn:gateway-auth:problem:refresh-token-superseded"
    assert "Set-Cookie" not in loser.headers  # clearing here would undo the winner's cookies
    new_refresh = winner.cookies[REFRESH].value
    # A race is not a theft: the session survives and the winner's token keeps working.
    again = await browser.http.post(
        "/refresh", headers={"Cookie": f"{ACCESS}={access}; {REFRESH}={new_refresh}"}
    )
    assert again.status == 200


async def test_refresh_without_a_cookie_is_401_and_clears_cookies(browser: Browser) -> None:
    response = await browser.request("POST", "/refresh")

    assert response.status == 401
    assert response.json()["type"] == "urn:gateway-auth:problem:invalid-refresh-token"
    assert response.cookie(ACCESS)["max-age"] == "0"
    assert response.cookie(REFRESH)["max-age"] == "0"


async def test_refresh_with_a_forged_token_is_401_and_leaves_the_session(browser: Browser) -> None:
    await browser.logged_in()
    session_id = browser.refresh_cookie().split(".")[0]
    forged = f"{session_id}.{'A' * 43}"

    response = await browser.http.post(
        "/refresh", headers={"Cookie": f"{ACCESS}={browser.access_cookie()}; {REFRESH}={forged}"}
    )

    assert response.status == 401
    # Knowing a session id is not enough to revoke it: the real token still works.
    assert (await browser.request("POST", "/refresh")).status == 200


async def test_a_session_slides_while_used_and_ends_when_idle(
    make_browser: Callable[..., Awaitable[Browser]], clock: FakeClock
) -> None:
    browser = await (await make_browser(SESSION_MAX_AGE="90d")).logged_in()
    for _ in range(3):
        clock.advance(days=13)  # under the 14-day idle limit each time
        assert (await browser.request("POST", "/refresh")).status == 200
    clock.advance(days=14, seconds=1)

    assert (await browser.request("POST", "/refresh")).status == 401


async def test_a_session_ends_at_its_absolute_limit_however_much_it_is_used(
    make_browser: Callable[..., Awaitable[Browser]], clock: FakeClock
) -> None:
    browser = await (await make_browser(SESSION_MAX_AGE="3d", REFRESH_TOKEN_TTL="2d")).logged_in()
    clock.advance(days=1, hours=23)
    assert (await browser.request("POST", "/refresh")).status == 200
    clock.advance(days=1)
    refreshed = await browser.request("POST", "/refresh")
    assert refreshed.status == 200
    # The refresh cookie never outlives the session's absolute end, nor does the access token.
    assert int(refreshed.cookie(REFRESH)["max-age"]) == 3600
    assert refreshed.json()["expiresIn"] == 900
    clock.advance(hours=1)

    assert (await browser.request("POST", "/refresh")).status == 401


async def test_an_access_token_expires_after_its_ttl_plus_leeway(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.logged_in()
    clock.advance(minutes=15, seconds=20)  # within the 30 s leeway
    assert (await browser.request("GET", "/me")).status == 200
    clock.advance(seconds=15)

    response = await browser.request("GET", "/me")

    assert response.status == 401
    assert response.json()["detail"] == "The access token has expired."


async def test_logout_revokes_the_session_and_clears_cookies(browser: Browser) -> None:
    await browser.logged_in()
    access, refresh = browser.access_cookie(), browser.refresh_cookie()

    response = await browser.request("POST", "/logout")

    assert response.status == 204
    assert response.cookie(ACCESS)["max-age"] == "0"
    assert response.cookie(REFRESH)["max-age"] == "0"
    me = await browser.http.get("/me", headers={"Cookie": f"{ACCESS}={access}"})
    assert me.status == 401
    both = {"Cookie": f"{ACCESS}={access}; {REFRESH}={refresh}"}
    assert (await browser.http.post("/refresh", headers=both)).status == 401


async def test_logout_with_an_expired_access_token_still_ends_the_session(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.logged_in()
    both = {"Cookie": f"{ACCESS}={browser.access_cookie()}; {REFRESH}={browser.refresh_cookie()}"}
    clock.advance(hours=2)

    assert (await browser.request("POST", "/logout")).status == 204
    assert (await browser.http.post("/refresh", headers=both)).status == 401


async def test_logout_without_a_session_is_still_204(browser: Browser) -> None:
    response = await browser.request("POST", "/logout")

    assert response.status == 204
    assert response.cookie(ACCESS)["max-age"] == "0"


async def test_refresh_is_refused_for_a_suspended_client(browser: Browser) -> None:
    await browser.logged_in()
    access = browser.access_cookie()
    await store_suspends(browser.http, (await browser.request("GET", "/me")).json()["id"])

    assert (await browser.request("POST", "/refresh")).status == 401
    me = await browser.http.get("/me", headers={"Cookie": f"{ACCESS}={access}"})
    assert me.status == 403
    assert (await me.json())["type"] == "urn:gateway-auth:problem:client-suspended"


async def test_a_refresh_token_only_counts_beside_an_access_token_of_its_session(
    browser: Browser,
) -> None:
    """A sibling subdomain can plant a refresh cookie, never the __Host- access cookie: a
    planted one must not sign the browser in to someone else's session."""
    await browser.logged_in()
    mallory = await Browser(browser.http).logged_in("mallory@example.com")
    own_access, own_refresh = browser.access_cookie(), browser.refresh_cookie()
    planted = mallory.refresh_cookie()

    alone = await browser.http.post("/refresh", headers={"Cookie": f"{REFRESH}={own_refresh}"})
    beside_another = await browser.http.post(
        "/refresh", headers={"Cookie": f"{ACCESS}={own_access}; {REFRESH}={planted}"}
    )
    both_sent = await browser.http.post(
        "/refresh",
        headers={"Cookie": f"{ACCESS}={own_access}; {REFRESH}={planted}; {REFRESH}={own_refresh}"},
    )

    assert alone.status == beside_another.status == 401
    assert both_sent.status == 200
    renewed = both_sent.cookies[ACCESS].value
    me = await browser.http.get("/me", headers={"Cookie": f"{ACCESS}={renewed}"})
    assert (await me.json())["email"] == "ada@example.com"
    assert (await mallory.request("POST", "/refresh")).status == 200  # hers is untouched
