"""Operations routes: liveness, readiness and the public keys."""

from __future__ import annotations

from aiohttp import web

from gateway_auth.errors import StoreUnavailable
from gateway_auth.http.appkeys import KEYS, MIRROR_SYNC, SETTINGS, STORE
from gateway_auth.http.views import json_response


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the process is up and serving; checks nothing else."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: every backend answers; 503 naming what does not."""
    try:
        await request.app[STORE].ping()
        checks = {"store": "ok"}
    except StoreUnavailable:
        checks = {"store": "unavailable"}
    max_staleness = request.app[SETTINGS].max_staleness.total_seconds()
    checks["revocations"] = await request.app[MIRROR_SYNC].health(max_staleness)
    ready = all(state == "ok" for state in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return json_response(body, status=200 if ready else 503)


async def jwks(request: web.Request) -> web.Response:
    """``GET /.well-known/jwks.json``: public keys for downstream verification (none for HS256)."""
    response = json_response(request.app[KEYS].jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
