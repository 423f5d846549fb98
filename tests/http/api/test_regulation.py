"""Regulation over HTTP: attackers are slowed down and locked out, owners are not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from gateway_auth.logging import JsonFormatter
from tests.support.browser import AppClient, Browser, admin
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD
from tests.support.metrics import scrape

DEVICE = "__Host-gateway_auth_device"


async def _guess(browser: Browser, email: str, times: int, **headers: str) -> None:
    for _ in range(times):
        response = await browser.request(
            "POST",
            "/login",
            json={"email": email, "password": "not the password"},
            headers=headers,
        )
        assert response.status == 401, response.text


async def test_an_attacker_locks_out_only_clients_that_never_signed_in(
    browser: Browser, clock: FakeClock
) -> None:
    owner = browser
    await owner.register()
    assert (await owner.login()).status == 200  # the owner's browser is now trusted
    assert (await owner.request("POST", "/logout")).status == 204
    attacker = Browser(owner.http)
    newcomer = Browser(owner.http)

    await _guess(attacker, "ada@example.com", 10)

    locked = await attacker.login()  # even the right password, from an untrusted client
    assert locked.status == 429
    assert locked.headers["Retry-After"] == "900"
    assert (await newcomer.login()).status == 429
    assert (await owner.login()).status == 200  # the owner signs in throughout the attack
    clock.advance(minutes=15)
    assert (await newcomer.login()).status == 200


async def test_a_device_cookie_is_bound_to_its_account_and_locks_only_itself(
    browser: Browser,
) -> None:
    await browser.register()
    await browser.register(email="eve@example.com")
    assert (await browser.login("eve@example.com")).status == 200
    eves_device = browser.cookies[DEVICE].value
    thief = Browser(browser.http)
    thief.cookies[DEVICE] = browser.cookies[DEVICE]

    # Eve's device token vouches for nothing on Ada's account: it counts as untrusted there.
    await _guess(thief, "ada@example.com", 10)
    assert (await thief.login("ada@example.com")).status == 429
    # On Eve's account it is trusted, so guessing with it locks that device alone.
    await _guess(thief, "eve@example.com", 10)
    assert (await thief.login("eve@example.com")).status == 429
    assert (await Browser(browser.http).login("eve@example.com")).status == 200
    assert browser.cookies[DEVICE].value == eves_device


async def test_the_device_cookie_is_host_only_and_survives_logout(
    browser: Browser,
) -> None:
    await browser.register()

    response = await browser.login()
    device = response.cookie(DEVICE)
    logout = await browser.request("POST", "/logout")

    assert device["httponly"] is True
    assert device["secure"] is True
    assert device["samesite"] == "Lax"  # COOKIE_SAMESITE, as the other cookies
    assert device["path"] == "/"
    assert device["domain"] == ""
    assert device["max-age"] == str(365 * 24 * 3600)
    assert DEVICE not in {m.key for m in logout.set_cookies}
    assert DEVICE in browser.cookies


async def test_one_address_cannot_spray_a_password_over_many_accounts(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(RATE_LIMIT_PER_IP="5/minute")
    sprayer = {"X-Forwarded-For": "203.0.113.7"}  # the test client is a trusted proxy

    for n in range(5):
        await _guess(browser, f"user{n}@example.com", 1, **sprayer)
    refused = await browser.request(
        "POST", "/login", json={"email": "user9@example.com", "password": "x"}, headers=sprayer
    )
    other = await browser.request(
        "POST",
        "/login",
        json={"email": "user9@example.com", "password": "x"},
        headers={"X-Forwarded-For": "203.0.113.8"},
    )

    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert other.status == 401
    samples = await scrape(browser)
    assert samples[("gateway_auth_rate_limited_total", (("limit", "source"),))] == 1
    # Refused before hashing: only the six that were admitted were checked.
    assert samples[("gateway_auth_logins_total", (("outcome", "unknown_email"),))] == 6


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/register", {"email": "new@example.com", "password": PASSWORD}),
        ("/token", {"grant_type": "password", "username": "a@b.c", "password": "x"}),
    ],
    ids=["register", "token-password"],
)
async def test_registration_and_the_password_grant_share_the_address_limit(
    make_browser: Callable[..., Awaitable[Browser]], path: str, body: dict[str, str]
) -> None:
    browser = await make_browser(RATE_LIMIT_PER_IP="2/minute")
    await _guess(browser, "ada@example.com", 2)

    response = await browser.request("POST", path, json=body)

    assert response.status == 429
    assert "Retry-After" in response.headers


async def test_an_untrusted_peer_cannot_choose_its_address(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    # The test client (127.0.0.1) is no trusted proxy here: X-Forwarded-For is ignored.
    browser = await make_browser(RATE_LIMIT_PER_IP="3/minute", TRUSTED_PROXIES="10.0.0.0/8")

    for n in range(3):
        await _guess(browser, "ada@example.com", 1, **{"X-Forwarded-For": f"192.0.2.{n}"})
    refused = await browser.request(
        "POST",
        "/login",
        json={"email": "ada@example.com", "password": "x"},
        headers={"X-Forwarded-For": "192.0.2.99"},
    )

    assert refused.status == 429


async def test_one_address_holds_at_most_a_quarter_of_the_hashing_pool(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(BCRYPT_ROUNDS="10")  # ~60 ms a hash; one worker, 9 places

    responses = await asyncio.gather(
        *(browser.register(email=f"user{i}@example.com") for i in range(8))
    )

    statuses = sorted(r.status for r in responses)
    assert statuses.count(201) >= 2
    assert 429 in statuses
    assert 503 not in statuses  # the pool never filled: room was left for everyone else


async def test_an_operator_sees_and_lifts_a_lockout_and_it_is_audited(
    http: AppClient, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await admin(http, browser)
    user = Browser(http)
    created = await user.register()
    client_id = created.json()["id"]
    await _guess(user, "ADA@example.com", 10)
    assert (await user.login()).status == 429

    seen = await browser.request("GET", f"/admin/clients/{client_id}/lockout")
    lifted = await browser.request("DELETE", f"/admin/clients/{client_id}/lockout")
    after = await browser.request("GET", f"/admin/clients/{client_id}/lockout")

    assert seen.status == 200
    assert seen.json() == {"locked": True, "retryAfter": 900}
    assert lifted.status == 204
    assert after.json() == {"locked": False, "retryAfter": None}
    assert (await user.login()).status == 200
    audit = [JsonFormatter().format(r) for r in caplog.records if r.getMessage() == "admin_action"]
    assert any('"action": "unlock"' in line and client_id in line for line in audit)
    unknown = await browser.request("DELETE", "/admin/clients/nobody/lockout")
    assert unknown.status == 404
    assert (await user.request("DELETE", f"/admin/clients/{client_id}/lockout")).status == 403


async def test_a_password_change_retires_every_device_token(browser: Browser) -> None:
    await browser.register()
    assert (await browser.login()).status == 200
    old_device = browser.cookies[DEVICE]
    change = {"currentPassword": PASSWORD, "newPassword": "a new secret!"}
    assert (await browser.request("PUT", "/me/password", json=change)).status == 204
    holder = Browser(browser.http)  # someone who copied the device cookie before the change
    holder.cookies[DEVICE] = old_device

    await _guess(Browser(browser.http), "ada@example.com", 10)

    assert (await holder.login(password="a new secret!")).status == 429


async def test_a_program_keeps_its_device_token_from_the_token_endpoint(
    browser: Browser,
) -> None:
    await browser.register()
    grant = {"grant_type": "password", "username": "ada@example.com", "password": PASSWORD}
    first = await Browser(browser.http).request("POST", "/token", data=grant)
    device_token = first.json()["device_token"]
    await _guess(Browser(browser.http), "ada@example.com", 10)

    stranger = await Browser(browser.http).request("POST", "/token", data=grant)
    program = await Browser(browser.http).request(
        "POST", "/token", data={**grant, "device_token": device_token}
    )

    assert stranger.status == 429
    assert program.status == 200
    assert program.json()["device_token"] != device_token


async def test_an_attack_on_the_account_cannot_stop_its_owner_changing_the_password(
    browser: Browser,
) -> None:
    await browser.register()
    assert (await browser.login()).status == 200
    await _guess(Browser(browser.http), "ada@example.com", 10)

    change = {"currentPassword": PASSWORD, "newPassword": "a new secret!"}
    response = await browser.request("PUT", "/me/password", json=change)

    assert response.status == 204


async def test_a_trusted_device_is_spared_its_neighbours_address_limit(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    owner = await make_browser(RATE_LIMIT_PER_IP="2/minute")
    shared = {"X-Forwarded-For": "203.0.113.7"}  # one office, one address
    await owner.request(
        "POST", "/register", json={"email": "ada@example.com", "password": PASSWORD}
    )
    signed_in = await owner.request(
        "POST", "/login", json={"email": "ada@example.com", "password": PASSWORD}, headers=shared
    )
    assert signed_in.status == 200
    neighbour = Browser(owner.http)
    await _guess(neighbour, "eve@example.com", 1, **shared)  # the address's second attempt

    again = await owner.request(
        "POST", "/login", json={"email": "ada@example.com", "password": PASSWORD}, headers=shared
    )
    refused = await neighbour.request(
        "POST", "/login", json={"email": "eve@example.com", "password": "x"}, headers=shared
    )

    assert again.status == 200
    assert refused.status == 429
    assert "from this address" in refused.json()["detail"]


async def test_retry_after_is_the_longest_wait_of_the_limits_exhausted(
    make_browser: Callable[..., Awaitable[Browser]], clock: FakeClock
) -> None:
    # The sliding windows are aligned to the hour: early in one, the hour's wait is long (late
    # in it, the guesses would count for less as soon as the next hour began).
    clock.advance(seconds=3600 - clock.now.timestamp() % 3600 + 1)
    browser = await make_browser(RATE_LIMIT_PER_IP="2/minute;2/hour")
    await _guess(browser, "ada@example.com", 2)

    refused = await browser.request("POST", "/login", json={"email": "a@b.c", "password": "x"})

    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) > 60


async def test_concurrent_guesses_cannot_slip_past_the_lockout(browser: Browser) -> None:
    await browser.register()

    responses = await asyncio.gather(
        *(
            Browser(browser.http).request(
                "POST",
                "/login",
                json={"email": "ada@example.com", "password": "not the password"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            )
            for n in range(25)
        )
    )

    # Ten places: each wrong guess takes one before its hash (a hash may still be refused for
    # a full pool, 503), and the other fifteen are refused before any hashing.
    statuses = [r.status for r in responses]
    assert statuses.count(429) == 15
    assert set(statuses) <= {401, 429, 503}


async def test_client_credentials_are_not_held_to_the_address_limit(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    # 256-bit secrets are not guessed online; services behind one egress address must not be
    # refused because a neighbour is noisy.
    browser = await make_browser(RATE_LIMIT_PER_IP="1/minute")
    await _guess(browser, "ada@example.com", 1)
    body = {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}

    response = await browser.request("POST", "/token", data=body)

    assert response.status == 401
