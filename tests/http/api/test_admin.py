"""``/admin``: who may call it, what each action does, and that it bites at ``/verify`` at once."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable

import pytest

from gateway_auth.http.appkeys import SERVICES
from tests.support.browser import AppClient, Browser, admin
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

ROUTES = [
    ("GET", "/admin/clients"),
    ("POST", "/admin/clients"),
    ("GET", "/admin/clients/someone"),
    ("DELETE", "/admin/clients/someone"),
    ("PUT", "/admin/clients/someone/suspension"),
    ("DELETE", "/admin/clients/someone/suspension"),
    ("DELETE", "/admin/clients/someone/sessions"),
    ("GET", "/admin/clients/someone/sessions"),
    ("DELETE", "/admin/clients/someone/sessions/some-session"),
    ("PATCH", "/admin/clients/someone"),
    ("POST", "/admin/clients/someone/password-reset"),
    ("POST", "/admin/clients/someone/secret"),
    ("GET", "/admin/stats"),
]


async def create(browser: Browser, **body: object) -> dict[str, object]:
    response = await browser.request("POST", "/admin/clients", json=body)
    assert response.status == 201, response.text
    result: dict[str, object] = response.json()
    return result


async def user(browser: Browser, email: str = "ada@example.com") -> str:
    client = await create(browser, email=email, password=PASSWORD)
    return str(client["id"])


async def admin_and_ada(http: AppClient, browser: Browser) -> tuple[str, Browser]:
    """``browser`` logged in as an admin, who creates Ada; Ada logged in in her own browser."""
    await admin(http, browser)
    ada_id = await user(browser)
    ada = Browser(http)
    assert (await ada.login()).status == 200
    return ada_id, ada


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_admin_route_refuses_anonymous_and_non_admin_callers(
    make_browser: Callable[..., Awaitable[Browser]], method: str, path: str
) -> None:
    anonymous = await make_browser()
    anonymous_answer = await anonymous.request(method, path, json={})
    member = await anonymous.logged_in("eve@example.com")
    member_answer = await member.request(method, path, json={})

    assert anonymous_answer.status == 401
    assert anonymous_answer.json()["type"] == "urn:gateway-auth:problem:unauthenticated"
    assert member_answer.status == 403
    assert member_answer.json()["type"] == "urn:gateway-auth:problem:insufficient-scope"


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "someone" in r[1]])
async def test_an_unknown_id_is_404_with_the_problem_shape(
    http: AppClient, browser: Browser, method: str, path: str
) -> None:
    await admin(http, browser)

    response = await browser.request(method, path, json={})

    assert response.status == 404
    assert response.json() == {
        "type": "urn:gateway-auth:problem:not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No such client.",
    }


async def test_admins_create_clients_of_any_kind_with_scopes(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)

    guest = await create(
        browser, email="g@example.com", password=PASSWORD, kind="guest", scopes=["read"]
    )
    response = await browser.request("GET", f"/admin/clients/{guest['id']}")

    assert guest["kind"] == "guest"
    assert guest["scopes"] == ["read"]
    assert response.json() == guest
    assert "password" not in response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "x@example.com", "password": PASSWORD, "kind": "robot"}, "kind"),
        ({"email": "x@example.com", "password": PASSWORD, "scopes": "admin"}, "scopes"),
        ({"email": "x@example.com", "password": PASSWORD, "scopes": ["no spaces"]}, "scopes"),
        ({"email": "x@example.com"}, "password"),
        ({"email": "x@example.com", "kind": "service", "password": PASSWORD}, "password"),
        ({"email": "x@example.com", "password": PASSWORD, "suspended": True}, "suspended"),
    ],
)
async def test_bad_creations_name_the_field(
    http: AppClient, browser: Browser, body: dict[str, object], field: str
) -> None:
    await admin(http, browser)

    response = await browser.request("POST", "/admin/clients", json=body)

    assert response.status == 422
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_self_registration_never_grants_scopes(browser: Browser) -> None:
    response = await browser.register(scopes=["admin"])

    assert response.status == 422
    assert response.json()["errors"] == [
        {"field": "scopes", "message": "are granted by an administrator"}
    ]


async def test_with_registration_closed_admins_still_create_clients(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    http = await make_client(REGISTRATION="closed")
    browser = Browser(http)
    await admin(http, browser)

    refused = await Browser(http).register(email="self@example.com")
    created = await browser.request(
        "POST", "/admin/clients", json={"email": "new@example.com", "password": PASSWORD}
    )

    assert refused.status == 403
    assert created.status == 201


async def test_the_list_filters_and_pages_with_a_cursor(
    http: AppClient, browser: Browser, clock: FakeClock
) -> None:
    await admin(http, browser)
    ids = []
    for i in range(5):
        ids.append(await user(browser, f"user{i}@example.com"))
        clock.advance(seconds=1)
    await create(browser, email="svc@example.com", kind="service")
    await browser.request("PUT", f"/admin/clients/{ids[1]}/suspension")

    seen: list[str] = []
    cursor = ""
    while True:
        page = await browser.request("GET", f"/admin/clients?email=USER&limit=2{cursor}")
        seen += [c["id"] for c in page.json()["clients"]]
        if page.json()["nextCursor"] is None:
            break
        cursor = f"&cursor={page.json()['nextCursor']}"
    suspended = await browser.request("GET", "/admin/clients?suspended=true")
    services = await browser.request("GET", "/admin/clients?kind=service")

    assert seen == ids
    assert [c["id"] for c in suspended.json()["clients"]] == [ids[1]]
    assert [c["email"] for c in services.json()["clients"]] == ["svc@example.com"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("suspended=maybe", "suspended"),
        ("kind=robot", "kind"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'["2026-01-01", "x"]').decode(), "cursor"),
        ("suspend=true", "suspend"),
        ("limit=1&limit=2", "limit"),
    ],
)
async def test_bad_list_parameters_name_the_parameter(
    http: AppClient, browser: Browser, query: str, field: str
) -> None:
    await admin(http, browser)

    response = await browser.request("GET", f"/admin/clients?{query}")

    assert response.status == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_suspension_bites_at_once_persists_and_is_idempotent(
    http: AppClient, browser: Browser, make_browser: Callable[..., Awaitable[Browser]]
) -> None:
    ada_id, ada = await admin_and_ada(http, browser)
    bearer = {"Authorization": f"Bearer {ada.access_cookie()}"}

    first = await browser.request(
        "PUT", f"/admin/clients/{ada_id}/suspension", json={"reason": "chargeback"}
    )
    again = await browser.request("PUT", f"/admin/clients/{ada_id}/suspension")
    verify = await ada.request("GET", "/verify")
    login = await Browser(http).login()
    refresh = await ada.request("POST", "/refresh")
    stored = await http.app[SERVICES].store.get_client(ada_id)

    assert first.status == again.status == 200
    assert again.json()["suspendReason"] == "chargeback"
    assert again.json()["suspendedAt"] == first.json()["suspendedAt"]
    assert verify.status == 403
    assert login.status == 401
    assert refresh.status == 401
    assert stored is not None
    assert stored.suspended

    lifted = await browser.request("DELETE", f"/admin/clients/{ada_id}/suspension")
    lifted_again = await browser.request("DELETE", f"/admin/clients/{ada_id}/suspension")

    assert lifted.status == lifted_again.status == 200
    assert lifted_again.json()["suspended"] is False
    assert (await browser.request("GET", "/verify", headers=bearer)).status == 200


async def test_a_bad_suspension_reason_is_422(http: AppClient, browser: Browser) -> None:
    await admin(http, browser)
    ada_id = await user(browser)

    response = await browser.request(
        "PUT", f"/admin/clients/{ada_id}/suspension", json={"reason": "x\n" * 10}
    )

    assert response.status == 422
    assert response.json()["errors"][0]["field"] == "reason"


async def test_revoking_sessions_ends_them_at_verify_at_once(
    http: AppClient, browser: Browser
) -> None:
    ada_id, ada = await admin_and_ada(http, browser)

    first = await browser.request("DELETE", f"/admin/clients/{ada_id}/sessions")
    again = await browser.request("DELETE", f"/admin/clients/{ada_id}/sessions")

    assert first.status == again.status == 204
    assert (await ada.request("GET", "/verify")).status == 401
    assert (await ada.request("POST", "/refresh")).status == 401


async def test_deleting_is_immediate_idempotent_and_queues_one_event(
    http: AppClient, browser: Browser
) -> None:
    ada_id, ada = await admin_and_ada(http, browser)

    first = await browser.request("DELETE", f"/admin/clients/{ada_id}")
    again = await browser.request("DELETE", f"/admin/clients/{ada_id}")
    pending = await http.app[SERVICES].store.pending_events(10)

    assert first.status == again.status == 204
    assert (await ada.request("GET", "/verify")).status == 401
    assert (await browser.request("GET", f"/admin/clients/{ada_id}")).status == 404
    assert [(p.event.client_id, p.event.kind) for p in pending] == [(ada_id, "user")]


async def test_stats_count_clients_sessions_and_the_outbox(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    ada_id = await user(browser)
    await create(browser, email="svc@example.com", kind="service")
    await browser.request("PUT", f"/admin/clients/{ada_id}/suspension")
    gone = await user(browser, "gone@example.com")
    await browser.request("DELETE", f"/admin/clients/{gone}")

    response = await browser.request("GET", "/admin/stats")

    assert response.json() == {
        "clients": {"user": 2, "service": 1, "guest": 0},
        "suspended": 1,
        "activeSessions": 1,
        "outboxBacklog": 1,
    }


async def test_every_admin_action_leaves_an_audit_line_naming_the_actor(
    http: AppClient, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    await admin(http, browser)
    root_id = (await browser.request("GET", "/me")).json()["id"]
    caplog.set_level(logging.INFO, logger="gateway_auth.accounts.admin")
    ada_id = await user(browser)

    for method, suffix in [
        ("PUT", "/suspension"),
        ("DELETE", "/suspension"),
        ("DELETE", "/sessions"),
        ("DELETE", ""),
    ]:
        await browser.request(method, f"/admin/clients/{ada_id}{suffix}")

    lines = [r for r in caplog.records if r.getMessage() == "admin_action"]
    fields = [r.__dict__["gateway_auth_fields"] for r in lines]
    assert [f["action"] for f in fields] == [
        "create",
        "suspend",
        "unsuspend",
        "revoke_sessions",
        "delete",
    ]
    assert {f["actor"] for f in fields} == {root_id}
    assert {f["client_id"] for f in fields} == {ada_id}


async def admin_actions(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        r.__dict__["gateway_auth_fields"]
        for r in caplog.records
        if r.getMessage() == "admin_action"
    ]


async def test_scopes_are_added_removed_and_replaced(http: AppClient, browser: Browser) -> None:
    await admin(http, browser)
    ada_id = await user(browser)
    path = f"/admin/clients/{ada_id}"

    added = await browser.request("PATCH", path, json={"addScopes": ["read", "write", "read"]})
    removed = await browser.request("PATCH", path, json={"removeScopes": ["write", "absent"]})
    replaced = await browser.request("PATCH", path, json={"scopes": ["billing", "audit"]})
    stored = await http.app[SERVICES].store.get_client(ada_id)

    assert added.status == removed.status == replaced.status == 200
    assert added.json()["scopes"] == ["read", "write"]
    assert removed.json()["scopes"] == ["read"]
    assert replaced.json()["scopes"] == ["billing", "audit"]
    assert stored is not None
    assert stored.scopes == ("billing", "audit")


async def test_a_scope_taken_away_is_refused_at_verify_at_once(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    ada_id = await user(browser)
    await browser.request("PATCH", f"/admin/clients/{ada_id}", json={"addScopes": ["billing"]})
    ada = Browser(http)
    assert (await ada.login()).status == 200
    before = await ada.request("GET", "/verify?scope=billing")

    await browser.request("PATCH", f"/admin/clients/{ada_id}", json={"removeScopes": ["billing"]})
    after = await ada.request("GET", "/verify?scope=billing")
    again = Browser(http)
    await again.login()
    signed_in_again = await again.request("GET", "/verify?scope=billing")
    plain = await again.request("GET", "/verify")

    assert before.status == 200
    assert after.status == 401
    assert signed_in_again.status == 403
    assert plain.status == 200
    assert "billing" not in plain.headers["X-Auth-Scopes"]


async def test_names_and_email_change_without_a_password_and_the_new_address_gets_a_link(
    http: AppClient, browser: Browser, clock: FakeClock
) -> None:
    await admin(http, browser)
    ada_id = await user(browser)
    await http.app[SERVICES].store.set_email_verified(ada_id, "ada@example.com", True, clock())

    response = await browser.request(
        "PATCH",
        f"/admin/clients/{ada_id}",
        json={"email": "ada@new.example", "firstName": "Ada", "lastName": None},
    )
    pending = await http.app[SERVICES].store.pending_events(10)
    old_address = await Browser(http).login("ada@example.com")
    new_address = await Browser(http).login("ada@new.example")

    assert response.status == 200
    assert response.json()["email"] == "ada@new.example"
    assert response.json()["firstName"] == "Ada"
    assert response.json()["emailVerified"] is False
    # The new address gets its link, the old one a notice (in the same tick: any order).
    assert sorted((p.event.type, p.event.to_json()["email"]) for p in pending) == [
        ("email-verification-requested", "ada@new.example"),
        ("security-notice", "ada@example.com"),
    ]
    assert old_address.status == 401
    assert new_address.status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": "admin"}, "scopes"),
        ({"addScopes": ["no spaces"]}, "scopes"),
        ({"scopes": ["a"], "addScopes": ["b"]}, "scopes"),
        ({"email": "not an address"}, "email"),
        ({"email": "root@example.com"}, "email"),
        ({"firstName": 5}, "firstName"),
        ({"kind": "service"}, "kind"),
        ({"password": PASSWORD}, "password"),
    ],
)
async def test_bad_changes_name_the_field_and_change_nothing(
    http: AppClient, browser: Browser, body: dict[str, object], field: str
) -> None:
    await admin(http, browser)
    ada_id = await user(browser)
    before = await http.app[SERVICES].store.get_client(ada_id)

    response = await browser.request("PATCH", f"/admin/clients/{ada_id}", json=body)

    assert response.status in (409, 422), response.text
    if response.status == 422:
        assert field in [e["field"] for e in response.json()["errors"]]
    else:
        assert response.json()["type"] == "urn:gateway-auth:problem:email-taken"
    assert await http.app[SERVICES].store.get_client(ada_id) == before


async def test_an_operator_reset_mails_the_user_a_link_and_the_old_password_still_works(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    ada_id = await user(browser)
    service = await create(browser, email="svc@example.com", kind="service")

    response = await browser.request("POST", f"/admin/clients/{ada_id}/password-reset")
    pending = await http.app[SERVICES].store.pending_events(10)
    refused = await browser.request("POST", f"/admin/clients/{service['id']}/password-reset")

    assert response.status == 202
    assert "linkExpiresAt" in response.json()
    assert [(p.event.type, p.event.client_id) for p in pending] == [
        ("password-reset-requested", ada_id)
    ]
    assert "/password-reset/confirm?token=" in str(pending[0].event.to_json()["link"])
    assert (await Browser(http).login()).status == 200
    assert refused.status == 409
    assert refused.json()["type"] == "urn:gateway-auth:problem:not-a-user"


async def test_an_operator_lists_a_clients_sessions_and_ends_one(
    http: AppClient, browser: Browser, clock: FakeClock
) -> None:
    ada_id, ada = await admin_and_ada(http, browser)
    clock.advance(seconds=1)
    phone = Browser(http)
    await phone.login()
    path = f"/admin/clients/{ada_id}/sessions"

    listed = await browser.request("GET", path)
    sessions = listed.json()["sessions"]
    newest = sessions[0]["id"]
    ended = await browser.request("DELETE", f"{path}/{newest}")
    ended_again = await browser.request("DELETE", f"{path}/{newest}")
    someone_elses = await browser.request("DELETE", f"{path}/not-a-session")
    remaining = await browser.request("GET", path)

    assert listed.status == 200
    assert len(sessions) == 2
    assert {"id", "createdAt", "lastUsedAt", "expiresAt", "userAgent", "ip"} <= set(sessions[0])
    assert ended.status == ended_again.status == 204
    assert someone_elses.status == 404
    assert (await phone.request("GET", "/verify")).status == 401
    assert (await ada.request("GET", "/verify")).status == 200
    assert [s["id"] for s in remaining.json()["sessions"]] == [sessions[1]["id"]]


async def test_a_session_of_another_client_cannot_be_ended_through_this_one(
    http: AppClient, browser: Browser
) -> None:
    ada_id, ada = await admin_and_ada(http, browser)
    bob_id = await user(browser, "bob@example.com")
    ada_session = (await browser.request("GET", f"/admin/clients/{ada_id}/sessions")).json()[
        "sessions"
    ][0]["id"]

    response = await browser.request("DELETE", f"/admin/clients/{bob_id}/sessions/{ada_session}")

    assert response.status == 404
    assert (await ada.request("GET", "/verify")).status == 200


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "/suspension", None),
        ("DELETE", "", None),
        ("PATCH", "", {"removeScopes": ["admin"]}),
        ("PATCH", "", {"scopes": ["billing"]}),
    ],
)
async def test_the_last_admin_cannot_be_suspended_deleted_or_lose_the_scope(
    http: AppClient, browser: Browser, method: str, suffix: str, body: object
) -> None:
    await admin(http, browser)
    root_id = (await browser.request("GET", "/me")).json()["id"]
    other = await create(browser, email="ops@example.com", password=PASSWORD, scopes=["admin"])
    await browser.request("PUT", f"/admin/clients/{other['id']}/suspension")

    refused = await browser.request(method, f"/admin/clients/{root_id}{suffix}", json=body)
    await browser.request("DELETE", f"/admin/clients/{other['id']}/suspension")
    allowed = await browser.request(method, f"/admin/clients/{root_id}{suffix}", json=body)

    assert refused.status == 409
    assert refused.json()["type"] == "urn:gateway-auth:problem:last-admin"
    assert allowed.status in (200, 204)


async def test_the_new_admin_actions_leave_audit_lines(
    http: AppClient, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    ada_id, _ = await admin_and_ada(http, browser)
    root_id = (await browser.request("GET", "/me")).json()["id"]
    caplog.set_level(logging.INFO, logger="gateway_auth.accounts.admin")
    session = (await browser.request("GET", f"/admin/clients/{ada_id}/sessions")).json()[
        "sessions"
    ][0]["id"]

    await browser.request("PATCH", f"/admin/clients/{ada_id}", json={"addScopes": ["read"]})
    await browser.request("PATCH", f"/admin/clients/{ada_id}", json={"removeScopes": ["read"]})
    await browser.request("POST", f"/admin/clients/{ada_id}/password-reset")
    await browser.request("DELETE", f"/admin/clients/{ada_id}/sessions/{session}")

    fields = await admin_actions(caplog)
    assert [f["action"] for f in fields] == ["update", "update", "password_reset", "end_session"]
    assert fields[0]["added"] == ["read"]
    assert fields[1]["removed"] == ["read"]
    assert fields[1]["sessions_revoked"] == 1
    assert {f["actor"] for f in fields} == {root_id}


async def test_the_last_admin_cannot_delete_its_own_account(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)

    refused = await browser.request("DELETE", "/me")
    await create(browser, email="ops@example.com", password=PASSWORD, scopes=["admin"])
    allowed = await browser.request("DELETE", "/me")

    assert refused.status == 409
    assert refused.json()["type"] == "urn:gateway-auth:problem:last-admin"
    assert allowed.status == 204
