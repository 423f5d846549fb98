"""``/verify`` through aiohttp: what the fast listener hands over (a request with a body, a
person's page that must be rendered), and every call when ``FAST_VERIFY`` is off. The answer
itself comes from ``forward_auth.ForwardAuth``, as on the fast listener."""

from __future__ import annotations

from aiohttp import web

from gateway_auth.http.appkeys import FORWARD_AUTH, METRICS, PAGES
from gateway_auth.http.browsing import denied


async def verify(request: web.Request) -> web.Response:
    """Any method: 200 with identity headers, or 401 / 403 / 503 (302 only when asked)."""
    app = request.app
    answer = app[FORWARD_AUTH].answer(
        request.method,
        request.raw_path,
        request.headers,
        request.remote,
        request.scheme,
    )
    verdict = answer.verdict
    app[METRICS].verify_decisions[verdict.outcome].inc()
    if answer.refusal is None:
        return web.Response(headers=verdict.headers)
    response = answer.refusal.response()
    if not answer.page:
        return response
    original = answer.original
    if verdict.claims is not None and original is not None:  # suspended, or not allowed
        suspended = verdict.outcome == "suspended"
        return denied(request, verdict.claims.email, suspended=suspended, original=original.url)
    return app[PAGES].problem_page(request, response)
