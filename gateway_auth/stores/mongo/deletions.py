"""Deleting clients, the outbox of events, the revocation snapshot and stats, in MongoDB.

Without transactions the writes of one deletion are ordered so that a crash between any two of
them is finished, not lost or doubled:

1. the outbox entry is inserted first; a unique index on its ``client_id`` means a client gets
   one event however often (or however concurrently) deletion is retried;
2. the client is marked deleted and scrubbed (conditionally: one caller wins);
3. its sessions are revoked.

A crash after 1 leaves an entry whose publication purges the client anyway; a retried delete
repeats 2 and 3. Completing an event purges the client first and marks the entry delivered last,
so a crash in between only publishes the event once more (delivery is at least once).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from gateway_auth.models import (
    CLIENT_KINDS,
    DELETION_TYPE,
    EVENT_TYPES,
    DeletionEvent,
    MailEvent,
    OutboxEvent,
    QueuedMail,
    RevocationSnapshot,
    event_from_json,
)
from gateway_auth.stores.base import DeletionOutcome, PendingEvent, StoreStats
from gateway_auth.stores.mongo.clients import live
from gateway_auth.stores.mongo.database import Doc, loaded, stored, translated
from gateway_auth.stores.mongo.guard import admins_kept
from gateway_auth.stores.mongo.sessions import MongoSessions, active
from gateway_auth.stores.mongo.tokens import TOKEN_PURPOSES, mail_slot

_OLDEST_FIRST = [("created_at", ASCENDING), ("_id", ASCENDING)]
_UNDELIVERED: Doc = {"delivered_at": None}


class MongoDeletions(MongoSessions):
    """The DeletionStore and RevocationSource protocols."""

    async def delete_client(self, client_id: str, event: DeletionEvent) -> DeletionOutcome:
        """Queue the event, then mark deleted and scrub, then revoke sessions (see above)."""
        now = stored(event.occurred_at)
        async with (
            translated(),
            admins_kept(self._guards, self._clients, client_id, event.occurred_at),
        ):
            client = await self._clients.find_one({"_id": {"$eq": client_id}}, {"deleted_at": 1})
            if client is None:
                tombstone = await self._tombstones.find_one({"_id": {"$eq": client_id}})
                return "already_deleted" if tombstone else "unknown"
            if client.get("deleted_at") is not None:
                return "already_deleted"
            linked = self._identities.find({"client_id": {"$eq": client_id}})
            docs = await linked.sort([("created_at", 1), ("_id", 1)]).to_list(None)
            event = replace(event, identities=tuple((d["provider"], d["subject"]) for d in docs))
            with contextlib.suppress(DuplicateKeyError):  # queued by an earlier attempt
                await self._outbox.insert_one(outbox_doc(PendingEvent(event, 0, now)))
            result = await self._clients.update_one(
                live(client_id),
                {
                    "$set": {
                        "deleted_at": now,
                        "updated_at": now,
                        "first_name": None,
                        "last_name": None,
                        "password_hash": None,
                        "secret_hash": None,
                    }
                },
            )
        await self._revoke_sessions(client_id, now, keep=None)
        async with translated():
            await self._tokens.delete_many({"client_id": {"$eq": client_id}})
            await self._factors.delete_one({"_id": {"$eq": client_id}})
            await self._passkeys.delete_many({"client_id": {"$eq": client_id}})
            await self._identities.delete_many({"client_id": {"$eq": client_id}})
            slots = [mail_slot(client_id, purpose) for purpose in TOKEN_PURPOSES]
            await self._guards.delete_many({"_id": {"$in": slots}})
            # Its mails are not sent any more: they would carry its address and dead links.
            await self._outbox.delete_many(
                {"client_id": {"$eq": client_id}, "payload.type": {"$ne": DELETION_TYPE}}
            )
        return "deleted" if result.modified_count else "already_deleted"

    async def queue_event(self, event: QueuedMail) -> None:
        """Write a mail event to the outbox."""
        async with translated():
            await self._outbox.insert_one(outbox_doc(PendingEvent(event, 0, event.occurred_at)))

    async def pending_events(self, limit: int) -> list[PendingEvent]:
        """Outbox entries not yet published, oldest first."""
        async with translated():
            cursor = self._outbox.find(_UNDELIVERED).sort(_OLDEST_FIRST).limit(limit)
            docs = await cursor.to_list(None)
        return [pending_from(doc) for doc in docs]

    async def claim_events(
        self, now: datetime, lease_until: datetime, limit: int, types: Sequence[str] = EVENT_TYPES
    ) -> list[PendingEvent]:
        """Lease up to ``limit`` entries of ``types`` that no other relay holds, oldest first,
        each with one atomic conditional update, so two relays never hold the same entry."""
        free = {
            **_UNDELIVERED,
            "payload.type": {"$in": [str(kind) for kind in types]},
            "$or": [{"claimed_until": None}, {"claimed_until": {"$lte": now}}],
        }
        claimed: list[PendingEvent] = []
        async with translated():
            for _ in range(limit):
                doc = await self._outbox.find_one_and_update(
                    {**free, "_id": {"$nin": [p.event.id for p in claimed]}},
                    {"$set": {"claimed_until": stored(lease_until)}, "$inc": {"attempts": 1}},
                    sort=_OLDEST_FIRST,
                    return_document=ReturnDocument.AFTER,
                )
                if doc is None:
                    break
                claimed.append(pending_from(doc))
        return claimed

    async def release_events(self, event_ids: list[str]) -> None:
        """End the leases on these entries, so the next attempt need not wait for them."""
        if not event_ids:
            return
        async with translated():
            await self._outbox.update_many(
                {"_id": {"$in": [str(event_id) for event_id in event_ids]}},
                {"$set": {"claimed_until": None}},
            )

    async def complete_event(self, event: OutboxEvent, now: datetime) -> None:
        """For a deletion: tombstone, purge the client and its sessions. Then mark the entry
        delivered (kept a week for inspection, then dropped by the TTL index)."""
        async with translated():
            client = None
            if isinstance(event, DeletionEvent):
                client = await self._clients.find_one({"_id": {"$eq": event.client_id}})
            if client is not None:
                deleted_at = client.get("deleted_at") or stored(event.occurred_at)
                await self._tombstones.update_one(
                    {"_id": {"$eq": event.client_id}},
                    {"$setOnInsert": {"deleted_at": deleted_at}},
                    upsert=True,
                )
                await self._sessions.delete_many({"client_id": {"$eq": event.client_id}})
                await self._clients.delete_one({"_id": {"$eq": event.client_id}})
            delivered: Doc = {"delivered_at": stored(now), "claimed_until": None}
            if isinstance(event, MailEvent):
                delivered["payload.link"] = ""  # its token is the mailer's now, not ours to keep
            await self._outbox.update_one({"_id": {"$eq": event.id}}, {"$set": delivered})

    async def stats(self, now: datetime) -> StoreStats:
        """Counts for the admin dashboard, from the indexes."""
        async with translated():
            counted = {
                kind: await self._clients.count_documents({"kind": kind, "deleted_at": None})
                for kind in CLIENT_KINDS
            }
            suspended = await self._clients.count_documents({"suspended": True, "deleted_at": None})
            sessions = await self._sessions.count_documents(active(now))
            backlog = await self._outbox.count_documents(_UNDELIVERED)
        return StoreStats(
            clients_by_kind=counted,
            suspended=suspended,
            active_sessions=sessions,
            outbox_backlog=backlog,
        )

    async def revocation_snapshot(self, since: datetime) -> RevocationSnapshot:
        """Suspended clients; sessions revoked and clients deleted since ``since``."""
        cutoff = {"$gte": stored(since)}
        async with translated():
            suspended = await self._clients.find(
                {"suspended": True, "deleted_at": None}, {"_id": 1}
            ).to_list(None)
            sessions = await self._sessions.find({"revoked_at": cutoff}, {"revoked_at": 1}).to_list(
                None
            )
            deleted = await self._clients.find({"deleted_at": cutoff}, {"deleted_at": 1}).to_list(
                None
            )
            deleted += await self._tombstones.find({"deleted_at": cutoff}).to_list(None)
        return RevocationSnapshot(
            suspended_clients=frozenset(doc["_id"] for doc in suspended),
            revoked_sessions=tuple((doc["_id"], loaded(doc["revoked_at"])) for doc in sessions),
            deleted_clients=tuple((doc["_id"], loaded(doc["deleted_at"])) for doc in deleted),
        )


def outbox_doc(pending: PendingEvent) -> Doc:
    """The stored form of an outbox entry; ``_id`` is the event id."""
    event = pending.event
    return {
        "_id": event.id,
        "client_id": event.client_id,
        "payload": event.to_json(),
        "attempts": pending.attempts,
        "created_at": stored(pending.created_at),
        "claimed_until": None,
        "delivered_at": None,
    }


def pending_from(doc: Doc) -> PendingEvent:
    """The PendingEvent a stored outbox document describes."""
    event = event_from_json(doc["payload"])
    return PendingEvent(event, doc["attempts"], loaded(doc["created_at"]))
