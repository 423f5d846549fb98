"""Regulation: slowing online password guessing down without locking the owner out.

Two kinds of limit, both counted before any password is hashed:

- **Per source** (the client's address, read through TRUSTED_PROXIES; IPv6 by /64, NAT64
  unwrapped): every login and password grant from a client the account does not trust, and
  every registration, is one hit against ``RATE_LIMIT_PER_IP``. One address cannot spray a
  password over many accounts, nor keep the hashing pool busy; a trusted client is spared its
  neighbours' noise.
- **Per account, for untrusted clients** (OWASP's "slow down online guessing attacks with
  device cookies"): after ``LOCKOUT_ATTEMPTS`` failures within ``LOCKOUT_PERIOD``, clients that
  never signed in to the account are refused (429). A browser or program that did sign in holds
  a device token bound to the account and its password; it is counted on its own, so an
  attacker's failures never lock the owner out, and a stolen device token locks only itself.
  Password confirmations are counted per session, which already proves a sign-in.

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
from datetime import timedelta
from typing import Literal

import redis.asyncio as aioredis
from limits import RateLimitItemPerSecond

from gateway_auth.addresses import ip_address
from gateway_auth.clock import Clock
from gateway_auth.config.settings import Settings
from gateway_auth.errors import TooManyAttempts
from gateway_auth.metrics import Metrics
from gateway_auth.models import Attempt
from gateway_auth.signin.limiting import Limiter, RateLimitItem, parse_limits

_DEVICE_NONCE_BYTES = 16
DEVICE_TOKEN_LIFETIME = timedelta(days=365)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def password_epoch(password_hash: str | None) -> str:
    """A fingerprint of the stored password hash: device tokens are bound to it, so changing
    (or resetting) the password retires every device token issued before."""
    if not password_hash:
        return ""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class DeviceTokens:
    """``<nonce>.<issued>.<MAC>``: proof that this client signed in to this account, with this
    password, less than a year ago. The MAC covers the email key, the password epoch, the
    nonce and the issue time."""

    def __init__(
        self, key: bytes, clock: Clock, *, lifetime: timedelta = DEVICE_TOKEN_LIFETIME
    ) -> None:
        self._key = key
        self._clock = clock
        self._lifetime = lifetime.total_seconds()

    def issue(self, account: str, epoch: str) -> str:
        """A new device token for ``account`` (an email key) and its current password."""
        nonce = secrets.token_urlsafe(_DEVICE_NONCE_BYTES)
        issued = str(int(self._clock().timestamp()))
        return f"{nonce}.{issued}.{self._mac(account, epoch, nonce, issued)}"

    def nonce(self, tokens: Sequence[str], account: str, epoch: str) -> str | None:
        """The nonce of the first genuine, unexpired token for ``account``, else None."""
        if not epoch:  # no such account, or no password: nothing to vouch for
            return None
        now = self._clock().timestamp()
        for token in tokens:
            parts = token.split(".")
            if len(parts) != 3 or not parts[1].isascii() or not parts[1].isdigit():
                continue
            nonce, issued, mac = parts
            fresh = now - self._lifetime < int(issued[:12]) <= now + 60
            expected = self._mac(account, epoch, nonce, issued)
            if fresh and hmac.compare_digest(mac.encode(), expected.encode()):
                return nonce
        return None

    def _mac(self, account: str, epoch: str, nonce: str, issued: str) -> str:
        message = "\x00".join(("device", account, epoch, nonce, issued))
        digest = hmac.new(self._key, message.encode(errors="surrogatepass"), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def lockout_limit(attempts: int, period: timedelta) -> RateLimitItem:
    """``attempts`` failures per ``period``, as a limits item."""
    return RateLimitItemPerSecond(attempts, int(period.total_seconds()))


class Regulator:
    """Admits password attempts by source and by account; the only place that counts them."""

    def __init__(
        self,
        sources: Limiter,
        accounts: Limiter,
        key: bytes,
        clock: Clock,
        *,
        per_source: Sequence[RateLimitItem],
        lockout: RateLimitItem,
        metrics: Metrics | None = None,
    ) -> None:
        self.devices = DeviceTokens(hmac.new(key, b"device tokens", hashlib.sha256).digest(), clock)
        self._names = hmac.new(key, b"counter names", hashlib.sha256).digest()
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
            raise TooManyAttempts(verdict.retry_after, by="source")

    async def begin(self, account: str, attempt: Attempt, epoch: str) -> Counter:
        """Reserve one failure on the counter that applies to this client, before the password
        is checked (so concurrent guesses cannot all slip past a check); TooManyAttempts while
        that counter, or an untrusted client's address, is full. ``succeeded`` gives the
        reservation back. A client the account trusts (a device token, a session) is spared its
        address's limit: a neighbour behind the same address must not lock it out."""
        counter = self._counter(account, attempt, epoch)
        if counter[0] == "account":
            await self.admit(attempt)
        verdict = await self._limiter.hit((self._lockout,), *counter)
        if not verdict.allowed:
            self._refusals[counter[0]].inc()
            raise TooManyAttempts(verdict.retry_after)
        return counter

    async def succeeded(self, counter: Counter) -> None:
        """The password was right: this client starts with a clean slate."""
        await self._limiter.clear(self._lockout, *counter)

    async def spend(self, token_id: str, lifetime: timedelta) -> bool:
        """Mark a single-use sign-in token spent; False when it was spent already (in Redis,
        so at every instance, when there is one; else in this process)."""
        once = RateLimitItemPerSecond(1, max(1, int(lifetime.total_seconds())))
        allowance = await self._limiter.hit((once,), "spent", self._name(token_id))
        return allowance.allowed

    async def lift(self, account: str) -> None:
        """An operator's override: untrusted clients may try ``account`` again at once."""
        await self._limiter.clear(self._lockout, "account", self._name(account))

    async def locked(self, account: str) -> int | None:
        """Seconds until untrusted clients may try ``account`` again, or None if they may."""
        verdict = await self._limiter.check(self._lockout, "account", self._name(account))
        return None if verdict.allowed else verdict.retry_after

    def _counter(self, account: str, attempt: Attempt, epoch: str) -> Counter:
        if attempt.session is not None:  # a signed-in client confirming its password
            return ("session", self._name(attempt.session))
        nonce = self.devices.nonce(attempt.devices, account, epoch)
        return ("device", nonce) if nonce else ("account", self._name(account))

    def _name(self, value: str) -> str:
        """Counters are named by a keyed digest: Redis holds no email, nor anything that can be
        checked against a list of emails."""
        digest = hmac.new(self._names, value.encode(errors="surrogatepass"), hashlib.sha256)
        return digest.hexdigest()[:32]


Counter = tuple[Literal["account", "device", "session"], str]


def regulator_for(
    settings: Settings,
    clock: Clock,
    key: bytes,
    *,
    redis: aioredis.Redis | None,
    metrics: Metrics | None = None,
    local_fallback: bool = True,
) -> Regulator:
    """The regulator RATE_LIMIT_PER_IP, LOCKOUT_ATTEMPTS and LOCKOUT_PERIOD describe, counting
    in ``redis`` when given (every instance together). ``key`` (derived from the signing key)
    signs device tokens and names the counters."""
    return Regulator(
        Limiter(clock, exact=False, redis=redis, local_fallback=local_fallback),
        Limiter(clock, exact=True, redis=redis, local_fallback=local_fallback),
        key,
        clock,
        per_source=parse_limits(settings.rate_limit_per_ip),
        lockout=lockout_limit(settings.lockout_attempts, settings.lockout_period),
        metrics=metrics,
    )


def source_key(address: str) -> str:
    """An IPv4 address, or an IPv6 address's /64 (one subscriber usually holds a whole /64)."""
    ip = ip_address(address)  # IPv4 mapped into IPv6 comes back as IPv4
    if ip is None:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64:  # a NAT64 gateway's address: the IPv4 client is in its last 32 bits
            return str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
