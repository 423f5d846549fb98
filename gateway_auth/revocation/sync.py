"""Keeping every instance's revocation mirror in step.

``MirrorSync`` follows the others: embedded, by re-reading the store every second; with Redis,
by applying published deltas as they arrive and re-reading the store every few seconds and after
every reconnect. A mirror that cannot sync keeps serving until ``MAX_STALENESS``, after which
``/verify`` fails closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

from gateway_auth.clock import Clock
from gateway_auth.errors import StoreUnavailable
from gateway_auth.logging import log_event
from gateway_auth.models import Delta, MirrorState
from gateway_auth.revocation.mirror import RevocationMirror
from gateway_auth.stores.base import RevocationBus, RevocationSource

log = logging.getLogger(__name__)
EMBEDDED_RESYNC_EVERY = 1.0
BUS_RESYNC_EVERY = 5.0
RECONNECT_MIN, RECONNECT_MAX = 0.1, 2.0


class MirrorSync:
    """Keeps one instance's mirror in step with the store (embedded) or with Redis."""

    def __init__(
        self,
        mirror: RevocationMirror,
        *,
        source: RevocationSource,
        bus: RevocationBus | None,
        clock: Clock,
    ) -> None:
        self._mirror = mirror
        self._source = source
        self._bus = bus
        self._clock = clock
        self._resync_now = asyncio.Event()
        self._rebuild = bus is not None  # the Redis copy is rebuilt from the store at start
        self._connected = False
        # Each (re)subscription may have missed deltas: until a store read that began after it
        # succeeds, a quiet channel proves nothing.
        self._subscriptions = 0
        self._caught_up_with = -1
        self._failing = False

    async def health(self, max_staleness: float) -> str:
        """``ok``, ``disconnected`` (Redis lost: serving from the mirror) or ``stale``."""
        age = self._mirror.age(time.monotonic())
        if age is None or age > max_staleness:
            return "stale"
        if self._bus is not None:
            try:
                await self._bus.ping()
            except StoreUnavailable:
                return "disconnected"
            if not self._connected:
                return "disconnected"
        return "ok"

    @property
    def caught_up(self) -> bool:
        """True while subscribed and the store was read since the subscription began."""
        return self._connected and self._caught_up_with == self._subscriptions

    async def resync(self) -> bool:
        """Replace the mirror's state from the source; False (and logged) when it fails."""
        mirror = self._mirror
        subscription = self._subscriptions
        mirror.begin_resync()
        try:
            state = await self._read()
        except StoreUnavailable:
            mirror.abort_resync()
            if not self._failing:
                log_event(log, "revocation_sync_failed", level=logging.WARNING)
            self._failing = True
            return False
        mirror.finish_resync(state, time.monotonic())
        self._caught_up_with = subscription
        if self._failing:
            log_event(log, "revocation_sync_recovered")
        self._failing = False
        return True

    async def run(self) -> None:
        """Sync forever (until cancelled): the periodic resync, and the Redis subscription."""
        if self._bus is None:
            await self._resync_forever(EMBEDDED_RESYNC_EVERY)
            return
        async with asyncio.TaskGroup() as group:
            group.create_task(self._listen())
            group.create_task(self._resync_forever(BUS_RESYNC_EVERY))

    async def _read(self) -> MirrorState:
        """The store's state: the mirror never takes Redis's word for who is let back in.

        Redis only speeds changes along. Its copy can lose a key (eviction, a stray ``DEL``,
        a restart) or be written by anyone who reaches it, and reading "nobody is suspended"
        from it would re-admit every suspended client; so every resync reads the store, and
        Redis's copy is repaired from it when it lacks anything. While the store is down the
        resync fails, and the live channel alone keeps the mirror fresh (nothing can change
        without the store).
        """
        truth = await self._store_state()
        if self._bus is not None:
            with contextlib.suppress(StoreUnavailable):  # Redis down: the store is enough
                await self._repair_shared_copy(truth)
        return truth

    async def _repair_shared_copy(self, truth: MirrorState) -> None:
        assert self._bus is not None  # noqa: S101 - called only with a bus
        now = self._clock().timestamp()
        shared = None if self._rebuild else await self._bus.read_state(now)
        if shared is None or not shared.covers(truth):
            # rebuild() reads the store again, after Redis, so a change racing it is kept.
            await self._bus.rebuild(self._store_state, now)
            self._rebuild = False

    async def _store_state(self) -> MirrorState:
        retention = self._mirror.retention
        since = self._clock() - timedelta(seconds=retention)
        snapshot = await self._source.revocation_snapshot(since)
        return MirrorState.from_snapshot(snapshot, retention)

    async def _resync_forever(self, every: float) -> None:
        while True:
            await self.resync()
            _stop_if_cancelled()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._resync_now.wait()
            self._resync_now.clear()

    async def _listen(self) -> None:
        assert self._bus is not None  # noqa: S101 - run() starts this only with a bus
        delay = RECONNECT_MIN
        while True:
            try:
                async with self._bus.deltas() as deltas:
                    self._connected = True
                    delay = RECONNECT_MIN
                    # Anything missed while disconnected comes from a full read (and Redis's
                    # copy, which may have restarted empty, is checked against the store).
                    self._subscriptions += 1
                    self._rebuild = True
                    self._resync_now.set()
                    await self._apply_all(deltas)
            except StoreUnavailable:
                pass
            _stop_if_cancelled()
            if self._connected:
                log_event(log, "revocation_channel_lost", level=logging.WARNING)
            self._connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _apply_all(self, deltas: AsyncIterator[Delta | None]) -> None:
        mirror = self._mirror
        async for delta in deltas:
            _stop_if_cancelled()  # redis-py's get_message(timeout=) can swallow a cancellation
            if delta is not None and delta.op == "unsuspend":
                # Anyone who reaches Redis can publish; letting someone back in is believed
                # only from the store, read at once.
                self._resync_now.set()
            elif delta is not None:
                mirror.apply(self._bounded(delta))
            # A delta shows the channel is live as well as a quiet second does: with changes
            # arriving more often than once a second there would be no quiet second at all.
            if self.caught_up:  # live and complete: nothing was missed since the resync
                mirror.mark_fresh(time.monotonic())

    def _bounded(self, delta: Delta) -> Delta:
        """A revocation lasts at most as long as a token issued now could (and a minute of
        clock skew): a forged one cannot lock anyone out until the next restart."""
        if delta.op != "revoke":
            return delta
        latest = self._clock().timestamp() + self._mirror.retention + 60
        return replace(delta, until=min(delta.until, latest))


def _stop_if_cancelled() -> None:
    """Re-raise a cancellation that a driver swallowed, so that shutdown never hangs."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
