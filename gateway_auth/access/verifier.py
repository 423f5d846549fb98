"""The token check of ``/verify``: a token and the required scopes in, a verdict out.

This is the hot path: gateways ask on every request they forward. A token seen before is not
decoded again (a bounded cache keyed by the raw token string holds its claims and its prebuilt
identity headers), but expiry, the revocation mirror and the scopes are checked every time, and
nothing here does I/O.

A full cache evicts, of five entries picked at random, the one that expires first, not the
least recently used one: gateways cycle through their users' tokens, and a cycle one token
longer than an LRU misses on every request (each token is evicted just before its turn comes
round again), while random picks keep nearly every hit there and degrade gradually as the cycle
grows; preferring the soonest expiry lets tokens replaced by a refresh go first. A hit costs a
dict lookup and nothing more (no reordering).

A correctly signed token that has merely expired, of a session that is still live as far as
the mirror knows, is told apart from a bad one ("expired"): ``/verify`` then sends a browser to
the refresh hop instead of the sign-in page, so a session lasts as long as its refresh token.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from gateway_auth.access.verdict import (
    NOT_CACHED,
    REVOKED,
    STALE,
    UNAUTHENTICATED,
    Verdict,
    allow,
    identity_headers,
)
from gateway_auth.errors import Unauthenticated
from gateway_auth.models import AMR_MFA
from gateway_auth.revocation.mirror import RevocationMirror
from gateway_auth.tokens import LEEWAY_SECONDS, AccessClaims, AccessTokens

CACHE_SIZE = 10_000
_NEVER = float("inf")
EVICTION_SAMPLES = 5  # entries compared to choose one to evict (as Redis's maxmemory-samples)


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: AccessClaims
    scopes: frozenset[str]
    usable_until: float  # exp plus the decoding leeway
    allow: Verdict
    session_key: str  # the token's keys in the revocation mirror, made once
    client_key: str
    barred: Verdict | None  # unverified (REQUIRE_VERIFIED_EMAIL) or enrol (SECOND_FACTOR)
    stepped_down: frozenset[str]  # elevated scopes it holds that are not in force now
    review_at: float  # when an elevation in force ends: then the entry is made again


class Verifier:
    """Decides ``/verify`` requests from a token cache and the revocation mirror."""

    def __init__(
        self,
        tokens: AccessTokens,
        mirror: RevocationMirror,
        *,
        max_staleness: float,
        cache_size: int = CACHE_SIZE,
        require_verified_email: bool = False,
        require_second_factor: bool = False,
    ) -> None:
        self._tokens = tokens
        self._mirror = mirror
        self._max_staleness = max_staleness
        self._require_verified = require_verified_email
        self._require_second_factor = require_second_factor
        self._cache: dict[str, _Verified] = {}
        self._cached: list[str] = []  # the same keys, to pick one to evict at random
        self._cache_size = cache_size
        self._random = random.Random()  # noqa: S311 - choosing what to evict, not a secret
        self._keys = tokens.keys
        self.decoded = 0  # tokens checked by their signature: the cache's misses

    def verify(
        self, token: str | None, required: frozenset[str], now: float, monotonic_now: float
    ) -> Verdict:
        """The verdict for ``token`` needing every scope in ``required``, at ``now``."""
        if not token:
            return UNAUTHENTICATED
        if self._tokens.keys is not self._keys:
            self.flush()
        verified = self._cache.get(token) or self._verified(token, now)
        if verified is None:
            return UNAUTHENTICATED
        if verified.review_at <= now:  # an elevation ended: its scope and header lines go
            verified = self._verified(token, now) or verified
        if verified.usable_until <= now:
            return self._expired(verified.claims, now)
        return self._decide(verified, required, now, monotonic_now)

    @property
    def cached(self) -> int:
        """How many verified tokens the cache holds."""
        return len(self._cache)

    def flush(self) -> None:
        """Forget every verified token (the signing keys changed)."""
        self._cache.clear()
        self._cached.clear()
        self._keys = self._tokens.keys

    def _decide(
        self, verified: _Verified, required: frozenset[str], now: float, monotonic_now: float
    ) -> Verdict:
        # The mirror is read directly (its own methods cost a call each, on every request), and
        # an empty set is not searched: with 10,000 tokens in play, every object a request
        # touches is likely a miss in the processor's caches.
        mirror = self._mirror
        synced_at = mirror.synced_at
        if synced_at is None or monotonic_now - synced_at > self._max_staleness:
            return STALE  # never fail open on a mirror that lost its source
        revoked = mirror.revoked
        if revoked and (
            revoked.get(verified.session_key, 0.0) > now
            or revoked.get(verified.client_key, 0.0) > now
        ):
            return REVOKED
        suspended = mirror.suspended
        if suspended and verified.claims.client_id in suspended:
            return Verdict("suspended", claims=verified.claims)
        if verified.barred is not None:
            return verified.barred
        if required and not required <= verified.scopes:
            return _missing_scope(verified, required)
        return verified.allow

    def _expired(self, claims: AccessClaims, now: float) -> Verdict:
        """A genuine token past its ``exp``: ``expired`` when a refresh could still revive its
        session, else a refusal that sends the browser to the sign-in page."""
        mirror = self._mirror
        if mirror.is_revoked(claims.session_id, claims.client_id, now):
            return REVOKED
        if claims.client_id in mirror.suspended:
            return UNAUTHENTICATED  # a refresh would be refused: straight to the sign-in page
        return Verdict("expired", claims=claims)

    def _verified(self, token: str, now: float) -> _Verified | None:
        """A token not in the cache, decoded and (when live) cached."""
        self.decoded += 1
        try:  # one decode tells a bad token from a merely expired one
            claims = self._tokens.decode(
                token, datetime.fromtimestamp(now, UTC), allow_expired=True
            )
        except Unauthenticated:
            return None  # not cached: a bad token must not evict good ones
        in_force = {s for s, until in claims.elevations if until > now}
        scopes = claims.scopes_at(now)
        if scopes != claims.scopes:  # for every reader of the claims (rules' subjects too)
            claims = replace(claims, scopes=scopes)
        verified = _Verified(
            claims=claims,
            scopes=frozenset(scopes),
            usable_until=float(claims.expires_at + LEEWAY_SECONDS),
            allow=allow(identity_headers(claims) | NOT_CACHED, claims),
            session_key="session:" + claims.session_id,
            client_key="client:" + claims.client_id,
            barred=self._barred(claims),
            stepped_down=frozenset(s for s, _ in claims.elevations if s not in in_force),
            review_at=min(
                (float(until) for s, until in claims.elevations if s in in_force), default=_NEVER
            ),
        )
        if verified.usable_until > now:  # nor an expired one
            self._remember(token, verified)
        return verified

    def _barred(self, claims: AccessClaims) -> Verdict | None:
        """Why a user's genuine token is refused whatever it asks: an unverified address
        (REQUIRE_VERIFIED_EMAIL), or a session without a second factor (SECOND_FACTOR=
        required: every user's sign-in after enrolment is multi-factor, ``mfa``)."""
        if claims.kind != "user":
            return None
        if self._require_verified and not claims.email_verified:
            return Verdict("unverified", claims=claims)
        if self._require_second_factor and AMR_MFA not in claims.amr:
            return Verdict("enrol", claims=claims)
        return None

    def _remember(self, token: str, verified: _Verified) -> None:
        cache, cached = self._cache, self._cached
        if token in cache:  # made again once an elevation ended
            cache[token] = verified
            return
        if len(cached) >= self._cache_size:
            # Of a few entries picked at random, the one that expires first (an expired one,
            # if any) makes room: tokens are replaced every ACCESS_TOKEN_TTL, and dead ones
            # would otherwise hold their places as long as live ones.
            picks = [self._random.randrange(len(cached)) for _ in range(EVICTION_SAMPLES)]
            index = min(picks, key=lambda pick: cache[cached[pick]].usable_until)
            del cache[cached[index]]
            cached[index] = token  # the new key takes the evicted one's place
        else:
            cached.append(token)
        cache[token] = verified


def _missing_scope(verified: _Verified, required: frozenset[str]) -> Verdict:
    """A required scope is not in force: re-authenticating brings an elevated one back."""
    if required.isdisjoint(verified.stepped_down):
        return Verdict("forbidden_scope", claims=verified.claims)
    return Verdict("reauthenticate", claims=verified.claims)
