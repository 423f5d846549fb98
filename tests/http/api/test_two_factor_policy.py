"""Asking for a second factor, on every store: SECOND_FACTOR=required (a user without one is
sent to add one, and /verify lets nothing through until then), and the rules file's
``two_factor`` policy (a one-factor session is sent to confirm with a second factor and comes
back to the page, without signing in again)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import pyotp

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import Origin
from tests.support.browser import PAGE_LOAD, AppClient, Browser, Response, admin
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

Maker = Callable[..., Awaitable[AppClient]]
RULES = """\
default_policy: authenticated
rules:
  - name: money
    paths: ["/payments"]
    policy: two_factor
  - name: reports
    paths: ["/reports"]
    scopes: [reports]
    two_factor: true
"""


def problem_type(response: Response) -> str:
    return str(response.json()["type"]).removeprefix("urn:gateway-auth:problem:")


async def ask(browser: Browser, path: str, *, page: bool = False) -> Response:
    """/verify about ``https://app.example.com<path>``, as nginx's recipe asks (with
    ``?redirect=true`` for a page load, as Traefik's and Caddy's recipes do)."""
    headers = {"X-Original-URL": f"https://app.example.com{path}", "X-Original-Method": "GET"}
    if page:
        return await browser.request("GET", "/verify?redirect=true", headers=PAGE_LOAD | headers)
    return await browser.request("GET", "/verify", headers=headers)


async def set_up_an_app(browser: Browser, clock: FakeClock, rd: str = "") -> pyotp.TOTP:
    """The account page's app set-up, as tests/http/api/test_second_factor.py does it, sent
    on to ``rd`` afterwards when given."""
    back = {"rd": rd} if rd else {}
    page = await browser.page(
        f"/account/two-factor?rd={quote(rd)}" if rd else "/account/two-factor"
    )
    setup = {"setupPassword": PASSWORD, **back}
    enrol = await browser.submit(page, "/account/two-factor/totp", setup)
    secret = enrol.text.split('<p class="app-key"><code>')[1].split("</code>")[0]
    ticket = enrol.text.split('name="ticket" value="')[1].split('"')[0]
    app = pyotp.TOTP(secret.replace(" ", ""))
    fields = {"code": app.at(clock()), "ticket": ticket, **back}
    done = await browser.submit(enrol, "/account/two-factor/totp/confirm", fields)
    assert done.status == 200, done.text
    assert f'href="{rd or "/account/two-factor"}">I have saved them' in done.text
    clock.advance(seconds=30)
    return app


async def test_required_sends_a_user_without_a_second_factor_to_add_one(
    make_client: Maker, clock: FakeClock
) -> None:
    http = await make_client(SECOND_FACTOR="required")
    await http.app[SERVICES].accounts.create(
        NewClient("ada@example.com", PASSWORD, None, None), kind="user", scopes=[]
    )
    browser = Browser(http)

    signed_in = await browser.signed_in_by_form()
    api = await browser.request("GET", "/verify")
    page = await browser.request(
        "GET", "/verify?redirect=true", headers=PAGE_LOAD | {"X-Original-URL": "https://a/x"}
    )
    told = await browser.page(signed_in.headers["Location"])
    await set_up_an_app(browser, clock, rd="/x?y=1")  # in this session: it counts from now on
    after = await browser.request("GET", "/verify")

    assert signed_in.status == 303
    assert signed_in.headers["Location"] == "/account/two-factor?done=required"
    assert "Every account here signs in in two steps" in told.text
    assert api.status == 403
    assert problem_type(api) == "second-factor-enrolment-required"
    assert page.status == 302
    assert page.headers["Location"] == "https://a/account/two-factor?rd=https%3A%2F%2Fa%2Fx"
    assert after.status == 200
    assert after.headers["X-Auth-AMR"] == "pwd,otp,mfa"


async def test_required_leaves_service_clients_alone(make_client: Maker) -> None:
    http = await make_client(SECOND_FACTOR="required")
    root = await admin(http, Browser(http))
    made = await root.request(
        "POST",
        "/admin/clients",
        json={"email": "billing@services.example", "kind": "service", "scopes": ["billing"]},
    )
    client_id, secret = made.json()["id"], made.json()["clientSecret"]
    token = await root.request(
        "POST",
        "/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}

    verified = await Browser(http).request("GET", "/verify", headers=bearer)

    assert verified.status == 200
    assert verified.headers["X-Auth-Kind"] == "service"


async def test_a_two_factor_rule_sends_a_one_factor_session_to_confirm_and_back(
    make_client: Maker, clock: FakeClock, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    http = await make_client(RULES_FILE=str(rules))
    services = http.app[SERVICES]
    ada = await services.accounts.create(
        NewClient("ada@example.com", PASSWORD, None, None), kind="user", scopes=["reports"]
    )
    browser = Browser(http)
    await browser.signed_in_by_form()
    before_any = await ask(browser, "/payments")
    refused_page = await browser.page(f"/denied?rd={quote('/payments')}")
    app = await set_up_an_app(browser, clock)
    # A session from before (or from a release without second factors): the password alone.
    old = await services.sessions.start(ada, Origin("127.0.0.1", "old"), persistent=True)
    anyone = Browser(http)
    bearer = {"Authorization": f"Bearer {old.access_token}"}

    one_factor = await anyone.request(
        "GET", "/verify", headers={"X-Original-URL": "https://app.example.com/payments", **bearer}
    )
    sent_on = await anyone.request(
        "GET",
        "/verify?redirect=true",
        headers=PAGE_LOAD | {"X-Original-URL": "https://app.example.com/payments?x=1", **bearer},
    )
    elsewhere = await anyone.request(
        "GET", "/verify", headers={"X-Original-URL": "https://app.example.com/", **bearer}
    )
    confirmed = await anyone.request(
        "POST", "/me/elevate", json={"code": app.at(clock())}, headers=bearer
    )
    reissued = {"Authorization": f"Bearer {confirmed.json()['access_token']}"}
    after = await anyone.request(
        "GET", "/verify", headers={"X-Original-URL": "https://app.example.com/reports", **reissued}
    )
    proved_now = await ask(browser, "/payments")  # the session that added the app

    assert before_any.status == 403
    assert problem_type(before_any) == "second-factor-session-required"
    assert refused_page.status == 403  # nginx's error_page: what to do about it
    assert "<h1>Add a second factor</h1>" in refused_page.text
    assert one_factor.status == 403
    assert problem_type(one_factor) == "second-factor-session-required"
    assert sent_on.status == 302
    assert sent_on.headers["Location"] == (
        "https://app.example.com/elevate?rd=https%3A%2F%2Fapp.example.com%2Fpayments%3Fx%3D1"
    )
    assert elsewhere.status == 200  # the default: one factor is enough
    assert confirmed.status == 200, confirmed.text
    assert after.status == 200
    assert after.headers["X-Auth-AMR"] == "pwd,otp,mfa"
    assert proved_now.status == 200
