"""Deleting clients, the outbox of events, the revocation snapshot and stats, in SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from gateway_auth.models import (
    CLIENT_KINDS,
    DELETION_TYPE,
    EVENT_TYPES,
    DeletionEvent,
    OutboxEvent,
    QueuedMail,
    RevocationSnapshot,
    event_from_json,
)
from gateway_auth.stores.base import DeletionOutcome, PendingEvent, StoreStats
from gateway_auth.stores.sqlite.database import SqliteDatabase, dt, ms
from gateway_auth.stores.sqlite.guard import keep_an_admin
from gateway_auth.stores.sqlite.sessions import revoke_sessions


class SqliteDeletions(SqliteDatabase):
    """The DeletionStore and RevocationSource protocols."""

    async def delete_client(self, client_id: str, event: DeletionEvent) -> DeletionOutcome:
        """Mark deleted, scrub personal fields, revoke sessions and queue the event, atomically."""
        now = ms(event.occurred_at)
        async with self._transaction() as db:
            await keep_an_admin(db, client_id)
            cursor = await db.execute(
                "UPDATE clients SET deleted_at = ?, updated_at = ?, first_name = NULL,"
                " last_name = NULL, password_hash = NULL, secret_hash = NULL"
                " WHERE id = ? AND deleted_at IS NULL",
                (now, now, client_id),
            )
            if cursor.rowcount == 0:
                async with db.execute(
                    "SELECT id FROM clients WHERE id = ? UNION SELECT id FROM tombstones"
                    " WHERE id = ?",
                    (client_id, client_id),
                ) as found:
                    return "already_deleted" if await found.fetchone() else "unknown"
            async with db.execute(
                "SELECT provider, subject FROM identities WHERE client_id = ?"
                " ORDER BY created_at, provider, subject",
                (client_id,),
            ) as linked:
                identities = tuple((row[0], row[1]) for row in await linked.fetchall())
            event = replace(event, identities=identities)
            await db.execute(
                "INSERT INTO outbox (id, client_id, payload, created_at) VALUES (?, ?, ?, ?)",
                (event.id, client_id, json.dumps(event.to_json()), now),
            )
            await db.execute("DELETE FROM account_tokens WHERE client_id = ?", (client_id,))
            await db.execute("DELETE FROM second_factors WHERE client_id = ?", (client_id,))
            await db.execute("DELETE FROM recovery_codes WHERE client_id = ?", (client_id,))
            await db.execute("DELETE FROM passkeys WHERE client_id = ?", (client_id,))
            await db.execute("DELETE FROM identities WHERE client_id = ?", (client_id,))
            # Its mails are not sent any more: they would carry its address and dead links.
            await db.execute(
                "DELETE FROM outbox WHERE client_id = ? AND json_extract(payload, '$.type') != ?",
                (client_id, DELETION_TYPE),
            )
            await revoke_sessions(db, client_id, now, keep=None)
        return "deleted"

    async def queue_event(self, event: QueuedMail) -> None:
        """Write a mail event to the outbox."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO outbox (id, client_id, payload, created_at) VALUES (?, ?, ?, ?)",
                (event.id, event.client_id, json.dumps(event.to_json()), ms(event.occurred_at)),
            )

    async def pending_events(self, limit: int) -> list[PendingEvent]:
        """Outbox entries not yet published, oldest first."""
        rows = await self._fetch_all(
            "SELECT payload, attempts, created_at FROM outbox ORDER BY created_at, id LIMIT ?",
            (limit,),
        )
        return [pending_from_row(row) for row in rows]

    async def claim_events(
        self, now: datetime, lease_until: datetime, limit: int, types: Sequence[str] = EVENT_TYPES
    ) -> list[PendingEvent]:
        """Lease up to ``limit`` entries of ``types`` that no other relay holds, oldest first."""
        marks = ", ".join("?" * len(types))
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE outbox SET claimed_until = ?, attempts = attempts + 1 WHERE id IN"  # noqa: S608 - marks are only ?
                " (SELECT id FROM outbox WHERE (claimed_until IS NULL OR claimed_until <= ?)"
                f"  AND json_extract(payload, '$.type') IN ({marks})"
                "  ORDER BY created_at, id LIMIT ?)"
                " RETURNING payload, attempts, created_at",
                (ms(lease_until), ms(now), *types, limit),
            )
            rows = list(await cursor.fetchall())
        return sorted(map(pending_from_row, rows), key=lambda p: (p.created_at, p.event.id))

    async def release_events(self, event_ids: list[str]) -> None:
        """End the leases on these entries, so the next attempt need not wait for them."""
        if not event_ids:
            return
        marks = ", ".join("?" * len(event_ids))
        async with self._transaction() as db:
            await db.execute(
                f"UPDATE outbox SET claimed_until = NULL WHERE id IN ({marks})",  # noqa: S608
                event_ids,
            )

    async def complete_event(self, event: OutboxEvent, now: datetime) -> None:
        """Drop the entry; for a deletion, purge the client (sessions cascade) and keep a
        tombstone."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM outbox WHERE id = ?", (event.id,))
            if not isinstance(event, DeletionEvent):
                return
            async with db.execute(
                "SELECT deleted_at FROM clients WHERE id = ? AND deleted_at IS NOT NULL",
                (event.client_id,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return  # already purged (a relay that lost its lease published it too)
            await db.execute(
                "INSERT OR IGNORE INTO tombstones (id, deleted_at) VALUES (?, ?)",
                (event.client_id, row["deleted_at"]),
            )
            await db.execute("DELETE FROM clients WHERE id = ?", (event.client_id,))

    async def stats(self, now: datetime) -> StoreStats:
        """Counts for the admin dashboard, from the indexes."""
        kinds = await self._fetch_all(
            "SELECT kind, COUNT(*) AS n FROM clients WHERE deleted_at IS NULL GROUP BY kind"
        )
        counted = {row["kind"]: row["n"] for row in kinds}
        row = await self._fetch_one(
            "SELECT (SELECT COUNT(*) FROM clients WHERE suspended = 1 AND deleted_at IS NULL),"
            " (SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?"
            "  AND absolute_expires_at > ?),"
            " (SELECT COUNT(*) FROM outbox)",
            (ms(now), ms(now)),
        )
        suspended, sessions, backlog = tuple(row) if row else (0, 0, 0)
        return StoreStats(
            clients_by_kind={kind: counted.get(kind, 0) for kind in CLIENT_KINDS},
            suspended=suspended,
            active_sessions=sessions,
            outbox_backlog=backlog,
        )

    async def revocation_snapshot(self, since: datetime) -> RevocationSnapshot:
        """Suspended clients; sessions revoked and clients deleted since ``since``."""
        cutoff = (ms(since),)
        suspended = await self._fetch_all(
            "SELECT id FROM clients WHERE suspended = 1 AND deleted_at IS NULL"
        )
        sessions = await self._fetch_all(
            "SELECT id, revoked_at AS at FROM sessions WHERE revoked_at >= ?", cutoff
        )
        deleted = await self._fetch_all(
            "SELECT id, deleted_at AS at FROM clients WHERE deleted_at >= ?"
            " UNION ALL SELECT id, deleted_at AS at FROM tombstones WHERE deleted_at >= ?",
            cutoff * 2,
        )
        return RevocationSnapshot(
            suspended_clients=frozenset(row["id"] for row in suspended),
            revoked_sessions=tuple((row["id"], dt(row["at"])) for row in sessions),
            deleted_clients=tuple((row["id"], dt(row["at"])) for row in deleted),
        )


def pending_from_row(row: sqlite3.Row) -> PendingEvent:
    event = event_from_json(json.loads(row["payload"]))
    return PendingEvent(event, row["attempts"], dt(row["created_at"]))
