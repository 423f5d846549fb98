"""Password guessing is throttled per account on /login, /token and password confirmations."""

from __future__ import annotations

from tests.support.browser import Browser
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD


async def _fail(browser: Browser, email: str, times: int) -> None:
    for _ in range(times):
        assert (await browser.login(email, "not the password")).status == 401


async def test_login_is_throttled_per_account_after_ten_failures(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.register()
    await browser.register(email="eve@example.com")
    await _fail(browser, "ada@example.com", 10)

    locked = await browser.login()  # even the right password waits
    other = await browser.login("eve@example.com")

    assert locked.status == 429
    assert locked.headers["Retry-After"] == "900"
    assert locked.json()["type"] == "urn:gateway-auth:problem:too-many-attempts"
    assert locked.set_cookies == []
    assert other.status == 200
    clock.advance(minutes=15)
    assert (await browser.login()).status == 200


async def test_unknown_emails_are_throttled_the_same_way(browser: Browser) -> None:
    await _fail(browser, "nobody@example.com", 10)

    assert (await browser.login("nobody@example.com")).status == 429


async def test_a_successful_login_resets_the_count(browser: Browser) -> None:
    await browser.register()
    await _fail(browser, "ada@example.com", 9)
    assert (await browser.login()).status == 200

    await _fail(browser, "ada@example.com", 9)
    assert (await browser.login()).status == 200


async def test_the_token_endpoint_shares_the_count(browser: Browser) -> None:
    await browser.register()
    await _fail(browser, "ADA@example.com ", 10)

    response = await browser.request(
        "POST",
        "/token",
        data={"grant_type": "password", "username": "ada@example.com", "password": PASSWORD},
    )

    assert response.status == 429
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["Retry-After"] == "900"


async def test_password_confirmation_is_throttled_per_client(browser: Browser) -> None:
    await browser.register()
    await browser.login()
    wrong = {"currentPassword": "not the password", "newPassword": "a new secret!"}
    for _ in range(10):
        assert (await browser.request("PUT", "/me/password", json=wrong)).status == 401

    right = {"currentPassword": PASSWORD, "newPassword": "a new secret!"}
    response = await browser.request("PUT", "/me/password", json=right)

    assert response.status == 429
    # Nothing changed, and the guesses locked out only the client that made them.
    other = Browser(browser.http)
    assert (await other.login(password="a new secret!")).status == 401
    assert (await other.login()).status == 200
