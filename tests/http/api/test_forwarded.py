"""client_ip: X-Forwarded-For is believed only from trusted proxies, hop by hop from the right."""

from __future__ import annotations

import ipaddress

import pytest

from gateway_auth.access.forwarded import client_ip, original_client
from tests.support.browser import Browser
from tests.support.credentials import PASSWORD

TRUSTED = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(
    ("remote", "forwarded_for", "expected"),
    [
        ("203.0.113.9", [], "203.0.113.9"),
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # untrusted peer: header ignored
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # skip trusted hops
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # spoofed left part
        ("127.0.0.1", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # several header lines
        ("127.0.0.1", ["2001:db8::1"], "2001:db8::1"),
        ("127.0.0.1", ["not-an-ip"], "127.0.0.1"),
        ("127.0.0.1", ["198.51.100.1, garbage, 10.1.2.3"], "127.0.0.1"),
        ("127.0.0.1", ["10.1.2.3"], "127.0.0.1"),  # only proxies: the peer itself
        (None, ["198.51.100.1"], ""),
        # However a proxy writes the address: with a port (Azure), in brackets, IPv4 in IPv6.
        ("127.0.0.1", ["198.51.100.1:5678"], "198.51.100.1"),
        ("127.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("127.0.0.1", ["[2001:db8::1]"], "2001:db8::1"),
        ("127.0.0.1", ["::ffff:198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["198.51.100.1, ::ffff:10.1.2.3"], "198.51.100.1"),  # a mapped proxy
    ],
)
def test_client_ip(remote: str | None, forwarded_for: list[str], expected: str) -> None:
    assert client_ip(remote, forwarded_for, TRUSTED) == expected


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        (["198.51.100.1"], "198.51.100.1"),
        ([], None),  # the proxy said nothing: the client is unknown, not the proxy
        (["10.1.2.3"], None),
        (["198.51.100.1, garbage"], None),
    ],
)
def test_the_original_client_is_unknown_unless_the_proxy_names_it(
    forwarded_for: list[str], expected: str | None
) -> None:
    assert original_client("127.0.0.1", forwarded_for, TRUSTED) == expected
    assert original_client("203.0.113.9", forwarded_for, TRUSTED) == "203.0.113.9"


async def test_sessions_record_the_forwarded_client(browser: Browser) -> None:
    await browser.register()
    await browser.request(
        "POST",
        "/login",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7"},
    )

    sessions = (await browser.request("GET", "/me/sessions")).json()["sessions"]

    assert sessions[0]["ip"] == "198.51.100.7"
