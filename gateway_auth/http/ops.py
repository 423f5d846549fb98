"""Operations routes: liveness, readiness, metrics and the public keys."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway_auth.errors import StoreUnavailable
from gateway_auth.http.appkeys import SERVICES, SETTINGS
from gateway_auth.http.openapi.document import document
from gateway_auth.http.views import json_response
from gateway_auth.metrics import CONTENT_TYPE

# Headers a proxy adds when it relays a request: /metrics is for a scraper that reaches the
# service directly, never for the public side of a gateway that forwards the auth routes.
RELAYED = ("X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Original-URL", "X-Forwarded-Host")
BACKLOG_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the process is up and serving; checks nothing else."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: every backend answers; 503 naming what does not. The access rules'
    state is shown but never makes an instance unready: a bad RULES_FILE pushed to every
    instance would take them all out at once, while the rules loaded before still hold."""
    services = request.app[SERVICES]
    checks = await services.health()
    ready = all(state == "ok" for state in checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
    if services.access is not None:
        body["accessRules"] = services.access.state()
    return json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: Prometheus text; 404 when a proxy relayed the request."""
    if any(name in request.headers for name in RELAYED):
        raise web.HTTPNotFound
    app = request.app
    try:
        async with asyncio.timeout(BACKLOG_TIMEOUT):
            stats = await app[SERVICES].store.stats(app[SERVICES].clock())
        app[SERVICES].metrics.outbox_backlog.set(stats.outbox_backlog)
    except (StoreUnavailable, TimeoutError):
        pass  # the gauge keeps its last value; gateway_auth_http_requests shows the 503s
    response = web.Response(body=app[SERVICES].metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


async def openapi(request: web.Request) -> web.Response:
    """``GET /openapi.json``: the OpenAPI 3.1 description of every route."""
    return json_response(document(request.app[SETTINGS].base_path))


async def jwks(request: web.Request) -> web.Response:
    """``GET /.well-known/jwks.json``: public keys for downstream verification (none for HS256)."""
    response = json_response(request.app[SERVICES].keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
