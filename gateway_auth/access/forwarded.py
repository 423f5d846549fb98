"""Facts about the original client and request that only trusted proxies may assert."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote

from gateway_auth.access.paths import upstream_host
from gateway_auth.addresses import IPNetwork, ip_address


def is_trusted(address: str | None, trusted: Iterable[IPNetwork]) -> bool:
    """True when ``address`` is an IP inside one of the trusted proxy networks."""
    ip = ip_address(address)
    return ip is not None and any(ip in network for network in trusted)


class TrustedPeers:
    """Whether a peer is a trusted proxy, remembered per address: /verify asks on every request."""

    MAX_REMEMBERED = 4096

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self.networks = tuple(networks)
        self._known: dict[str | None, bool] = {}

    def __contains__(self, address: str | None) -> bool:
        known = self._known.get(address)
        if known is None:
            known = is_trusted(address, self.networks)
            if len(self._known) >= self.MAX_REMEMBERED:
                self._known.clear()
            self._known[address] = known
        return known


def client_ip(
    remote: str | None, forwarded_for: Iterable[str], trusted: Iterable[IPNetwork]
) -> str:
    """The original client's address, or the peer's own when that is not known (a key for
    rate limits and logs: never empty when the peer has an address)."""
    return original_client(remote, forwarded_for, trusted) or remote or ""


def original_client(
    remote: str | None, forwarded_for: Iterable[str], trusted: Iterable[IPNetwork]
) -> str | None:
    """The nearest untrusted hop of X-Forwarded-For, read only when the peer is a trusted
    proxy (the peer itself when it is not); None when that cannot be known: no hop but
    trusted ones, or a malformed hop, which ends what can be believed. The access rules'
    networks never match None: a proxy inside the office network is not an office client."""
    trusted = tuple(trusted)
    if not is_trusted(remote, trusted):
        return remote
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            ip = ip_address(hop)
            return None if ip is None else str(ip)
    return None


class Peer(NamedTuple):
    """Who sent a ``/verify`` request: its address, and whether it is one of TRUSTED_PROXIES
    (known once per connection on the fast listener)."""

    address: str | None
    trusted: bool


class MalformedForwarding(ValueError):
    """A trusted proxy sent original-request headers that cannot be believed."""


class OriginalRequest(NamedTuple):
    """The request a gateway is asking about, as its forwarded headers describe it (a tuple:
    a trusted proxy's /verify call makes one every time)."""

    method: str
    scheme: str | None = None
    host: str | None = None  # lower case, no trailing dot, with ":port" when one was given
    path: str | None = None  # path and query, as sent
    route: str | None = None  # the path without its query (what access rules match)

    @property
    def url(self) -> str | None:
        """The original absolute URL (non-ASCII percent-encoded), when the gateway said enough."""
        if self.scheme is None or self.host is None or self.path is None:
            return None
        path = self.path if self.path.isascii() else quote(self.path, safe=_URI_SAFE)
        return f"{self.scheme}://{self.host}{path}"


# Header values arrive decoded as UTF-8 with surrogate escapes for invalid bytes.
_BAD_CHARACTERS = re.compile(r"[\x00-\x20\x7f\ud800-\udfff]")
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z_.-]+)(?::(?P<port>[0-9]{1,5}))?")
_ABSOLUTE_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/?#]*)(?P<path>[^#]*)"
)


# Every header original_request reads (by lower-case name); without any, it says only the
# method and the scheme the proxy used.
FORWARDING = frozenset(
    {
        "x-original-method",
        "x-forwarded-method",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-uri",
        "x-original-url",
    }
)


def original_request(
    headers: Mapping[str, str],
    method: str,
    trusted: bool,
    scheme: str = "http",
    *,
    checked_path: str | None = None,
) -> OriginalRequest:
    """The original method and URL from ``X-Original-*`` or ``X-Forwarded-*`` headers.

    Only a trusted proxy's headers count; anyone else's are ignored. ``scheme`` is the one the
    proxy used to reach us, assumed when it does not say. A trusted proxy's
    malformed value raises MalformedForwarding, which ``/verify`` answers with 401, never 200.
    ``checked_path`` is the original path a gateway put in the check URL itself (Envoy's
    ``ext_authz``), which then also keeps the original ``Host``.
    """
    if not trusted:
        return OriginalRequest(method)
    get = headers.get
    uri, url = get("x-forwarded-uri"), get("x-original-url")
    description = (
        method,
        scheme,
        get("x-original-method") or get("x-forwarded-method"),
        get("x-forwarded-proto"),
        get("x-forwarded-host"),
        uri,
        url,
        checked_path,
        None if checked_path is None else get("host"),
    )
    if len(uri or "") + len(url or "") + len(checked_path or "") > MEMOISED_LENGTH:
        return _read(description)  # rare, and a flood of them would fill the memory
    return _described(description)


# The method and scheme /verify was asked with, then X-Original-Method (or
# X-Forwarded-Method), X-Forwarded-Proto, -Host, -Uri, X-Original-URL, Envoy's path and Host.
Description = tuple[
    str, str, str | None, str | None, str | None, str | None, str | None, str | None, str | None
]


MEMOISED_LENGTH = 512


def _read(description: Description) -> OriginalRequest:
    (
        method,
        scheme,
        original_method,
        proto_value,
        host_value,
        uri_value,
        original_url,
        checked_path,
        checked_host,
    ) = description
    proto: str | None = (proto_value is not None and _scheme(proto_value)) or scheme
    host = None if host_value is None else forwarded_host(host_value)
    path = None if uri_value is None else _path(uri_value)
    if checked_path is not None:
        path = _path(checked_path)
        host = host or forwarded_host(checked_host)
    if original_url is not None:
        named = host
        proto, host, path = _url(original_url, proto, host)
        if named is not None and host is not None and upstream_host(named) != upstream_host(host):
            # nginx's X-Original-URL carries the Host header, its X-Forwarded-Host the host it
            # routed by (an absolute-form request line names another): believe neither.
            raise MalformedForwarding("X-Forwarded-Host and X-Original-URL name two hosts")
    if original_method is not None:
        _check(original_method)
        if not _METHOD.fullmatch(original_method):
            raise MalformedForwarding("X-Original-Method / X-Forwarded-Method")
        method = original_method.upper()
    route = None if path is None else path.partition("?")[0]
    return OriginalRequest(method, proto, host, path, route)


# A gateway describes the same few URLs over and over, and reading one takes a handful of
# regular expressions: the last descriptions read are kept (a malformed one is never kept,
# it raises; at most 1024 of them, each of at most MEMOISED_LENGTH characters of URL).
_described = lru_cache(maxsize=1024)(_read)


def _check(value: str) -> str:
    if _BAD_CHARACTERS.search(value):
        raise MalformedForwarding("control character, whitespace or invalid UTF-8")
    return value


def _scheme(value: str | None) -> str | None:
    if value is None:
        return None
    scheme = _check(value.split(",")[0]).lower()
    if scheme not in ("http", "https"):
        raise MalformedForwarding("X-Forwarded-Proto")
    return scheme


def forwarded_host(value: str | None) -> str | None:
    """The first host of an ``X-Forwarded-Host`` value, normalised; MalformedForwarding if bad."""
    if value is None:
        return None
    match = _HOST.fullmatch(_check(value.split(",")[0].strip()))
    name = match.group("name").lower().rstrip(".") if match else ""
    if not match or not name:
        raise MalformedForwarding("X-Forwarded-Host")
    port = match.group("port")
    return f"{name}:{port}" if port else name


def _path(value: str | None) -> str | None:
    if value is None:
        return None
    _check(value)
    if not value.startswith("/"):
        raise MalformedForwarding("X-Forwarded-Uri")
    return value


def _url(value: str, scheme: str | None, host: str | None) -> tuple[str | None, str | None, str]:
    _check(value)
    if value.startswith("/"):
        return scheme, host, value
    match = _ABSOLUTE_URL.fullmatch(value)
    scheme = match.group("scheme").lower() if match else None
    if match is None or scheme not in ("http", "https") or "@" in match.group("host"):
        raise MalformedForwarding("X-Original-URL")
    if "," in match.group("host"):  # forwarded_host would take the first of a list
        raise MalformedForwarding("X-Original-URL")
    return scheme, forwarded_host(match.group("host")), match.group("path") or "/"


# Everything printable in ASCII stays as it is; only non-ASCII text gets percent-encoded.
_URI_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
