"""Step-up over HTTP on every store: ELEVATED_SCOPES are in force only for ELEVATION_TTL after
a fresh password, refreshes never extend that, and /verify on any instance stops honouring
them the moment they end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from gateway_auth.accounts.clients import NewClient, NewService
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.tokens import client_secret_hash
from tests.support.browser import PAGE_LOAD, AppClient, Browser, Response
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

STEP_UP = {"ELEVATED_SCOPES": "payments:write", "ELEVATION_TTL": "10m"}
PAY = "/verify?scope=payments:write"


def problem_type(response: Response) -> str:
    return str(response.json()["type"]).removeprefix("urn:gateway-auth:problem:")


async def payer(http: AppClient) -> Browser:
    new = NewClient("ada@example.com", PASSWORD, "Ada", None)
    await http.app[SERVICES].accounts.create(new, kind="user", scopes=["payments:write", "billing"])
    browser = Browser(http)
    assert (await browser.login()).status == 200
    return browser


async def test_an_elevated_scope_needs_a_fresh_password_and_lasts_its_ttl(
    make_client: Callable[..., Awaitable[AppClient]], clock: FakeClock
) -> None:
    browser = await payer(await make_client(**STEP_UP))

    before = await browser.request("GET", PAY)
    plain = await browser.request("GET", "/verify?scope=billing")
    wrong = await browser.request("POST", "/me/elevate", json={"password": "not it at all"})
    elevated = await browser.request("POST", "/me/elevate", json={"password": PASSWORD})
    during = await browser.request("GET", PAY)
    clock.advance(minutes=10, seconds=1)
    after = await browser.request("GET", PAY)
    headers_after = await browser.request("GET", "/verify")

    assert (before.status, problem_type(before)) == (403, "reauthentication-required")
    assert plain.status == 200
    assert plain.headers["X-Auth-Scopes"] == "billing"  # not in force: not sent on
    assert wrong.status == 401
    assert elevated.status == 200
    assert elevated.json()["scopes"] == ["payments:write", "billing"]
    assert elevated.json()["elevatedUntil"]
    assert elevated.headers["Cache-Control"] == "no-store"
    assert during.status == 200
    assert during.headers["X-Auth-Scopes"] == "payments:write,billing"
    assert (after.status, problem_type(after)) == (403, "reauthentication-required")
    assert headers_after.headers["X-Auth-Scopes"] == "billing"  # the same token, stepped down


async def test_a_refresh_never_extends_an_elevation(
    make_client: Callable[..., Awaitable[AppClient]], clock: FakeClock
) -> None:
    browser = await payer(await make_client(**STEP_UP))
    await browser.request("POST", "/me/elevate", json={"password": PASSWORD})
    clock.advance(minutes=6)

    refreshed = await browser.request("POST", "/refresh")
    soon = await browser.request("GET", PAY)
    clock.advance(minutes=4, seconds=1)
    late = await browser.request("GET", PAY)

    assert refreshed.status == 200
    assert soon.status == 200
    assert late.status == 403


async def test_an_elevation_ends_at_verify_on_a_second_instance(
    make_client: Callable[..., Awaitable[AppClient]], clock: FakeClock
) -> None:
    first = await make_client(**STEP_UP)
    second = await make_client(**STEP_UP)  # the same data directory: one installation
    browser = await payer(first)
    elevated = await browser.request("POST", "/me/elevate", json={"password": PASSWORD})
    elsewhere = Browser(second, cookies=browser.cookies)

    during = await elsewhere.request("GET", PAY)
    clock.advance(minutes=10, seconds=1)
    after = await elsewhere.request("GET", PAY)

    assert elevated.status == 200
    assert during.status == 200
    assert (after.status, problem_type(after)) == (403, "reauthentication-required")


async def test_signing_out_ends_the_elevation_everywhere(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    browser = await payer(await make_client(**STEP_UP))
    await browser.request("POST", "/me/elevate", json={"password": PASSWORD})
    token = browser.access_cookie()

    await browser.request("POST", "/logout")
    stolen = await browser.request("GET", PAY, headers={"Authorization": f"Bearer {token}"})

    assert stolen.status == 401


async def test_a_program_steps_up_with_its_bearer_token(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    http = await make_client(**STEP_UP)
    await payer(http)
    program = Browser(http)
    granted = await program.request(
        "POST",
        "/token",
        data={"grant_type": "password", "username": "ada@example.com", "password": PASSWORD},
    )
    bearer = {"Authorization": f"Bearer {granted.json()['access_token']}"}

    elevated = await program.request(
        "POST", "/me/elevate", json={"password": PASSWORD}, headers=bearer
    )
    fresh = {"Authorization": f"Bearer {elevated.json()['access_token']}"}

    assert granted.json()["scope"] == "billing"
    assert (await program.request("GET", PAY, headers=bearer)).status == 403
    assert elevated.status == 200
    assert not elevated.set_cookies
    assert (await program.request("GET", PAY, headers=fresh)).status == 200


async def test_a_page_load_goes_to_the_re_authentication_page_and_back(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    browser = await payer(await make_client(**STEP_UP))
    original = {**PAGE_LOAD, "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/pay"}

    redirected = await browser.request("GET", f"{PAY}&redirect=true", headers=original)
    shown = await browser.request("GET", PAY, headers=original)
    page = await browser.page("/elevate?rd=%2Fpay")
    wrong = await browser.submit(page, "/elevate", {"password": "nope nope nope", "rd": "/pay"})
    done = await browser.submit(page, "/elevate", {"password": PASSWORD, "rd": "/pay"})

    rd = quote("http://app.example.com/pay", safe="")
    assert redirected.status == 302
    assert redirected.headers["Location"] == f"http://app.example.com/elevate?rd={rd}"
    assert shown.status == 403
    assert "Confirm my password" in shown.text
    assert page.status == 200
    assert "For the next 10 minutes" in page.text
    assert wrong.status == 401
    assert "The password is incorrect." in wrong.text
    assert done.status == 303
    assert done.headers["Location"] == "/pay"
    assert (await browser.request("GET", PAY)).status == 200


async def test_service_clients_hold_elevated_scopes_plainly(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    http = await make_client(**STEP_UP)
    created = await http.app[SERVICES].accounts.create_service(
        NewService("svc@example.com"), scopes=["payments:write"]
    )
    assert client_secret_hash(created.secret)
    program = Browser(http)
    granted = await program.request(
        "POST",
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created.client.id,
            "client_secret": created.secret,
        },
    )
    bearer = {"Authorization": f"Bearer {granted.json()['access_token']}"}

    assert (await program.request("GET", PAY, headers=bearer)).status == 200


async def test_an_ended_elevation_no_longer_matches_an_access_rules_subject(
    make_client: Callable[..., Awaitable[AppClient]], clock: FakeClock, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "default_policy: deny\n"
        "rules:\n"
        "  - name: payers\n"
        "    subject: {scopes: ['payments:write']}\n"
        "    policy: authenticated\n"
    )
    browser = await payer(await make_client(**STEP_UP, RULES_FILE=str(rules)))
    original = {"X-Forwarded-Host": "pay.example.com", "X-Forwarded-Uri": "/"}
    await browser.request("POST", "/me/elevate", json={"password": PASSWORD})

    during = await browser.request("GET", "/verify", headers=original)
    clock.advance(minutes=10, seconds=1)
    after = await browser.request("GET", "/verify", headers=original)

    assert during.status == 200
    assert after.status == 403, (after.status, after.headers, after.text)
    assert problem_type(after) == "access-denied"


async def test_nginx_s_403_page_offers_the_re_authentication(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    browser = await payer(await make_client(**STEP_UP))

    page = await browser.page("/denied")  # nginx's error_page 403 after /verify refused

    assert page.status == 403
    assert "Confirm my password" in page.text
