"""Input an attacker sends on purpose: every one is a clear 4xx, never a 5xx or a store error,
and nothing about it (an email, a traceback of the server's internals) reaches the answer."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from gateway_auth.accounts.clients import Accounts
from gateway_auth.errors import StoreUnavailable
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.logging import JsonFormatter
from gateway_auth.validation import (
    MAX_GROUPS,
    MAX_IDENTITY_CLAIMS_BYTES,
    MAX_SCOPES,
    MAX_SCOPES_LENGTH,
    identity_claims_problem,
)
from tests.support.browser import AppClient, Browser, admin
from tests.support.credentials import PASSWORD

PROBLEM = "application/problem+json"


def _raw_json(**fields: str) -> str:
    """A JSON object whose values are written as given (escapes included), not re-encoded."""
    return "{" + ",".join(f'"{name}":"{value}"' for name, value in fields.items()) + "}"


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"email": "ada@example.com", "password": "pass\\ud800word"}),
        ("/register", {"email": "ada\\udfff@example.com", "password": PASSWORD}),
        ("/register", {"email": "ada@example.com", "password": PASSWORD, "firstName": "\\ud800"}),
        ("/token", {"grant_type": "password", "username": "a@b.c", "password": "\\ud800"}),
    ],
)
async def test_an_unpaired_surrogate_is_a_400_not_a_500(
    browser: Browser, caplog: pytest.LogCaptureFixture, path: str, fields: dict[str, str]
) -> None:
    await browser.register()
    response = await browser.request(
        "POST", path, data=_raw_json(**fields), headers={"Content-Type": "application/json"}
    )

    assert response.status == 400, response.text
    assert "surrogate" in response.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_paired_surrogate_escape_is_just_a_character(browser: Browser) -> None:
    body = _raw_json(email="ada@example.com", password=PASSWORD, firstName="Ada \\ud83d\\ude00")
    response = await browser.request(
        "POST", "/register", data=body, headers={"Content-Type": "application/json"}
    )

    assert response.status == 201, response.text
    assert response.json()["firstName"] == "Ada \N{GRINNING FACE}"


@pytest.mark.parametrize("limit", ["²", "٣", "+5", " 5", "1e2", "0x10", "\N{FULLWIDTH DIGIT FIVE}"])
async def test_a_page_size_must_be_ascii_digits(
    http: AppClient, browser: Browser, limit: str
) -> None:
    await admin(http, browser)

    response = await browser.request("GET", "/admin/clients", params={"limit": limit})

    assert response.status == 422
    assert response.headers["Content-Type"].startswith(PROBLEM)
    assert response.json()["errors"] == [
        {"field": "limit", "message": "must be a whole number from 1 to 200"}
    ]


async def test_too_many_scopes_are_refused_naming_the_limit(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    many = [f"scope{n}" for n in range(MAX_SCOPES + 1)]
    long = [f"{n:02d}" + "x" * 62 for n in range(20)]  # 20 scopes of 64 characters

    for scopes, limit in ((many, str(MAX_SCOPES)), (long, str(MAX_SCOPES_LENGTH))):
        response = await browser.request(
            "POST",
            "/admin/clients",
            json={"email": "bob@example.com", "password": PASSWORD, "scopes": scopes},
        )
        assert response.status == 422, response.text
        (error,) = response.json()["errors"]
        assert error["field"] == "scopes"
        assert limit in error["message"]


async def test_the_most_a_client_may_hold_still_fits_a_browser_cookie(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    email = f"{'a' * 64}@{'d' * 60}.{'e' * 60}.{'f' * 60}.example"[:254]
    scopes = [f"{n:02d}" + "s" * 30 for n in range(MAX_SCOPES)][: MAX_SCOPES_LENGTH // 33]
    first = "\N{CYRILLIC CAPITAL LETTER ZHE}" * 100  # six bytes each in the token's JSON
    while identity_claims_problem(email, first, first, scopes):  # the largest that is allowed
        first = first[:-1]
    created = await browser.request(
        "POST",
        "/admin/clients",
        json={
            "email": email,
            "password": PASSWORD,
            "firstName": first,
            "lastName": first,
            "scopes": scopes,
        },
    )
    assert created.status == 201, created.text
    too_long = await browser.request(
        "POST",
        "/admin/clients",
        json={
            "email": "b" + email[1:],
            "password": PASSWORD,
            "firstName": "\N{CYRILLIC CAPITAL LETTER ZHE}" * 100,
            "lastName": "\N{CYRILLIC CAPITAL LETTER ZHE}" * 100,
            "scopes": scopes,
        },
    )

    response = await Browser(http).login(email)

    assert response.status == 200
    access = next(m for m in response.set_cookies if not m.key.endswith(("_refresh", "_csrf")))
    # HS256 signs with 32 bytes (43 characters of base64url); the largest signature allowed,
    # RS256 or PS256 with a 3072-bit key, has 384 (512 characters). A sign-in through another
    # identity provider with a passkey as its second step has a longer amr ('"fed","hwk",
    # "user","mfa"' for '"pwd"': 19 bytes more) and names the provider (',"idp":"' and an id
    # of up to 32 characters and '"': 41 bytes): 60 bytes, 80 characters; room for 88.
    assert len(access.key) + 1 + len(access.value) - 43 + 512 + 88 <= 4096
    assert too_long.status == 422
    (error,) = too_long.json()["errors"]
    assert error["field"] == "scopes"
    assert str(MAX_IDENTITY_CLAIMS_BYTES) in error["message"]


async def test_a_name_change_that_would_overflow_the_cookie_is_refused(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    scopes = [f"{n:02d}" + "s" * 30 for n in range(MAX_SCOPES)][: MAX_SCOPES_LENGTH // 33]
    email = f"{'b' * 64}@{'d' * 60}.{'e' * 60}.{'f' * 60}.example"[:254]
    body = {"email": email, "password": PASSWORD, "scopes": scopes}
    assert (await browser.request("POST", "/admin/clients", json=body)).status == 201
    bob = Browser(http)
    assert (await bob.login(email)).status == 200
    long_name = "\N{CYRILLIC CAPITAL LETTER ZHE}" * 100

    response = await bob.request(
        "PATCH", "/me", json={"firstName": long_name, "lastName": long_name}
    )

    assert response.status == 422
    assert response.json()["errors"][0]["field"] == "firstName"
    assert (await bob.request("PATCH", "/me", json={"firstName": "Bob"})).status == 200


async def test_aiohttps_own_refusals_do_not_name_the_framework(http: AppClient) -> None:
    # A request line aiohttp's parser refuses never reaches our middleware.
    assert http.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", http.server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    await writer.drain()
    answer = await reader.read(4096)
    writer.close()

    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.split(" ", 2)[1] == "400"
    assert "Server: gateway-auth" in head.split("\r\n")
    assert "aiohttp" not in answer.decode(errors="replace").lower()
    assert "python" not in answer.decode(errors="replace").lower()


async def test_a_store_error_logs_no_email(
    http: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Were a malformed address ever to reach the store, its error text would quote it.
    try:  # SQLite cannot encode it (a store error); the MongoDB emulation finds nobody
        found = await http.app[SERVICES].store.get_credentials("secret-name\ud800@example.com")
    except StoreUnavailable:
        found = None

    assert found is None
    logged = [JsonFormatter().format(r) for r in caplog.records]
    assert not [line for line in logged if "secret-name" in line]


async def test_an_unhandled_error_logs_its_traceback(
    browser: Browser, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(Accounts, "register", broken)

    response = await browser.register()

    assert response.status == 500
    assert "a bug" not in response.text
    (record,) = [r for r in caplog.records if r.getMessage() == "unhandled_error"]
    line = json.loads(JsonFormatter().format(record))
    assert "Traceback" in line["exception"]
    assert "RuntimeError: a bug in a handler" in line["exception"]
    assert "exc_info" not in line


async def test_groups_share_the_cookie_budget_so_the_most_allowed_still_fits(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    email = f"{'a' * 64}@{'d' * 60}.{'e' * 60}.{'f' * 60}.example"[:254]
    groups = [f"{n:02d}" + "g" * 62 for n in range(MAX_GROUPS)]  # 32 of 64 characters
    refused = await browser.request(
        "POST", "/admin/clients", json={"email": email, "password": PASSWORD, "groups": groups}
    )
    while identity_claims_problem(email, None, None, (), groups):  # the most that is allowed
        groups = groups[:-1]
    created = await browser.request(
        "POST", "/admin/clients", json={"email": email, "password": PASSWORD, "groups": groups}
    )

    response = await Browser(http).login(email)

    assert refused.status == 422
    (error,) = refused.json()["errors"]
    assert error["field"] == "scopes"  # the claims together: reported where scopes are
    assert str(MAX_IDENTITY_CLAIMS_BYTES) in error["message"]
    assert created.status == 201, created.text
    assert response.status == 200
    access = next(m for m in response.set_cookies if not m.key.endswith(("_refresh", "_csrf")))
    assert len(access.key) + 1 + len(access.value) - 43 + 512 + 88 <= 4096  # as above
