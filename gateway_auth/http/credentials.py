"""Where credentials travel in a request: the ``Authorization`` header and the cookies.

Plain functions of the headers (no application state), shared by the /verify hot path, the
origin check and the handlers. Header names are looked up in lower case: aiohttp's headers
ignore case, and the fast listener's are a plain dict of lower-cased names.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import hdrs
from multidict import CIMultiDictProxy


def token_in(headers: Mapping[str, str], cookie_name: str) -> str | None:
    """``access_token`` from bare headers, reading only the one cookie (the /verify hot path).

    A request that says ``Bearer`` is judged by that token alone, even an empty one: falling
    back to the cookie would let a header that only looks like a bearer call (and so skips
    the origin check) act with the browser's cookie.
    """
    if "authorization" in headers and (bearer := bearer_token(headers)) is not None:
        return bearer or None
    cookies = headers.get("cookie")
    if not cookies:
        return None
    prefix = cookie_name + "="
    for pair in cookies.split(";"):
        pair = pair.strip()  # noqa: PLW2901 - the trimmed pair is all that is used
        if pair.startswith(prefix):
            return pair[len(prefix) :] or None
    return None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header (``""`` when it holds none), or None
    when the request does not use the Bearer scheme at all."""
    authorization = headers.get("authorization")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def cookie_values(headers: CIMultiDictProxy[str], name: str) -> list[str]:
    """Every value sent for the cookie ``name``, in order: a sibling subdomain may have
    planted a second cookie of the same name beside the browser's own."""
    prefix = name + "="
    values: list[str] = []
    for header in headers.getall(hdrs.COOKIE, ()):
        values += [
            pair.strip()[len(prefix) :]
            for pair in header.split(";")
            if pair.strip().startswith(prefix)
        ]
    return [value for value in values if value]
