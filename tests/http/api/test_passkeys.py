"""Passkeys over HTTP on every store, answered by a WebAuthn authenticator in Python
(tests/support/authenticator.py) as a browser at PUBLIC_URL would: adding one on the two-step
page, signing in with it alone, the second step and step-up with it; each challenge once and
for five minutes, answers for another origin or RP ID refused, a counter that goes back refused
and logged, wrong answers regulated, renaming and removing, notices queued."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import pytest

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.logging import FIELDS
from gateway_auth.models import Client, NoticeEvent, Passkey
from gateway_auth.services import Services
from tests.support.authenticator import SoftAuthenticator, ceremony_on
from tests.support.browser import AppClient, Browser, Response
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

PORTAL = "https://portal.example.com"
APP = "/reports?tab=1"
RD = quote(APP, safe="")
_CODES = re.compile(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>")
Maker = Callable[..., Awaitable[AppClient]]


async def portal(make_client: Maker, **env: str) -> AppClient:
    """gateway-auth at PUBLIC_URL (whose host is the passkeys' RP ID), Ada in it."""
    http = await make_client(PUBLIC_URL=PORTAL, ELEVATED_SCOPES="reports", **env)
    await http.app[SERVICES].accounts.create(
        NewClient("ada@example.com", PASSWORD, "Ada", "Lovelace"), kind="user", scopes=["reports"]
    )
    return http


async def add_passkey(browser: Browser, key: SoftAuthenticator, name: str = "Laptop") -> Response:
    """From the two-step page: the password, then the authenticator's new credential."""
    page = await browser.page("/account/two-factor")
    adding = await browser.submit(
        page, "/account/two-factor/passkeys", {"passkeyPassword": PASSWORD}
    )
    assert adding.status == 200, adding.text
    ceremony = ceremony_on(adding.text)
    assert ceremony.purpose == "register"
    credential = key.create(ceremony.options)
    return await browser.submit(
        adding,
        "/account/two-factor/passkeys/confirm",
        {"ceremony": ceremony.token, "credential": credential, "name": name},
    )


async def enrolled(http: AppClient) -> tuple[Browser, SoftAuthenticator, list[str]]:
    """Ada signs in with her password and adds a passkey: her browser, her authenticator
    and the recovery codes shown once."""
    browser = Browser(http)
    assert (await browser.signed_in_by_form()).status == 303
    key = SoftAuthenticator(PORTAL)
    shown = await add_passkey(browser, key)
    assert shown.status == 200, shown.text
    codes = _CODES.findall(shown.text)
    assert len(codes) == 10
    return browser, key, codes


async def sign_out(browser: Browser) -> None:
    page = await browser.page("/logout")
    assert (await browser.submit(page, "/logout", {})).status == 303


async def passkey_alone(browser: Browser, key: SoftAuthenticator, **forged: object) -> Response:
    """ "Sign in with a passkey" on the sign-in page."""
    page = await browser.page(f"/login?rd={RD}")
    ceremony = ceremony_on(page.text)
    assert ceremony.purpose == "sign-in"
    credential = key.get(ceremony.options, **forged)  # type: ignore[arg-type]
    fields = {"ceremony": ceremony.token, "credential": credential, "rd": APP}
    return await browser.submit(page, "/login/passkey", fields)


async def password_then_passkey(
    browser: Browser, key: SoftAuthenticator, **forged: object
) -> Response:
    """The password, then the passkey as the second step."""
    page = await browser.page(f"/login?rd={RD}")
    fields = {"email": "ada@example.com", "password": PASSWORD, "rd": APP}
    assert (await browser.submit(page, "/login", fields)).status == 303
    step = await browser.page(f"/login/second-factor?rd={RD}")
    ceremony = ceremony_on(step.text)
    assert ceremony.purpose == "second-factor"
    credential = key.get(ceremony.options, **forged)  # type: ignore[arg-type]
    fields = {"ceremony": ceremony.token, "credential": credential, "rd": APP}
    return await browser.submit(step, "/login/second-factor", fields)


async def notices(http: AppClient) -> list[str]:
    pending = await http.app[SERVICES].store.pending_events(100)
    return [p.event.reason for p in pending if isinstance(p.event, NoticeEvent)]


async def test_a_passkey_added_on_the_account_page_signs_in_alone(make_client: Maker) -> None:
    http = await portal(make_client)
    browser, key, _ = await enrolled(http)
    page = await browser.page("/account/two-factor")
    await sign_out(browser)

    signed_in = await passkey_alone(browser, key)
    verified = await browser.request("GET", "/verify")

    assert "Laptop" in page.text
    assert "not used yet" in page.text
    assert signed_in.status == 303, signed_in.text
    assert signed_in.headers["Location"] == APP
    assert verified.status == 200
    assert verified.headers["X-Auth-Email"] == "ada@example.com"
    assert verified.headers["X-Auth-AMR"] == "hwk,user,mfa"
    assert await notices(http) == ["passkey-added"]
    assert (await passkeys(http))[0].sign_count == 2  # 1 when made, 2 when it signed in


async def test_the_sign_in_page_offers_passkeys_to_the_browser_it_serves(
    make_client: Maker,
) -> None:
    http = await portal(make_client)
    page = await Browser(http).page("/login")

    ceremony = ceremony_on(page.text)
    assert ceremony.options["rpId"] == "portal.example.com"
    assert ceremony.options["userVerification"] == "required"
    assert ceremony.options["allowCredentials"] == []  # discoverable: the passkey names the account
    assert ceremony.options["timeout"] == 300_000
    assert 'autocomplete="username webauthn"' in page.text  # conditional mediation
    assert '<script type="module">' in page.text
    assert "hidden>" in page.text  # the form shows only where the script finds passkeys work


async def test_the_password_then_a_passkey_is_the_second_step(make_client: Maker) -> None:
    http = await portal(make_client)
    browser, key, _ = await enrolled(http)
    await sign_out(browser)

    done = await password_then_passkey(browser, key, verified=False)
    verified = await browser.request("GET", "/verify")

    assert done.status == 303, done.text
    assert done.headers["Location"] == APP
    assert verified.headers["X-Auth-AMR"] == "pwd,hwk,mfa"


async def test_each_challenge_is_answered_once_and_within_five_minutes(
    make_client: Maker, clock: FakeClock
) -> None:
    http = await portal(make_client)
    browser, key, _ = await enrolled(http)
    await sign_out(browser)
    page = await browser.page(f"/login?rd={RD}")
    ceremony = ceremony_on(page.text)
    answer = key.get(ceremony.options)
    fields = {"ceremony": ceremony.token, "credential": answer, "rd": APP}

    first = await browser.submit(page, "/login/passkey", fields)
    await sign_out(browser)
    again = await browser.submit(page, "/login/passkey", fields)
    stale_page = await browser.page(f"/login?rd={RD}")
    stale = ceremony_on(stale_page.text)
    clock.advance(minutes=5, seconds=1)
    late_fields = {"ceremony": stale.token, "credential": key.get(stale.options), "rd": APP}
    late = await browser.submit(stale_page, "/login/passkey", late_fields)

    assert first.status == 303
    for refused in (again, late):
        assert refused.status == 401
        assert "took too long or was already used" in refused.text
    assert (await browser.request("GET", "/verify")).status == 401


@pytest.mark.parametrize(
    ("forged", "why"),
    [
        ({"origin": "https://portal.example.com.evil.test"}, "another origin"),
        ({"origin": "http://portal.example.com"}, "the same host without TLS"),
        ({"rp_id": "example.com"}, "another RP ID"),
        ({"verified": False}, "no user verification, for a sign-in without a password"),
    ],
)
async def test_an_answer_made_elsewhere_or_without_the_user_is_refused(
    make_client: Maker, forged: dict[str, object], why: str
) -> None:
    http = await portal(make_client)
    browser, key, _ = await enrolled(http)
    await sign_out(browser)

    refused = await passkey_alone(browser, key, **forged)

    assert refused.status == 401, why
    assert "That passkey was not accepted" in refused.text
    assert (await browser.request("GET", "/verify")).status == 401


async def test_a_counter_that_goes_back_is_refused_and_logged(
    make_client: Maker, caplog: pytest.LogCaptureFixture
) -> None:
    http = await portal(make_client)
    browser, key, _ = await enrolled(http)
    await sign_out(browser)
    assert (await passkey_alone(browser, key, counter=7)).status == 303
    await sign_out(browser)

    with caplog.at_level(logging.WARNING, logger="gateway_auth.factors.passkeys"):
        cloned = await passkey_alone(browser, key, counter=5)
        same = await passkey_alone(browser, key, counter=7)

    assert cloned.status == same.status == 401
    logged = [
        getattr(r, FIELDS) for r in caplog.records if r.getMessage() == "passkey_counter_regressed"
    ]
    assert [(e["stored"], e["presented"]) for e in logged] == [(7, 5), (7, 7)]
    assert (await passkey_alone(browser, key, counter=8)).status == 303


async def test_an_authenticator_that_keeps_no_counter_signs_in_every_time(
    make_client: Maker,
) -> None:
    http = await portal(make_client)
    browser = Browser(http)
    await browser.signed_in_by_form()
    key = SoftAuthenticator(PORTAL, counting=False, synced=True)
    assert (await add_passkey(browser, key, "Phone")).status == 200

    for _ in range(2):
        await sign_out(browser)
        assert (await passkey_alone(browser, key)).status == 303
    verified = await browser.request("GET", "/verify")

    assert verified.headers["X-Auth-AMR"] == "swk,user,mfa"  # synced: a software key


async def test_another_accounts_passkey_is_no_second_step_for_ada(make_client: Maker) -> None:
    http = await portal(make_client)
    browser, _, _ = await enrolled(http)
    await sign_out(browser)
    await http.app[SERVICES].accounts.create(
        NewClient("eve@example.com", PASSWORD, None, None), kind="user", scopes=[]
    )
    eve = Browser(http)
    await eve.signed_in_by_form("eve@example.com")
    eves = SoftAuthenticator(PORTAL)
    await add_passkey(eve, eves)

    page = await browser.page(f"/login?rd={RD}")
    fields = {"email": "ada@example.com", "password": PASSWORD, "rd": APP}
    await browser.submit(page, "/login", fields)
    step = await browser.page(f"/login/second-factor?rd={RD}")
    ceremony = ceremony_on(step.text)
    answer = eves.get(ceremony.options, credential=eves.credentials[0])
    refused = await browser.submit(
        step,
        "/login/second-factor",
        {"ceremony": ceremony.token, "credential": answer, "rd": APP},
    )

    assert refused.status == 401
    assert "That passkey was not accepted" in refused.text
    assert (await browser.request("GET", "/verify")).status == 401


async def test_wrong_answers_count_like_wrong_passwords(make_client: Maker) -> None:
    http = await portal(make_client, LOCKOUT_ATTEMPTS="3")
    browser, key, _ = await enrolled(http)
    await sign_out(browser)
    stranger = Browser(http)  # no device cookie: the account's limit applies

    wrong = [await passkey_alone(stranger, key, origin="https://evil.test") for _ in range(3)]
    locked = await passkey_alone(stranger, key)

    assert [r.status for r in wrong] == [401, 401, 401]
    assert locked.status == 429
    assert "Retry-After" in locked.headers


async def test_garbage_for_an_answer_gets_the_sign_in_page_again(make_client: Maker) -> None:
    http = await portal(make_client)
    browser = Browser(http)
    page = await browser.page("/login")
    ceremony = ceremony_on(page.text)

    answers = [
        await browser.submit(page, "/login/passkey", {"ceremony": ceremony.token, "credential": c})
        for c in ("", "{}", "[1]", '{"id": "x", "rawId": "!!", "response": {}}', "\u00e9" * 500)
    ]
    forged_token = await browser.submit(
        page, "/login/passkey", {"ceremony": "e30.e30.e30", "credential": "{}"}
    )

    for answer in [*answers, forged_token]:
        assert answer.status == 401, answer.text
        assert "<h1>Sign in</h1>" in answer.text


async def test_step_up_takes_a_passkey(make_client: Maker) -> None:
    http = await portal(make_client)
    browser, key, _ = await enrolled(http)

    page = await browser.page(f"/elevate?rd={RD}")
    ceremony = ceremony_on(page.text)
    assert ceremony.purpose == "confirm"
    credential = key.get(ceremony.options)
    fields = {"ceremony": ceremony.token, "credential": credential, "rd": APP}
    before = await browser.request("GET", "/verify?scope=reports")
    confirmed = await browser.submit(page, "/elevate", fields)
    after = await browser.request("GET", "/verify?scope=reports")

    assert before.status == 403  # an elevated scope, not in force
    assert confirmed.status == 303, confirmed.text
    assert confirmed.headers["Location"] == APP
    assert after.status == 200
    password_alone = await browser.submit(page, "/elevate", {"password": PASSWORD, "rd": APP})
    assert password_alone.status == 401


async def test_renaming_and_removing_passkeys(make_client: Maker) -> None:
    http = await portal(make_client)
    browser, _, _ = await enrolled(http)
    phone = SoftAuthenticator(PORTAL)
    second = await add_passkey(browser, phone, "Phone")
    by_name = {p.name: p.credential_id for p in await passkeys(http)}
    ids = [by_name["Laptop"], by_name["Phone"]]
    page = await browser.page("/account/two-factor")

    renamed = await browser.submit(
        page, f"/account/two-factor/passkeys/{ids[0]}/rename", {f"name-{ids[0]}": "Work laptop"}
    )
    bad_name = await browser.submit(
        page, f"/account/two-factor/passkeys/{ids[0]}/rename", {f"name-{ids[0]}": " "}
    )
    wrong = await browser.submit(
        page, f"/account/two-factor/passkeys/{ids[1]}/remove", {f"password-{ids[1]}": "nope"}
    )
    removed = await browser.submit(
        page, f"/account/two-factor/passkeys/{ids[1]}/remove", {f"password-{ids[1]}": PASSWORD}
    )
    unknown = await browser.submit(
        page, "/account/two-factor/passkeys/nothing/remove", {"password-nothing": PASSWORD}
    )
    after = await browser.page("/account/two-factor")

    assert second.status == 303  # not the first factor: no new recovery codes
    assert renamed.status == removed.status == 303
    assert bad_name.status == 422
    assert wrong.status == 401
    assert "The password is incorrect." in wrong.text
    assert unknown.status == 404
    assert "Work laptop" in after.text
    assert "Phone" not in after.text
    assert "The passkey was removed." in (await browser.page(removed.headers["Location"])).text
    assert sorted(await notices(http)) == ["passkey-added", "passkey-added", "passkey-removed"]
    await sign_out(browser)
    assert (await passkey_alone(browser, phone)).status == 401  # a removed passkey


async def test_removing_the_last_passkey_turns_the_second_step_off(make_client: Maker) -> None:
    http = await portal(make_client)
    browser, _, codes = await enrolled(http)
    credential_id = (await passkeys(http))[0].credential_id
    page = await browser.page("/account/two-factor")
    field = f"password-{credential_id}"
    await browser.submit(
        page, f"/account/two-factor/passkeys/{credential_id}/remove", {field: PASSWORD}
    )
    await sign_out(browser)

    signed_in = await browser.signed_in_by_form()
    factors = await http.app[SERVICES].factors.of(await _ada(http))

    assert signed_in.status == 303
    assert signed_in.headers["Location"] == "/"
    assert factors.recovery_codes_left == 0
    assert codes  # they were shown, and now sign in nobody


async def test_a_stolen_session_alone_cannot_add_a_passkey(make_client: Maker) -> None:
    http = await portal(make_client)
    browser = Browser(http)
    await browser.signed_in_by_form()
    page = await browser.page("/account/two-factor")

    refused = await browser.submit(
        page, "/account/two-factor/passkeys", {"passkeyPassword": "a guess"}
    )
    forged = await browser.submit(
        page,
        "/account/two-factor/passkeys/confirm",
        {"ceremony": "e30.e30.e30", "credential": "{}", "name": "Mine"},
    )

    assert refused.status == 401
    assert "data-passkey" not in refused.text
    assert forged.status == 409
    assert await passkeys(http) == ()


async def test_without_a_domain_name_there_are_no_passkeys(make_client: Maker) -> None:
    http = await make_client()  # no PUBLIC_URL: the test client's 127.0.0.1
    await http.app[SERVICES].accounts.create(
        NewClient("ada@example.com", PASSWORD, None, None), kind="user", scopes=[]
    )
    browser = Browser(http)
    login = await browser.page("/login")
    await browser.signed_in_by_form()
    account = await browser.page("/account/two-factor")

    assert "data-passkey" not in login.text
    assert "<script" not in login.text
    assert "not at an IP address" in account.text


async def _ada(http: AppClient) -> Client:
    services: Services = http.app[SERVICES]
    credentials = await services.store.get_credentials("ada@example.com")
    assert credentials is not None
    return credentials.client


async def passkeys(http: AppClient) -> tuple[Passkey, ...]:
    """Ada's passkeys as stored."""
    services: Services = http.app[SERVICES]
    return (await services.factors.of(await _ada(http))).passkeys


async def test_only_the_portals_own_origin_may_ask_for_a_passkey(make_client: Maker) -> None:
    # Passkeys shared with the whole domain, and a sibling site allowed to post forms (CSRF):
    # a page on that site still cannot have a passkey sign in here.
    http = await portal(
        make_client, WEBAUTHN_RP_ID="example.com", ALLOWED_ORIGINS="https://app.example.com"
    )
    browser, key, _ = await enrolled(http)
    await sign_out(browser)

    sibling = await passkey_alone(browser, key, origin="https://app.example.com")
    own = await passkey_alone(browser, key)

    assert key.credentials[0].rp_id == "example.com"
    assert sibling.status == 401
    assert own.status == 303


async def test_hostile_answers_are_refused_without_an_error(make_client: Maker) -> None:
    http = await portal(make_client)
    browser, _, _ = await enrolled(http)
    huge = SoftAuthenticator(PORTAL, id_length=1024)
    refused = await add_passkey(browser, huge, "Too big")
    await sign_out(browser)
    page = await browser.page("/login")
    ceremony = ceremony_on(page.text)
    nested = await browser.submit(
        page, "/login/passkey", {"ceremony": ceremony.token, "credential": "[" * 3000}
    )

    assert nested.status == 401
    assert "That passkey was not accepted" in nested.text
    assert refused.status == 409
    assert len(await passkeys(http)) == 1


async def test_an_account_holds_at_most_twenty_passkeys(make_client: Maker) -> None:
    http = await portal(make_client)
    browser, _, _ = await enrolled(http)
    for number in range(18):  # one device each: an authenticator holds one per account
        assert (
            await add_passkey(browser, SoftAuthenticator(PORTAL), f"Key {number}")
        ).status == 303
    page = await browser.page("/account/two-factor")
    fields = {"passkeyPassword": PASSWORD}
    pages = [await browser.submit(page, "/account/two-factor/passkeys", fields) for _ in range(2)]
    answers = []
    for adding in pages:  # both begun at 19, finished one after the other
        ceremony = ceremony_on(adding.text)
        credential = SoftAuthenticator(PORTAL).create(ceremony.options)
        fields = {"ceremony": ceremony.token, "credential": credential, "name": "One more"}
        answers.append(await browser.submit(adding, "/account/two-factor/passkeys/confirm", fields))
    over = await browser.submit(page, "/account/two-factor/passkeys", {"passkeyPassword": PASSWORD})

    assert [a.status for a in answers] == [303, 409]
    assert len(await passkeys(http)) == 20
    assert over.status == 409
    assert "at most 20 passkeys" in over.text
