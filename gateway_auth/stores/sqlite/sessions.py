"""Sessions and refresh-token rotation in SQLite."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Literal

import aiosqlite

from gateway_auth.models import Client, Session
from gateway_auth.stores.base import Rotation, RotationResult
from gateway_auth.stores.sqlite.clients import client_from_row
from gateway_auth.stores.sqlite.database import Decoded, SqliteDatabase, dt, ms, optional_dt


class SqliteSessions(SqliteDatabase):
    """The SessionStore protocol."""

    async def add_session(self, session: Session, refresh_hash: str) -> None:
        """Insert a new session."""
        await self._write(
            lambda db: db.execute(
                "INSERT INTO sessions (id, client_id, refresh_hash, created_at, last_used_at,"
                " expires_at, absolute_expires_at, user_agent, ip, revoked_at, persistent, scopes,"
                " amr, provider, provider_sid, family)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)",
                (
                    session.id,
                    session.client_id,
                    refresh_hash,
                    ms(session.created_at),
                    ms(session.last_used_at),
                    ms(session.expires_at),
                    ms(session.absolute_expires_at),
                    session.user_agent,
                    session.ip,
                    int(session.persistent),
                    scopes_text(session.scopes),
                    amr_text(session.amr),
                    session.provider,
                    session.provider_sid,
                    session.family,
                ),
            )
        )

    async def refresh_hash(self, session_id: str) -> str | None:
        """The hash of the session's current refresh token."""
        row = await self._fetch_one("SELECT refresh_hash FROM sessions WHERE id = ?", (session_id,))
        return str(row["refresh_hash"]) if row else None

    async def get_session(self, session_id: str) -> Session | None:
        """A session by id, revoked or not."""
        row = await self._fetch_one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return session_from_row(row) if row else None

    async def session_and_client(self, session_id: str) -> tuple[Session | None, Client | None]:
        """Two reads on the loop (``reader``): microseconds each, no round trip to save."""
        session = await self.get_session(session_id)
        if session is None:
            return None, None
        row = await self._fetch_one(
            "SELECT * FROM clients WHERE id = ? AND deleted_at IS NULL", (session.client_id,)
        )
        return session, client_from_row(row) if row else None

    async def rotate_refresh_token(self, rotation: Rotation) -> RotationResult:
        """Swap the hash only while it is current: the conditional UPDATE decides every race."""
        return await self._write(lambda db: _rotated(db, rotation))

    async def list_sessions(self, client_id: str, now: datetime) -> list[Session]:
        """The client's active sessions, most recently used first."""
        rows = await self._fetch_all(
            "SELECT * FROM sessions WHERE client_id = ? AND revoked_at IS NULL"
            " AND expires_at > ? AND absolute_expires_at > ? ORDER BY last_used_at DESC, id",
            (client_id, ms(now), ms(now)),
        )
        return [session_from_row(row) for row in rows]

    async def provider_sessions(
        self, provider: str, *, provider_sid: str | None, client_id: str | None
    ) -> list[str]:
        """By the provider's index."""
        if provider_sid is None and client_id is None:
            return []
        sql = "SELECT id FROM sessions WHERE provider = ? AND revoked_at IS NULL"
        params: list[object] = [provider]
        if provider_sid is not None:
            sql += " AND provider_sid = ?"
            params.append(provider_sid)
        if client_id is not None:
            sql += " AND client_id = ?"
            params.append(client_id)
        return [row["id"] for row in await self._fetch_all(sql, params)]

    async def revoke_session(self, session_id: str, now: datetime) -> bool:
        """Mark one session revoked (idempotent); False if it does not exist."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (ms(now), session_id),
            )
            async with db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)) as cursor:
                return await cursor.fetchone() is not None

    async def revoke_family(self, session_id: str, now: datetime) -> list[str]:
        """Revoke the active sessions of ``session_id``'s family; the ids this call revoked."""
        async with (
            self._transaction() as db,
            db.execute(
                "WITH root AS (SELECT COALESCE(family, id) AS id FROM sessions WHERE id = ?)"
                " UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL"
                " AND (id = (SELECT id FROM root) OR family = (SELECT id FROM root))"
                " RETURNING id",
                (session_id, ms(now)),
            ) as cursor,
        ):
            return [row["id"] for row in await cursor.fetchall()]

    async def elevate_session(
        self, session_id: str, until: datetime, now: datetime
    ) -> Session | None:
        """Put the elevated scopes in force until ``until``; None for a revoked or unknown one."""
        return await self._set_on_active("elevated_until", ms(until), session_id, now)

    async def prove_session(
        self, session_id: str, amr: tuple[str, ...], now: datetime
    ) -> Session | None:
        """Set the amr of an active session; None for a revoked or unknown one."""
        return await self._set_on_active("amr", amr_text(amr), session_id, now)

    async def _set_on_active(
        self,
        column: Literal["elevated_until", "amr"],
        value: object,
        session_id: str,
        now: datetime,
    ) -> Session | None:
        """One column of an active session, in one conditional write; the session after."""
        sql = (
            "UPDATE sessions SET elevated_until = ? WHERE id = ? AND revoked_at IS NULL"
            " AND expires_at > ? AND absolute_expires_at > ? RETURNING *"
            if column == "elevated_until"
            else "UPDATE sessions SET amr = ? WHERE id = ? AND revoked_at IS NULL"
            " AND expires_at > ? AND absolute_expires_at > ? RETURNING *"
        )
        async with (
            self._transaction() as db,
            db.execute(sql, (value, session_id, ms(now), ms(now))) as cursor,
        ):
            row = await cursor.fetchone()
        return session_from_row(row) if row else None

    async def revoke_client_sessions(
        self, client_id: str, now: datetime, *, keep: str | None = None
    ) -> list[str]:
        """Revoke the client's active sessions except ``keep``; the ids revoked."""
        async with self._transaction() as db:
            return await revoke_sessions(db, client_id, ms(now), keep)

    async def prune_sessions(self, before: datetime) -> int:
        """Delete sessions that expired or were revoked before ``before``."""
        cutoff = ms(before)
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM sessions WHERE expires_at < ? OR absolute_expires_at < ?"
                " OR revoked_at < ?",
                (cutoff, cutoff, cutoff),
            )
            return cursor.rowcount


async def revoke_sessions(
    db: aiosqlite.Connection, client_id: str, now: int, keep: str | None
) -> list[str]:
    async with db.execute(
        "UPDATE sessions SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL"
        " AND id IS NOT ? RETURNING id",
        (now, client_id, keep),
    ) as cursor:
        return [row["id"] for row in await cursor.fetchall()]


def _rotated(db: sqlite3.Connection, rotation: Rotation) -> RotationResult:
    """The rotation, on the writer's thread (``SqliteDatabase._write``)."""
    now = ms(rotation.now)
    row = db.execute(
        "UPDATE sessions SET refresh_hash = ?, last_used_at = ?, expires_at = ?"
        " WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL"
        " AND expires_at > ? AND absolute_expires_at > ? RETURNING *",
        (
            rotation.new_hash,
            now,
            ms(rotation.expires_at),
            rotation.session_id,
            rotation.presented_hash,
            now,
            now,
        ),
    ).fetchone()
    if row is not None:
        db.execute(
            "INSERT OR IGNORE INTO rotated_refresh_tokens (hash, session_id, rotated_at)"
            " VALUES (?, ?, ?)",
            (rotation.presented_hash, rotation.session_id, now),
        )
        # Not the shared Decoded cache: that one is the loop's, and this is the writer's thread.
        return RotationResult("rotated", session=_session_from_row(row))
    used = db.execute(
        "SELECT rotated_at FROM rotated_refresh_tokens WHERE hash = ? AND session_id = ?",
        (rotation.presented_hash, rotation.session_id),
    ).fetchone()
    if used is not None:
        return RotationResult("reused", rotated_at=dt(used["rotated_at"]))
    return RotationResult("invalid")


def _session_from_row(row: sqlite3.Row) -> Session:
    return Session(
        id=row["id"],
        client_id=row["client_id"],
        created_at=dt(row["created_at"]),
        last_used_at=dt(row["last_used_at"]),
        expires_at=dt(row["expires_at"]),
        absolute_expires_at=dt(row["absolute_expires_at"]),
        user_agent=row["user_agent"],
        ip=row["ip"],
        revoked_at=optional_dt(row["revoked_at"]),
        persistent=bool(row["persistent"]),
        elevated_until=optional_dt(row["elevated_until"]),
        scopes=tuple(json.loads(row["scopes"])) if row["scopes"] is not None else None,
        amr=tuple(json.loads(row["amr"])) if row["amr"] else (),
        provider=row["provider"],
        provider_sid=row["provider_sid"],
        family=row["family"],
    )


session_from_row = Decoded(_session_from_row)


def scopes_text(scopes: tuple[str, ...] | None) -> str | None:
    """A grant's scopes as stored: a JSON list, or NULL for all the client holds."""
    return json.dumps(scopes) if scopes is not None else None


def amr_text(amr: tuple[str, ...]) -> str | None:
    """How a session's sign-in was proved, as stored: a JSON list, or NULL for none known."""
    return json.dumps(amr) if amr else None
