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
from aiohttp.web_urldispatcher import AbstractRoute

from gateway_auth.http.verify.answers import VERIFY_ROUTES
from gateway_auth.logging import FIELDS, log_event

QUIET_VERIFY_STATUSES = frozenset({200, 302, 401})  # /verify answers left to the metrics
LOGGER = "gateway_auth.requests"  # the logger of these lines (both listeners write them)


class RequestLogger(AbstractAccessLogger):
    """aiohttp's access-log hook (its name for a request log), writing through ``log_event``."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write the line for one finished request."""
        route = _matched(request)
        if response.status in QUIET_VERIFY_STATUSES and route and route.name in VERIFY_ROUTES:
            return
        resource = route.resource if route else None
        log_request(
            self.logger,
            method=request.method,
            route=resource.canonical if resource else "unmatched",
            path=request.path,
            status=response.status,
            seconds=time,
            remote=request.remote,
        )


def log_request(
    logger: logging.Logger,
    *,
    method: str,
    route: str,
    path: str,
    status: int,
    seconds: float,
    remote: str | None,
) -> None:
    """The one ``request`` line, for aiohttp's requests and the fast listener's alike."""
    log_event(
        logger,
        "request",
        method=method,
        route=route,
        path=path,
        status=status,
        duration_ms=round(seconds * 1000, 2),
        remote=remote or "",
    )


def _matched(request: web.BaseRequest) -> AbstractRoute | None:
    """The matched route; None for a request aiohttp refused before routing (a bad header),
    which has no match info at all (reading it fails an assertion)."""
    try:
        return request.match_info.route if isinstance(request, web.Request) else None
    except (AssertionError, AttributeError):
        return None


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
