"""Cross-cutting HTTP behaviour: error rendering, security headers, and the cross-site guard."""

from __future__ import annotations

import logging
import time

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway_auth.errors import CrossSiteRequest, GatewayAuthError, ServiceBusy
from gateway_auth.http.appkeys import METRICS, SETTINGS
from gateway_auth.http.problems import http_problem, internal_error, oauth_error, problem
from gateway_auth.logging import log_event, request_id

log = logging.getLogger(__name__)
OAUTH_ROUTES = frozenset({"token"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# /verify answers about someone else's request (a gateway asks with the original method and
# headers), and /token serves programs: neither acts on a browser's cookies by itself.
NOT_BROWSER_ROUTES = OAUTH_ROUTES | {"verify"}


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


@web.middleware
async def http_policy(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one middleware: request id, cross-site guard, errors as problem+json, security
    headers, and the request metrics.

    One layer, not three: every middleware layer costs ``/verify`` a few microseconds on each
    request a gateway forwards, and this one does the work of a signal handler too.
    """
    started = time.perf_counter()
    rid = request_id(request.headers.get(REQUEST_ID_HEADER))
    if _cross_site_state_change(request):
        response: web.StreamResponse = problem(CrossSiteRequest())
    else:
        response = await _answer(request, handler)
    response.headers[REQUEST_ID_HEADER] = rid
    resource = request.match_info.route.resource
    request.app[METRICS].requests.observe(
        resource.canonical if resource else "unmatched",
        request.method,
        response.status,
        time.perf_counter() - started,
    )
    return _secured(request, response)


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's response, or the problem answer for what it raised."""
    try:
        response = await handler(request)
    except GatewayAuthError as exc:
        if isinstance(exc, ServiceBusy):
            request.app[METRICS].hash_rejections.inc()
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
    if response.status != 200 or _route_name(request) != "verify":
        for name, value in SECURITY_HEADERS:
            headers.setdefault(name, value)
    return response


def _cross_site_state_change(request: web.Request) -> bool:
    """A state change a browser says comes from another site (login CSRF included).

    SameSite=Lax already keeps cookies off such requests; this also stops a cross-site form
    from logging a victim into an attacker's account. Programs (no Sec-Fetch-Site) pass.
    """
    return (
        request.method in UNSAFE_METHODS
        and request.headers.get("Sec-Fetch-Site") == "cross-site"
        and _route_name(request) not in NOT_BROWSER_ROUTES
        and request.app[SETTINGS].cookie_samesite != "None"
    )


def _route_name(request: web.Request) -> str | None:
    return request.match_info.route.name
