"""IP addresses and networks as proxies and operators write them, IPv4 mapped into IPv6 read as
IPv4: a dual-stack listener reports ``::ffff:203.0.113.9`` for an IPv4 client, and a network
written ``::ffff:10.0.0.0/104`` is ``10.0.0.0/8``. One form each, so that ``in`` is right
whichever way an address or a network arrived (TRUSTED_PROXIES, the rules' ``networks``).
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
# Bare, IPv4 with a port (Azure's X-Forwarded-For), [IPv6] with or without one.
_ADDRESS_PORT = re.compile(r"\[(?P<v6>[^\]]+)\](?::[0-9]{1,5})?|(?P<v4>[0-9.]+):[0-9]{1,5}")


def ip_address(text: str | None) -> IPAddress | None:
    """The address ``text`` names; None when it names none."""
    if not text:
        return None
    match = _ADDRESS_PORT.fullmatch(text)
    if match is not None:
        text = match.group("v6") or match.group("v4")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped or ip


def ip_network(text: str, *, strict: bool = True) -> IPNetwork:
    """The network ``text`` names (ValueError if none; with ``strict``, host bits set too)."""
    network = ipaddress.ip_network(text, strict=strict)
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        mapped = network.network_address.ipv4_mapped  # not None: inside ::ffff:0:0/96
        return ipaddress.IPv4Network((mapped or 0, network.prefixlen - 96))
    return network
