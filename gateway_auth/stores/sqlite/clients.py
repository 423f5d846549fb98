"""Client records in SQLite."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from gateway_auth.emails import email_key, email_skeleton
from gateway_auth.errors import EmailTaken
from gateway_auth.models import ADMIN_SCOPE, Client, Credentials
from gateway_auth.stores.base import ClientQuery, ProfileChanges, Suspension
from gateway_auth.stores.sqlite.database import (
    Decoded,
    SqliteDatabase,
    dt,
    ms,
    optional_dt,
    optional_ms,
)
from gateway_auth.stores.sqlite.guard import keep_an_admin

_PROFILE_COLUMNS = {"email": "email", "first_name": "first_name", "last_name": "last_name"}


class SqliteClients(SqliteDatabase):
    """The ClientStore protocol."""

    async def add_client(
        self, client: Client, password_hash: str | None, *, secret_hash: str | None = None
    ) -> None:
        """Insert a client; EmailTaken if the normalised email is in use (even by a client
        whose deletion event is not published yet)."""
        async with self._transaction(on_conflict=EmailTaken) as db:
            await db.execute(
                "INSERT INTO clients (id, email, email_key, email_skeleton, kind, scopes,"
                " first_name, last_name, password_hash, secret_hash, suspended, suspended_at,"
                " suspend_reason, created_at, updated_at, email_verified, groups_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client.id,
                    client.email,
                    email_key(client.email),
                    email_skeleton(client.email),
                    client.kind,
                    json.dumps(client.scopes),
                    client.first_name,
                    client.last_name,
                    password_hash,
                    secret_hash,
                    int(client.suspended),
                    optional_ms(client.suspended_at),
                    client.suspend_reason,
                    ms(client.created_at),
                    ms(client.updated_at),
                    int(client.email_verified),
                    json.dumps(client.groups),
                ),
            )

    async def get_client(self, client_id: str) -> Client | None:
        """A live client by id."""
        row = await self._fetch_one(
            "SELECT * FROM clients WHERE id = ? AND deleted_at IS NULL", (client_id,)
        )
        return client_from_row(row) if row else None

    async def get_credentials(self, email_key: str) -> Credentials | None:
        """A live client and its password hash, by normalised email."""
        row = await self._fetch_one(
            "SELECT * FROM clients WHERE email_key = ? AND deleted_at IS NULL", (email_key,)
        )
        return Credentials(client_from_row(row), row["password_hash"]) if row else None

    async def get_password_hash(self, client_id: str) -> str | None:
        """The password hash of a live client."""
        row = await self._fetch_one(
            "SELECT password_hash FROM clients WHERE id = ? AND deleted_at IS NULL", (client_id,)
        )
        return row["password_hash"] if row else None

    async def get_secret_hash(self, client_id: str) -> str | None:
        """The client-secret hash of a live client (service clients have one)."""
        row = await self._fetch_one(
            "SELECT secret_hash FROM clients WHERE id = ? AND deleted_at IS NULL", (client_id,)
        )
        return row["secret_hash"] if row else None

    async def set_secret_hash(self, client_id: str, secret_hash: str, now: datetime) -> bool:
        """Replace a live client's secret hash; False if there is no such client."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE clients SET secret_hash = ?, updated_at = ?"
                " WHERE id = ? AND deleted_at IS NULL",
                (secret_hash, ms(now), client_id),
            )
            return cursor.rowcount > 0

    async def set_password_hash(self, client_id: str, password_hash: str, now: datetime) -> None:
        """Replace a live client's password hash."""
        async with self._transaction() as db:
            await db.execute(
                "UPDATE clients SET password_hash = ?, updated_at = ?"
                " WHERE id = ? AND deleted_at IS NULL",
                (password_hash, ms(now), client_id),
            )

    async def update_profile(self, client_id: str, changes: ProfileChanges) -> Client | None:
        """Apply profile changes; EmailTaken on a clash; None if the client is gone."""
        columns = [f"{_PROFILE_COLUMNS[name]} = ?" for name in changes.values]
        params: list[Any] = list(changes.values.values())
        if "email" in changes.values:
            columns += ["email_key = ?", "email_skeleton = ?"]
            params += [
                email_key(changes.values["email"] or ""),
                email_skeleton(changes.values["email"] or ""),
            ]
        if changes.email_verified is not None:
            columns.append("email_verified = ?")
            params.append(int(changes.email_verified))
        if changes.scopes is not None:
            columns.append("scopes = ?")
            params.append(json.dumps(changes.scopes))
        if changes.groups is not None:
            columns.append("groups_json = ?")
            params.append(json.dumps(changes.groups))
        # Column names come from the fixed _PROFILE_COLUMNS whitelist, never from input.
        sql = f"UPDATE clients SET {', '.join([*columns, 'updated_at = ?'])}"  # noqa: S608
        async with self._transaction(on_conflict=EmailTaken) as db:
            if changes.scopes is not None and ADMIN_SCOPE not in changes.scopes:
                await keep_an_admin(db, client_id)
            async with db.execute(
                sql + " WHERE id = ? AND deleted_at IS NULL RETURNING *",
                (*params, ms(changes.updated_at), client_id),
            ) as cursor:
                row = await cursor.fetchone()
        return client_from_row(row) if row else None

    async def set_suspended(self, client_id: str, suspension: Suspension) -> Client | None:
        """Suspend or restore a live client; repeating it keeps the first timestamp and reason."""
        flag = int(suspension.suspended)
        async with self._transaction() as db:
            if suspension.suspended:
                await keep_an_admin(db, client_id)
            await db.execute(
                "UPDATE clients SET suspended = ?, suspended_at = ?, suspend_reason = ?,"
                " updated_at = ? WHERE id = ? AND deleted_at IS NULL AND suspended != ?",
                (
                    flag,
                    optional_ms(suspension.suspended_at),
                    suspension.reason if suspension.suspended else None,
                    ms(suspension.now),
                    client_id,
                    flag,
                ),
            )
            async with db.execute(
                "SELECT * FROM clients WHERE id = ? AND deleted_at IS NULL", (client_id,)
            ) as cursor:
                row = await cursor.fetchone()
        return client_from_row(row) if row else None

    async def list_clients(self, query: ClientQuery) -> list[Client]:
        """Live clients matching the query, in creation order."""
        where = ["deleted_at IS NULL"]
        params: list[Any] = []
        if query.after is not None:
            where.append("(created_at, id) > (?, ?)")
            params += [ms(query.after[0]), query.after[1]]
        if query.email_prefix:
            where.append("email_key LIKE ? ESCAPE '\\'")
            params.append(_like_prefix(query.email_prefix))
        if query.suspended is not None:
            where.append("suspended = ?")
            params.append(int(query.suspended))
        if query.kind is not None:
            where.append("kind = ?")
            params.append(query.kind)
        if query.scope is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(clients.scopes) WHERE value = ?)")
            params.append(query.scope)
        # Only fixed condition strings are joined; every value is a parameter.
        sql = f"SELECT * FROM clients WHERE {' AND '.join(where)}"  # noqa: S608
        rows = await self._fetch_all(
            sql + " ORDER BY created_at, id LIMIT ?", (*params, query.limit)
        )
        return [client_from_row(row) for row in rows]

    async def upgrade_guest(
        self, client_id: str, email: str, password_hash: str, now: datetime
    ) -> Client | None:
        """One conditional update: only a live guest becomes a user."""
        async with (
            self._transaction(on_conflict=EmailTaken) as db,
            db.execute(
                "UPDATE clients SET kind = 'user', email = ?, email_key = ?, email_skeleton = ?,"
                " password_hash = ?, scopes = '[]', email_verified = 0, updated_at = ?"
                " WHERE id = ? AND kind = 'guest' AND deleted_at IS NULL RETURNING *",
                (
                    email,
                    email_key(email),
                    email_skeleton(email),
                    password_hash,
                    ms(now),
                    client_id,
                ),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return client_from_row(row) if row else None

    async def set_email_verified(
        self, client_id: str, email_key: str, verified: bool, now: datetime
    ) -> Client | None:
        """Mark the email (un)verified while it is still the one with ``email_key``."""
        async with (
            self._transaction() as db,
            db.execute(
                "UPDATE clients SET email_verified = ?, updated_at = ?"
                " WHERE id = ? AND email_key = ? AND deleted_at IS NULL RETURNING *",
                (int(verified), ms(now), client_id, email_key),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return client_from_row(row) if row else None


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _client_from_row(row: sqlite3.Row) -> Client:
    return Client(
        id=row["id"],
        email=row["email"],
        kind=row["kind"],
        scopes=tuple(json.loads(row["scopes"])),
        groups=tuple(json.loads(row["groups_json"])),
        first_name=row["first_name"],
        last_name=row["last_name"],
        suspended=bool(row["suspended"]),
        suspended_at=optional_dt(row["suspended_at"]),
        suspend_reason=row["suspend_reason"],
        created_at=dt(row["created_at"]),
        updated_at=dt(row["updated_at"]),
        email_verified=bool(row["email_verified"]),
    )


client_from_row = Decoded(_client_from_row)
