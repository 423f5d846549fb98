"""``/verify``: the forward-auth endpoint gateways call on every request they forward.

The decision is ``verify.Verifier``'s; this handler only gathers its inputs (token, scopes,
the original request) and turns the verdict into a response. The allow path builds nothing:
its headers were prepared when the token was first verified.

A refusal of a browser's page load says where to go: ``Location`` on a 401 (the sign-in page,
or the refresh hop when only the access token expired; a 302 with ``?redirect=true``) and a
page on a 403 or 503, which Caddy and Traefik show as they are. Scripts and programs get
problem+json and no ``Location``, so nginx can tell a page load from an API call.
"""

from __future__ import annotations

import time
from functools import lru_cache
from urllib.parse import parse_qs, quote

from aiohttp import hdrs, web

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
    PAGES,
    SETTINGS,
    TRUSTED_PEERS,
    VERIFIER,
)
from gateway_auth.http.browsing import denied
from gateway_auth.http.credentials import token_in
from gateway_auth.http.forwarded import MalformedForwarding, OriginalRequest, original_request
from gateway_auth.http.navigation import browser_navigation
from gateway_auth.http.problems import problem
from gateway_auth.verify import UNAUTHENTICATED, Verdict, required_scopes

_ERRORS: dict[str, GatewayAuthError] = {
    "unauthenticated": Unauthenticated(),
    "expired": Unauthenticated("The access token has expired."),
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


def return_location(url: str, original: OriginalRequest | None) -> str:
    """``url?rd=<original URL>``; a relative ``url`` is made absolute on the original host,
    because nginx's ``error_page`` treats a bare path as an internal redirect."""
    if url.startswith("/") and original and original.scheme and original.host:
        url = f"{original.scheme}://{original.host}{url}"
    back = original.url if original else None
    if back is None:
        return url
    return f"{url}{'&' if '?' in url else '?'}rd={quote(back, safe='')}"


def _refusal(
    request: web.Request, verdict: Verdict, original: OriginalRequest | None, *, redirect: bool
) -> web.Response:
    navigation = original is not None and browser_navigation(request.headers, original.method)
    response = problem(_ERRORS[verdict.outcome])
    if verdict.status == 401:
        if not navigation:
            return response
        settings = request.app[SETTINGS]
        if verdict.outcome == "expired":  # the session lives on: renew it and come back
            target = f"{settings.public_url or ''}{request.app[PAGES].urls.refresh}"
        else:
            target = settings.login_url
        location = return_location(target, original)
        if redirect:
            return web.Response(status=302, headers={hdrs.LOCATION: location})
        response.headers[hdrs.LOCATION] = location
        return response
    if not navigation:
        return response
    if verdict.claims is not None and original is not None:  # suspended, or not allowed
        suspended = verdict.outcome == "suspended"
        return denied(request, verdict.claims.email, suspended=suspended, original=original.url)
    return request.app[PAGES].problem_page(request, response)


@lru_cache(maxsize=256)
def _query(query_string: str) -> tuple[frozenset[str], bool]:
    params = parse_qs(query_string)
    redirect = params.get("redirect", [""])[-1].lower() in _TRUE
    return required_scopes(params.get("scope", [])), redirect
