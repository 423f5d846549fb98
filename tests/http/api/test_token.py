"""POST /token: the OAuth 2 token endpoint, in RFC 6749's shapes, success and error alike."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from urllib.parse import quote_plus

import pytest

from tests.support.browser import AppClient, Browser, admin
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD


async def _password_grant(browser: Browser, **extra: str) -> dict[str, object]:
    form = {"grant_type": "password", "username": "ada@example.com", "password": PASSWORD, **extra}
    response = await browser.request("POST", "/token", data=form)
    assert response.status == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.set_cookies == []  # programs get tokens in the body, never cookies
    body: dict[str, object] = response.json()
    return body


async def test_password_grant_issues_access_and_refresh_tokens(browser: Browser) -> None:
    await browser.register()

    body = await _password_grant(browser, client_id="cli")

    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "device_token",  # sent back on later password grants, it spares this program lockouts
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == ""
    me = await browser.http.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status == 200


async def test_token_accepts_json_too(browser: Browser) -> None:
    await browser.register()

    response = await browser.request(
        "POST",
        "/token",
        json={"grant_type": "password", "username": "ada@example.com", "password": PASSWORD},
    )

    assert response.status == 200


async def test_refresh_token_grant_rotates(browser: Browser, clock: FakeClock) -> None:
    await browser.register()
    first = await _password_grant(browser)

    second = await browser.request(
        "POST",
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    clock.advance(minutes=1)
    replay = await browser.request(
        "POST",
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )

    assert second.status == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert replay.status == 400
    assert replay.json()["error"] == "invalid_grant"
    # Reuse revoked the session: the rotated token is dead as well.
    newest = second.json()["refresh_token"]
    after = await browser.request(
        "POST", "/token", data={"grant_type": "refresh_token", "refresh_token": newest}
    )
    assert after.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {"grant_type": "password", "username": "ada@example.com", "password": "wrong!!!"},
            400,
            "invalid_grant",
        ),
        (
            {"grant_type": "password", "username": "nobody@example.com", "password": PASSWORD},
            400,
            "invalid_grant",
        ),
        ({"grant_type": "password", "username": "ada@example.com"}, 400, "invalid_request"),
        ({"grant_type": "password", "username": "", "password": PASSWORD}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "garbage"}, 400, "invalid_grant"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type"),
        ({"username": "ada@example.com"}, 400, "invalid_request"),
    ],
)
async def test_token_errors_use_rfc_6749_shapes(
    browser: Browser, form: dict[str, str], status: int, error: str
) -> None:
    await browser.register()

    response = await browser.request("POST", "/token", data=form)

    assert response.status == status
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert set(body) == {"error", "error_description"}


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": b"grant_type=password", "headers": {"Content-Type": "text/plain"}}, 415),
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": {"grant_type": "password", "username": ["a"], "password": "x"}}, 400),
        ({"data": b"x" * 70000, "headers": {"Content-Type": "application/json"}}, 413),
    ],
)
async def test_token_body_problems_keep_the_oauth_shape(
    browser: Browser, kwargs: dict[str, object], status: int
) -> None:
    response = await browser.request("POST", "/token", **kwargs)

    assert response.status == status
    assert response.json()["error"] == "invalid_request"


async def service_client(browser: Browser) -> tuple[str, str]:
    """Create a service client through the admin API; its id and its secret."""
    response = await browser.request(
        "POST",
        "/admin/clients",
        json={"email": "billing@services.example", "kind": "service", "scopes": ["billing"]},
    )
    assert response.status == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    return body["id"], body["clientSecret"]


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


async def test_a_service_client_gets_a_bearer_token_with_basic_or_form_credentials(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    client_id, secret = await service_client(browser)
    anyone = Browser(http)

    by_basic = await anyone.request(
        "POST",
        "/token",
        data={"grant_type": "client_credentials"},
        headers=basic(client_id, secret),
    )
    by_form = await anyone.request(
        "POST",
        "/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    token = by_basic.json()["access_token"]
    verify = await anyone.request("GET", "/verify", headers={"Authorization": f"Bearer {token}"})

    assert secret.startswith("gas_")
    assert by_basic.status == by_form.status == 200
    assert set(by_basic.json()) == {"access_token", "token_type", "expires_in", "scope"}
    assert by_basic.json()["token_type"] == "Bearer"
    assert by_basic.json()["expires_in"] == 900
    assert by_basic.headers["Cache-Control"] == "no-store"
    assert verify.status == 200
    assert verify.headers["X-Auth-Kind"] == "service"
    assert verify.headers["X-Auth-User-Id"] == client_id
    assert verify.headers["X-Auth-Scopes"] == "billing"


@pytest.mark.parametrize("wrong", ["secret", "id", "user"])
async def test_wrong_client_credentials_are_401_invalid_client_with_a_basic_challenge(
    http: AppClient, browser: Browser, wrong: str
) -> None:
    await admin(http, browser)
    client_id, secret = await service_client(browser)
    user_id = (await browser.request("GET", "/me")).json()["id"]
    credentials = {
        "secret": (client_id, secret + "x"),
        "id": ("nobody", secret),
        "user": (user_id, PASSWORD),  # a user client has no secret
    }[wrong]

    response = await Browser(http).request(
        "POST", "/token", data={"grant_type": "client_credentials"}, headers=basic(*credentials)
    )

    assert response.status == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"] == 'Basic realm="gateway-auth"'


@pytest.mark.parametrize(
    ("headers", "form", "status", "error"),
    [
        ({"Authorization": "Basic !!!"}, {}, 401, "invalid_client"),
        ({"Authorization": "Bearer abc"}, {}, 401, "invalid_client"),
        (
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
            {},
            401,
            "invalid_client",
        ),
        (basic("a", "b"), {"client_id": "a", "client_secret": "b"}, 400, "invalid_request"),
        ({}, {"client_id": "a"}, 401, "invalid_client"),
    ],
)
async def test_malformed_client_authentication_is_refused_clearly(
    browser: Browser, headers: dict[str, str], form: dict[str, str], status: int, error: str
) -> None:
    response = await browser.request(
        "POST", "/token", data={"grant_type": "client_credentials", **form}, headers=headers
    )

    assert response.status == status
    assert response.json()["error"] == error


async def test_rotation_suspension_session_revocation_and_deletion_end_service_tokens(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    client_id, secret = await service_client(browser)
    anyone = Browser(http)

    async def new_token(with_secret: str) -> tuple[int, dict[str, str]]:
        response = await anyone.request(
            "POST",
            "/token",
            data={"grant_type": "client_credentials"},
            headers=basic(client_id, with_secret),
        )
        token = response.json().get("access_token", "")
        return response.status, {"Authorization": f"Bearer {token}"}

    async def verify(bearer: dict[str, str]) -> int:
        return (await anyone.request("GET", "/verify", headers=bearer)).status

    _, old = await new_token(secret)
    rotated = await browser.request("POST", f"/admin/clients/{client_id}/secret")
    new_secret = rotated.json()["clientSecret"]
    assert rotated.status == 200
    assert rotated.headers["Cache-Control"] == "no-store"
    assert await verify(old) == 401  # rotation ends the tokens the old secret got
    assert (await new_token(secret))[0] == 401
    status, current = await new_token(new_secret)
    assert status == 200
    assert await verify(current) == 200

    await browser.request("PUT", f"/admin/clients/{client_id}/suspension")
    assert await verify(current) == 403
    assert (await new_token(new_secret))[0] == 401
    await browser.request("DELETE", f"/admin/clients/{client_id}/suspension")
    assert await verify(current) == 200

    await browser.request("DELETE", f"/admin/clients/{client_id}/sessions")
    assert await verify(current) == 401
    _, latest = await new_token(new_secret)

    await browser.request("DELETE", f"/admin/clients/{client_id}")
    assert await verify(latest) == 401
    assert (await new_token(new_secret))[0] == 401


async def test_only_service_clients_have_a_secret_to_rotate(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    user_id = (await browser.request("GET", "/me")).json()["id"]

    response = await browser.request("POST", f"/admin/clients/{user_id}/secret")

    assert response.status == 409
    assert response.json()["type"] == "urn:gateway-auth:problem:not-a-service-client"


async def test_a_forged_refresh_token_learns_nothing_about_scopes(browser: Browser) -> None:
    await browser.register()
    body = await _password_grant(browser)
    session_id = str(body["refresh_token"]).split(".")[0]
    forged = f"{session_id}.{'A' * 43}"

    response = await browser.request(
        "POST",
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": forged, "scope": "admin"},
    )
    genuine = await browser.request(
        "POST",
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "scope": "admin",
        },
    )

    assert response.status == 400
    assert response.json()["error"] == "invalid_grant"
    assert genuine.status == 400
    assert genuine.json()["error"] == "invalid_scope"


async def test_stepping_up_keeps_a_narrowed_token_narrow(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(ELEVATED_SCOPES="write")
    await admin(browser.http, browser)
    created = await browser.request(
        "POST",
        "/admin/clients",
        json={"email": "ada@example.com", "password": PASSWORD, "scopes": ["read", "write"]},
    )
    assert created.status == 201
    body = await _password_grant(browser, scope="read write")
    narrowed = await browser.request(
        "POST",
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "scope": "read",
        },
    )
    bearer = {"Authorization": f"Bearer {narrowed.json()['access_token']}"}

    elevated = await browser.request(
        "POST", "/me/elevate", json={"password": PASSWORD}, headers=bearer
    )
    token = elevated.json()["access_token"]
    write = await browser.request(
        "GET", "/verify?scope=write", headers={"Authorization": f"Bearer {token}"}
    )

    assert narrowed.json()["scope"] == "read"
    assert elevated.status == 200
    assert elevated.json()["scopes"] == ["read"]
    assert write.status == 403
