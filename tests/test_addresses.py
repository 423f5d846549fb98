"""Addresses and networks in one form: IPv4 mapped into IPv6 is IPv4, whichever side it is on."""

from __future__ import annotations

import ipaddress

import pytest

from gateway_auth.addresses import ip_address, ip_network
from gateway_auth.config.parsing import networks


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),  # a dual-stack listener's IPv4 client
        ("203.0.113.9:51234", "203.0.113.9"),  # Azure's X-Forwarded-For
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[::ffff:203.0.113.9]:80", "203.0.113.9"),
    ],
)
def test_an_address_however_written(text: str, address: str) -> None:
    assert ip_address(text) == ipaddress.ip_address(address)


@pytest.mark.parametrize("text", ["", None, "office", "203.0.113.9.1", "[203.0.113.9", "1.2.3.4:"])
def test_what_names_no_address(text: str | None) -> None:
    assert ip_address(text) is None


def test_a_mapped_network_is_the_ipv4_network() -> None:
    assert ip_network("::ffff:10.0.0.0/104") == ipaddress.ip_network("10.0.0.0/8")
    assert ip_network("2001:db8::/32") == ipaddress.ip_network("2001:db8::/32")
    # TRUSTED_PROXIES written either way trusts a proxy reported either way.
    trusted = networks("::ffff:10.0.0.0/104, 192.0.2.0/24")
    for peer in ("10.1.2.3", "::ffff:10.1.2.3", "::ffff:192.0.2.7"):
        address = ip_address(peer)
        assert address is not None
        assert any(address in network for network in trusted), peer
