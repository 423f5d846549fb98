"""nginx ``auth_request`` and Caddy ``forward_auth`` in front of a real upstream."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from gateway_auth.accounts import NewClient
from gateway_auth.http.appkeys import ACCOUNTS, REVOCATIONS
from tests.gateways.conftest import Stack
from tests.support import PASSWORD

SPOOFS = {
    "X-Auth-User-Id": "evil",
    "X-Auth-Email": "evil@example.com",
    "X-Auth-Scopes": "admin",
    "Remote-User": "evil",
    "Remote-Name": "Evil",
    "Remote-Groups": "admin",
}


@pytest.fixture(params=["nginx", "caddy"])
def gateway(request: pytest.FixtureRequest) -> str:
    """The gateway's base URL."""
    port: int = request.getfixturevalue(request.param)
    return f"http://127.0.0.1:{port}"


async def fetch(stack: Stack, url: str, **headers: str) -> tuple[int, Any, dict[str, Any]]:
    async with stack.http.get(url, headers=headers, allow_redirects=False) as response:
        json = response.status == 200 and response.content_type == "application/json"
        body = await response.json() if json else {}
        return response.status, response.headers, body


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


async def test_spoofed_headers_without_a_session_never_reach_the_upstream(
    stack: Stack, gateway: str
) -> None:
    status, _, body = await fetch(stack, f"{gateway}/app", Accept="application/json", **SPOOFS)

    assert status in (302, 401)
    assert body == {}


async def test_suspension_and_logout_bite_on_the_very_next_request(
    stack: Stack, gateway: str
) -> None:
    cookie = await stack.login()
    status, _, body = await fetch(stack, f"{gateway}/app", Cookie=cookie)
    assert status == 200
    client_id = body["headers"]["x-auth-user-id"][0]

    await stack.app[REVOCATIONS].suspend_client(client_id)
    suspended, _, _ = await fetch(stack, f"{gateway}/app", Cookie=cookie)
    await stack.app[REVOCATIONS].unsuspend_client(client_id)
    restored, _, _ = await fetch(stack, f"{gateway}/app", Cookie=cookie)
    await stack.logout(cookie)
    logged_out, _, _ = await fetch(
        stack, f"{gateway}/app", Cookie=cookie, Accept="application/json"
    )

    assert (suspended, restored) == (403, 200)
    assert logged_out in (302, 401)


async def test_nginx_sends_browsers_to_the_login_page_with_the_original_url(
    stack: Stack, nginx: int
) -> None:
    base = f"http://127.0.0.1:{nginx}"

    status, headers, _ = await fetch(stack, f"{base}/app/page?x=1", Accept="text/html")

    assert status == 302
    assert headers["Location"] == f"{base}/login?rd={quote(base + '/app/page?x=1', safe='')}"
    login_page, _, _ = await fetch(stack, headers["Location"], Accept="text/html")
    assert login_page == 200


async def test_caddy_redirects_browser_navigations_and_answers_401_to_api_calls(
    stack: Stack, caddy: int
) -> None:
    base = f"http://127.0.0.1:{caddy}"

    page, page_headers, _ = await fetch(stack, f"{base}/app?x=1", Accept="text/html")
    api, api_headers, _ = await fetch(stack, f"{base}/app?x=1", Accept="application/json")

    assert page == 302
    assert page_headers["Location"] == f"{base}/login?rd={quote(base + '/app?x=1', safe='')}"
    assert api == 401
    assert api_headers["WWW-Authenticate"] == 'Bearer realm="gateway-auth"'


async def test_the_nginx_recipe_keeps_billing_for_clients_with_that_scope(
    stack: Stack, nginx: int
) -> None:
    base = f"http://127.0.0.1:{nginx}"
    new = NewClient("payer@example.com", PASSWORD, None, None)
    await stack.app[ACCOUNTS].create(new, kind="user", scopes=["billing"])
    payer = await stack.login("payer@example.com")
    other = await stack.login("ada@example.com")

    allowed, _, body = await fetch(stack, f"{base}/billing/invoices", Cookie=payer)
    refused, _, _ = await fetch(stack, f"{base}/billing/invoices", Cookie=other)

    assert allowed == 200
    assert body["headers"]["x-auth-scopes"] == ["billing"]
    assert refused == 403
