"""Accounts at other identity providers in SQLite: one row per (provider, subject)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from gateway_auth.models import LinkedIdentity
from gateway_auth.stores.sqlite.database import SqliteDatabase, dt, ms, optional_dt, optional_ms

# Only for a live client, and only once per (provider, subject): both in one statement.
INSERT_IDENTITY = (
    "INSERT OR IGNORE INTO identities"
    " (provider, subject, client_id, email, created_at, last_used_at)"
    " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS"
    " (SELECT 1 FROM clients WHERE id = ? AND deleted_at IS NULL)"
)


class SqliteIdentities(SqliteDatabase):
    """The IdentityStore protocol."""

    async def link_identity(self, identity: LinkedIdentity) -> bool:
        """One conditional insert."""
        async with self._transaction() as db:
            cursor = await db.execute(INSERT_IDENTITY, identity_row(identity))
            return cursor.rowcount == 1

    async def identity(self, provider: str, subject: str) -> LinkedIdentity | None:
        """By its key."""
        row = await self._fetch_one(
            "SELECT * FROM identities WHERE provider = ? AND subject = ?", (provider, subject)
        )
        return identity_from_row(row) if row else None

    async def identities(self, client_id: str) -> list[LinkedIdentity]:
        """Oldest first."""
        rows = await self._fetch_all(
            "SELECT * FROM identities WHERE client_id = ? ORDER BY created_at, provider, subject",
            (client_id,),
        )
        return [identity_from_row(row) for row in rows]

    async def use_identity(self, provider: str, subject: str, email: str, at: datetime) -> None:
        """One update."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE identities SET email = ?, last_used_at = ? WHERE provider = ?"
                " AND subject = ?",
                (email, ms(at), provider, subject),
            )

    async def unlink_identity(self, client_id: str, provider: str, subject: str) -> bool:
        """Only the client's own."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM identities WHERE client_id = ? AND provider = ? AND subject = ?",
                (client_id, provider, subject),
            )
            return cursor.rowcount == 1


def identity_row(identity: LinkedIdentity) -> tuple[object, ...]:
    """INSERT_IDENTITY's values."""
    return (
        identity.provider,
        identity.subject,
        identity.client_id,
        identity.email,
        ms(identity.created_at),
        optional_ms(identity.last_used_at),
        identity.client_id,
    )


def identity_from_row(row: sqlite3.Row) -> LinkedIdentity:
    """The LinkedIdentity an ``identities`` row describes."""
    return LinkedIdentity(
        provider=row["provider"],
        subject=row["subject"],
        client_id=row["client_id"],
        email=row["email"],
        created_at=dt(row["created_at"]),
        last_used_at=optional_dt(row["last_used_at"]),
    )
