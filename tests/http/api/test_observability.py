"""Request ids, structured lines that carry them, and the Prometheus metrics."""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Awaitable, Callable

import pytest

from gateway_auth.logging import JsonFormatter
from tests.support.browser import AppClient, Browser, admin, registrations_from_many_addresses
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD
from tests.support.metrics import scrape

REFRESH = "__Secure-gateway_auth_refresh"
# These tests count requests and decisions: a second answer from the twin would count twice.
pytestmark = pytest.mark.no_parity


async def test_a_request_id_is_echoed_or_made_and_logged(
    browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    given = await browser.request("GET", "/healthz", headers={"X-Request-ID": "edge-42.a:b"})
    made = await browser.request("GET", "/healthz")
    bad = await browser.request("GET", "/healthz", headers={"X-Request-ID": "x" * 129})
    login = await browser.request(
        "POST",
        "/register",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"X-Request-ID": "trace-7"},
    )

    assert given.headers["X-Request-ID"] == "edge-42.a:b"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]+", made.headers["X-Request-ID"])
    assert bad.headers["X-Request-ID"] != "x" * 129
    assert login.headers["X-Request-ID"] == "trace-7"
    created = next(r for r in caplog.records if r.getMessage() == "client_created")
    line = json.loads(JsonFormatter().format(created))
    assert line["request_id"] == "trace-7"
    assert "ada@example.com" not in JsonFormatter().format(created)


async def test_verify_and_login_outcomes_are_counted(browser: Browser) -> None:
    await browser.logged_in()
    await browser.request("GET", "/verify")
    await browser.request("GET", "/verify?scope=billing")
    await Browser(browser.http).request("GET", "/verify")
    await Browser(browser.http).login(password="wrong password!")
    await Browser(browser.http).login(email="nobody@example.com")

    samples = await scrape(browser)

    def verify(outcome: str) -> float:
        return samples[("gateway_auth_verify_decisions_total", (("outcome", outcome),))]

    def logins(outcome: str) -> float:
        return samples[("gateway_auth_logins_total", (("outcome", outcome),))]

    assert (verify("allow"), verify("forbidden_scope"), verify("unauthenticated")) == (1, 1, 1)
    assert (logins("success"), logins("bad_password"), logins("unknown_email")) == (1, 1, 1)
    assert verify("suspended") == verify("revoked") == 0
    # One token, checked by its signature once and answered from the cache the second time.
    assert samples[("gateway_auth_verify_token_cache_entries", ())] == 1
    assert samples[("gateway_auth_verify_token_decodes_total", ())] == 1


async def test_requests_are_counted_by_route_template_never_by_id(
    http: AppClient, browser: Browser
) -> None:
    await admin(http, browser)
    for client_id in ("a" * 32, "b" * 32, "c" * 32):
        assert (await browser.request("GET", f"/admin/clients/{client_id}")).status == 404
    await browser.request("GET", "/no/such/page")
    await browser.request("PROPFIND", "/me")

    samples = await scrape(browser)

    routes = {dict(labels)["route"] for name, labels in samples if "http_request" in name}
    assert "/admin/clients/{id}" in routes
    assert not any("aaaa" in route or "no/such" in route for route in routes)
    key = (
        "gateway_auth_http_requests_total",
        (("method", "GET"), ("route", "/admin/clients/{id}"), ("status", "404")),
    )
    assert samples[key] == 3
    assert any(dict(labels).get("method") == "other" for _, labels in samples)
    count = (
        "gateway_auth_http_request_duration_seconds_count",
        (("route", "/admin/clients/{id}"), ("status", "404")),
    )
    assert samples[count] == 3
    text = (await browser.request("GET", "/metrics")).text
    assert "root@example.com" not in text
    assert "r***@example.com" not in text


async def test_refresh_reuse_backlog_and_mirror_are_reported(
    browser: Browser, clock: FakeClock
) -> None:
    await browser.logged_in()
    thief = Browser(browser.http, cookies=copy.deepcopy(browser.cookies))  # both cookies
    await browser.request("POST", "/refresh")
    clock.advance(minutes=1)  # past the grace for racing tabs
    assert (await thief.request("POST", "/refresh")).status == 401
    other = await Browser(browser.http).logged_in("eve@example.com")
    assert (await other.request("DELETE", "/me")).status == 204

    samples = await scrape(browser)

    assert samples[("gateway_auth_refresh_token_reuse_detected_total", ())] == 1
    # No Redis: the deletion waits, and so does ada's verification mail (eve's went with her).
    assert samples[("gateway_auth_outbox_backlog", ())] == 2
    assert samples[("gateway_auth_revocation_mirror_entries", (("kind", "revoked"),))] >= 2
    assert samples[("gateway_auth_revocation_mirror_entries", (("kind", "suspended"),))] == 0
    assert 0 <= samples[("gateway_auth_revocation_mirror_age_seconds", ())] < 5
    assert samples[("gateway_auth_password_hash_queue_depth", ())] == 0
    assert samples[("gateway_auth_events_published_total", ())] == 0


async def test_a_full_hashing_queue_is_counted(
    make_browser: Callable[..., Awaitable[Browser]],
) -> None:
    browser = await make_browser(BCRYPT_ROUNDS="10")  # ~60 ms a hash; one worker, 9 places

    # From 14 addresses: one source alone may hold only a quarter of the places.
    responses = await registrations_from_many_addresses(browser, 14)

    busy = [r for r in responses if r.status == 503]
    assert busy
    samples = await scrape(browser)
    assert samples[("gateway_auth_password_hash_rejections_total", ())] == len(busy)


async def test_metrics_are_not_served_through_a_proxy(browser: Browser) -> None:
    relayed = await browser.request("GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.9"})

    assert relayed.status == 404
    assert relayed.headers["Content-Type"].startswith("application/problem+json")


async def test_no_log_line_holds_a_password_token_cookie_or_whole_email(
    browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await browser.logged_in()
    await Browser(browser.http).login(password="a wrong password")
    await browser.request("POST", "/refresh")
    secrets = [PASSWORD, "a wrong password", browser.access_cookie(), browser.refresh_cookie()]
    await browser.request("DELETE", "/me")

    text = "\n".join(JsonFormatter().format(record) for record in caplog.records)

    for event in ("login_failed", "login_succeeded", "client_deleted"):
        assert f'"event": "{event}"' in text
    for secret in secrets:
        assert secret not in text
    assert "ada@example.com" not in text
    assert "a***@example.com" in text
