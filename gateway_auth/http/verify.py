"""``/verify`` through aiohttp: what the fast listener hands over (a request with a body, a
person's page that must be rendered), and every call when ``FAST_VERIFY`` is off. The answer
itself comes from ``forward_auth.ForwardAuth``, as on the fast listener."""

from __future__ import annotations

from aiohttp import web

from gateway_auth.http.appkeys import FORWARD_AUTH, METRICS, PAGES
from gateway_auth.http.browsing import denied, reauthenticate, unverified
from gateway_auth.http.forwarded import Peer


async def verify(request: web.Request) -> web.Response:
    """Any method: 200 with identity headers, or 401 / 403 / 503 (302 only when asked)."""
    app = request.app
    gate = app[FORWARD_AUTH]
    url = request.rel_url  # the raw target, as the fast listener reads it
    query = url.raw_query_string
    if request.match_info.route.name == "verify_envoy":
        raw = url.raw_path
        if not raw.startswith(gate.path + "/"):
            # An encoded spelling of /verify (no gateway sends one): where its original path
            # begins in the raw target is a guess, so there is none.
            raise web.HTTPNotFound
        target = raw[len(gate.path) :] + (f"?{query}" if query else "")
    else:
        target = f"?{query}" if query else ""
    peer = Peer(request.remote, gate.trusts(request.remote))
    facts = (request.method, request.headers, peer, request.scheme, target)
    verdict, rule = gate.decide(*facts)
    metrics = app[METRICS]
    metrics.verify_decisions[verdict.outcome].inc()
    if rule is not None:
        metrics.access_decisions.count(rule, verdict.outcome)
    if verdict.headers is not None:
        return web.Response(headers=verdict.headers)
    answer = gate.refuse(*facts, verdict=verdict)
    response = answer.refusal.response()
    if not answer.page:
        return response
    original = answer.original
    if verdict.outcome == "unverified" and verdict.claims is not None:
        return unverified(request, verdict.claims.email)
    if verdict.outcome == "reauthenticate" and verdict.claims is not None:
        return reauthenticate(request, verdict.claims.email, original.url if original else None)
    if verdict.claims is not None and original is not None:  # suspended, or not allowed
        suspended = verdict.outcome == "suspended"
        return denied(request, verdict.claims.email, suspended=suspended, original=original.url)
    return app[PAGES].problem_page(request, response)
