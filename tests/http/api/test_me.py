"""/me, /me/password and /me/sessions: the caller's own account and sessions."""

from __future__ import annotations

import pytest

from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import DeletionEvent, iso
from tests.support.browser import Browser
from tests.support.credentials import PASSWORD

ACCESS = "__Host-gateway_auth"


async def _token(browser: Browser, email: str = "ada@example.com", password: str = PASSWORD) -> str:
    response = await browser.request(
        "POST", "/token", data={"grant_type": "password", "username": email, "password": password}
    )
    assert response.status == 200, response.text
    return str(response.json()["access_token"])


async def test_me_needs_authentication(browser: Browser) -> None:
    response = await browser.request("GET", "/me")

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="gateway-auth"'
    assert response.json()["type"] == "urn:gateway-auth:problem:unauthenticated"


async def test_me_with_the_cookie_or_a_bearer_token(browser: Browser) -> None:
    await browser.logged_in()
    bearer = await _token(browser)

    by_cookie = await browser.request("GET", "/me")
    by_bearer = await browser.http.get("/me", headers={"Authorization": f"Bearer {bearer}"})

    assert by_cookie.status == 200
    assert by_bearer.status == 200
    assert by_cookie.json() == await by_bearer.json()


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer ", "Basic YTpi", "Bearer a.b.c"])
async def test_a_bad_authorization_header_is_401(browser: Browser, header: str) -> None:
    response = await browser.http.get("/me", headers={"Authorization": header})

    assert response.status == 401


async def test_patch_me_changes_names(browser: Browser) -> None:
    await browser.logged_in()

    response = await browser.request(
        "PATCH", "/me", json={"firstName": "  Ada ", "lastName": "Lovelace"}
    )
    cleared = await browser.request("PATCH", "/me", json={"lastName": None})

    assert response.status == 200
    assert response.json()["firstName"] == "Ada"
    assert response.json()["lastName"] == "Lovelace"
    assert cleared.json()["lastName"] is None
    assert (await browser.request("GET", "/me")).json()["firstName"] == "Ada"


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": ["admin"]},
        {"suspended": False},
        {"kind": "service"},
        {"id": "someone-else"},
        {"firstName": "Ada", "scopes": ["admin"]},
    ],
)
async def test_patch_me_refuses_mass_assignment(browser: Browser, body: dict[str, object]) -> None:
    await browser.logged_in()

    response = await browser.request("PATCH", "/me", json=body)

    assert response.status == 422
    refused = {e["field"] for e in response.json()["errors"]}
    assert refused == set(body) - {"firstName"}
    me = (await browser.request("GET", "/me")).json()
    assert me["scopes"] == []
    assert me["kind"] == "user"
    assert me["firstName"] is None  # nothing from a refused request was applied


async def test_changing_the_email_needs_the_current_password(browser: Browser) -> None:
    await browser.logged_in()

    missing = await browser.request("PATCH", "/me", json={"email": "lovelace@example.com"})
    wrong = await browser.request(
        "PATCH", "/me", json={"email": "lovelace@example.com", "currentPassword": "not it!!"}
    )
    right = await browser.request(
        "PATCH", "/me", json={"email": "lovelace@example.com", "currentPassword": PASSWORD}
    )

    assert missing.status == 422
    assert missing.json()["errors"][0]["field"] == "currentPassword"
    assert wrong.status == 401
    assert wrong.json()["type"] == "urn:gateway-auth:problem:wrong-password"
    assert right.status == 200
    assert right.json()["email"] == "lovelace@example.com"
    assert (await browser.login("lovelace@example.com")).status == 200
    assert (await browser.login("ada@example.com")).status == 401


async def test_changing_to_a_taken_email_is_409(browser: Browser) -> None:
    await browser.register(email="taken@example.com")
    await browser.logged_in()

    response = await browser.request(
        "PATCH", "/me", json={"email": "TAKEN@example.com", "currentPassword": PASSWORD}
    )

    assert response.status == 409


async def test_password_change_ends_other_sessions_only(browser: Browser) -> None:
    await browser.logged_in()
    other = await _token(browser)

    response = await browser.request(
        "PUT", "/me/password", json={"currentPassword": PASSWORD, "newPassword": "a new secret!"}
    )

    assert response.status == 204
    assert (await browser.request("GET", "/me")).status == 200
    revoked = await browser.http.get("/me", headers={"Authorization": f"Bearer {other}"})
    assert revoked.status == 401
    assert (await browser.login(password=PASSWORD)).status == 401
    assert (await browser.login(password="a new secret!")).status == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"currentPassword": "wrong one!", "newPassword": "a new secret!"}, 401),
        ({"currentPassword": PASSWORD, "newPassword": "short"}, 422),
        ({"currentPassword": PASSWORD}, 422),
        ({"newPassword": "a new secret!", "currentPassword": 5}, 422),
    ],
)
async def test_password_change_refusals(
    browser: Browser, body: dict[str, object], status: int
) -> None:
    await browser.logged_in()

    response = await browser.request("PUT", "/me/password", json=body)

    assert response.status == status
    assert (await browser.login(password=PASSWORD)).status == 200  # unchanged


async def test_sessions_are_listed_with_the_current_one_marked(browser: Browser) -> None:
    await browser.logged_in()
    await _token(browser)

    response = await browser.request("GET", "/me/sessions")

    sessions = response.json()["sessions"]
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    assert set(sessions[0]) == {
        "id",
        "current",
        "createdAt",
        "lastUsedAt",
        "expiresAt",
        "absoluteExpiresAt",
        "userAgent",
        "ip",
    }
    assert sessions[0]["ip"] == "127.0.0.1"


async def test_deleting_one_session_ends_only_that_one(browser: Browser) -> None:
    await browser.logged_in()
    other = await _token(browser)
    sessions = (await browser.request("GET", "/me/sessions")).json()["sessions"]
    other_id = next(s["id"] for s in sessions if not s["current"])

    response = await browser.request("DELETE", f"/me/sessions/{other_id}")

    assert response.status == 204
    assert response.set_cookies == []
    assert (
        await browser.http.get("/me", headers={"Authorization": f"Bearer {other}"})
    ).status == 401
    assert (await browser.request("GET", "/me")).status == 200


async def test_another_clients_session_is_404(browser: Browser) -> None:
    await browser.logged_in()
    theirs = await Browser(browser.http).logged_in("eve@example.com")
    their_id = (await theirs.request("GET", "/me/sessions")).json()["sessions"][0]["id"]

    response = await browser.request("DELETE", f"/me/sessions/{their_id}")
    unknown = await browser.request("DELETE", "/me/sessions/0123456789abcdef0123456789abcdef")

    assert response.status == 404
    assert unknown.status == 404
    assert (await theirs.request("GET", "/me")).status == 200


async def test_deleting_all_sessions_logs_out_everywhere(browser: Browser) -> None:
    await browser.logged_in()
    other = await _token(browser)
    access = browser.access_cookie()

    response = await browser.request("DELETE", "/me/sessions")

    assert response.status == 204
    assert response.cookie(ACCESS)["max-age"] == "0"
    for headers in ({"Authorization": f"Bearer {other}"}, {"Cookie": f"{ACCESS}={access}"}):
        assert (await browser.http.get("/me", headers=headers)).status == 401


async def test_delete_me_removes_the_account_and_queues_one_event(browser: Browser) -> None:
    await browser.logged_in()
    me = (await browser.request("GET", "/me")).json()
    access = browser.access_cookie()

    response = await browser.request("DELETE", "/me")

    assert response.status == 204
    assert response.cookie(ACCESS)["max-age"] == "0"
    assert (await browser.http.get("/me", headers={"Cookie": f"{ACCESS}={access}"})).status == 401
    assert (await browser.login()).status == 401
    store = browser.http.app[SERVICES].store
    pending = [p for p in await store.pending_events(10) if isinstance(p.event, DeletionEvent)]
    assert len(pending) == 1
    event = pending[0].event.to_json()
    assert set(event) == {"type", "version", "id", "clientId", "kind", "occurredAt", "identities"}
    assert event["type"] == "client-data-deletion-request"
    assert event["version"] == 1
    assert event["clientId"] == me["id"]
    assert event["kind"] == "user"
    assert event["occurredAt"] == iso(browser.http.app[SERVICES].clock())
    assert await store.get_client(me["id"]) is None
    assert await store.get_password_hash(me["id"]) is None  # scrubbed at once


async def test_me_routes_answer_405_with_allow(browser: Browser) -> None:
    response = await browser.request("PUT", "/me")

    assert response.status == 405
    assert response.headers["Allow"] == "DELETE,GET,HEAD,PATCH"
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 405
