"""Return URLs (``rd``): our own paths or hosts on an allowed domain; never an open redirect."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

FALLBACK = "/"
MAX_LENGTH = 2048
# Whitespace and control characters (raw or decoded) let "/\t/evil.com" become "//evil.com"
# in a browser, and a backslash is a slash to browsers in http(s) URLs.
_UNSAFE = re.compile(
    r"[\x00-\x20\x7f-\x9f\\\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f\u3000\ufeff]"
)


def safe_return_url(
    candidate: str | None, allowed_domains: Iterable[str], fallback: str = FALLBACK
) -> str:
    """``candidate`` when it is safe to redirect to, else ``fallback``."""
    if not candidate or len(candidate) > MAX_LENGTH:
        return fallback
    decoded = _fully_decoded(candidate)
    if decoded is None or _UNSAFE.search(candidate) or _UNSAFE.search(decoded):
        return fallback
    if candidate.startswith("/"):
        return candidate if not decoded.startswith("//") else fallback
    return candidate if _allowed_absolute(candidate, allowed_domains) else fallback


def host_allowed(host: str, allowed_domains: Iterable[str]) -> bool:
    """``host`` equals an allowed domain or is below one, on a dot boundary."""
    host = host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in allowed_domains)


def _allowed_absolute(url: str, allowed_domains: Iterable[str]) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    if "@" in parts.netloc:  # user info: "https://allowed.com@evil.com" misleads people
        return False
    return host_allowed(host, allowed_domains)


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
