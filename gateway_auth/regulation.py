"""Regulation: slowing online password guessing down without locking the owner out.

Two kinds of limit, both counted before any password is hashed:

- **Per source** (the client's address, read through TRUSTED_PROXIES; IPv6 by /64): every
  login, registration, ``/token`` request and password confirmation is one hit against
  ``RATE_LIMIT_PER_IP``. One address cannot spray a password over many accounts, nor keep the
  hashing pool busy.
- **Per account, for untrusted clients** (OWASP's "slow down online guessing attacks with
  device cookies"): after ``LOCKOUT_ATTEMPTS`` failures within ``LOCKOUT_PERIOD``, clients that
  never signed in to the account are refused (429) until the period has passed. A browser or
  program that did sign in holds a device token bound to the account; it is counted on its
  own, so an attacker's failures never lock the owner out, and a stolen device token locks
  only itself.

Counters live in Redis when configured (every instance counts together), else in a bounded
table per process (``limiting``). Unknown accounts are counted like known ones, and every
refusal has the same body, so a 429 says nothing about whether an account exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
from limits import RateLimitItemPerSecond

from gateway_auth.clock import Clock
from gateway_auth.errors import TooManyAttempts
from gateway_auth.limiting import Limiter, RateLimitItem, parse_limits
from gateway_auth.metrics import Metrics
from gateway_auth.settings import Settings

_DEVICE_NONCE_BYTES = 16


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who is trying a password: their address and the device token they hold, if any."""

    source: str = ""
    device: str | None = None


class DeviceTokens:
    """``<nonce>.<HMAC(account, nonce)>``: proof that this client signed in to that account."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, account: str) -> str:
        """A new device token for ``account`` (an email key)."""
        nonce = secrets.token_urlsafe(_DEVICE_NONCE_BYTES)
        return f"{nonce}.{self._signature(account, nonce)}"

    def nonce(self, token: str | None, account: str) -> str | None:
        """The token's nonce when it is a genuine token for ``account``, else None."""
        if not token or token.count(".") != 1:
            return None
        nonce, signature = token.split(".")
        expected = self._signature(account, nonce)
        return nonce if hmac.compare_digest(signature.encode(), expected.encode()) else None

    def _signature(self, account: str, nonce: str) -> str:
        message = f"device\x00{account}\x00{nonce}".encode(errors="surrogatepass")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def lockout_limit(attempts: int, period: timedelta) -> RateLimitItem:
    """``attempts`` failures per ``period``, as a limits item."""
    return RateLimitItemPerSecond(attempts, int(period.total_seconds()))


def regulator_for(
    settings: Settings,
    clock: Clock,
    device_key: bytes,
    *,
    redis: aioredis.Redis | None,
    metrics: Metrics | None = None,
    local_fallback: bool = True,
) -> Regulator:
    """The regulator RATE_LIMIT_PER_IP, LOCKOUT_ATTEMPTS and LOCKOUT_PERIOD describe, counting
    in ``redis`` when given (every instance together)."""
    return Regulator(
        Limiter(clock, exact=False, redis=redis, local_fallback=local_fallback),
        Limiter(clock, exact=True, redis=redis, local_fallback=local_fallback),
        DeviceTokens(device_key),
        per_source=parse_limits(settings.rate_limit_per_ip),
        lockout=lockout_limit(settings.lockout_attempts, settings.lockout_period),
        metrics=metrics,
    )


class Regulator:
    """Admits password attempts by source and by account; the only place that counts them."""

    def __init__(
        self,
        sources: Limiter,
        accounts: Limiter,
        devices: DeviceTokens,
        *,
        per_source: Sequence[RateLimitItem],
        lockout: RateLimitItem,
        metrics: Metrics | None = None,
    ) -> None:
        self.devices = devices
        self._sources = sources
        self._limiter = accounts
        self._per_source = tuple(per_source)
        self._lockout = lockout
        self._refusals = (metrics or Metrics()).rate_limited

    async def admit(self, attempt: Attempt) -> None:
        """Count one attempt from its source; TooManyAttempts when the source is over its limit."""
        verdict = await self._sources.hit(self._per_source, "source", source_key(attempt.source))
        if not verdict.allowed:
            self._refusals["source"].inc()
            raise TooManyAttempts(verdict.retry_after)

    async def check(self, account: str, attempt: Attempt) -> None:
        """TooManyAttempts while the lock that applies to this client is on."""
        kind, key = self._counter(account, attempt)
        verdict = await self._limiter.check(self._lockout, kind, key)
        if not verdict.allowed:
            self._refusals[kind].inc()
            raise TooManyAttempts(verdict.retry_after)

    async def failed(self, account: str, attempt: Attempt) -> None:
        """Count a wrong password (or an unknown account) against this client's counter."""
        await self._limiter.count(self._lockout, *self._counter(account, attempt))

    async def succeeded(self, account: str, attempt: Attempt) -> None:
        """Reset this client's counter: the password was right."""
        await self._limiter.clear(self._lockout, *self._counter(account, attempt))

    async def lift(self, account: str) -> None:
        """An operator's override: untrusted clients may try ``account`` again at once."""
        await self._limiter.clear(self._lockout, "account", _digest(account))

    async def locked(self, account: str) -> int | None:
        """Seconds until untrusted clients may try ``account`` again, or None if they may."""
        verdict = await self._limiter.check(self._lockout, "account", _digest(account))
        return None if verdict.allowed else verdict.retry_after

    def _counter(self, account: str, attempt: Attempt) -> tuple[str, str]:
        nonce = self.devices.nonce(attempt.device, account)
        return ("device", nonce) if nonce else ("account", _digest(account))


def _digest(account: str) -> str:
    """Counters are named by a digest: no email is written to Redis as a key."""
    return hashlib.sha256(account.encode(errors="surrogatepass")).hexdigest()[:32]


def source_key(address: str) -> str:
    """An IPv4 address, or an IPv6 address's /64 (one subscriber usually holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
