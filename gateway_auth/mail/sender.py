"""The built-in mail sender: the outbox's mail events, mailed by gateway-auth itself, at least
once, with the words and headers ``examples/mailer.py`` uses.

Each entry is leased while it is sent (instances sharing a store rarely send one twice) and
dropped from the outbox only once the server has taken the mail. A server that cannot be
reached costs nothing: the entries go back, and the sender waits (doubling, up to a minute). A
4xx answer keeps the entry leased, so it is tried again five minutes later, behind the mails that
could go; a 5xx answer drops it, as does a link that lapsed before it could be sent (a dead
link is no use to anyone). Each outcome is logged and counted (``gateway_auth_mails``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from gateway_auth.clock import Clock
from gateway_auth.errors import StoreUnavailable
from gateway_auth.logging import log_event, mask_email
from gateway_auth.mail.message import message
from gateway_auth.mail.transports import Refused, Transport, Unavailable, masked
from gateway_auth.metrics import Metrics
from gateway_auth.models import MAIL_TYPES, MailEvent, NoticeEvent, OutboxEvent
from gateway_auth.outbox import keep_draining
from gateway_auth.stores.base import DeletionStore, PendingEvent

log = logging.getLogger(__name__)
BATCH = 1  # claimed one at a time: a slow server never outlasts the lease of a mail waiting
LEASE = timedelta(minutes=5)  # a mail's send, or a deferred (4xx) mail's wait before a retry
NOTICE_KEPT = timedelta(days=7)  # a notice the server never took is dropped after this


class MailSender:
    """Mails pending mail events; ``wake`` after one is written sends it at once."""

    def __init__(
        self,
        outbox: DeletionStore,
        transport: Transport,
        sender: str,
        clock: Clock,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._outbox = outbox
        self._transport = transport
        self._sender = sender
        self._clock = clock
        self._metrics = metrics or Metrics()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A mail event was just written to the outbox."""
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled, waiting longer each time the server or the store is away."""
        failures = (Unavailable, StoreUnavailable)
        await keep_draining(self.send_pending, self._wake, failures, "mail_unavailable", most=60)

    async def send_pending(self) -> int:
        """Send every mail due now; how many went. Unavailable (the server) and
        StoreUnavailable stop it, with the entries not yet sent given back."""
        sent = 0
        while True:
            now = self._clock()
            claimed = await self._outbox.claim_events(now, now + LEASE, BATCH, MAIL_TYPES)
            if not claimed:
                return sent
            for index, pending in enumerate(claimed):
                try:
                    sent += await self._send(pending)
                except Unavailable:
                    self._metrics.mails.labels("deferred").inc()
                    with contextlib.suppress(StoreUnavailable):  # else the leases run out
                        await self._outbox.release_events([p.event.id for p in claimed[index:]])
                    raise

    async def _send(self, pending: PendingEvent) -> int:
        """Mail one entry (1), or leave it leased for later or drop it (0)."""
        event = pending.event
        fields = _fields(pending)
        if _lapsed(event, self._clock()):
            self._metrics.mails.labels("expired").inc()
            log_event(log, "mail_expired", level=logging.WARNING, **fields)
            await self._outbox.complete_event(event, self._clock())
            return 0
        try:
            await self._transport.deliver(message(event.to_json(), self._sender), event.id)
        except Refused as exc:
            words = masked(exc.words)  # servers repeat the address in their answer
            if not exc.permanent:  # stays leased: tried again after LEASE
                self._metrics.mails.labels("deferred").inc()
                log_event(log, "mail_deferred", code=exc.code, reason=words, **fields)
                return 0
            self._metrics.mails.labels("refused").inc()
            log_event(
                log, "mail_refused", level=logging.WARNING, code=exc.code, reason=words, **fields
            )
            await self._outbox.complete_event(event, self._clock())
            return 0
        except Unavailable:
            raise
        except Exception:  # noqa: BLE001 - this one mail's fault: the others go on
            self._metrics.mails.labels("deferred").inc()
            log_event(log, "mail_failed", level=logging.ERROR, exc_info=True, **fields)
            return 0  # stays leased: tried again after LEASE, until it lapses
        await self._outbox.complete_event(event, self._clock())
        self._metrics.mails.labels("sent").inc()
        log_event(log, "mail_sent", **fields)
        return 1


def _fields(pending: PendingEvent) -> dict[str, Any]:
    """What every line about one mail says (the address masked)."""
    event = pending.event
    to = event.email if isinstance(event, MailEvent | NoticeEvent) else ""
    kind = event.to_json()["type"]
    return {"event_id": event.id, "type": kind, "to": mask_email(to), "attempts": pending.attempts}


def _lapsed(event: OutboxEvent, now: datetime) -> bool:
    """A link past its expiry, or a notice older than a week."""
    if isinstance(event, MailEvent):
        return event.expires_at <= now
    return event.occurred_at + NOTICE_KEPT <= now
