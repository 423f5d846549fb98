"""``/verify`` through aiohttp: what the fast listener hands over (a request with a body, a
person's page that must be rendered), and every call when ``FAST_VERIFY`` is off. The answer
itself comes from ``answers.ForwardAuth``, as on the fast listener; a request the fast one
already decided comes with its decision, which stands."""

from __future__ import annotations

from aiohttp import web

from gateway_auth.access.forwarded import Peer
from gateway_auth.http.appkeys import FORWARD_AUTH, PAGES
from gateway_auth.http.portal.browsing import (
    denied,
    enrolment_needed,
    reauthenticate,
    unverified,
)
from gateway_auth.http.verify.answers import Answer
from gateway_auth.http.verify.fastpath import FastVerify


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
    transport = request.transport
    listener = transport.get_protocol() if transport is not None else None
    handed = (
        listener.handed_over(request.protocol, request.method, request.raw_path)
        if isinstance(listener, FastVerify)
        else None
    )
    if handed is not None:
        verdict, answer = handed.verdict, handed.answer
    else:
        peer = Peer(request.remote, gate.trusts(request.remote))
        check = gate.check(request.method, request.headers, peer, request.scheme, target)
        verdict, _ = gate.decide(check)
        answer = None if verdict.headers is not None else gate.refuse(check, target, verdict)
    if answer is None:
        return web.Response(headers=verdict.headers)
    return _refused(request, answer)


def _refused(request: web.Request, answer: Answer) -> web.Response:
    """A refusal's answer; a person's page load gets the page that says why."""
    response = answer.refusal.response()
    if not answer.page or answer.original is None:  # a program; or a host no domain serves
        return request.app[PAGES].problem_page(request, response) if answer.page else response
    verdict, original = answer.verdict, answer.original
    if verdict.outcome == "unverified" and verdict.claims is not None:
        return unverified(request, verdict.claims.email)
    if verdict.outcome == "enrol" and verdict.claims is not None:
        return enrolment_needed(request, verdict.claims.email, original.url if original else None)
    if verdict.outcome in ("reauthenticate", "second_factor") and verdict.claims is not None:
        back = original.url if original else None
        second = verdict.outcome == "second_factor"
        return reauthenticate(request, verdict.claims.email, back, second_factor=second)
    if verdict.claims is not None and original is not None:  # suspended, or not allowed
        suspended = verdict.outcome == "suspended"
        return denied(request, verdict.claims.email, suspended=suspended, original=original.url)
    return request.app[PAGES].problem_page(request, response)
