"""POST /token: the OAuth 2 token endpoint, in RFC 6749's shapes, success and error alike."""

from __future__ import annotations

import pytest

from tests.support import PASSWORD, Browser, FakeClock


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

    body = await _password_grant(browser, scope="ignored", client_id="cli")

    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
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
