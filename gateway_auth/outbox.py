"""The outbox relay: events from the store's outbox to Redis, at least once (mail events
too, unless gateway-auth mails them itself: ``mail.sender``).

A deletion writes its event to the outbox in the same step as the deletion itself; this relay
publishes it and only then removes it (purging the client for good). A failed publication is
retried with capped exponential backoff, and on start-up the relay finishes what a crash left.
Entries are leased while being published, so instances sharing a store rarely send one twice;
consumers deduplicate on the event id all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from gateway_auth.clock import Clock
from gateway_auth.errors import StoreUnavailable
from gateway_auth.logging import log_event
from gateway_auth.metrics import Metrics
from gateway_auth.models import EVENT_TYPES
from gateway_auth.stores.base import DeletionStore, EventSink

log = logging.getLogger(__name__)
BATCH = 100
LEASE = timedelta(seconds=10)
POLL_EVERY = 1.0  # picks up deletions made by the CLI or another instance
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0


class OutboxRelay:
    """Publishes pending deletion events; ``wake`` after a deletion sends it at once."""

    def __init__(
        self,
        outbox: DeletionStore,
        sink: EventSink | None,
        clock: Clock,
        *,
        metrics: Metrics | None = None,
        types: Sequence[str] = EVENT_TYPES,
    ) -> None:
        self._outbox = outbox
        self._sink = sink
        self._types = types
        self._clock = clock
        self._metrics = metrics or Metrics()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A deletion was just written to the outbox."""
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled. Without a sink (no Redis) events wait in the outbox."""
        if self._sink is None:
            return
        await keep_draining(
            self.publish_pending, self._wake, (StoreUnavailable,), "events_not_published"
        )

    async def publish_pending(self) -> int:
        """Publish everything pending now; how many were published. StoreUnavailable stops it."""
        if self._sink is None:
            return 0
        published = 0
        while await self._outbox.pending_events(1):
            now = self._clock()
            claimed = await self._outbox.claim_events(now, now + LEASE, BATCH, self._types)
            if not claimed:
                break  # the rest is leased by another relay
            for index, pending in enumerate(claimed):
                try:
                    await self._sink.publish(pending.event)
                except StoreUnavailable:
                    self._metrics.events_failed.inc()
                    await self._release([p.event.id for p in claimed[index:]])
                    raise
                self._metrics.events_published.inc()
                await self._outbox.complete_event(pending.event, self._clock())
                published += 1
                log_event(
                    log,
                    "event_published",
                    event_id=pending.event.id,
                    client_id=pending.event.client_id,
                    attempts=pending.attempts,
                )
        return published

    async def _release(self, event_ids: list[str]) -> None:
        with contextlib.suppress(StoreUnavailable):  # else the leases run out by themselves
            await self._outbox.release_events(event_ids)


async def keep_draining(
    drain: Callable[[], Awaitable[object]],
    wake: asyncio.Event,
    failures: tuple[type[Exception], ...],
    event: str,
    *,
    most: float = BACKOFF_MAX,
) -> None:
    """Call ``drain`` until cancelled: at once after a ``wake``, else every POLL_EVERY; while
    it fails with one of ``failures``, after a wait that doubles up to ``most`` seconds (a
    wake-up does not cut it short), each failure logged as ``event``."""
    delay = 0.0
    while True:
        wake.clear()
        try:
            await drain()
            delay = 0.0
        except failures as exc:
            delay = min(max(delay * 2, BACKOFF_MIN), most)
            log_event(log, event, level=logging.WARNING, reason=str(exc), retry_in=delay)
        except Exception:  # noqa: BLE001 - a fault must not end the loop until a restart
            delay = min(max(delay * 2, BACKOFF_MIN), most)
            log_event(log, "drain_failed", level=logging.ERROR, exc_info=True, task=event)
        if delay:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_EVERY):
                    await wake.wait()
