"""What ``/verify`` answers: the forward-auth endpoint gateways call on every request they forward.

``ForwardAuth`` is the one place its answers are made, for both listeners: the fast one
(``fastpath.py``, which answers most calls before aiohttp sees them) and the aiohttp handler
(``handler.py``, which answers what the fast one hands over, and everything when it is off).
It reads a request into the decision's ``Check`` (where its token travels, what ``?scope=``
asks), has ``access.decision`` decide it, and turns the verdict into status, headers and body.
The allow path builds nothing: its headers were prepared when the token was first verified.

A refusal of a browser's page load says where to go: ``Location`` on a 401 (the sign-in page,
or the refresh hop when only the access token expired; a 302 with ``?redirect=true``) and a
page on a 403 or 503, which Caddy and Traefik show as they are. Scripts and programs get
problem+json and no ``Location``, so nginx can tell a page load from an API call.

Envoy's ``ext_authz`` appends the original path to the check URL: ``/verify/app/page?x=1``
asks about ``/app/page?x=1``. Then the query is the original request's own (never ours), and a
browser is redirected (302), since Envoy passes a refusal to the client as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote

from aiohttp import hdrs, web

from gateway_auth.access.decision import Check, Decision
from gateway_auth.access.forwarded import (
    MalformedForwarding,
    OriginalRequest,
    Peer,
    original_request,
)
from gateway_auth.access.verdict import NO_SCOPES, Outcome, Verdict
from gateway_auth.errors import (
    AccessDenied,
    AmbiguousRequest,
    ClientSuspended,
    EmailUnverified,
    GatewayAuthError,
    InsufficientScope,
    MultiFactorRequired,
    ReauthenticationRequired,
    RevocationStateStale,
    SecondFactorEnrolmentRequired,
    Unauthenticated,
    UnknownHost,
)
from gateway_auth.http.cookies import token_in
from gateway_auth.http.navigation import NAVIGATION_METHODS, wants_page
from gateway_auth.http.problems import problem
from gateway_auth.http.verify import target as verify_target
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event
from gateway_auth.metrics import Metrics

log = logging.getLogger(__name__)

_ERRORS: dict[Outcome, GatewayAuthError] = {
    "unauthenticated": Unauthenticated(),
    "expired": Unauthenticated(N_("The access token has expired.")),
    "revoked": Unauthenticated(N_("The session has ended.")),
    "suspended": ClientSuspended(),
    "unverified": EmailUnverified(),
    "forbidden_scope": InsufficientScope(),
    "reauthenticate": ReauthenticationRequired(),
    "enrol": SecondFactorEnrolmentRequired(),
    "second_factor": MultiFactorRequired(),
    "stale": RevocationStateStale(),
    "denied": AccessDenied(),
    "ambiguous": AmbiguousRequest(),
}
# Refusals a person can mend at once, and where: step-up (a fresh password or second factor) at
# /elevate, a missing second factor on the two-step page.
_ONWARD: dict[Outcome, str] = {
    "reauthenticate": "elevate",
    "second_factor": "elevate",
    "enrol": "enrol",
}
# The aiohttp route names of /verify: the plain one and Envoy's, with the original path appended.
VERIFY_ROUTES = frozenset({"verify", "verify_envoy"})
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal's status, headers (in the order they are sent) and body."""

    status: int
    headers: Headers
    body: bytes

    def response(self) -> web.Response:
        """The same answer as an aiohttp response."""
        return web.Response(status=self.status, headers=self.headers, body=self.body or None)


@dataclass(frozen=True, slots=True)
class Answer:
    """How ``/verify`` refuses one request (an allowed one is answered from its verdict)."""

    verdict: Verdict
    refusal: Refusal
    # A person's page load refused with 403 or 503: they get a rendered page (aiohttp's job).
    page: bool = False
    original: OriginalRequest | None = None


@dataclass(frozen=True, slots=True)
class HandedOver:
    """A ``/verify`` request the fast listener decided but leaves to aiohttp to answer (a page
    to render, a header it cannot send as it is): the decision crosses with it, so nothing is
    decided twice. ``method`` and ``target`` name the request it belongs to."""

    method: str
    target: str  # the raw request target
    verdict: Verdict
    answer: Answer | None  # the refusal already made (None: allowed)


@dataclass(frozen=True, slots=True)
class Onward:
    """Where a domain's refused page loads go: its portal's pages."""

    login_url: str
    refresh_url: str
    elevate_url: str = "/elevate"
    enrol_url: str = "/account/two-factor"


class ForwardAuth:
    """Reads a ``/verify`` request into a ``Check``, has it decided (and counts the decision:
    here, once, for both listeners), and turns a refusal into its answer; no I/O, nothing built
    on the allow path."""

    def __init__(
        self,
        decision: Decision,
        metrics: Metrics,
        *,
        path: str,
        cookie_name: str,
        onward: Callable[[str | None], Onward | None],
    ) -> None:
        self.decision = decision
        self.path = path
        self._cookie_name = cookie_name
        self._trusted = decision.trusted
        self._decisions = metrics.verify_decisions
        self._access_decisions = metrics.access_decisions
        self._onward = onward  # by the original request's host (None: a host no domain serves)
        self._refusals = {outcome: _refusal(error) for outcome, error in _ERRORS.items()}
        # Gateways relay 401 and 403 only (nginx turns anything else into a 500).
        self._unknown_host = replace(_refusal(UnknownHost()), status=403)

    def trusts(self, remote: str | None) -> bool:
        """Whether ``remote`` is one of TRUSTED_PROXIES."""
        return remote in self._trusted

    def fixed_refusals(self) -> list[Refusal]:
        """The refusals made once at start-up (those without a ``Location``)."""
        return list(self._refusals.values())

    def check(
        self, method: str, headers: Mapping[str, str], peer: Peer, scheme: str, target: str
    ) -> Check:
        """The request to decide. ``target`` is what follows the ``/verify`` path in the
        request target, raw: nothing, ``?`` and the query (whose ``scope`` is read), or
        Envoy's ``/`` and the original path and query. ``headers`` are read by lower-case
        names."""
        token = token_in(headers, self._cookie_name)
        if not target:  # the plain /verify: most requests
            return Check(method, headers, peer, scheme, token, NO_SCOPES)
        scopes, original = verify_target.required(target), verify_target.original_path(target)
        return Check(method, headers, peer, scheme, token, scopes, original)

    def decide(self, check: Check) -> tuple[Verdict, str | None]:
        """The verdict on ``check`` and the access rule that gave it (None without a rules
        file), counted in the metrics."""
        verdict, rule = self.decision.decide(check)
        self._decisions[verdict.outcome].value += 1
        if rule is not None:
            self._access_decisions.count(rule, verdict.outcome)
        return verdict, rule

    def refuse(self, check: Check, target: str, verdict: Verdict) -> Answer:
        """How ``check`` is refused when ``decide`` did not allow it: a page load is sent
        where to go (redirected with ``?redirect=true``, and always in Envoy's shape)."""
        refusal = self._refusals[verdict.outcome]
        if not wants_page(check.headers):
            return Answer(verdict, refusal)  # a script or a program: the problem as it is
        try:
            original = original_request(
                check.headers,
                check.method,
                check.peer.trusted,
                check.scheme,
                checked_path=check.original_path,
            )
        except MalformedForwarding:
            return Answer(verdict, refusal)  # nowhere to send anyone back to
        if original.method not in NAVIGATION_METHODS:  # a form sent elsewhere, say
            return Answer(verdict, refusal, original=original)
        return self._send_on(verdict, refusal, original, target)

    def _send_on(
        self, verdict: Verdict, refusal: Refusal, original: OriginalRequest, target: str
    ) -> Answer:
        """A person's page load, refused: where to go (or which page to show)."""
        places = self._onward(original.host)
        if places is None:  # no portal to send anyone to: the page that says so
            log_event(log, "unknown_host", level=logging.WARNING, host=(original.host or "")[:255])
            return Answer(verdict, self._unknown_host, page=True)
        onward = _ONWARD.get(verdict.outcome)
        if onward is not None and verify_target.redirects(target):
            url = places.enrol_url if onward == "enrol" else places.elevate_url
            location = return_location(url, original)
            return Answer(verdict, Refusal(302, ((hdrs.LOCATION, location),), b""))
        if refusal.status != 401:
            return Answer(verdict, refusal, page=True, original=original)
        target_url = places.refresh_url if verdict.outcome == "expired" else places.login_url
        location = return_location(target_url, original)
        if verify_target.redirects(target):
            return Answer(verdict, Refusal(302, ((hdrs.LOCATION, location),), b""))
        located = Refusal(401, (*refusal.headers, (hdrs.LOCATION, location)), refusal.body)
        return Answer(verdict, located, original=original)


def return_location(url: str, original: OriginalRequest | None) -> str:
    """``url?rd=<original URL>``; a relative ``url`` is made absolute on the original host,
    because nginx's ``error_page`` treats a bare path as an internal redirect."""
    if url.startswith("/") and original and original.scheme and original.host:
        url = f"{original.scheme}://{original.host}{url}"
    back = original.url if original else None
    if back is None:
        return url
    return f"{url}{'&' if '?' in url else '?'}rd={quote(back, safe='')}"


def _refusal(error: GatewayAuthError) -> Refusal:
    response = problem(error)
    body = response.body
    assert isinstance(body, bytes)  # noqa: S101 - problem() always renders bytes
    return Refusal(response.status, tuple(response.headers.items()), body)
