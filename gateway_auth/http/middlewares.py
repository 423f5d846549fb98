"""Cross-cutting HTTP behaviour: error rendering (problem+json, or a page for a person),
security headers, and the cross-origin guard."""

from __future__ import annotations

import logging
import time

from aiohttp import HttpVersion10, HttpVersion11, hdrs, web, web_response
from aiohttp.typedefs import Handler

from gateway_auth.errors import (
    FaultyFraming,
    GatewayAuthError,
    ServiceBusy,
    UnknownHost,
    UnsupportedVersion,
)
from gateway_auth.http.appkeys import ORIGINS, PAGES, SERVICES, SITES
from gateway_auth.http.csrf import UNSAFE_METHODS
from gateway_auth.http.navigation import wants_page
from gateway_auth.http.problems import (
    PROBLEM_JSON,
    http_problem,
    internal_error,
    oauth_error,
    problem,
)
from gateway_auth.http.verify.answers import VERIFY_ROUTES
from gateway_auth.logging import log_event, request_id

log = logging.getLogger(__name__)
OAUTH_ROUTES = frozenset({"token", "revoke", "introspect"})
# Their answers are for programs (/token) or for the gateway, which /verify renders itself.
NO_PAGE_ROUTES = VERIFY_ROUTES | OAUTH_ROUTES | {"provider_backchannel_logout"}


# Defaults every response gets unless its handler chose otherwise. Server names no product
# version for scanners (ASVS 14.3.3) and always replaces aiohttp's.
SECURITY_HEADERS = (
    (hdrs.CACHE_CONTROL, "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
)
SERVER = "gateway-auth"
REQUEST_ID_HEADER = "X-Request-ID"
# aiohttp answers a request it cannot parse (a bad request line, a header too long) itself,
# before any middleware runs, with ``Server: Python/3.x aiohttp/3.y``. Its responses read the
# default from this module attribute when they are sent, so naming ourselves here covers them.
web_response.SERVER_SOFTWARE = SERVER  # type: ignore[attr-defined]


@web.middleware
async def http_policy(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one middleware: request id, cross-origin guard, errors as problem+json (or as a page
    when a person navigated here), security headers, and the request metrics.

    One layer, not three: every middleware layer costs ``/verify`` a few microseconds on each
    request a gateway forwards, and this one does the work of a signal handler too.
    """
    started = time.perf_counter()
    rid = request_id(request.headers.get(REQUEST_ID_HEADER))
    if request.version != HttpVersion11:  # rare: one comparison for the usual request
        framing = await _framing(request, rid)
        if framing is not None:
            return framing
    refusal = _refusal(request)
    response = problem(refusal) if refusal else await _answer(request, handler)
    if (
        response.status >= 400
        and isinstance(response, web.Response)
        and response.content_type == PROBLEM_JSON
        and _route_name(request) not in NO_PAGE_ROUTES
        and wants_page(request.headers)
    ):
        response = request.app[PAGES].problem_page(request, response)
    response.headers[REQUEST_ID_HEADER] = rid
    resource = request.match_info.route.resource
    request.app[SERVICES].metrics.requests.observe(
        resource.canonical if resource else "unmatched",
        request.method,
        response.status,
        time.perf_counter() - started,
    )
    return _secured(request, response)


async def _framing(request: web.Request, rid: str) -> web.StreamResponse | None:
    """505 for HTTP/0.9 and HTTP/2.0 request lines, 400 for HTTP/1.0 with Transfer-Encoding
    (RFC 9112 6.1): answered before any handler, and the connection closed at once, its body
    never read. Both listeners answer them here: the fast one hands such requests over before
    deciding anything."""
    if request.version == HttpVersion10:
        if hdrs.TRANSFER_ENCODING not in request.headers:
            return None
        response = problem(FaultyFraming())
    else:
        response = problem(UnsupportedVersion())
        # The status line repeats the request's version (reified): say the one spoken here.
        request._cache["version"] = HttpVersion11  # pinned aiohttp; test_parity notices
    response.force_close()
    response.headers[REQUEST_ID_HEADER] = rid
    await _secured(request, response).prepare(request)
    await response.write_eof()
    request.protocol.force_close()  # now: aiohttp would otherwise linger reading the body
    return response


def _refusal(request: web.Request) -> GatewayAuthError | None:
    """A host no domain serves, or a cross-site state change: refused before any handler."""
    try:
        request.app[SITES].check(request)
    except UnknownHost as exc:
        return exc
    return request.app[ORIGINS].refusal(request) if request.method in UNSAFE_METHODS else None


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's response, or the problem answer for what it raised."""
    try:
        response = await handler(request)
    except GatewayAuthError as exc:
        if isinstance(exc, ServiceBusy):
            request.app[SERVICES].metrics.hash_rejections.inc()
        response = oauth_error(exc) if _route_name(request) in OAUTH_ROUTES else problem(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = http_problem(exc)
    except Exception:  # noqa: BLE001 - the last resort: log it, answer a bare 500
        log_event(
            log,
            "unhandled_error",
            level=logging.ERROR,
            method=request.method,
            route=request.match_info.route.resource.canonical
            if request.match_info.route.resource
            else "",
            exc_info=True,
        )
        response = internal_error()
    return response


def _secured(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    headers = response.headers
    headers[hdrs.SERVER] = SERVER
    # An allowed /verify answer goes to the gateway, never to a browser: it brings its own
    # Cache-Control and is spared the page-rendering headers (a tenth of its cost).
    if response.status != 200 or _route_name(request) not in VERIFY_ROUTES:
        for name, value in SECURITY_HEADERS:
            headers.setdefault(name, value)
    return response


def _route_name(request: web.Request) -> str | None:
    return request.match_info.route.name
