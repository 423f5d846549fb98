"""Cross-cutting HTTP behaviour: error rendering, security headers, and the cross-site guard."""

from __future__ import annotations

import logging

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway_auth.errors import CrossSiteRequest, GatewayAuthError
from gateway_auth.http.appkeys import SETTINGS
from gateway_auth.http.problems import http_problem, internal_error, oauth_error, problem
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
OAUTH_ROUTES = frozenset({"token"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# /verify answers about someone else's request (a gateway asks with the original method and
# headers), and /token serves programs: neither acts on a browser's cookies by itself.
NOT_BROWSER_ROUTES = OAUTH_ROUTES | {"verify"}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors and aiohttp's own errors become problem+json; anything else a bare 500."""
    try:
        return await handler(request)
    except GatewayAuthError as exc:
        if request.match_info.route.name in OAUTH_ROUTES:
            return oauth_error(exc)
        return problem(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return http_problem(exc)
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
        return internal_error()


@web.middleware
async def cross_site_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse state changes that a browser says come from another site (login CSRF included).

    SameSite=Lax already keeps cookies off such requests; this also stops a cross-site form
    from logging a victim into an attacker's account. Programs (no Sec-Fetch-Site) pass.
    """
    if (
        request.method in UNSAFE_METHODS
        and request.headers.get("Sec-Fetch-Site") == "cross-site"
        and request.match_info.route.name not in NOT_BROWSER_ROUTES
        and request.app[SETTINGS].cookie_samesite != "None"
    ):
        raise CrossSiteRequest
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Defaults every response gets unless its handler chose otherwise."""
    headers = response.headers
    headers[hdrs.SERVER] = "gateway-auth"  # no product versions for scanners (ASVS 14.3.3)
    headers.setdefault(hdrs.CACHE_CONTROL, "no-store")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
