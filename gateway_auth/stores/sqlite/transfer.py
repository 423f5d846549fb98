"""Export and import of everything the SQLite store holds (``gateway-auth export`` / ``import``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import aiosqlite

from gateway_auth.emails import email_key, email_skeleton
from gateway_auth.errors import EmailTaken
from gateway_auth.models import LinkedIdentity, Passkey
from gateway_auth.stores.base import (
    ClientRecord,
    FactorRecord,
    PendingEvent,
    Record,
    SessionRecord,
    Tombstone,
)
from gateway_auth.stores.sqlite.clients import client_from_row
from gateway_auth.stores.sqlite.database import SqliteDatabase, dt, ms, optional_dt, optional_ms
from gateway_auth.stores.sqlite.deletions import pending_from_row
from gateway_auth.stores.sqlite.factors import (
    INSERT_PASSKEY,
    passkey_from_row,
    passkey_row,
    totp_from_row,
)
from gateway_auth.stores.sqlite.identities import (
    INSERT_IDENTITY,
    identity_from_row,
    identity_row,
)
from gateway_auth.stores.sqlite.sessions import amr_text, scopes_text, session_from_row

_CLIENT_COLUMNS = (
    "id, email, email_key, email_skeleton, kind, scopes, first_name, last_name, password_hash,"
    " secret_hash, suspended, suspended_at, suspend_reason, created_at, updated_at, deleted_at,"
    " email_verified, groups_json"
)
_SESSION_COLUMNS = (
    "id, client_id, refresh_hash, created_at, last_used_at, expires_at, absolute_expires_at,"
    " user_agent, ip, revoked_at, persistent, scopes, amr, provider, provider_sid, family"
)


class SqliteTransfer(SqliteDatabase):
    """The TransferStore protocol."""

    async def export_records(self) -> AsyncIterator[Record]:
        """Every record, from one consistent snapshot of the file."""
        async with self._snapshot() as db:
            async with db.execute("SELECT * FROM clients ORDER BY created_at, id") as rows:
                async for row in rows:
                    yield ClientRecord(
                        client_from_row(row),
                        row["password_hash"],
                        row["secret_hash"],
                        optional_dt(row["deleted_at"]),
                    )
            async with db.execute("SELECT * FROM sessions ORDER BY created_at, id") as rows:
                async for row in rows:
                    rotated = await _rotated(db, row["id"])
                    yield SessionRecord(session_from_row(row), row["refresh_hash"], rotated)
            async with db.execute("SELECT * FROM outbox ORDER BY created_at, id") as rows:
                async for row in rows:
                    yield pending_from_row(row)
            async with db.execute("SELECT * FROM tombstones ORDER BY deleted_at, id") as rows:
                async for row in rows:
                    yield Tombstone(row["id"], dt(row["deleted_at"]))
            async for record in _factor_records(db):
                yield record
            async with db.execute(
                "SELECT * FROM identities ORDER BY client_id, created_at, provider, subject"
            ) as rows:
                async for row in rows:
                    yield identity_from_row(row)

    async def import_records(self, records: Sequence[Record]) -> None:
        """Upsert every record in one transaction; EmailTaken on an email owned by another id."""
        async with self._transaction(on_conflict=EmailTaken) as db:
            for record in records:
                await _import(db, record)


async def _rotated(db: aiosqlite.Connection, session_id: str) -> tuple[tuple[str, datetime], ...]:
    async with db.execute(
        "SELECT hash, rotated_at FROM rotated_refresh_tokens WHERE session_id = ?"
        " ORDER BY rotated_at, hash",
        (session_id,),
    ) as rows:
        return tuple((row["hash"], dt(row["rotated_at"])) for row in await rows.fetchall())


async def _import(db: aiosqlite.Connection, record: Record) -> None:
    match record:
        case ClientRecord(client=c):
            values: tuple[object, ...] = (
                c.id,
                c.email,
                email_key(c.email),
                await _imported_skeleton(db, c.id, c.email),
                c.kind,
                json.dumps(c.scopes),
                c.first_name,
                c.last_name,
                record.password_hash,
                record.secret_hash,
                int(c.suspended),
                optional_ms(c.suspended_at),
                c.suspend_reason,
                ms(c.created_at),
                ms(c.updated_at),
                optional_ms(record.deleted_at),
                int(c.email_verified),
                json.dumps(c.groups),
            )
            await db.execute(_upsert("clients", _CLIENT_COLUMNS), values)
        case SessionRecord(session=s):
            values = (
                s.id,
                s.client_id,
                record.refresh_hash,
                ms(s.created_at),
                ms(s.last_used_at),
                ms(s.expires_at),
                ms(s.absolute_expires_at),
                s.user_agent,
                s.ip,
                optional_ms(s.revoked_at),
                int(s.persistent),
                scopes_text(s.scopes),
                amr_text(s.amr),
                s.provider,
                s.provider_sid,
                s.family,
            )
            await db.execute(_upsert("sessions", _SESSION_COLUMNS), values)
            await db.executemany(
                "INSERT OR REPLACE INTO rotated_refresh_tokens (hash, session_id, rotated_at)"
                " VALUES (?, ?, ?)",
                [(hash_, s.id, ms(at)) for hash_, at in record.rotated],
            )
        case PendingEvent(event=e):
            values = (e.id, e.client_id, json.dumps(e.to_json()), ms(record.created_at))
            columns = "id, client_id, payload, created_at, attempts"
            await db.execute(_upsert("outbox", columns), (*values, record.attempts))
        case Tombstone():
            await db.execute(
                "INSERT OR IGNORE INTO tombstones (id, deleted_at) VALUES (?, ?)",
                (record.client_id, ms(record.deleted_at)),
            )

        case FactorRecord(totp=totp):
            await db.execute("DELETE FROM second_factors WHERE client_id = ?", (record.client_id,))
            if totp is not None:
                await db.execute(
                    "INSERT INTO second_factors (client_id, totp_secret, totp_created_at,"
                    " totp_confirmed_at, totp_last_step, totp_failures)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        record.client_id,
                        totp.sealed_secret,
                        ms(totp.created_at),
                        optional_ms(totp.confirmed_at),
                        totp.last_step,
                        totp.failures,
                    ),
                )
            await db.execute("DELETE FROM recovery_codes WHERE client_id = ?", (record.client_id,))
            await db.executemany(
                "INSERT OR IGNORE INTO recovery_codes (client_id, hash) VALUES (?, ?)",
                [(record.client_id, code_hash) for code_hash in record.recovery_hashes],
            )
            await db.execute("DELETE FROM passkeys WHERE client_id = ?", (record.client_id,))
            await db.executemany(
                INSERT_PASSKEY,
                [passkey_row(passkey) for passkey in record.passkeys],
            )
        case LinkedIdentity():
            await db.execute(
                "DELETE FROM identities WHERE provider = ? AND subject = ?",
                (record.provider, record.subject),
            )
            await db.execute(INSERT_IDENTITY, identity_row(record))


async def _factor_records(db: aiosqlite.Connection) -> AsyncIterator[FactorRecord]:
    """Each client's second factors, in client order."""
    async with db.execute("SELECT * FROM second_factors") as rows:
        secrets = {row["client_id"]: totp_from_row(row) for row in await rows.fetchall()}
    async with db.execute(
        "SELECT client_id, hash FROM recovery_codes ORDER BY client_id, hash"
    ) as rows:
        codes: dict[str, list[str]] = {}
        for row in await rows.fetchall():
            codes.setdefault(row["client_id"], []).append(row["hash"])
    async with db.execute("SELECT * FROM passkeys ORDER BY client_id, created_at") as rows:
        keys: dict[str, list[Passkey]] = {}
        for row in await rows.fetchall():
            keys.setdefault(row["client_id"], []).append(passkey_from_row(row))
    for client_id in sorted(secrets.keys() | codes.keys() | keys.keys()):
        yield FactorRecord(
            client_id,
            secrets.get(client_id),
            tuple(codes.get(client_id, ())),
            tuple(keys.get(client_id, ())),
        )


async def _imported_skeleton(db: aiosqlite.Connection, client_id: str, email: str) -> str:
    """The client's skeleton, or ``kept:<id>`` when another client already looks the same (an
    export can hold look-alikes that an upgrade kept working)."""
    skeleton = email_skeleton(email)
    async with db.execute(
        "SELECT 1 FROM clients WHERE email_skeleton = ? AND id != ?", (skeleton, client_id)
    ) as rows:
        taken = await rows.fetchone() is not None
    return f"kept:{client_id}" if taken else skeleton


def _upsert(table: str, columns: str) -> str:
    """INSERT … ON CONFLICT (id) DO UPDATE: unlike REPLACE it never deletes a row that clashes
    on another unique column (that is an error) nor cascades to the row's sessions."""
    names = [name.strip() for name in columns.split(",")]
    marks = ", ".join("?" * len(names))
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != "id")
    # Table and column names are the fixed constants above, never input.
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        f" ON CONFLICT (id) DO UPDATE SET {updates}"
    )
