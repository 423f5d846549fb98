"""The /verify decision's token cache: bounded, reused, and still useful when the tokens in
play outnumber it (gateways cycle through their users' tokens)."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta

from gateway_auth.access.verifier import Verifier
from gateway_auth.config.keys import KeyRing, hmac_key
from gateway_auth.models import Client, MirrorState
from gateway_auth.revocation.mirror import RevocationMirror
from gateway_auth.tokens import AccessClaims, AccessTokens
from tests.support.clock import present

NOW = present()
NO_SCOPES: frozenset[str] = frozenset()


class CountingTokens(AccessTokens):
    """Access tokens that count how often one is decoded (a cache miss)."""

    decoded = 0

    def decode(self, token: str, now: datetime, *, allow_expired: bool = False) -> AccessClaims:
        self.decoded += 1
        return super().decode(token, now, allow_expired=allow_expired)


def tokens_and_verifier(cache_size: int) -> tuple[CountingTokens, Verifier]:
    tokens = CountingTokens(
        KeyRing("HS256", hmac_key(b"k" * 32)),
        issuer="gateway-auth",
        audience="gateway-auth",
        ttl=timedelta(minutes=15),
    )
    mirror = RevocationMirror(timedelta(minutes=15))
    mirror.finish_resync(MirrorState(), time.monotonic())
    return tokens, Verifier(tokens, mirror, max_staleness=60, cache_size=cache_size)


def issued(tokens: AccessTokens, count: int, lasting: timedelta = timedelta(hours=1)) -> list[str]:
    client = Client("c", "ada@example.com", "user", (), None, None, False, None, None, NOW, NOW)
    return [
        tokens.issue(
            dataclasses.replace(client, id=f"c{n}"),
            f"s{n}",
            NOW,
            not_after=NOW + lasting,
        )[0]
        for n in range(count)
    ]


def verify_all(verifier: Verifier, tokens: list[str], rounds: int, at: float = 0) -> None:
    now = at or NOW.timestamp()
    for _ in range(rounds):
        for token in tokens:
            assert verifier.verify(token, NO_SCOPES, now, time.monotonic()).outcome == "allow"


def test_a_token_seen_before_is_not_decoded_again() -> None:
    tokens, verifier = tokens_and_verifier(cache_size=100)
    verify_all(verifier, issued(tokens, 50), rounds=5)
    assert tokens.decoded == 50


def test_the_cache_never_holds_more_tokens_than_its_size() -> None:
    tokens, verifier = tokens_and_verifier(cache_size=20)
    verify_all(verifier, issued(tokens, 200), rounds=2)
    assert verifier.cached == 20
    assert tokens.decoded > 200  # the evicted ones came back as misses


def test_a_cycle_of_tokens_just_longer_than_the_cache_still_mostly_hits() -> None:
    # A least-recently-used cache would decode every one of these 2020 requests: each token
    # is evicted just before its turn comes round. Random eviction misses about 7 %.
    tokens, verifier = tokens_and_verifier(cache_size=100)
    cycle = issued(tokens, 101)
    verify_all(verifier, cycle, rounds=20)
    assert tokens.decoded < 0.15 * 20 * len(cycle)


def test_expired_tokens_make_room_before_live_ones() -> None:
    tokens, verifier = tokens_and_verifier(cache_size=100)
    verify_all(verifier, issued(tokens, 100, lasting=timedelta(seconds=60)), rounds=1)
    later = (NOW + timedelta(minutes=5)).timestamp()  # those have all expired by now
    fresh = issued(tokens, 50)
    verify_all(verifier, fresh, rounds=1, at=later)
    decoded = tokens.decoded
    verify_all(verifier, fresh, rounds=1, at=later)
    # Each eviction compares five entries and the dead ones expire first: at most a stray
    # live one was picked (when all five picks were live, at most half of the cache).
    assert tokens.decoded - decoded <= 5


def test_a_cached_token_is_refused_once_its_signing_key_is_gone() -> None:
    tokens, verifier = tokens_and_verifier(cache_size=100)
    old = issued(tokens, 1)
    verify_all(verifier, old, rounds=1)
    tokens.keys = KeyRing("HS256", hmac_key(b"n" * 32))  # rotated, the old key dropped
    verdict = verifier.verify(old[0], NO_SCOPES, NOW.timestamp(), time.monotonic())
    assert verdict.outcome == "unauthenticated"
    assert verifier.cached == 0
