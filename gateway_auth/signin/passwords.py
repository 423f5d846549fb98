"""Password hashing: HMAC pre-hash into bcrypt, run off the event loop in a bounded pool.

No one source may hold more than a quarter of the pool's places (running or queued), so one
address sending logins as fast as it can leaves room for everyone else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bcrypt

from gateway_auth.config.settings import Settings
from gateway_auth.errors import ServiceBusy, TooManyAttempts
from gateway_auth.models import Client
from gateway_auth.validation import normalise_password

# Used when PASSWORD_PEPPER is unset. Changing it would invalidate every stored password.
BUILTIN_PEPPER = b"gateway-auth/password-prehash/v1"
QUEUE_PER_WORKER = 8  # at cost 12 (~250 ms) a full queue is about two seconds of waiting
T = TypeVar("T")


def default_workers() -> int:
    """One fewer than the usable cores, so hashing never starves the event loop's core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


HASHING_NICENESS = 10


def _yield_to_the_event_loop() -> None:
    """Hashing threads run at a lower priority than the event loop's thread (Linux lets one
    thread be niced): when cores are short, ``/verify`` answers first and logins wait a
    little, instead of every gateway's request waiting for a bcrypt round."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class PasswordHasher:
    """Hashes and verifies passwords; refuses work at once when its queue is full."""

    def __init__(
        self,
        *,
        rounds: int,
        pepper: bytes | None = None,
        workers: int | None = None,
        queue_per_worker: int = QUEUE_PER_WORKER,
    ) -> None:
        self.rounds = rounds
        self._pepper = pepper or BUILTIN_PEPPER
        self.workers = workers or default_workers()
        self.capacity = self.workers * (1 + queue_per_worker)
        self.share = max(1, self.capacity // 4)  # places one source may hold at once
        self._by_source: dict[str, int] = {}
        self._executor = ThreadPoolExecutor(
            self.workers, thread_name_prefix="bcrypt", initializer=_yield_to_the_event_loop
        )
        self._in_flight = 0
        self._dummy_hash: bytes | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, workers: int | None = None) -> PasswordHasher:
        """The hasher BCRYPT_ROUNDS and PASSWORD_PEPPER describe."""
        pepper = settings.password_pepper
        return cls(
            rounds=settings.bcrypt_rounds,
            pepper=pepper.reveal().encode() if pepper else None,
            workers=workers,
        )

    @property
    def in_flight(self) -> int:
        """Hashes running or queued right now."""
        return self._in_flight

    async def start(self) -> None:
        """Prepare the dummy hash that unknown emails are checked against."""
        self._dummy_hash = await self._run("", self._hash_sync, secrets.token_urlsafe(32))

    def close(self) -> None:
        """Finish running hashes and drop queued ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def hash(self, password: str, *, source: str = "") -> str:
        """A bcrypt hash of the pre-hashed password; ``source`` names who asked (no share
        applies to an empty one: an operator's command)."""
        return (await self._run(source, self._hash_sync, password)).decode()

    async def verify(self, password: str, stored_hash: str | None, *, source: str = "") -> bool:
        """Check a password; with no stored hash, spend the same time on the dummy and fail."""
        if self._dummy_hash is None:
            raise RuntimeError("PasswordHasher.start() was not awaited")
        candidate = stored_hash.encode() if stored_hash else self._dummy_hash
        matches = await self._run(source, self._check_sync, password, candidate)
        return matches and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with another cost than the configured one."""
        parts = stored_hash.split("$")
        return len(parts) < 3 or parts[2] != f"{self.rounds:02d}"

    def prehash(self, password: str) -> bytes:
        """base64(HMAC-SHA256(pepper, NFKC(password))): 44 bytes, so bcrypt never truncates."""
        digest = hmac.new(self._pepper, normalise_password(password).encode(), hashlib.sha256)
        return base64.b64encode(digest.digest())

    def _hash_sync(self, password: str) -> bytes:
        return bcrypt.hashpw(self.prehash(password), bcrypt.gensalt(self.rounds))

    def _check_sync(self, password: str, candidate: bytes) -> bool:
        try:
            return bcrypt.checkpw(self.prehash(password), candidate)
        except ValueError:  # a corrupt stored hash must fail closed, not crash the request
            return False

    async def _run(self, source: str, fn: Callable[..., T], *args: object) -> T:
        if self._in_flight >= self.capacity:
            raise ServiceBusy(retry_after=1)
        if source and self._by_source.get(source, 0) >= self.share:
            raise TooManyAttempts(retry_after=1, by="source")
        self._in_flight += 1
        if source:
            self._by_source[source] = self._by_source.get(source, 0) + 1
        loop = asyncio.get_running_loop()
        future = self._executor.submit(fn, *args)
        # Released when the thread finishes, not when the caller stops waiting, so a cancelled
        # request cannot make the pool look emptier than it is.
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release, source))
        return await asyncio.wrap_future(future)

    def _release(self, source: str) -> None:
        self._in_flight -= 1
        if source:
            held = self._by_source.pop(source) - 1
            if held:
                self._by_source[source] = held


def login_refusal(client: Client | None, password_ok: bool) -> str | None:
    """Why a login is refused (for the log only), or None."""
    if client is None:
        return "unknown_email"
    if not password_ok:
        return "bad_password"
    if client.suspended:
        return "suspended"
    return None
