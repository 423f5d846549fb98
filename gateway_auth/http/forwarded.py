"""Facts about the original client that only trusted proxies may assert."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_trusted(address: str | None, trusted: Iterable[IPNetwork]) -> bool:
    """True when ``address`` is an IP inside one of the trusted proxy networks."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(
    remote: str | None, forwarded_for: Iterable[str], trusted: Iterable[IPNetwork]
) -> str:
    """The nearest untrusted hop of X-Forwarded-For, read only when the peer is a trusted proxy."""
    trusted = tuple(trusted)
    if not is_trusted(remote, trusted):
        return remote or ""
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            # A malformed hop ends what can be believed: fall back to the proxy itself.
            return hop if _is_ip(hop) else remote or ""
    return remote or ""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
