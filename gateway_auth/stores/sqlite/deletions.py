"""Deleting clients (with the outbox) and the revocation snapshot, in SQLite."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway_auth.mirror import RevocationSnapshot
from gateway_auth.models import DeletionEvent
from gateway_auth.stores.sqlite.database import SqliteDatabase, dt, ms
from gateway_auth.stores.sqlite.sessions import revoke_sessions


class SqliteDeletions(SqliteDatabase):
    """The DeletionStore and RevocationSource protocols."""

    async def delete_client(self, client_id: str, event: DeletionEvent) -> bool:
        """Mark deleted, scrub personal fields, revoke sessions and queue the event, atomically."""
        now = ms(event.occurred_at)
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE clients SET deleted_at = ?, updated_at = ?, first_name = NULL,"
                " last_name = NULL, password_hash = NULL WHERE id = ? AND deleted_at IS NULL",
                (now, now, client_id),
            )
            if cursor.rowcount == 0:
                return False
            await db.execute(
                "INSERT INTO outbox (id, client_id, payload, created_at) VALUES (?, ?, ?, ?)",
                (event.id, client_id, json.dumps(event.to_json()), now),
            )
            await revoke_sessions(db, client_id, now, keep=None)
        return True

    async def pending_events(self, limit: int) -> list[DeletionEvent]:
        """Outbox entries not yet published, oldest first."""
        rows = await self._fetch_all(
            "SELECT payload FROM outbox ORDER BY created_at, id LIMIT ?", (limit,)
        )
        return [_event(json.loads(row["payload"])) for row in rows]

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
            "SELECT id, deleted_at AS at FROM clients WHERE deleted_at >= ?", cutoff
        )
        return RevocationSnapshot(
            suspended_clients=frozenset(row["id"] for row in suspended),
            revoked_sessions=tuple((row["id"], dt(row["at"])) for row in sessions),
            deleted_clients=tuple((row["id"], dt(row["at"])) for row in deleted),
        )


def _event(payload: dict[str, Any]) -> DeletionEvent:
    occurred = datetime.fromisoformat(payload["occurredAt"].replace("Z", "+00:00"))
    return DeletionEvent(payload["id"], payload["clientId"], payload["kind"], occurred)
