"""The ``/verify`` decision: one request in, a verdict and the rule that gave it out; no I/O.

Both listeners (the fast one and aiohttp's handler) describe a ``/verify`` request as a
``Check`` and call ``Decision.decide``; nothing else decides. Without a rules file the default
policy holds: a signed-in client with the scopes ``?scope=`` asks for. With one, the rule for
the original request (as a trusted proxy describes it) says what the token check must find.

A trusted proxy's description of the original request must hold whenever it gives one: a
malformed one is ``unauthenticated`` (never 200). With access rules, only a trusted proxy may
say which request it asks about; without that description, with a host or path that cannot
be read without guessing, or with a method-override header when a rule decides by method, the
answer is ``ambiguous``. ``?scope=`` is combined with the rule:
both must pass (a ``bypass`` with scopes in the query is a scopes check). A rule about who is
asking (a subject) needs the token first; a request nobody signed in to that such a rule could
decide is asked to sign in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import chain, product
from urllib.parse import unquote_plus

from gateway_auth.access.control import AccessControl
from gateway_auth.access.forwarded import (
    FORWARDING,
    MalformedForwarding,
    Peer,
    TrustedPeers,
    original_client,
    original_request,
)
from gateway_auth.access.rules import AMBIGUOUS, Candidates, Selection
from gateway_auth.access.verdict import AMBIGUOUS as AMBIGUOUS_VERDICT
from gateway_auth.access.verdict import BYPASS, DENIED, NO_SCOPES, UNAUTHENTICATED, Verdict
from gateway_auth.access.verifier import Verifier
from gateway_auth.models import AMR_MFA

_monotonic = time.monotonic
# Headers that Express (method-override), Symfony, Laravel, ASP.NET and others obey to run a
# request as another method than the one it was sent (and decided) with; ``_method`` in the
# query does the same in Symfony and Laravel (POST), Jersey and Akka HTTP.
METHOD_OVERRIDES = ("x-http-method-override", "x-http-method", "x-method-override")


@dataclass(slots=True)  # not frozen: that costs a microsecond per request (measured)
class Check:
    """One ``/verify`` request, as both listeners read it (never changed once made)."""

    method: str  # the check's own method (a gateway may say the original's in a header)
    headers: Mapping[str, str]  # read by lower-case names
    peer: Peer
    scheme: str  # the one the gateway used to reach us
    token: str | None  # as it travelled (bearer header, else the access cookie)
    scopes: frozenset[str]  # what ``?scope=`` asks for
    # Envoy's shape: the original path and query, appended to the check URL.
    original_path: str | None = None


class Decision:
    """Decides ``/verify`` requests: the rules in force (None: the default policy), the
    trusted proxies, and the token check."""

    def __init__(
        self,
        verifier: Verifier,
        trusted: TrustedPeers,
        clock: Callable[[], float],
        rules: AccessControl | None = None,
    ) -> None:
        self.verifier = verifier
        self.rules = rules
        self.trusted = trusted
        self._now = clock

    def decide(self, check: Check) -> tuple[Verdict, str | None]:
        """The verdict on ``check``, and the label of the access rule that gave it (None
        without a rules file). An allowed verdict carries its answer's headers, built when the
        token was first verified: nothing is built here for it."""
        control = self.rules
        original = None
        if check.peer.trusted and (
            control is not None
            or check.original_path is not None
            or not check.headers.keys().isdisjoint(FORWARDING)
        ):
            try:
                original = original_request(
                    check.headers,
                    check.method,
                    True,
                    check.scheme,
                    checked_path=check.original_path,
                )
            except MalformedForwarding:
                return UNAUTHENTICATED, None if control is None else AMBIGUOUS
        if control is None:  # the default policy: most requests, so no call more than needed
            return self.verifier.verify(check.token, check.scopes, self._now(), _monotonic()), None
        # Only a gateway may say which request it asks about, and only without guessing.
        if original is None or original.host is None or original.route is None:
            return AMBIGUOUS_VERDICT, AMBIGUOUS
        rules = control.rules
        candidates = rules.candidates(original.host, original.method, original.route)
        if candidates is None:  # a path that cannot be read without guessing
            return AMBIGUOUS_VERDICT, AMBIGUOUS
        if rules.names_methods and _overridden(check.headers, original.path):
            return AMBIGUOUS_VERDICT, AMBIGUOUS  # decided as one method, run as another
        selection = candidates.unconditional
        identity: Verdict | None = None
        if selection is None:
            selection, identity = self._select(candidates, check)
        return self._apply(selection, identity, check), selection.rule

    def _apply(self, selection: Selection, identity: Verdict | None, check: Check) -> Verdict:
        """What the deciding rule's policy makes of the request."""
        policy = selection.policy
        if policy == "deny":
            identity = identity or self._verify(check.token, NO_SCOPES)
            if identity.outcome == "allow":
                return Verdict("denied", claims=identity.claims)  # the page names who it is
            return DENIED
        required = check.scopes
        if policy == "bypass" and not required:
            return BYPASS
        if selection.scopes:
            required = selection.scopes | required
        verdict = self.verifier.verify(check.token, required, self._now(), _monotonic())
        if selection.two_factor and verdict.outcome == "allow" and not _multi_factor(verdict):
            return Verdict("second_factor", claims=verdict.claims)  # the second, then on
        return verdict

    def _select(self, candidates: Candidates, check: Check) -> tuple[Selection, Verdict | None]:
        """The rule for this client (its network, who it is), and its identity if read."""
        address = (
            original_client(check.peer.address, forwarded_for(check.headers), self.trusted.networks)
            if candidates.needs_address
            else None
        )
        identity = claims = None
        if candidates.needs_claims:
            identity = self._verify(check.token, NO_SCOPES)
            claims = identity.claims if identity.outcome == "allow" else None
        return candidates.select(address, claims), identity

    def _verify(self, token: str | None, required: frozenset[str]) -> Verdict:
        return self.verifier.verify(token, required, self._now(), _monotonic())


def _overridden(headers: Mapping[str, str], path: str | None) -> bool:
    """Whether the request names another method than its own: a method-override header (or
    an alias of one that a CGI, WSGI or PHP app reads as it, ``X_HTTP_Method_Override``), or
    ``_method`` in the query, however it is encoded or cased. Cheap when there is none: a few
    hash lookups, and a substring test of the query."""
    if not headers.keys().isdisjoint(_OVERRIDE_SPELLINGS):
        return True
    query = (path or "").partition("?")[2]
    if not query or ("method" not in query.lower() and "%" not in query):
        return False
    keys = (unquote_plus(pair.partition("=")[0]).lower() for pair in query.split("&"))
    return "_method" in keys


def _spellings(name: str) -> set[str]:
    """``name`` with each ``-`` also as ``_`` or ``.``: the aliases CGI, WSGI and PHP read."""
    parts = name.split("-")
    return {
        "".join(chain.from_iterable(zip(parts, separators, strict=False))) + parts[-1]
        for separators in product("-_.", repeat=len(parts) - 1)
    }


_OVERRIDE_SPELLINGS = frozenset(s for name in METHOD_OVERRIDES for s in _spellings(name))


def _multi_factor(verdict: Verdict) -> bool:
    """Whether the allowed token's session was proved with a second factor (RFC 8176 mfa)."""
    return verdict.claims is not None and AMR_MFA in verdict.claims.amr


def forwarded_for(headers: Mapping[str, str]) -> list[str]:
    """Every ``X-Forwarded-For`` value: aiohttp's headers hold them all, the fast listener's
    only one (it leaves a request with two to aiohttp)."""
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall("x-forwarded-for", ()))
    value = headers.get("x-forwarded-for")
    return [] if value is None else [value]
