"""Two-step sign-in over HTTP on every store: an authenticator app set up on the account page,
the sign-in's second step (form and JSON), each code once, recovery codes once, wrong codes
regulated like passwords, the session's amr at /verify, and secrets kept out of logs and
exports."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pyotp
import pytest

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import NoticeEvent
from gateway_auth.stores.export import export_to
from tests.support.browser import PAGE_LOAD, AppClient, Browser, Response, admin
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD, wrong_code

APP = "/reports?tab=1"
RD = quote(APP, safe="")
_SECRET = re.compile(r'<p class="app-key"><code>([A-Z2-7 ]+)</code>')
_TICKET = re.compile(r'name="ticket" value="([^"]+)"')
_CODES = re.compile(r"<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>")


def problem_type(response: Response) -> str:
    return str(response.json()["type"]).removeprefix("urn:gateway-auth:problem:")


async def enrolled(http: AppClient, clock: FakeClock) -> tuple[Browser, pyotp.TOTP, list[str]]:
    """Ada, signed in by form, sets up an authenticator app: (her browser, the app, her
    recovery codes)."""
    await http.app[SERVICES].accounts.create(
        NewClient("ada@example.com", PASSWORD, "Ada", None), kind="user", scopes=["reports"]
    )
    browser = Browser(http)
    assert (await browser.signed_in_by_form()).status == 303
    enrol = await begin(browser)
    app = pyotp.TOTP(secret_on(enrol))
    wrong = await confirm(browser, enrol, wrong_code(app, clock()))
    shown = await confirm(browser, enrol, app.at(clock()))
    assert wrong.status == 401, wrong.text
    assert "That code is not right" in wrong.text
    assert secret_on(wrong) == app.secret  # the same set-up, shown again
    assert shown.status == 200, shown.text
    codes = _CODES.findall(shown.text)
    assert len(codes) == 10
    assert shown.headers["Cache-Control"] == "no-store"
    clock.advance(seconds=30)  # the code that confirmed the app is spent
    return browser, app, codes


async def begin(browser: Browser, password: str = PASSWORD) -> Response:
    """The set-up form of the two-step page, with the password."""
    status = await browser.page("/account/two-factor")
    return await browser.submit(status, "/account/two-factor/totp", {"setupPassword": password})


async def confirm(browser: Browser, enrol: Response, code: str) -> Response:
    """The enrolment page's form: its ticket and a code."""
    ticket = _TICKET.search(enrol.text)
    assert ticket, enrol.text
    return await browser.submit(
        enrol, "/account/two-factor/totp/confirm", {"code": code, "ticket": ticket[1]}
    )


def secret_on(page: Response) -> str:
    found = _SECRET.search(page.text)
    assert found, page.text
    return found[1].replace(" ", "")


async def sign_out(browser: Browser) -> None:
    page = await browser.page("/logout")
    assert (await browser.submit(page, "/logout", {})).status == 303


async def password_step(browser: Browser) -> Response:
    page = await browser.page(f"/login?rd={RD}")
    return await browser.submit(
        page, "/login", {"email": "ada@example.com", "password": PASSWORD, "rd": APP}
    )


async def code_step(browser: Browser, code: str) -> Response:
    page = await browser.page(f"/login/second-factor?rd={RD}")
    return await browser.submit(page, "/login/second-factor", {"code": code, "rd": APP})


async def test_an_app_set_up_on_the_account_page_asks_for_a_code_after_the_password(
    http: AppClient, clock: FakeClock
) -> None:
    browser, app, _ = await enrolled(http, clock)
    home = await browser.page("/account/security")
    await sign_out(browser)

    first = await password_step(browser)
    pending = next(m for m in first.set_cookies if m.key.endswith("_signin"))
    between = await browser.request("GET", "/verify")
    page = await browser.page(f"/login/second-factor?rd={RD}")
    done = await code_step(browser, app.at(clock()))
    verified = await browser.request("GET", "/verify")

    assert "Manage two-step sign-in" in home.text
    assert first.status == 303
    assert first.headers["Location"] == f"/login/second-factor?rd={RD}"
    assert [m.key for m in first.set_cookies] == [pending.key]  # no session cookie yet
    assert (pending["path"], pending["httponly"], pending["max-age"]) == ("/login", True, "300")
    assert between.status == 401
    assert page.status == 200
    assert 'autocomplete="one-time-code"' in page.text
    assert done.status == 303
    assert done.headers["Location"] == APP
    assert any(m.key == pending.key and m["max-age"] == "0" for m in done.set_cookies)
    assert verified.status == 200
    assert verified.headers["X-Auth-AMR"] == "pwd,otp,mfa"
    assert verified.headers["X-Auth-Scopes"] == "reports"


async def test_a_code_works_once_and_only_near_its_time(http: AppClient, clock: FakeClock) -> None:
    browser, app, _ = await enrolled(http, clock)
    await sign_out(browser)
    code = app.at(clock())
    await password_step(browser)
    assert (await code_step(browser, code)).status == 303
    await sign_out(browser)

    await password_step(browser)
    replayed = await code_step(browser, code)
    stale = await code_step(browser, app.at(clock() - timedelta(seconds=90)))
    early = await code_step(browser, app.at(clock() + timedelta(seconds=90)))
    clock.advance(seconds=60)
    # The step before now's: never used, and later than the one used above.
    skewed = await code_step(browser, app.at(clock() - timedelta(seconds=30)))

    for refused in (replayed, stale, early):
        assert refused.status == 401, refused.text
        assert "That code is not right, or was already used" in refused.text
    assert skewed.status == 303


async def test_a_recovery_code_signs_in_once(http: AppClient, clock: FakeClock) -> None:
    browser, _, codes = await enrolled(http, clock)
    await sign_out(browser)

    await password_step(browser)
    used = await code_step(browser, codes[3].upper())
    await sign_out(browser)
    await password_step(browser)
    again = await code_step(browser, codes[3])
    page = await browser.page("/account/two-factor") if again.status == 303 else None

    assert used.status == 303
    assert (await browser.request("GET", "/verify")).status == 401
    assert again.status == 401
    assert page is None


async def test_programs_take_the_second_step_in_json(http: AppClient, clock: FakeClock) -> None:
    _, app, _ = await enrolled(http, clock)
    program = Browser(http)

    asked = await program.login()
    no_cookie = await Browser(http).request(
        "POST", "/login/second-factor", json={"code": app.at(clock())}
    )
    wrong = await program.request("POST", "/login/second-factor", json={"code": "12345x"})
    done = await program.request("POST", "/login/second-factor", json={"code": app.at(clock())})
    me = await program.request("GET", "/me")
    introspected = await http.app[SERVICES].oauth.introspect(program.access_cookie(), None)

    assert (asked.status, problem_type(asked)) == (401, "second-factor-required")
    assert "POST /login/second-factor" in asked.json()["detail"]
    assert [m.key for m in asked.set_cookies] == [
        m.key for m in asked.set_cookies if m.key.endswith("_signin")
    ]
    assert (no_cookie.status, problem_type(no_cookie)) == (401, "sign-in-expired")
    assert (wrong.status, problem_type(wrong)) == (401, "wrong-code")
    assert done.status == 200
    assert done.json()["client"]["email"] == "ada@example.com"
    assert me.status == 200
    assert introspected["amr"] == ["pwd", "otp", "mfa"]
    assert introspected["auth_time"] == int(clock().timestamp())


async def test_a_sign_in_waits_five_minutes_for_its_code(http: AppClient, clock: FakeClock) -> None:
    browser, app, _ = await enrolled(http, clock)
    await sign_out(browser)

    await password_step(browser)
    page = await browser.page(f"/login/second-factor?rd={RD}")
    clock.advance(minutes=5, seconds=1)
    late = await browser.submit(page, "/login/second-factor", {"code": app.at(clock()), "rd": APP})
    reloaded = await browser.page(f"/login/second-factor?rd={RD}")

    for answer in (late, reloaded):  # the form posted late, and the page opened late
        assert answer.status == 303
        assert answer.headers["Location"].startswith("/login?")
        assert "notice=signin_expired" in answer.headers["Location"]
    assert (await browser.request("GET", "/verify")).status == 401


async def test_wrong_codes_count_like_wrong_passwords(
    make_client: Callable[..., Awaitable[AppClient]], clock: FakeClock
) -> None:
    http = await make_client(LOCKOUT_ATTEMPTS="4")
    browser, app, _ = await enrolled(http, clock)
    await sign_out(browser)
    browser.cookies = {k: v for k, v in browser.cookies.items() if not k.endswith("_device")}

    await password_step(browser)  # right, but counted as a failure until the code is
    wrongs = [await code_step(browser, wrong_code(app, clock())) for _ in range(4)]
    again = await password_step(browser)
    unknown = Browser(http)
    for _ in range(4):
        await unknown.login("nobody@example.com", "wrong password")
    locked_unknown = await unknown.login("nobody@example.com", "wrong password")
    locked = await browser.login()

    assert [w.status for w in wrongs] == [401, 401, 401, 429]  # the password was the first
    assert "Too many wrong codes or passwords" in wrongs[3].text
    assert wrongs[3].headers["Retry-After"]
    assert again.status == 429
    assert (locked.status, locked_unknown.status) == (429, 429)
    assert locked.json()["detail"] == locked_unknown.json()["detail"]  # one message for all


async def test_the_password_grant_refuses_an_account_with_a_second_factor(
    http: AppClient, clock: FakeClock
) -> None:
    await enrolled(http, clock)

    response = await Browser(http).request(
        "POST",
        "/token",
        data={"grant_type": "password", "username": "ada@example.com", "password": PASSWORD},
    )

    assert response.status == 400
    assert response.json()["error"] == "invalid_grant"
    assert "service client" in response.json()["error_description"]


async def test_removing_the_app_needs_the_password_and_turns_the_step_off(
    http: AppClient, clock: FakeClock
) -> None:
    browser, _, _ = await enrolled(http, clock)
    page = await browser.page("/account/two-factor")

    wrong = await browser.submit(
        page, "/account/two-factor/totp/remove", {"removePassword": "not the password"}
    )
    removed = await browser.submit(
        page, "/account/two-factor/totp/remove", {"removePassword": PASSWORD}
    )
    await sign_out(browser)
    again = await password_step(browser)

    assert wrong.status == 401
    assert "The password is incorrect" in wrong.text
    assert removed.status == 303
    assert (await http.app[SERVICES].store.second_factors(await _ada(http))).totp is None
    assert again.status == 303
    assert again.headers["Location"] == APP
    verified = await browser.request("GET", "/verify")
    assert verified.headers["X-Auth-AMR"] == "pwd"


async def test_new_recovery_codes_replace_the_old_ones(http: AppClient, clock: FakeClock) -> None:
    browser, _, old = await enrolled(http, clock)
    page = await browser.page("/account/two-factor")

    shown = await browser.submit(
        page, "/account/two-factor/recovery-codes", {"codesPassword": PASSWORD}
    )
    new = _CODES.findall(shown.text)
    await sign_out(browser)
    await password_step(browser)
    refused = await code_step(browser, old[0])
    accepted = await code_step(browser, new[0])

    assert "10 left" in page.text
    assert shown.status == 200
    assert len(new) == 10
    assert not set(new) & set(old)
    assert refused.status == 401
    assert accepted.status == 303


async def test_the_secret_stays_out_of_logs_and_exports(
    http: AppClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    browser, app, codes = await enrolled(http, clock)
    await sign_out(browser)
    await password_step(browser)
    await code_step(browser, app.at(clock()))
    out = io.StringIO()
    await export_to(http.app[SERVICES].store, out, clock())
    exported = [json.loads(line) for line in out.getvalue().splitlines()]

    factors = next(r for r in exported if r.get("type") == "second-factors")
    assert factors["totp"]["sealedSecret"].startswith("v1.")
    assert len(factors["recoveryCodeHashes"]) == 10
    for secret in (app.secret, *codes):
        assert secret not in out.getvalue()
        assert secret not in caplog.text
    assert "second_factor_added" in caplog.text


async def test_with_second_factors_off_there_is_nothing_to_set_up(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    http = await make_client(SECOND_FACTOR="off")
    browser = Browser(http)
    await browser.register()
    await browser.signed_in_by_form()

    home = await browser.page("/account/security")
    page = await browser.page("/account/two-factor")
    begun = await browser.submit(home, "/account/two-factor/totp", {"setupPassword": PASSWORD})

    assert "two-step" not in home.text.lower()
    assert "not available" in page.text
    assert begun.status == 409


async def _ada(http: AppClient) -> str:
    credentials = await http.app[SERVICES].store.get_credentials("ada@example.com")
    assert credentials is not None
    return str(credentials.client.id)


_ = PAGE_LOAD


async def test_an_operator_resets_a_lost_phone_and_the_password_alone_signs_in(
    http: AppClient, clock: FakeClock
) -> None:
    browser, _, _ = await enrolled(http, clock)
    ada = await _ada(http)
    await sign_out(browser)
    root = await admin(http, Browser(http))

    before = await root.request("GET", f"/admin/clients/{ada}/second-factors")
    reset = await root.request("DELETE", f"/admin/clients/{ada}/second-factors")
    again = await root.request("DELETE", f"/admin/clients/{ada}/second-factors")
    after = await root.request("GET", f"/admin/clients/{ada}/second-factors")
    unknown = await root.request("DELETE", "/admin/clients/nobody/second-factors")
    signed_in = await password_step(browser)

    assert before.json() == {"authenticatorApp": True, "passkeys": [], "recoveryCodesLeft": 10}
    assert (reset.status, again.status) == (204, 204)
    assert after.json() == {"authenticatorApp": False, "passkeys": [], "recoveryCodesLeft": 0}
    assert unknown.status == 404
    assert signed_in.headers["Location"] == APP


async def test_step_up_takes_a_code_and_no_longer_the_password_alone(
    make_client: Callable[..., Awaitable[AppClient]], clock: FakeClock
) -> None:
    http = await make_client(ELEVATED_SCOPES="reports")
    browser, app, _ = await enrolled(http, clock)
    page = await browser.page("/elevate?rd=%2Freports")

    before = await browser.request("GET", "/verify?scope=reports")
    password_alone = await browser.request("POST", "/me/elevate", json={"password": PASSWORD})
    both = await browser.request(
        "POST", "/me/elevate", json={"password": PASSWORD, "code": app.at(clock())}
    )
    wrong = await browser.submit(
        page, "/elevate", {"code": wrong_code(app, clock()), "rd": "/reports"}
    )
    confirmed = await browser.submit(page, "/elevate", {"code": app.at(clock()), "rd": "/reports"})
    after = await browser.request("GET", "/verify?scope=reports")

    assert 'autocomplete="one-time-code"' in page.text
    assert "Enter the code your authenticator app shows" in page.text
    assert (before.status, problem_type(before)) == (403, "reauthentication-required")
    assert (password_alone.status, problem_type(password_alone)) == (401, "second-factor-required")
    assert (both.status, problem_type(both)) == (422, "validation-failed")
    assert wrong.status == 401
    assert "That code is not right" in wrong.text
    assert confirmed.status == 303
    assert confirmed.headers["Location"] == "/reports"
    assert after.status == 200


async def test_step_up_without_an_app_still_takes_the_password(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    http = await make_client(ELEVATED_SCOPES="reports")
    await http.app[SERVICES].accounts.create(
        NewClient("ada@example.com", PASSWORD, "Ada", None), kind="user", scopes=["reports"]
    )
    browser = Browser(http)
    assert (await browser.login()).status == 200

    code_instead = await browser.request("POST", "/me/elevate", json={"code": "123456"})
    password = await browser.request("POST", "/me/elevate", json={"password": PASSWORD})

    assert (code_instead.status, problem_type(code_instead)) == (422, "validation-failed")
    assert password.status == 200
    assert password.json()["scopes"] == ["reports"]


async def test_a_stolen_session_alone_cannot_add_an_app(http: AppClient, clock: FakeClock) -> None:
    await http.app[SERVICES].accounts.create(
        NewClient("ada@example.com", PASSWORD, "Ada", None), kind="user", scopes=[]
    )
    owner, thief = Browser(http), Browser(http)
    await owner.signed_in_by_form()
    await thief.signed_in_by_form()  # as if it held a copy of a session's cookies

    guessed = await begin(thief, "not the password")
    enrol = await begin(owner)
    # The owner's set-up, posted from another session: its ticket is bound to the owner's.
    thief_page = await thief.page("/account/two-factor")
    ticket = _TICKET.search(enrol.text)
    assert ticket
    crossed = await thief.submit(
        thief_page,
        "/account/two-factor/totp/confirm",
        {"code": pyotp.TOTP(secret_on(enrol)).at(clock()), "ticket": ticket[1]},
    )
    forged = await thief.submit(
        thief_page, "/account/two-factor/totp/confirm", {"code": "123456", "ticket": "v1.x.y"}
    )

    assert guessed.status == 401
    assert "The password is incorrect" in guessed.text
    assert (crossed.status, forged.status) == (409, 409)
    assert "Start again" in crossed.text
    assert secret_on(enrol) not in crossed.text
    assert not (await http.app[SERVICES].store.second_factors(await _ada(http))).enrolled


async def test_turning_the_app_on_ends_every_other_session(
    http: AppClient, clock: FakeClock
) -> None:
    await http.app[SERVICES].accounts.create(
        NewClient("ada@example.com", PASSWORD, "Ada", None), kind="user", scopes=[]
    )
    elsewhere = Browser(http)
    assert (await elsewhere.login()).status == 200
    browser = Browser(http)
    await browser.signed_in_by_form()

    enrol = await begin(browser)
    shown = await confirm(browser, enrol, pyotp.TOTP(secret_on(enrol)).at(clock()))

    assert shown.status == 200
    assert "signed out everywhere else" in shown.text
    assert (await browser.request("GET", "/me")).status == 200
    assert (await elsewhere.request("GET", "/me")).status == 401


async def test_a_half_finished_sign_in_dies_with_a_password_change_and_works_once(
    http: AppClient, clock: FakeClock
) -> None:
    browser, app, _ = await enrolled(http, clock)
    await sign_out(browser)
    await password_step(browser)
    stolen = dict(browser.cookies)  # the sign-in cookie, as a phishing proxy would keep it

    assert (await code_step(browser, app.at(clock()))).status == 303
    replayer = Browser(http, cookies=stolen)
    clock.advance(seconds=30)
    replayed = await replayer.request(
        "POST", "/login/second-factor", json={"code": app.at(clock())}
    )
    await sign_out(browser)
    await password_step(browser)
    await http.app[SERVICES].store.set_password_hash(await _ada(http), "a new hash", clock())
    clock.advance(seconds=30)
    after_change = await browser.request(
        "POST", "/login/second-factor", json={"code": app.at(clock())}
    )

    assert (replayed.status, problem_type(replayed)) == (401, "sign-in-expired")
    assert (after_change.status, problem_type(after_change)) == (401, "sign-in-expired")


async def test_guests_cannot_add_an_app(make_client: Callable[..., Awaitable[AppClient]]) -> None:
    http = await make_client(GUESTS="true")
    guest = Browser(http)
    page = await guest.page("/login")
    await guest.submit(page, "/guests", {})

    two_factor = await guest.page("/account/two-factor")
    # The page offers nothing; a forged post, with the sign-in page's form token:
    begun = await guest.submit(page, "/account/two-factor/totp", {"setupPassword": "x"})

    assert "not available" in two_factor.text
    assert begun.status in (401, 409)
    assert '<p class="app-key">' not in begun.text  # no secret shown


async def test_turning_second_factors_off_keeps_the_apps_already_set_up(
    make_client: Callable[..., Awaitable[AppClient]], clock: FakeClock, data_dir: Path
) -> None:
    browser, _, _ = await enrolled(await make_client(), clock)
    off = await make_client(SECOND_FACTOR="off")  # the same data directory and key
    again = Browser(off)

    answer = await again.login()

    assert (answer.status, problem_type(answer)) == (401, "second-factor-required")
    assert (data_dir / "encryption-key").exists()
    assert browser.cookies


async def notices(http: AppClient) -> list[tuple[str, str]]:
    """The security notices waiting in the outbox: (reason, address)."""
    pending = await http.app[SERVICES].store.pending_events(100)
    return [(p.event.reason, p.event.email) for p in pending if isinstance(p.event, NoticeEvent)]


async def test_the_owner_is_told_of_every_change_to_how_they_sign_in(
    http: AppClient, clock: FakeClock
) -> None:
    browser, _, codes = await enrolled(http, clock)
    page = await browser.page("/account/two-factor")
    await browser.submit(page, "/account/two-factor/recovery-codes", {"codesPassword": PASSWORD})
    await sign_out(browser)
    await password_step(browser)
    await code_step(browser, codes[0])  # an old code: refused, no notice
    ada = await _ada(http)
    root = await admin(http, Browser(http))
    await root.request("DELETE", f"/admin/clients/{ada}/second-factors")
    await browser.login()
    await browser.request(
        "PUT",
        "/me/password",
        json={"currentPassword": PASSWORD, "newPassword": "another good passphrase"},
    )
    await browser.request(
        "PATCH",
        "/me",
        json={"email": "lovelace@example.com", "currentPassword": "another good passphrase"},
    )

    # All within one tick of the test's clock: the outbox's order among them is the ids'.
    assert sorted(await notices(http)) == [
        ("email-changed", "ada@example.com"),  # the old address
        ("password-changed", "ada@example.com"),
        ("recovery-codes-replaced", "ada@example.com"),
        ("second-factor-added", "ada@example.com"),
        ("second-factor-removed", "ada@example.com"),
    ]


async def test_a_used_recovery_code_is_told_to_the_owner(http: AppClient, clock: FakeClock) -> None:
    browser, _, codes = await enrolled(http, clock)
    await sign_out(browser)
    await password_step(browser)
    await code_step(browser, codes[5])

    assert (await notices(http))[-1] == ("recovery-code-used", "ada@example.com")


async def test_a_hundred_wrong_codes_in_a_row_leave_only_the_recovery_codes(
    make_client: Callable[..., Awaitable[AppClient]], clock: FakeClock
) -> None:
    # Regulation high enough to let a slow guesser through, so only this limit stops it.
    http = await make_client(LOCKOUT_ATTEMPTS="1000")
    browser, app, codes = await enrolled(http, clock)
    program = Browser(http)
    await program.login()

    valid = {app.at(clock() + timedelta(seconds=s)) for s in (-30, 0, 30)}
    guesses = [code for code in (f"{n:06d}" for n in range(110)) if code not in valid][:100]
    wrongs = [
        await program.request("POST", "/login/second-factor", json={"code": code})
        for code in guesses
    ]
    locked = await program.request("POST", "/login/second-factor", json={"code": app.at(clock())})
    await sign_out(browser)
    await password_step(browser)
    page = await code_step(browser, app.at(clock()))
    recovered = await code_step(browser, codes[0])
    clock.advance(seconds=30)
    await sign_out(browser)
    await password_step(browser)
    again = await code_step(browser, app.at(clock()))

    assert {w.status for w in wrongs} == {401}
    assert (locked.status, problem_type(locked)) == (403, "codes-locked")
    assert "recovery codes" in locked.json()["detail"]
    assert page.status == 403
    assert "Sign in with one of your recovery codes" in page.text
    assert recovered.status == 303  # a recovery code still works, and clears the count
    assert again.status == 303
