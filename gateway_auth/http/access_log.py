"""One structured line per request, except the allowed ``/verify`` answers.

Gateways call ``/verify`` on every request they forward and log those requests themselves; a
line per allow would cost more than the decision. Refusals are still logged.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from gateway_auth.logging import log_event


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook, writing through ``log_event``."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write the line for one finished request."""
        if response.status < 300 and request.path.endswith("/verify"):
            return
        resource = request.match_info.route.resource if isinstance(request, web.Request) else None
        log_event(
            self.logger,
            "request",
            method=request.method,
            route=resource.canonical if resource else "unmatched",
            path=request.path,
            status=response.status,
            duration_ms=round(time * 1000, 2),
            remote=request.remote or "",
        )
