"""Second factors in SQLite: one row per TOTP secret, one per unspent recovery code."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway_auth.models import SecondFactors, TotpFactor
from gateway_auth.stores.sqlite.database import SqliteDatabase, dt, ms, optional_dt, optional_ms


class SqliteFactors(SqliteDatabase):
    """The FactorStore protocol."""

    async def second_factors(self, client_id: str) -> SecondFactors:
        """The client's secret (sealed) and how many recovery codes are left."""
        async with self._snapshot() as db:
            async with db.execute(
                "SELECT * FROM second_factors WHERE client_id = ?", (client_id,)
            ) as cursor:
                row = await cursor.fetchone()
            async with db.execute(
                "SELECT count(*) FROM recovery_codes WHERE client_id = ?", (client_id,)
            ) as cursor:
                counted = await cursor.fetchone()
        left = int(counted[0]) if counted else 0
        return SecondFactors(totp_from_row(row) if row else None, left)

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
