"""Guests over HTTP on every store: started signed in, living GUEST_TTL with GUEST_SCOPES,
upgraded to users under the same id, and removed when they expire, with a deletion event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import DeletionEvent
from tests.support.browser import AppClient, Browser, Response
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

GUESTS = {"GUESTS": "true", "GUEST_SCOPES": "cart,wishlist", "GUEST_TTL": "7d"}


def problem_type(response: Response) -> str:
    return str(response.json()["type"]).removeprefix("urn:gateway-auth:problem:")


async def test_guests_are_refused_unless_turned_on(browser: Browser) -> None:
    response = await browser.request("POST", "/guests")

    assert (response.status, problem_type(response)) == (403, "guests-closed")


async def test_a_program_starts_as_a_guest_with_tokens_and_the_guest_scopes(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    program = await make_browser(**GUESTS)

    started = await program.request("POST", "/guests")
    body = started.json()
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    verify = await program.request("GET", "/verify?scope=cart", headers=bearer)
    refreshed = await program.request(
        "POST",
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
    )

    assert started.status == 201
    assert started.headers["Cache-Control"] == "no-store"
    assert not started.set_cookies
    client = body["client"]
    assert (client["kind"], client["scopes"]) == ("guest", ["cart", "wishlist"])
    assert client["email"] == f"guest-{client['id']}@guest.invalid"
    assert verify.status == 200
    assert verify.headers["X-Auth-Kind"] == "guest"
    assert verify.headers["X-Auth-User-Id"] == client["id"]
    assert refreshed.status == 200
    assert (await program.request("GET", "/me", headers=bearer)).json()["kind"] == "guest"
    # No password was ever set: nobody can sign in as a guest.
    assert (await program.login(client["email"], "")).status in (401, 422)


async def test_a_browser_guest_gets_cookies_and_upgrades_keeping_its_id(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(**GUESTS)
    started = await browser.request("POST", "/guests", json={"cookies": True})
    guest_id = started.json()["client"]["id"]

    upgraded = await browser.request(
        "POST", "/me/upgrade", json={"email": "ada@example.com", "password": PASSWORD}
    )
    verify = await browser.request("GET", "/verify")
    again = await browser.request(
        "POST", "/me/upgrade", json={"email": "ada2@example.com", "password": PASSWORD}
    )

    assert started.status == 201
    assert "access_token" not in started.json()
    assert upgraded.status == 200
    assert (upgraded.json()["id"], upgraded.json()["kind"]) == (guest_id, "user")
    assert upgraded.json()["scopes"] == []  # guest scopes go with the guest
    assert (verify.headers["X-Auth-User-Id"], verify.headers["X-Auth-Kind"]) == (guest_id, "user")
    assert verify.headers["X-Auth-Scopes"] == ""
    assert (again.status, problem_type(again)) == (409, "not-a-guest")
    assert (await Browser(browser.http).login("ada@example.com")).status == 200
    pending = await browser.http.app[SERVICES].store.pending_events(10)
    assert [p.event.type for p in pending] == ["email-verification-requested"]


async def test_an_upgrade_is_checked_like_a_registration(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(**GUESTS)
    await Browser(browser.http).register("eve@example.com")
    started = (await browser.request("POST", "/guests")).json()
    bearer = {"Authorization": f"Bearer {started['access_token']}"}

    def upgrade(email: str, password: str = PASSWORD) -> Awaitable[Response]:
        return browser.request(
            "POST", "/me/upgrade", json={"email": email, "password": password}, headers=bearer
        )

    taken, weak, placeholder = (
        await upgrade("EVE@example.com"),
        await upgrade("ada@example.com", "short"),
        await upgrade("someone@guest.invalid"),
    )
    done = await upgrade("ada@example.com")

    assert (taken.status, problem_type(taken)) == (409, "email-taken")
    assert (weak.status, weak.json()["errors"][0]["field"]) == (422, "password")
    assert (placeholder.status, placeholder.json()["errors"][0]["field"]) == (422, "email")
    assert done.status == 200
    assert done.json()["client"]["kind"] == "user"  # a program gets a new token with it
    new_bearer = {"Authorization": f"Bearer {done.json()['access_token']}"}
    verify = await browser.request("GET", "/verify", headers=new_bearer)
    assert verify.headers["X-Auth-Kind"] == "user"


async def test_expired_guests_are_deleted_with_their_events(
    make_browser: Callable[..., Awaitable[Browser]], clock: FakeClock
) -> None:
    browser = await make_browser(**GUESTS)
    old = (await browser.request("POST", "/guests")).json()
    upgraded = await browser.request("POST", "/guests", json={"cookies": True})
    await browser.request(
        "POST", "/me/upgrade", json={"email": "ada@example.com", "password": PASSWORD}
    )
    clock.advance(days=6)
    young = (await browser.request("POST", "/guests")).json()
    clock.advance(days=1, seconds=1)

    removed = await browser.http.app[SERVICES].accounts.remove_expired_guests()

    assert removed == 1
    store = browser.http.app[SERVICES].store
    assert await store.get_client(old["client"]["id"]) is None
    assert await store.get_client(young["client"]["id"]) is not None
    assert await store.get_client(upgraded.json()["client"]["id"]) is not None
    deletions = [
        p.event for p in await store.pending_events(10) if isinstance(p.event, DeletionEvent)
    ]
    assert [(e.client_id, e.kind) for e in deletions] == [(old["client"]["id"], "guest")]
    bearer = {"Authorization": f"Bearer {old['access_token']}"}
    assert (await browser.request("GET", "/verify", headers=bearer)).status == 401


async def test_a_guest_session_ends_with_the_guest(
    make_browser: Callable[..., Awaitable[Browser]], clock: FakeClock
) -> None:
    browser = await make_browser(**GUESTS, SESSION_MAX_AGE="30d", REFRESH_TOKEN_TTL="30d")
    started = (await browser.request("POST", "/guests")).json()
    clock.advance(days=7, seconds=1)

    refreshed = await browser.request(
        "POST",
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": started["refresh_token"]},
    )

    assert refreshed.status == 400
    assert refreshed.json()["error"] == "invalid_grant"


async def test_the_sign_in_page_offers_guest_access_when_it_is_on(
    make_browser: Callable[..., Awaitable[Browser]], browser: Browser
) -> None:
    guest = await make_browser(**GUESTS)
    page = await guest.page("/login?rd=%2Fshop")

    started = await guest.submit(page, "/guests", {"rd": "/shop"})

    assert "Continue as a guest" in page.text
    assert "Continue as a guest" not in (await browser.page("/login")).text
    assert started.status == 303
    assert started.headers["Location"] == "/shop"
    assert (await guest.request("GET", "/verify")).headers["X-Auth-Kind"] == "guest"


async def test_a_guest_cannot_upgrade_once_guests_are_closed(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    open_ = Browser(await make_client(**GUESTS))
    started = (await open_.request("POST", "/guests")).json()
    closed = Browser(await make_client(GUESTS="false"))  # the same installation, reconfigured
    bearer = {"Authorization": f"Bearer {started['access_token']}"}

    answer = await closed.request(
        "POST",
        "/me/upgrade",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers=bearer,
    )

    assert (answer.status, problem_type(answer)) == (403, "registration-closed")


async def test_an_empty_guest_form_needs_its_form_token(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(**GUESTS)

    answer = await browser.request(
        "POST", "/guests", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )

    assert (answer.status, problem_type(answer)) == (403, "form-token-invalid")
