"""What every route shares: body parsing errors, 404/405/413/415, 500 and 503 without leaks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from gateway_auth.config.settings import Settings
from gateway_auth.http.app import create_app
from gateway_auth.http.appkeys import SERVICES
from tests.support.browser import AppClient, Browser, registrations_from_many_addresses
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

PAGE_LOAD = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "detail"),
    [
        (b"{", "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "is required"),
        (b"[1, 2]", "application/json", 400, "must be a JSON object"),
        (b'"just a string"', "application/json", 400, "must be a JSON object"),
        (b'{"email": "a@b.c", "email": "d@e.f"}', "application/json", 400, "more than once"),
        (b'{"email": NaN}', "application/json", 400, "NaN is not a JSON value"),
        (b"[" * 100000, "application/json", 413, "must not exceed"),
        (b"\xff\xfe{}", "application/json", 400, "not valid UTF-8"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "application/json", 400, "not valid JSON"),
        (b"email=a%40b.c&password=x", "text/plain", 415, "application/json"),
        (b"<xml/>", "application/xml", 415, "application/json"),
        (b"{}", "application/json; charset=latin-1", 415, "application/json"),
        (b"{}", "", 415, "application/json"),
    ],
)
async def test_bad_bodies_get_a_clear_problem(
    browser: Browser, body: bytes, content_type: str, status: int, detail: str
) -> None:
    headers = {"Content-Type": content_type}  # "" sends an empty header: no usable type

    response = await browser.request("POST", "/register", data=body, headers=headers)

    assert response.status == status
    assert response.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    problem = response.json()
    assert problem["status"] == status
    assert detail in problem["detail"], problem


async def test_a_huge_chunked_body_is_413_without_a_length(browser: Browser) -> None:
    async def chunks() -> object:
        for _ in range(20):
            yield b"x" * 8192

    response = await browser.request(
        "POST", "/register", data=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status == 413


async def test_unknown_routes_are_problem_404(browser: Browser) -> None:
    response = await browser.request("GET", "/nope")

    assert response.status == 404
    assert response.json()["type"] == "urn:gateway-auth:problem:not-found"


@pytest.mark.parametrize(
    "headers",
    [
        PAGE_LOAD,
        {"Accept": "text/html,application/xhtml+xml"},  # a browser without Fetch Metadata
    ],
)
async def test_a_person_gets_a_page_where_a_program_gets_problem_json(
    browser: Browser, headers: dict[str, str]
) -> None:
    missing = await browser.request("GET", "/nope", headers=headers)
    wrong_method = await browser.request("DELETE", "/login", headers=headers)
    script = await browser.request(
        "GET", "/nope", headers={**headers, "Sec-Fetch-Mode": "cors", "Accept": "*/*"}
    )

    assert missing.status == 404
    assert missing.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>Page not found</h1>" in missing.text
    assert "default-src 'none'" in missing.headers["Content-Security-Policy"]
    assert wrong_method.status == 405
    assert wrong_method.headers["Allow"] == "GET,HEAD,POST"
    assert "This page cannot be used that way." in wrong_method.text
    assert script.headers["Content-Type"] == "application/problem+json; charset=utf-8"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/register", "GET,HEAD,POST"),
        ("DELETE", "/login", "GET,HEAD,POST"),
        ("GET", "/token", "POST"),
        ("POST", "/me/sessions", "DELETE,GET,HEAD"),
        ("PUT", "/healthz", "GET,HEAD"),
    ],
)
async def test_wrong_methods_are_405_with_allow(
    browser: Browser, method: str, path: str, allow: str
) -> None:
    response = await browser.request(method, path)

    assert response.status == 405
    assert response.headers["Allow"] == allow
    assert response.json()["status"] == 405


async def test_every_response_carries_the_security_headers(browser: Browser) -> None:
    for response in (
        await browser.request("GET", "/healthz"),
        await browser.request("GET", "/nope"),
        await browser.register(),
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Server"] == "gateway-auth"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_an_unexpected_error_is_a_bare_500(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    make_settings: Callable[..., Settings],
    clock: FakeClock,
) -> None:
    app = create_app(make_settings(), clock=clock, hasher_workers=1)

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("sqlite3.OperationalError: secret driver detail")

    app.router.add_get("/broken", broken)
    browser = Browser(await aiohttp_client(app))

    response = await browser.request("GET", "/broken")

    assert response.status == 500
    assert response.json()["detail"] == "Something went wrong on our side."
    assert "secret" not in response.text

    page = await browser.request("GET", "/broken", headers=PAGE_LOAD)

    assert page.status == 500
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Something went wrong on our side." in page.text
    assert f"Reference: {page.headers['X-Request-ID']}" in page.text
    assert "secret" not in page.text


async def test_a_failed_store_is_503_without_the_driver_message(
    http: AppClient, browser: Browser
) -> None:
    await browser.register()
    await http.app[SERVICES].store.close()  # the connection dies under the running app

    login = await browser.login()
    ready = await browser.request("GET", "/readyz")

    assert login.status == 503
    assert login.headers["Retry-After"] == "5"
    assert login.json()["type"] == "urn:gateway-auth:problem:store-unavailable"
    assert ready.status == 503
    assert ready.json() == {
        "status": "not ready",
        "checks": {"store": "unavailable", "revocations": "ok"},
    }


async def test_a_full_hashing_queue_answers_503_at_once(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(BCRYPT_ROUNDS="10")  # ~60 ms a hash; one worker, 9 places

    # From 14 addresses: one source alone may hold only a quarter of the places.
    responses = await registrations_from_many_addresses(browser, 14)

    statuses = [r.status for r in responses]
    assert set(statuses) == {201, 503}
    assert statuses.count(201) >= 9
    busy = next(r for r in responses if r.status == 503)
    assert busy.headers["Retry-After"] == "1"
    assert busy.json()["type"] == "urn:gateway-auth:problem:busy"


async def test_base_path_mounts_every_route_under_a_prefix(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(BASE_PATH="/auth/")

    root = await browser.request("POST", "/register", json={})
    created = await browser.request(
        "POST", "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    login = await browser.request(
        "POST", "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )

    assert root.status == 404
    assert created.status == 201
    assert login.cookie("__Host-gateway_auth")["path"] == "/"
    assert login.cookie("__Secure-gateway_auth_refresh")["path"] == "/auth/refresh"
    assert (await browser.request("POST", "/auth/refresh")).status == 200
