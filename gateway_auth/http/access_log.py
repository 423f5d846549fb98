"""One structured line per request, except ``/verify``'s routine answers.

Gateways call ``/verify`` on every request they forward and log those requests themselves; a
line per answer would cost more than the decision. Its 200s and 401s (anyone not signed in,
every expired access token; a flood of them must not flood the log) are counted in
``gateway_auth_verify_decisions_total`` by outcome instead; its 403s and 503s are logged.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from gateway_auth.http.forward_auth import VERIFY_ROUTES
from gateway_auth.logging import FIELDS, log_event

QUIET_VERIFY_STATUSES = frozenset({200, 302, 401})  # /verify answers left to the metrics


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook, writing through ``log_event``."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write the line for one finished request."""
        if response.status in QUIET_VERIFY_STATUSES and _route_name(request) in VERIFY_ROUTES:
            return
        log_event(
            self.logger,
            "request",
            method=request.method,
            route=_route(request),
            path=request.path,
            status=response.status,
            duration_ms=round(time * 1000, 2),
            remote=request.remote or "",
        )


def _route_name(request: web.BaseRequest) -> str | None:
    try:
        return request.match_info.route.name if isinstance(request, web.Request) else None
    except (AssertionError, AttributeError):
        return None


def _route(request: web.BaseRequest) -> str:
    """The route template; "unmatched" for a request aiohttp refused before routing (a bad
    header), which has no match info at all (reading it fails an assertion)."""
    try:
        resource = request.match_info.route.resource if isinstance(request, web.Request) else None
    except (AssertionError, AttributeError):
        return "unmatched"
    return resource.canonical if resource else "unmatched"


def quiet_refused_requests(record: logging.LogRecord) -> bool:
    """A filter for ``aiohttp.server``, which logs every request it cannot parse as an ERROR
    with a traceback (anyone could fill the log with them): one INFO ``malformed_request``
    line with the status and reason instead."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg, record.args, record.exc_info, record.exc_text = (
            "malformed_request",
            (),
            None,
            None,
        )
        setattr(record, FIELDS, {"status": exc.code, "reason": str(exc.message)[:200]})
    return True
