"""``/verify``: the forward-auth endpoint gateways call on every request they forward.

The decision is ``verify.Verifier``'s; this handler only gathers its inputs (token, scopes,
the original request) and turns the verdict into a response. The allow path builds nothing:
its headers were prepared when the token was first verified.
"""

from __future__ import annotations

import time
from functools import lru_cache
from urllib.parse import parse_qs, quote

from aiohttp import hdrs, web
from multidict import CIMultiDictProxy

from gateway_auth.errors import (
    ClientSuspended,
    GatewayAuthError,
    InsufficientScope,
    RevocationStateStale,
    Unauthenticated,
)
from gateway_auth.http.appkeys import (
    CLOCK,
    COOKIES,
    METRICS,
    SETTINGS,
    TRUSTED_PEERS,
    VERIFIER,
)
from gateway_auth.http.callers import token_in
from gateway_auth.http.forwarded import MalformedForwarding, OriginalRequest, original_request
from gateway_auth.http.problems import problem
from gateway_auth.verify import UNAUTHENTICATED, Verdict, required_scopes

_ERRORS: dict[str, GatewayAuthError] = {
    "unauthenticated": Unauthenticated(),
    "revoked": Unauthenticated("The session has ended."),
    "suspended": ClientSuspended(),
    "forbidden_scope": InsufficientScope(),
    "stale": RevocationStateStale(),
}
_TRUE = frozenset({"1", "true", "yes"})


async def verify(request: web.Request) -> web.Response:
    """Any method: 200 with identity headers, or 401 / 403 / 503 (302 only when asked)."""
    app = request.app
    headers = request.headers
    required, redirect = _query(request.query_string)
    try:
        trusted = request.remote in app[TRUSTED_PEERS]
        original = original_request(headers, request.method, trusted, request.scheme)
    except MalformedForwarding:
        app[METRICS].verify_decisions["unauthenticated"].inc()
        return _refusal(request, UNAUTHENTICATED, None, redirect=False)
    verdict = app[VERIFIER].verify(
        token_in(headers, app[COOKIES].access_name),
        required,
        app[CLOCK]().timestamp(),
        time.monotonic(),
    )
    app[METRICS].verify_decisions[verdict.outcome].inc()
    if verdict.headers is not None:
        return web.Response(headers=verdict.headers)
    return _refusal(request, verdict, original, redirect=redirect)


def login_location(login_url: str, original: OriginalRequest | None) -> str:
    """``LOGIN_URL?rd=<original URL>``; a relative LOGIN_URL is made absolute on the original
    host, because nginx's ``error_page`` treats a bare path as an internal redirect."""
    if login_url.startswith("/") and original and original.scheme and original.host:
        login_url = f"{original.scheme}://{original.host}{login_url}"
    url = original.url if original else None
    if url is None:
        return login_url
    return f"{login_url}{'&' if '?' in login_url else '?'}rd={quote(url, safe='')}"


def browser_navigation(headers: CIMultiDictProxy[str], method: str) -> bool:
    """A page load a browser can follow a redirect for, not a script's fetch or an API call."""
    if method not in ("GET", "HEAD"):
        return False
    if headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
        return False
    if headers.get("Sec-Fetch-Mode", "navigate") != "navigate":
        return False
    return "text/html" in headers.get(hdrs.ACCEPT, "")


def _refusal(
    request: web.Request, verdict: Verdict, original: OriginalRequest | None, *, redirect: bool
) -> web.Response:
    response = problem(_ERRORS[verdict.outcome])
    if verdict.status != 401:
        return response
    location = login_location(request.app[SETTINGS].login_url, original)
    if redirect and original and browser_navigation(request.headers, original.method):
        return web.Response(status=302, headers={hdrs.LOCATION: location})
    response.headers[hdrs.LOCATION] = location
    return response


@lru_cache(maxsize=256)
def _query(query_string: str) -> tuple[frozenset[str], bool]:
    params = parse_qs(query_string)
    redirect = params.get("redirect", [""])[-1].lower() in _TRUE
    return required_scopes(params.get("scope", [])), redirect
