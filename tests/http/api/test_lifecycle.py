"""The account lifecycle by mail, over HTTP on every store: password resets and verified email
addresses, each link a single-use token that a mail event carries (the mailer itself is tested
against a real SMTP server in tests/test_mailer.py, and the pages in Chromium)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import MailEvent, MailPurpose
from gateway_auth.stores.base import Suspension
from tests.support.browser import PAGE_LOAD, AppClient, Browser, Response, admin
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

NEW_PASSWORD = "a brand new passphrase"
RESET: MailPurpose = "password-reset-requested"
VERIFY: MailPurpose = "email-verification-requested"


async def mails(http: AppClient, purpose: MailPurpose | None = None) -> list[MailEvent]:
    """The mail events waiting in the outbox (no Redis here), oldest first."""
    await http.app[SERVICES].links.settle()  # reset requests are handled after their answer
    pending = await http.app[SERVICES].store.pending_events(100)
    found = [p.event for p in pending if isinstance(p.event, MailEvent)]
    return [e for e in found if purpose is None or e.type == purpose]


def token_of(event: MailEvent) -> str:
    return parse_qs(urlsplit(event.link).query)["token"][0]


async def reset_link(browser: Browser, email: str = "ada@example.com") -> str:
    response = await browser.request("POST", "/password-reset", json={"email": email})
    assert response.status == 202
    return token_of((await mails(browser.http, RESET))[-1])


def problem_type(response: Response) -> str:
    return str(response.json()["type"]).removeprefix("urn:gateway-auth:problem:")


async def test_a_reset_request_answers_alike_for_every_address_and_mails_only_users(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    eve = (await browser.register("eve@example.com")).json()
    await browser.http.app[SERVICES].store.set_suspended(eve["id"], Suspension(True, clock()))

    answers = [
        await browser.request("POST", "/password-reset", json={"email": email})
        for email in ("ADA@example.com", "nobody@example.com", "eve@example.com")
    ]

    assert [a.status for a in answers] == [202, 202, 202]
    assert len({a.text for a in answers}) == 1
    assert answers[0].json()["status"] == "accepted"
    sent = await mails(browser.http, RESET)
    assert [e.email for e in sent] == ["ada@example.com"]  # not the unknown, not the suspended
    event = sent[0].to_json()
    assert set(event) == {
        "type", "version", "id", "clientId", "email", "name", "link", "expiresAt", "locale",
        "occurredAt",
    }  # fmt: skip
    assert str(event["link"]).startswith("http://localhost:8000/password-reset/confirm?token=")
    assert len(token_of(sent[0])) >= 22  # at least 128 bits, base64url


async def test_a_reset_link_points_at_public_url_whatever_host_the_request_named(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(PUBLIC_URL="https://auth.example.com", BASE_PATH="/auth")
    await browser.request(
        "POST", "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
    )

    response = await browser.request(
        "POST",
        "/auth/password-reset",
        json={"email": "ada@example.com"},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )

    assert response.status == 202
    (event,) = await mails(browser.http, RESET)
    assert event.link.startswith("https://auth.example.com/auth/password-reset/confirm?token=")


async def test_a_reset_sets_the_password_ends_every_session_and_works_once(
    browser: Browser,
) -> None:
    await browser.logged_in()
    laptop = await Browser(browser.http).logged_in("ada@example.com")
    token = await reset_link(browser)

    response = await browser.request(
        "POST", "/password-reset/confirm", json={"token": token, "newPassword": NEW_PASSWORD}
    )
    again = await browser.request(
        "POST", "/password-reset/confirm", json={"token": token, "newPassword": "yet another one"}
    )

    assert response.status == 204
    assert (await browser.request("GET", "/me")).status == 401
    assert (await laptop.request("GET", "/me")).status == 401  # everywhere
    assert (await browser.login("ada@example.com", PASSWORD)).status == 401
    assert (await browser.login("ada@example.com", NEW_PASSWORD)).status == 200
    assert again.status == 400
    assert problem_type(again) == "link-used"
    me = (await browser.request("GET", "/me")).json()
    assert me["emailVerified"] is True  # the link reached the mailbox


async def test_a_reset_link_expires_and_only_the_newest_works(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    first = await reset_link(browser)
    clock.advance(seconds=61)  # one mail a minute at most
    second = await reset_link(browser)
    clock.advance(minutes=30)

    def confirm(token: str) -> Awaitable[Response]:
        body = {"token": token, "newPassword": NEW_PASSWORD}
        return browser.request("POST", "/password-reset/confirm", json=body)

    stale, late = await confirm(first), await confirm(second)

    assert (stale.status, problem_type(stale)) == (400, "link-invalid")
    assert (late.status, problem_type(late)) == (400, "link-expired")
    assert (await browser.login("ada@example.com", PASSWORD)).status == 200


async def test_a_token_for_one_client_never_works_for_another(browser: Browser) -> None:
    await browser.register()
    await browser.register("eve@example.com")
    eves = await reset_link(browser, "eve@example.com")
    adas_verification = token_of((await mails(browser.http, VERIFY))[0])

    used = await browser.request(
        "POST", "/password-reset/confirm", json={"token": eves, "newPassword": NEW_PASSWORD}
    )
    wrong_kind = await browser.request(
        "POST",
        "/password-reset/confirm",
        json={"token": adas_verification, "newPassword": NEW_PASSWORD},
    )

    assert used.status == 204
    assert (await browser.login("eve@example.com", NEW_PASSWORD)).status == 200
    assert (await browser.login("ada@example.com", PASSWORD)).status == 200  # untouched
    assert (wrong_kind.status, problem_type(wrong_kind)) == (400, "link-invalid")


async def test_a_weak_new_password_keeps_the_link_usable(browser: Browser) -> None:
    await browser.register()
    token = await reset_link(browser)

    weak = await browser.request(
        "POST", "/password-reset/confirm", json={"token": token, "newPassword": "short"}
    )
    good = await browser.request(
        "POST", "/password-reset/confirm", json={"token": token, "newPassword": NEW_PASSWORD}
    )

    assert weak.status == 422
    assert weak.json()["errors"][0]["field"] == "newPassword"
    assert good.status == 204


async def test_reset_requests_are_spaced_and_limited_per_address(
    make_browser: Callable[..., Awaitable[Browser]], clock: FakeClock
) -> None:
    browser = await make_browser(RATE_LIMIT_PER_IP="3/minute")
    await browser.register()  # one attempt of the three

    answers = [
        await browser.request("POST", "/password-reset", json={"email": "ada@example.com"})
        for _ in range(3)
    ]

    assert [a.status for a in answers] == [202, 202, 429]
    assert "Retry-After" in answers[2].headers
    assert len(await mails(browser.http, RESET)) == 1  # the second came within the minute


async def test_bad_reset_bodies_are_clear_4xx(browser: Browser) -> None:
    cases = [
        ("/password-reset", {"email": "not an address"}, 422),
        ("/password-reset", {"email": "ada@example.com", "admin": True}, 422),
        ("/password-reset/confirm", {"token": "x" * 5000, "newPassword": NEW_PASSWORD}, 400),
        ("/password-reset/confirm", {"token": 7, "newPassword": NEW_PASSWORD}, 422),
        ("/email-verification/confirm", {}, 422),
    ]
    for path, body, status in cases:
        response = await browser.request("POST", path, json=body)
        assert response.status == status, (path, body, response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json")


async def test_registration_mails_a_verification_link_that_verifies_once(
    browser: Browser,
) -> None:
    await browser.logged_in()
    before = await browser.request("GET", "/verify")
    (event,) = await mails(browser.http, VERIFY)

    verified = await browser.request(
        "POST", "/email-verification/confirm", json={"token": token_of(event)}
    )
    again = await browser.request(
        "POST", "/email-verification/confirm", json={"token": token_of(event)}
    )
    await browser.request("POST", "/refresh")  # the next access token says so
    after = await browser.request("GET", "/verify")

    assert before.headers["X-Auth-Email-Verified"] == "false"
    assert event.email == "ada@example.com"
    assert event.link.startswith("http://localhost:8000/email-verification/confirm?token=")
    assert (verified.status, verified.json()) == (200, {"emailVerified": True})
    assert (again.status, problem_type(again)) == (400, "link-used")
    assert (await browser.request("GET", "/me")).json()["emailVerified"] is True
    assert after.headers["X-Auth-Email-Verified"] == "true"


async def test_a_new_address_is_unverified_and_the_old_link_cannot_verify_it(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.logged_in()
    (old,) = await mails(browser.http, VERIFY)
    await browser.request("POST", "/email-verification/confirm", json={"token": token_of(old)})
    second_old = await browser.request("POST", "/me/email-verification")  # verified: none sent

    changed = await browser.request(
        "PATCH", "/me", json={"email": "lovelace@example.com", "currentPassword": PASSWORD}
    )

    assert second_old.json() == {"sent": False, "emailVerified": True}
    assert changed.status == 200
    assert changed.json()["emailVerified"] is False
    # Mailed at the same moment as the first (the clock stands still), so found by address.
    (new,) = [e for e in await mails(browser.http, VERIFY) if e.email == "lovelace@example.com"]
    confirmed = await browser.request(
        "POST", "/email-verification/confirm", json={"token": token_of(new)}
    )
    assert confirmed.status == 200


async def test_the_link_can_be_asked_for_again_once_a_minute(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.logged_in()

    soon = await browser.request("POST", "/me/email-verification")
    clock.advance(seconds=61)
    later = await browser.request(
        "POST", "/me/email-verification", headers={"Accept-Language": "de-CH, fr;q=0.9"}
    )

    assert (soon.status, soon.json()) == (202, {"sent": False, "emailVerified": False})
    assert (later.status, later.json()) == (202, {"sent": True, "emailVerified": False})
    first, second = await mails(browser.http, VERIFY)
    assert second.locale == "de-CH"
    answer = await browser.request(
        "POST", "/email-verification/confirm", json={"token": token_of(first)}
    )
    assert problem_type(answer) == "link-invalid"  # only the newest works


async def test_verified_emails_can_be_required_at_verify(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(REQUIRE_VERIFIED_EMAIL="true")
    await browser.logged_in()
    service = await admin(browser.http, Browser(browser.http))  # an operator's account

    api = await browser.request("GET", "/verify")
    page = await browser.request(
        "GET",
        "/verify",
        headers={**PAGE_LOAD, "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/"},
    )

    assert (api.status, problem_type(api)) == (403, "email-unverified")
    assert "Location" not in api.headers
    assert page.status == 403
    assert "<h1>Verify your email address</h1>" in page.text
    assert "Send a new link" in page.text
    assert (await service.request("GET", "/verify")).status == 403  # users alike, admins too
    (event,) = await mails(browser.http, VERIFY)
    await browser.request("POST", "/email-verification/confirm", json={"token": token_of(event)})
    await browser.request("POST", "/refresh")
    assert (await browser.request("GET", "/verify")).status == 200


async def test_the_portal_resets_a_password_from_the_mailed_link(browser: Browser) -> None:
    await browser.register()
    sign_in = await browser.page("/login")
    request_page = await browser.page("/password-reset")

    sent = await browser.submit(request_page, "/password-reset", {"email": "ada@example.com"})
    token = token_of((await mails(browser.http, RESET))[-1])
    form = await browser.page(f"/password-reset/confirm?token={token}")
    mismatch = await browser.submit(
        form,
        "/password-reset/confirm",
        {"token": token, "newPassword": NEW_PASSWORD, "newPasswordConfirmation": "other"},
    )
    done = await browser.submit(
        form,
        "/password-reset/confirm",
        {"token": token, "newPassword": NEW_PASSWORD, "newPasswordConfirmation": NEW_PASSWORD},
    )
    reused = await browser.submit(
        form,
        "/password-reset/confirm",
        {"token": token, "newPassword": NEW_PASSWORD, "newPasswordConfirmation": NEW_PASSWORD},
    )

    assert 'href="/password-reset">Forgot your password?</a>' in sign_in.text
    assert sent.status == 200
    assert "<h1>Check your email</h1>" in sent.text
    assert form.status == 200
    assert f'name="token" value="{token}"' in form.text
    assert mismatch.status == 422
    assert "The two passwords do not match." in mismatch.text
    assert done.status == 303
    assert done.headers["Location"] == "/login?notice=password_reset"
    notice = await browser.page(done.headers["Location"])
    assert "Sign in with your new password." in notice.text
    assert reused.status == 400
    assert "<h1>This link was used already</h1>" in reused.text
    assert 'href="/password-reset">Ask for a new link</a>' in reused.text
    assert (await browser.login("ada@example.com", NEW_PASSWORD)).status == 200


async def test_the_portal_verifies_an_address_with_a_button_not_by_the_link_alone(
    browser: Browser,
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    token = token_of((await mails(browser.http, VERIFY))[-1])
    home = await browser.page("/")

    page = await browser.page(f"/email-verification/confirm?token={token}")  # a mail scanner too
    still = (await browser.request("GET", "/me")).json()
    done = await browser.submit(page, "/email-verification/confirm", {"token": token})
    verify = await browser.request("GET", "/verify")

    assert "Not verified" in home.text
    assert "Send the link again" in home.text
    assert page.status == 200
    assert "Verify my email address" in page.text
    assert still["emailVerified"] is False
    assert done.status == 303
    assert done.headers["Location"] == "/?done=verified"
    assert verify.headers["X-Auth-Email-Verified"] == "true"  # this browser's cookie, at once
    after = await browser.page("/?done=verified")
    assert "Your email address is verified." in after.text
    assert "Send the link again" not in after.text


async def test_a_signed_in_person_asks_for_the_link_again(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.signed_in_by_form()
    clock.advance(seconds=61)
    home = await browser.page("/")

    answer = await browser.submit(home, "/account/email-verification", {})

    assert answer.status == 303
    assert answer.headers["Location"] == "/?done=verification_sent"
    assert len(await mails(browser.http, VERIFY)) == 2


async def test_the_denied_page_tells_an_unverified_user_what_to_do(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(REQUIRE_VERIFIED_EMAIL="true")
    await browser.logged_in()

    page = await browser.page("/denied")  # nginx's error_page 403

    assert page.status == 403
    assert "<h1>Verify your email address</h1>" in page.text


async def test_a_reset_link_dies_when_the_address_or_password_changes(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.logged_in()
    before_password = await reset_link(browser)
    await browser.request(
        "PUT",
        "/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    )
    clock.advance(seconds=61)
    before_email = await reset_link(browser)
    await browser.request(
        "PATCH", "/me", json={"email": "lovelace@example.com", "currentPassword": NEW_PASSWORD}
    )

    for token in (before_password, before_email):
        answer = await browser.request(
            "POST", "/password-reset/confirm", json={"token": token, "newPassword": "taken over!"}
        )
        assert (answer.status, problem_type(answer)) == (400, "link-invalid")
    assert (await browser.login("lovelace@example.com", NEW_PASSWORD)).status == 200


async def test_a_deleted_clients_mails_are_not_sent(browser: Browser) -> None:
    await browser.logged_in()
    await reset_link(browser)

    assert (await browser.request("DELETE", "/me")).status == 204

    assert await mails(browser.http) == []


async def test_an_empty_form_post_still_needs_its_form_token(browser: Browser) -> None:
    await browser.logged_in()

    answer = await browser.request(
        "POST",
        "/me/email-verification",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    text = await browser.request(
        "POST", "/me/email-verification", headers={"Content-Type": "text/plain"}
    )

    assert answer.status == 415  # /me takes JSON only
    assert text.status == 415
