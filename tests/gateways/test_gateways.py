"""nginx ``auth_request``, Caddy ``forward_auth`` and Traefik ``forwardAuth`` in front of a real
upstream, each running its recipe from deploy/ as shipped."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES
from tests.support.browser import PAGE_LOAD
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD
from tests.support.gateways import (
    ACCESS_COOKIE,
    API_CALL,
    METHOD_OVERRIDES,
    SPOOFS,
    Stack,
    fetch,
)


@pytest.fixture(params=["nginx", "caddy", "traefik", "envoy"])
def gateway(request: pytest.FixtureRequest) -> str:
    """The gateway's base URL."""
    port: int = request.getfixturevalue(request.param)
    return f"http://127.0.0.1:{port}"


async def test_the_upstream_gets_the_real_identity_and_never_a_spoofed_one(
    stack: Stack, gateway: str
) -> None:
    cookie = await stack.login()

    status, _, body = await fetch(stack, f"{gateway}/app/page?x=1", Cookie=cookie, **SPOOFS)

    assert status == 200
    seen = body["headers"]
    assert seen["x-auth-email"] == ["ada@example.com"]
    assert seen["remote-email"] == ["ada@example.com"]
    assert seen["x-auth-user-id"] == seen["remote-user"]
    assert seen["x-auth-user-id"] != ["evil"]
    assert len(seen["x-auth-user-id"][0]) > 10
    for name in ("x-auth-scopes", "remote-name", "remote-groups"):  # empty for this user
        assert seen.get(name, [""]) == [""], name
    assert body["path"] == "/app/page?x=1"


async def test_aliases_of_the_identity_headers_never_reach_the_upstream(
    stack: Stack, gateway: str
) -> None:
    """CGI, WSGI and PHP read X_Auth_User_Id or X.Auth.User.Id as X-Auth-User-Id."""
    cookie = await stack.login()
    aliases = {
        name.replace("-", separator): "evil"
        for separator in "_.~+!^|$%&'`#*"
        for name in ("X-Auth-User-Id", "Remote-Groups")
    }

    status, _, body = await fetch(stack, f"{gateway}/app", Cookie=cookie, **aliases)

    assert status == 200
    assert not {name.lower() for name in aliases} & set(body["headers"])
    assert "evil" not in str(body)


async def test_spoofed_headers_without_a_session_never_reach_the_upstream(
    stack: Stack, gateway: str
) -> None:
    status, _, body = await fetch(stack, f"{gateway}/app", **API_CALL, **SPOOFS)

    assert status == 401
    assert "headers" not in body


async def test_suspension_and_logout_bite_on_the_very_next_request(
    stack: Stack, gateway: str
) -> None:
    cookie = await stack.login()
    status, _, body = await fetch(stack, f"{gateway}/app", Cookie=cookie)
    assert status == 200
    client_id = body["headers"]["x-auth-user-id"][0]

    await stack.app[SERVICES].revocations.suspend_client(client_id)
    suspended, _, _ = await fetch(stack, f"{gateway}/app", Cookie=cookie)
    await stack.app[SERVICES].revocations.unsuspend_client(client_id)
    restored, _, _ = await fetch(stack, f"{gateway}/app", Cookie=cookie)
    await stack.logout(cookie)
    logged_out, _, _ = await fetch(stack, f"{gateway}/app", Cookie=cookie, **API_CALL)

    assert (suspended, restored, logged_out) == (403, 200, 401)


async def test_a_page_load_goes_to_sign_in_and_an_api_call_gets_a_plain_401(
    stack: Stack, gateway: str
) -> None:
    page, page_headers, _ = await fetch(stack, f"{gateway}/app/page?x=1", **PAGE_LOAD)
    api, api_headers, api_body = await fetch(stack, f"{gateway}/app/page?x=1", **API_CALL)
    sign_in, _, sign_in_body = await fetch(stack, page_headers["Location"], **PAGE_LOAD)

    assert page == 302
    back = quote(f"{gateway}/app/page?x=1", safe="")
    assert page_headers["Location"] == f"{gateway}/auth/login?rd={back}"
    assert api == 401
    assert "Location" not in api_headers
    assert api_headers["Content-Type"].startswith("application/problem+json")
    assert "urn:gateway-auth:problem:unauthenticated" in api_body["text"]
    assert sign_in == 200
    assert "<h1>Sign in</h1>" in sign_in_body["text"]


async def test_an_expired_access_cookie_goes_through_the_refresh_hop_and_back(
    stack: Stack, gateway: str, clock: FakeClock
) -> None:
    await stack.login()
    async with stack.http.post(
        f"{stack.base}/login", json={"email": "ada@example.com", "password": PASSWORD}
    ) as response:
        access = response.cookies[ACCESS_COOKIE].value
        refresh = response.cookies[f"{ACCESS_COOKIE}_refresh"].value
    clock.advance(minutes=16)

    page, headers, _ = await fetch(
        stack, f"{gateway}/app?x=1", Cookie=f"{ACCESS_COOKIE}={access}", **PAGE_LOAD
    )
    hop_cookies = f"{ACCESS_COOKIE}={access}; {ACCESS_COOKIE}_refresh={refresh}"
    async with stack.http.get(
        headers["Location"], headers={**PAGE_LOAD, "Cookie": hop_cookies}, allow_redirects=False
    ) as hop:
        renewed = hop.cookies[ACCESS_COOKIE].value
        hop_status, hop_location = hop.status, hop.headers["Location"]
    back, _, body = await fetch(stack, hop_location, Cookie=f"{ACCESS_COOKIE}={renewed}")

    assert page == 302
    assert (
        headers["Location"] == f"{gateway}/auth/refresh?rd={quote(gateway + '/app?x=1', safe='')}"
    )
    assert (hop_status, hop_location) == (303, f"{gateway}/app?x=1")
    assert back == 200
    assert body["headers"]["x-auth-email"] == ["ada@example.com"]


async def test_a_refused_page_load_shows_who_is_signed_in(stack: Stack, gateway: str) -> None:
    cookie = await stack.login()
    _, _, body = await fetch(stack, f"{gateway}/app", Cookie=cookie)
    await stack.app[SERVICES].revocations.suspend_client(body["headers"]["x-auth-user-id"][0])

    refused, headers, page = await fetch(stack, f"{gateway}/app", Cookie=cookie, **PAGE_LOAD)

    assert refused == 403
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>This account is suspended</h1>" in page["text"]
    assert "<strong>ada@example.com</strong>" in page["text"]


@pytest.mark.parametrize(
    "path",
    ["/media/cat.jpg", "/members", "/messages/1", "/metrics", "/authors", "/auth.txt", "/me"],
)
async def test_only_gateway_auths_own_prefix_is_captured(
    stack: Stack, gateway: str, path: str
) -> None:
    cookie = await stack.login()

    status, _, body = await fetch(stack, f"{gateway}{path}", Cookie=cookie)
    own, _, own_body = await fetch(stack, f"{gateway}/auth/healthz")

    assert status == 200
    assert body["path"] == path  # the app answered, through the check
    assert body["headers"]["x-auth-email"] == ["ada@example.com"]
    assert (own, own_body) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    "path",
    [
        "/auth/admin/clients",
        "/auth/token",
        "/auth/verify",
        "/auth/introspect",
        "/auth/revoke",
        "/auth/openapi.json",
    ],
)
async def test_the_admin_api_token_and_verify_are_not_on_the_apps_origin(
    stack: Stack, gateway: str, path: str
) -> None:
    """A script on the app's origin must not reach the admin API with an admin's cookie."""
    new = NewClient("root@example.com", PASSWORD, None, None)
    await stack.app[SERVICES].accounts.create(new, kind="user", scopes=["admin"])
    cookie = await stack.login("root@example.com")

    status, _, body = await fetch(stack, f"{gateway}{path}", Cookie=cookie)
    async with stack.http.post(
        f"{gateway}{path}", headers={"Cookie": cookie, "Origin": gateway}, json={}
    ) as posted:
        posted_status = posted.status

    assert status == 404
    assert posted_status in (404, 405)
    assert "clients" not in str(body)


async def test_a_clients_x_original_url_never_describes_the_request(
    stack: Stack, gateway: str
) -> None:
    status, headers, _ = await fetch(
        stack,
        f"{gateway}/app",
        **PAGE_LOAD,
        **{"X-Original-URL": "https://evil.example.net/x", "X-Original-Method": "GET"},
    )

    assert status == 302
    assert headers["Location"].startswith(f"{gateway}/auth/login?rd=")
    assert "evil.example.net" not in headers["Location"]


async def test_method_override_headers_never_reach_the_upstream(stack: Stack, gateway: str) -> None:
    """A framework that honours them (Express's method-override, Symfony, Laravel, ASP.NET; most
    only for a POST) would run the request as the DELETE they name."""
    cookie = await stack.login()

    status, _, body = await fetch(stack, f"{gateway}/app", Cookie=cookie, **METHOD_OVERRIDES)

    assert status == 200
    assert not {name.lower() for name in METHOD_OVERRIDES} & set(body["headers"])
    assert body["method"] == "GET"
