"""The store goes away under a running server: every call that needs it answers 503 with
Retry-After (never 401, which would sign people out), nothing is counted against anyone, and
/verify keeps answering from its mirror."""

from __future__ import annotations

from gateway_auth.http.appkeys import SERVICES
from tests.support.browser import AppClient, Browser, admin
from tests.support.credentials import PASSWORD
from tests.support.metrics import scrape


async def test_a_store_outage_is_503_everywhere_and_verify_keeps_answering(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    user = Browser(http)
    client_id = (await user.register()).json()["id"]
    assert (await user.login()).status == 200
    cookies_before = dict(user.cookies)
    before = await scrape(browser)

    await http.app[SERVICES].store.close()  # the connection dies under the running app
    answers = {
        "login": await Browser(http).login(),
        "wrong password": await Browser(http).login(password="not the password"),
        "refresh": await user.request("POST", "/refresh"),
        "me": await user.request("GET", "/me"),
        "password": await user.request(
            "PUT", "/me/password", json={"currentPassword": PASSWORD, "newPassword": "x" * 12}
        ),
        "admin list": await browser.request("GET", "/admin/clients"),
        "admin suspend": await browser.request(
            "PUT", f"/admin/clients/{client_id}/suspension", json={}
        ),
        "register": await Browser(http).register(email="new@example.com"),
    }
    verify = await user.request("GET", "/verify")
    after = await scrape(browser)

    for name, response in answers.items():
        assert response.status == 503, (name, response.status, response.text)
        assert response.headers["Retry-After"] == "5", name
        assert response.json()["type"] == "urn:gateway-auth:problem:store-unavailable", name
    assert user.cookies == cookies_before  # nobody is signed out by an outage
    assert verify.status == 200
    moved = {
        key: (before.get(key, 0.0), value)
        for key, value in after.items()
        if key[0] in ("gateway_auth_logins_total", "gateway_auth_rate_limited_total")
        and value != before.get(key, 0.0)
    }
    assert moved == {}
