"""Return URLs (``rd``): our own paths or hosts on an allowed domain; never an open redirect."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

import idna

FALLBACK = "/"
MAX_LENGTH = 2048
# Whitespace and control characters (raw or decoded) let "/\t/evil.com" become "//evil.com"
# in a browser, and a backslash is a slash to browsers in http(s) URLs.
_UNSAFE = re.compile(
    r"[\x00-\x20\x7f-\x9f\\\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f\u3000\ufeff]"
)


def safe_return_url(
    candidate: str | None,
    allowed_domains: Iterable[str],
    fallback: str = FALLBACK,
    *,
    https_ports: frozenset[int] | None = None,
) -> str:
    """``candidate`` when it is safe to redirect to, else ``fallback``. With ``https_ports``
    (``https_only``), an absolute URL must also be https on one of those ports: a site served
    over TLS never sends a browser back over plain http, nor to another service's port."""
    if not candidate or len(candidate) > MAX_LENGTH:
        return fallback
    decoded = _fully_decoded(candidate)
    if decoded is None or _UNSAFE.search(candidate) or _UNSAFE.search(decoded):
        return fallback
    if candidate.startswith("/"):
        return candidate if not decoded.startswith("//") else fallback
    allowed = _allowed_absolute(candidate, allowed_domains, https_ports)
    return candidate if allowed else fallback


def host_allowed(host: str, allowed_domains: Iterable[str]) -> bool:
    """``host`` equals an allowed domain or is below one, on a dot boundary."""
    host = host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in allowed_domains)


def https_only(origins: Iterable[str | None]) -> frozenset[int] | None:
    """The ports return URLs may use when every configured origin is https (443 and theirs);
    None, meaning any http(s) URL, when there are none or one is plain http (development)."""
    parts = [urlsplit(origin) for origin in origins if origin]
    if not parts or any(part.scheme != "https" for part in parts):
        return None
    return frozenset({443, *(part.port for part in parts if part.port)})


def _allowed_absolute(
    url: str, allowed_domains: Iterable[str], https_ports: frozenset[int] | None
) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port
        host = _host(parts.hostname or "")
    except (ValueError, UnicodeError, idna.IDNAError):
        return False
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return False
    if "@" in parts.netloc:  # user info: "https://allowed.com@evil.com" misleads people
        return False
    if https_ports is not None and (scheme != "https" or (port or 443) not in https_ports):
        return False
    return host_allowed(host, allowed_domains)


def _host(name: str) -> str:
    """An IP address as it is, else a STD3 host name (letters, digits, hyphens) in ASCII: a
    "%", "_" or other punctuation in a host is read differently by browsers and by this check."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return idna.encode(name, uts46=True, std3_rules=True).decode("ascii")


def _fully_decoded(text: str) -> str | None:
    """Percent-decode until stable (bounded), so double-encoded tricks are seen too."""
    for _ in range(4):
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            return None
        if decoded == text:
            return decoded
        text = decoded
    return None
