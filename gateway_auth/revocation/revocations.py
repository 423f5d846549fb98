"""Suspension and revocation: saved in the store, applied to the mirror, shared everywhere.

``Revocations`` is what logout, password change, deletion, the CLI and the admin API call;
``sync.MirrorSync`` carries each change to the other instances' mirrors.
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway_auth.clock import Clock
from gateway_auth.errors import StoreUnavailable
from gateway_auth.logging import log_event
from gateway_auth.models import Client, Delta
from gateway_auth.revocation.mirror import RevocationMirror
from gateway_auth.stores.base import (
    ClientStore,
    RevocationBus,
    SessionStore,
    Suspension,
)
from gateway_auth.validation import check, clean_name, reason_problem

log = logging.getLogger(__name__)


class Revocations:
    """The operations that take a client's or a session's access away (or give it back)."""

    def __init__(
        self,
        *,
        clients: ClientStore,
        sessions: SessionStore,
        mirror: RevocationMirror,
        bus: RevocationBus | None,
        clock: Clock,
        require_broadcast: bool = False,
    ) -> None:
        self.mirror = mirror
        self._clients = clients
        self._sessions = sessions
        self._bus = bus
        self._clock = clock
        # A server keeps going when Redis is down (the store has the change, and every instance
        # rebuilds from it on reconnect); the CLI must say that the change was not broadcast.
        self._require_broadcast = require_broadcast

    async def suspend_client(self, client_id: str, reason: str | None = None) -> Client | None:
        """Suspend a client everywhere; None if there is no such client. Idempotent."""
        check({"reason": reason_problem(reason)})
        client = await self._clients.set_suspended(
            client_id, Suspension(True, self._clock(), clean_name(reason))
        )
        if client is not None:
            await self._share(Delta("suspend", client_id=client_id))
            log_event(log, "client_suspended", client_id=client_id)
        return client

    async def unsuspend_client(self, client_id: str) -> Client | None:
        """Lift a suspension everywhere; None if there is no such client. Idempotent."""
        client = await self._clients.set_suspended(client_id, Suspension(False, self._clock()))
        if client is not None:
            await self._share(Delta("unsuspend", client_id=client_id))
            log_event(log, "client_unsuspended", client_id=client_id)
        return client

    async def revoke_session(self, session_id: str) -> bool:
        """End one session, and its family on the other domains, everywhere; False if it
        does not exist."""
        now = self._clock()
        found = await self._sessions.revoke_session(session_id, now)
        if found:
            family = await self._sessions.revoke_family(session_id, now)
            ended = dict.fromkeys((session_id, *family))
            await self._share(self.mirror.revocation([f"session:{s}" for s in ended], now))
        return found

    async def revoke_client_sessions(self, client_id: str, *, keep: str | None = None) -> list[str]:
        """End every session of a client except ``keep``, everywhere; the ids ended."""
        now = self._clock()
        revoked = await self._sessions.revoke_client_sessions(client_id, now, keep=keep)
        if revoked:
            await self._share(self.mirror.revocation([f"session:{s}" for s in revoked], now))
        return revoked

    async def revoke_client(self, client_id: str, at: datetime) -> None:
        """Refuse every token of a client deleted at ``at``, everywhere."""
        await self._share(self.mirror.revocation([f"client:{client_id}"], at))

    async def _share(self, delta: Delta) -> None:
        self.mirror.apply(delta)
        if self._bus is None:
            return
        try:
            await self._bus.publish(delta)
        except StoreUnavailable:
            log_event(log, "revocation_not_broadcast", level=logging.WARNING, op=delta.op)
            if self._require_broadcast:
                raise StoreUnavailable(
                    "The change is saved in the store, but Redis could not be told; running "
                    "servers apply it when they reconnect. Repeat the command to broadcast it."
                ) from None
