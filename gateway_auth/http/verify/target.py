"""What follows the ``/verify`` path in a check's target: nothing, ``?`` and our own query
(``scope``, ``redirect``), or Envoy's ``/`` and the original path and query."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qs

from gateway_auth.access.verdict import NO_SCOPES

_TRUE = frozenset({"1", "true", "yes"})


def original_path(target: str) -> str | None:
    """Envoy's shape: the original path and query; None for the plain ``/verify``."""
    return target if target[:1] == "/" else None


def required(target: str) -> frozenset[str]:
    """The scopes ``?scope=`` asks for (none in Envoy's shape: that query is the original's)."""
    return _query(target[1:])[0] if target[:1] == "?" else NO_SCOPES


def redirects(target: str) -> bool:
    """Whether a refused page load gets a 302 (``?redirect=true``, and always in Envoy's)."""
    return target[:1] == "/" or (target[:1] == "?" and _query(target[1:])[1])


@lru_cache(maxsize=256)
def _query(query_string: str) -> tuple[frozenset[str], bool]:
    params = parse_qs(query_string)
    redirect = params.get("redirect", [""])[-1].lower() in _TRUE
    return required_scopes(params.get("scope", [])), redirect


def required_scopes(values: list[str]) -> frozenset[str]:
    """``?scope=a&scope=b`` and ``?scope=a,b`` alike; blanks ignored."""
    return frozenset(s.strip() for value in values for s in value.split(",") if s.strip())
