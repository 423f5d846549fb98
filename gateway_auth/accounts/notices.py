"""Security notices: a mail event telling a person that something changed on their account
(a second factor added or removed, a recovery code used or replaced, the password changed or
reset, the address changed), in case it was not them.

Queued in the outbox like every mail, so a notice is published at least once; a notice that
cannot be queued never undoes the change it reports (it is logged instead).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from gateway_auth.clock import Clock
from gateway_auth.errors import StoreUnavailable
from gateway_auth.logging import log_event
from gateway_auth.models import Client, NoticeEvent, NoticeReason
from gateway_auth.stores.base import DeletionStore
from gateway_auth.tokens import display_name

log = logging.getLogger(__name__)


class Notices:
    """Queues ``security-notice`` events for users (guests and services have no mailbox)."""

    def __init__(
        self, *, outbox: DeletionStore, clock: Clock, outbox_written: Callable[[], None]
    ) -> None:
        self._outbox = outbox
        self._clock = clock
        self._outbox_written = outbox_written  # wakes the relay: the notice goes out at once

    async def send(
        self,
        client: Client,
        reason: NoticeReason,
        *,
        email: str | None = None,
        locale: str | None = None,
    ) -> None:
        """Tell ``client`` (at ``email``, its address by default) that ``reason`` happened."""
        if client.kind != "user":
            return
        event = NoticeEvent(
            id=uuid.uuid4().hex,
            client_id=client.id,
            email=email or client.email,
            name=display_name(client),
            reason=reason,
            locale=locale,
            occurred_at=self._clock(),
        )
        try:
            await self._outbox.queue_event(event)
        except StoreUnavailable:
            log_event(
                log, "notice_not_queued", level=logging.WARNING, client_id=client.id, reason=reason
            )
            return
        self._outbox_written()
        log_event(log, "security_notice_queued", client_id=client.id, reason=reason)
