"""Second factors in SQLite: one row per TOTP secret, one per unspent recovery code, one per
WebAuthn credential."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from gateway_auth.models import Passkey, SecondFactors, TotpFactor
from gateway_auth.stores.sqlite.database import SqliteDatabase, dt, ms, optional_dt, optional_ms


class SqliteFactors(SqliteDatabase):
    """The FactorStore protocol."""

    async def second_factors(self, client_id: str) -> SecondFactors:
        """The client's secret (sealed) and how many recovery codes are left."""
        found, counted, keys = await self._fetch_together(
            [
                ("SELECT * FROM second_factors WHERE client_id = ?", (client_id,)),
                ("SELECT count(*) FROM recovery_codes WHERE client_id = ?", (client_id,)),
                (
                    "SELECT * FROM passkeys WHERE client_id = ? ORDER BY created_at, credential_id",
                    (client_id,),
                ),
            ]
        )
        row = found[0] if found else None
        left = int(counted[0][0]) if counted else 0
        passkeys = tuple(passkey_from_row(key) for key in keys)
        return SecondFactors(totp_from_row(row) if row else None, left, passkeys)

    async def put_totp(self, factor: TotpFactor) -> bool:
        """Insert, or replace an unconfirmed secret (none is written any more, but a database
        may hold one); a confirmed one stays."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO second_factors (client_id, totp_secret, totp_created_at,"
                " totp_confirmed_at, totp_last_step, totp_failures) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (client_id) DO UPDATE SET totp_secret = excluded.totp_secret,"
                " totp_created_at = excluded.totp_created_at,"
                " totp_confirmed_at = excluded.totp_confirmed_at,"
                " totp_last_step = excluded.totp_last_step, totp_failures = 0"
                " WHERE totp_confirmed_at IS NULL",
                (
                    factor.client_id,
                    factor.sealed_secret,
                    ms(factor.created_at),
                    optional_ms(factor.confirmed_at),
                    factor.last_step,
                    factor.failures,
                ),
            )
            return cursor.rowcount == 1

    async def use_totp_step(self, client_id: str, step: int) -> bool:
        """One conditional update: confirmed, and no code of this step or later taken."""
        return await self._changed(
            "UPDATE second_factors SET totp_last_step = ?, totp_failures = 0 WHERE client_id = ?"
            " AND totp_confirmed_at IS NOT NULL AND totp_last_step < ?",
            (step, client_id, step),
        )

    async def count_code_failure(self, client_id: str) -> int:
        """Add one, in one statement, and read the count back."""
        async with (
            self._transaction() as db,
            db.execute(
                "UPDATE second_factors SET totp_failures = totp_failures + 1 WHERE client_id = ?"
                " RETURNING totp_failures",
                (client_id,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def clear_code_failures(self, client_id: str) -> None:
        """Restart the count."""
        await self._changed(
            "UPDATE second_factors SET totp_failures = 0 WHERE client_id = ?", (client_id,)
        )

    async def remove_totp(self, client_id: str) -> bool:
        """Delete the client's secret."""
        return await self._changed("DELETE FROM second_factors WHERE client_id = ?", (client_id,))

    async def replace_recovery_codes(self, client_id: str, hashes: Sequence[str]) -> None:
        """Drop every code of the client, then insert these, in one transaction."""
        async with self._transaction() as db:
            await db.execute("DELETE FROM recovery_codes WHERE client_id = ?", (client_id,))
            await db.executemany(
                "INSERT OR IGNORE INTO recovery_codes (client_id, hash) VALUES (?, ?)",
                [(client_id, code_hash) for code_hash in hashes],
            )

    async def use_recovery_code(self, client_id: str, code_hash: str) -> bool:
        """Delete the code: of two concurrent uses, one deletes it and the other finds none."""
        return await self._changed(
            "DELETE FROM recovery_codes WHERE client_id = ? AND hash = ?", (client_id, code_hash)
        )

    async def add_passkey(self, passkey: Passkey) -> bool:
        """Insert; a credential id registered already (to anyone) writes nothing."""
        async with self._transaction() as db:
            cursor = await db.execute(INSERT_PASSKEY, passkey_row(passkey))
            return cursor.rowcount == 1

    async def passkey(self, credential_id: str) -> Passkey | None:
        """By its id."""
        row = await self._fetch_one(
            "SELECT * FROM passkeys WHERE credential_id = ?", (credential_id,)
        )
        return passkey_from_row(row) if row else None

    async def use_passkey(
        self, credential_id: str, seen_count: int, new_count: int, at: datetime
    ) -> bool:
        """One conditional update on the counter as it was read."""
        return await self._changed(
            "UPDATE passkeys SET sign_count = ?, last_used_at = ?"
            " WHERE credential_id = ? AND sign_count = ?",
            (new_count, ms(at), credential_id, seen_count),
        )

    async def rename_passkey(self, client_id: str, credential_id: str, name: str) -> bool:
        """Only the owner's."""
        return await self._changed(
            "UPDATE passkeys SET name = ? WHERE credential_id = ? AND client_id = ?",
            (name, credential_id, client_id),
        )

    async def remove_passkey(self, client_id: str, credential_id: str) -> bool:
        """Only the owner's."""
        return await self._changed(
            "DELETE FROM passkeys WHERE credential_id = ? AND client_id = ?",
            (credential_id, client_id),
        )

    async def remove_passkeys(self, client_id: str) -> int:
        """Every one of the client's."""
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM passkeys WHERE client_id = ?", (client_id,))
            return int(cursor.rowcount)

    async def _changed(self, sql: str, params: tuple[object, ...]) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute(sql, params)
            return cursor.rowcount == 1


def totp_from_row(row: sqlite3.Row) -> TotpFactor:
    """The TotpFactor a ``second_factors`` row describes."""
    return TotpFactor(
        client_id=row["client_id"],
        sealed_secret=row["totp_secret"],
        created_at=dt(row["totp_created_at"]),
        confirmed_at=optional_dt(row["totp_confirmed_at"]),
        last_step=int(row["totp_last_step"]),
        failures=int(row["totp_failures"]),
    )


# A credential id registered already (to anyone) writes nothing.
INSERT_PASSKEY = (
    "INSERT OR IGNORE INTO passkeys (credential_id, client_id, public_key, sign_count, name,"
    " created_at, last_used_at, synced, transports, aaguid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def passkey_row(passkey: Passkey) -> tuple[object, ...]:
    """The values of a ``passkeys`` row, in INSERT_PASSKEY's order."""
    return (
        passkey.credential_id,
        passkey.client_id,
        passkey.public_key,
        passkey.sign_count,
        passkey.name,
        ms(passkey.created_at),
        optional_ms(passkey.last_used_at),
        int(passkey.synced),
        json.dumps(list(passkey.transports)),
        passkey.aaguid,
    )


def passkey_from_row(row: sqlite3.Row) -> Passkey:
    """The Passkey a ``passkeys`` row describes."""
    return Passkey(
        credential_id=row["credential_id"],
        client_id=row["client_id"],
        public_key=bytes(row["public_key"]),
        sign_count=int(row["sign_count"]),
        name=row["name"],
        created_at=dt(row["created_at"]),
        last_used_at=optional_dt(row["last_used_at"]),
        synced=bool(row["synced"]),
        transports=tuple(json.loads(row["transports"])),
        aaguid=row["aaguid"],
    )
