"""``/verify`` with access rules: the original request as a trusted proxy describes it, the rule
that decides it, and then the token check that rule asks for.

Only a trusted proxy (``TRUSTED_PROXIES``) can say which request it asks about; without that
description, or with a host or path that cannot be read without guessing, the answer is 403
``ambiguous-request``. ``?scope=`` is combined with the rule: both must pass (a ``bypass``
with scopes in the query is a scopes check). A rule about who is asking (a subject) needs the
token first; a request nobody signed in to that such a rule could decide is asked to sign in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from gateway_auth.access_control import AccessControl
from gateway_auth.access_rules import AMBIGUOUS, Candidates, Selection
from gateway_auth.http import verify_target
from gateway_auth.http.credentials import token_in
from gateway_auth.http.forwarded import (
    MalformedForwarding,
    Peer,
    TrustedPeers,
    original_client,
    original_request,
)
from gateway_auth.http.verify_target import NO_SCOPES
from gateway_auth.verify import (
    AMBIGUOUS as AMBIGUOUS_VERDICT,
)
from gateway_auth.verify import (
    BYPASS,
    DENIED,
    UNAUTHENTICATED,
    Verdict,
    Verifier,
)

_monotonic = time.monotonic


class AccessCheck:
    """The rules in force (read on every request: a reload swaps them) and how to verify."""

    def __init__(
        self,
        control: AccessControl,
        verifier: Verifier,
        trusted: TrustedPeers,
        cookie_name: str,
        clock: Callable[[], float],
    ) -> None:
        self.control = control
        self._verifier = verifier
        self._trusted = trusted
        self._cookie_name = cookie_name
        self._now = clock

    def decide(
        self, method: str, headers: Mapping[str, str], peer: Peer, scheme: str, target: str
    ) -> tuple[Verdict, str]:
        """The verdict and the label of the rule that gave it (for the metrics); the arguments
        are ``ForwardAuth.decide``'s."""
        candidates = None
        if peer.trusted:  # only a gateway may say which request it asks about
            envoy = target if target[:1] == "/" else None  # Envoy's shape: the path is here
            try:
                original = original_request(headers, method, True, scheme, checked_path=envoy)
            except MalformedForwarding:
                return UNAUTHENTICATED, AMBIGUOUS
            if original.host is not None and original.route is not None:
                rules = self.control.rules
                candidates = rules.candidates(original.host, original.method, original.route)
        if candidates is None:  # not described, or not without guessing
            return AMBIGUOUS_VERDICT, AMBIGUOUS
        token = token_in(headers, self._cookie_name)
        required = verify_target.required(target)
        selection = candidates.unconditional
        identity: Verdict | None = None
        if selection is None:
            selection, identity = self._select(candidates, headers, peer, token)
        policy = selection.policy
        if policy == "deny":
            return self._denied(token, identity), selection.rule
        if policy == "bypass" and not required:
            return BYPASS, selection.rule
        if selection.scopes:
            required = selection.scopes | required
        verdict = self._verifier.verify(token, required, self._now(), _monotonic())
        return verdict, selection.rule

    def _select(
        self, candidates: Candidates, headers: Mapping[str, str], peer: Peer, token: str | None
    ) -> tuple[Selection, Verdict | None]:
        """The rule for this client (its network, who it is), and its identity if read."""
        address = (
            original_client(peer.address, forwarded_for(headers), self._trusted.networks)
            if candidates.needs_address
            else None
        )
        identity = claims = None
        if candidates.needs_claims:
            identity = self._verifier.verify(token, NO_SCOPES, self._now(), _monotonic())
            claims = identity.claims if identity.outcome == "allow" else None
        return candidates.select(address, claims), identity

    def _denied(self, token: str | None, identity: Verdict | None) -> Verdict:
        identity = identity or self._verifier.verify(token, NO_SCOPES, self._now(), _monotonic())
        if identity.outcome == "allow":
            return Verdict("denied", claims=identity.claims)  # the page names who it is
        return DENIED


def forwarded_for(headers: Mapping[str, str]) -> list[str]:
    """Every ``X-Forwarded-For`` value: aiohttp's headers hold them all, the fast listener's
    only one (it leaves a request with two to aiohttp)."""
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall("x-forwarded-for", ()))
    value = headers.get("x-forwarded-for")
    return [] if value is None else [value]
