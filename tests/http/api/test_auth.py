"""POST /register and POST /login: statuses, bodies, cookies, and every refusal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.support.browser import Browser, store_suspends
from tests.support.credentials import PASSWORD

PROBLEM = "application/problem+json"


async def test_register_creates_a_user_without_scopes(browser: Browser) -> None:
    response = await browser.register(firstName="Ada", lastName="Lovelace")

    assert response.status == 201
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["kind"] == "user"
    assert body["scopes"] == []
    assert body["firstName"] == "Ada"
    assert body["lastName"] == "Lovelace"
    assert body["suspended"] is False
    assert body["createdAt"].endswith("Z")
    assert "password" not in response.text.lower()
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.set_cookies == []  # registering does not log in


@pytest.mark.parametrize("variant", ["ada@example.com", "  ADA@Example.COM ", "Ada@example.com"])
async def test_register_refuses_an_email_taken_in_any_case_or_spacing(
    browser: Browser, variant: str
) -> None:
    await browser.register()

    response = await browser.register(email=variant)

    assert response.status == 409
    assert response.headers["Content-Type"] == f"{PROBLEM}; charset=utf-8"
    assert response.json()["type"] == "urn:gateway-auth:problem:email-taken"


async def test_register_keeps_the_email_as_typed_but_trimmed(browser: Browser) -> None:
    response = await browser.register(email="  Ada.Lovelace@Example.com ")

    assert response.json()["email"] == "Ada.Lovelace@Example.com"
    assert (await browser.login("ada.lovelace@example.com")).status == 200


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"password": PASSWORD}, "email", "is required"),
        ({"email": "ada@example.com"}, "password", "is required"),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "must be an email address"),
        ({"email": "a@b@c", "password": PASSWORD}, "email", "must be an email address"),
        ({"email": "ada@example.com", "password": "short"}, "password", "at least 8"),
        ({"email": "ada@example.com", "password": "x" * 1025}, "password", "at most 1024"),
        ({"email": {"$ne": None}, "password": PASSWORD}, "email", "must be a string"),
        ({"email": "ada@example.com", "password": 12345678}, "password", "must be a string"),
        ({"email": ["ada@example.com"], "password": PASSWORD}, "email", "must be a string"),
        (
            {"email": "ada@example.com", "password": PASSWORD, "firstName": 7},
            "firstName",
            "must be a string or null",
        ),
        (
            {"email": "ada@example.com", "password": PASSWORD, "scopes": ["admin"]},
            "scopes",
            "granted by an administrator",
        ),
        (
            {"email": "ada@example.com", "password": PASSWORD, "kind": "service"},
            "kind",
            "cannot be changed",
        ),
        (
            {"email": "ada@example.com", "password": PASSWORD, "suspended": False},
            "suspended",
            "set by an administrator",
        ),
        ({"email": "ada@example.com", "password": PASSWORD, "id": "x"}, "id", "assigned by"),
        (
            {"email": "ada@example.com", "password": PASSWORD, "nickname": "x"},
            "nickname",
            "not a known field",
        ),
    ],
)
async def test_register_answers_422_naming_the_field(
    browser: Browser, body: dict[str, object], field: str, message: str
) -> None:
    response = await browser.request("POST", "/register", json=body)

    assert response.status == 422
    problem = response.json()
    assert problem["type"] == "urn:gateway-auth:problem:validation-failed"
    assert problem["status"] == 422
    assert any(e["field"] == field and message in e["message"] for e in problem["errors"]), problem
    # Nothing was created: the address is still free.
    assert (await browser.register()).status == 201


async def test_register_reports_every_invalid_field_at_once(browser: Browser) -> None:
    # Shape comes first (types, unknown and refused fields), then the rules for the values.
    shape = await browser.request(
        "POST", "/register", json={"email": 1, "password": None, "scopes": []}
    )
    rules = await browser.request(
        "POST", "/register", json={"email": "nope", "password": "short", "lastName": "x" * 101}
    )

    assert {e["field"] for e in shape.json()["errors"]} == {"email", "password", "scopes"}
    assert {e["field"] for e in rules.json()["errors"]} == {"email", "password", "lastName"}


async def test_register_accepts_long_and_multibyte_passwords(browser: Browser) -> None:
    password = "pässwörd-🔐-" * 20  # far beyond bcrypt's 72 bytes

    assert (await browser.register(password=password)).status == 201
    assert (await browser.login(password=password)).status == 200


async def test_a_password_is_never_truncated_at_72_bytes(browser: Browser) -> None:
    password = "p" * 100
    await browser.register(password=password)

    assert (await browser.login(password=password[:72] + "x")).status == 401
    assert (await browser.login(password=password[:72])).status == 401
    assert (await browser.login(password=password)).status == 200


async def test_register_is_refused_when_registration_is_closed(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(REGISTRATION="closed")

    response = await browser.register()

    assert response.status == 403
    assert response.json()["type"] == "urn:gateway-auth:problem:registration-closed"


async def test_login_sets_cookies_and_keeps_tokens_out_of_the_body(browser: Browser) -> None:
    await browser.register()

    response = await browser.login()

    assert response.status == 200
    body = response.json()
    assert body["client"]["email"] == "ada@example.com"
    assert body["expiresIn"] == 900
    assert set(body) == {"client", "expiresIn"}
    assert response.headers["Cache-Control"] == "no-store"
    access = response.cookie("__Host-gateway_auth")
    refresh = response.cookie("__Secure-gateway_auth_refresh")
    assert access.value not in response.text
    assert refresh.value not in response.text


async def test_every_login_failure_gets_the_same_401(browser: Browser) -> None:
    await browser.register()
    suspended_id = (await browser.register(email="sus@example.com")).json()["id"]
    await store_suspends(browser.http, suspended_id)

    unknown = await browser.login(email="nobody@example.com")
    wrong = await browser.login(password="wrong password!")
    suspended = await browser.login(email="sus@example.com")
    empty = await browser.login(password="")

    for response in (unknown, wrong, suspended, empty):
        assert response.status == 401
        assert response.text == unknown.text
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="gateway-auth"'
        assert response.set_cookies == []
    assert unknown.json()["detail"] == "Invalid email or password."


async def test_login_refuses_a_cross_site_form_post(browser: Browser) -> None:
    await browser.register()

    response = await browser.request(
        "POST",
        "/login",
        data={"email": "ada@example.com", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site"},
    )

    assert response.status == 403
    assert response.json()["type"] == "urn:gateway-auth:problem:cross-site-request"
    assert response.set_cookies == []
