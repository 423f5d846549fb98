"""``/verify`` with access rules: the original request as a trusted proxy describes it, the rule
that decides it, and then the token check that rule asks for.

Only a trusted proxy (``TRUSTED_PROXIES``) can say which request it asks about; without that
description, or with a host or path that cannot be read without guessing, the answer is 403
``ambiguous-request``. ``?scope=`` is combined with the rule: both must pass (a ``bypass``
with scopes in the query is a scopes check). A rule about who is asking (a subject) needs the
token first; a request nobody signed in to that such a rule could decide is asked to sign in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway_auth.access_control import AccessControl
from gateway_auth.access_rules import AMBIGUOUS, Selection
from gateway_auth.http.forwarded import (
    MalformedForwarding,
    Peer,
    TrustedPeers,
    client_ip,
    original_request,
)
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

_NO_SCOPES: frozenset[str] = frozenset()


class AccessCheck:
    """The rules in force (read on every request: a reload swaps them) and how to verify."""

    def __init__(
        self,
        control: AccessControl,
        verifier: Verifier,
        trusted: TrustedPeers,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self.control = control
        self._verifier = verifier
        self._trusted = trusted
        self._now = clock
        self._monotonic = monotonic

    def decide(
        self,
        method: str,
        headers: Mapping[str, str],
        peer: Peer,
        scheme: str,
        *,
        token: str | None,
        required: frozenset[str],
        original_path: str | None,
    ) -> tuple[Verdict, str]:
        """The verdict and the label of the rule that gave it (for the metrics)."""
        if not peer.trusted:
            return AMBIGUOUS_VERDICT, AMBIGUOUS  # only a gateway may say what it asks about
        try:
            original = original_request(headers, method, True, scheme, checked_path=original_path)
        except MalformedForwarding:
            return UNAUTHENTICATED, AMBIGUOUS
        if original.host is None or original.path is None:
            return AMBIGUOUS_VERDICT, AMBIGUOUS
        candidates = self.control.rules.candidates(original.host, original.method, original.path)
        if candidates is None:
            return AMBIGUOUS_VERDICT, AMBIGUOUS
        identity: Verdict | None = None
        selection = candidates.unconditional
        if selection is None:
            address = (
                client_ip(peer.address, forwarded_for(headers), self._trusted.networks)
                if candidates.needs_address
                else None
            )
            claims = None
            if candidates.needs_claims:
                identity = self._verify(token, _NO_SCOPES)
                claims = identity.claims if identity.outcome == "allow" else None
            selection = candidates.select(address, claims)
        return self._apply(selection, token, required, identity), selection.rule

    def _apply(
        self,
        selection: Selection,
        token: str | None,
        required: frozenset[str],
        identity: Verdict | None,
    ) -> Verdict:
        policy = selection.policy
        if policy == "deny":
            identity = identity or self._verify(token, _NO_SCOPES)
            if identity.outcome == "allow":
                return Verdict("denied", claims=identity.claims)  # the page names who it is
            return DENIED
        if policy == "bypass" and not required:
            return BYPASS
        return self._verify(token, selection.scopes | required if selection.scopes else required)

    def _verify(self, token: str | None, required: frozenset[str]) -> Verdict:
        return self._verifier.verify(token, required, self._now(), self._monotonic())


def forwarded_for(headers: Mapping[str, str]) -> list[str]:
    """Every ``X-Forwarded-For`` value: aiohttp's headers hold them all, the fast listener's
    only one (it leaves a request with two to aiohttp)."""
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall("x-forwarded-for", ()))
    value = headers.get("x-forwarded-for")
    return [] if value is None else [value]
