"""Single-use account tokens (password reset, email verification) in SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from gateway_auth.stores.base import AccountToken, TokenPurpose, TokenRedemption
from gateway_auth.stores.sqlite.database import SqliteDatabase, dt, ms, optional_dt

_DROP_UNUSED = "DELETE FROM account_tokens WHERE client_id = ? AND purpose = ? AND used_at IS NULL"


class SqliteAccountTokens(SqliteDatabase):
    """The AccountTokenStore protocol."""

    async def add_account_token(
        self, token: AccountToken, spacing: timedelta | None = None
    ) -> bool:
        """Insert the token and drop the client's earlier unused ones of the same purpose; the
        check for a recent one is in the same write transaction (one writer across processes)."""
        async with self._transaction() as db:
            if spacing is not None:
                async with db.execute(
                    "SELECT 1 FROM account_tokens WHERE client_id = ? AND purpose = ?"
                    " AND email_key = ? AND created_at > ? LIMIT 1",
                    (
                        token.client_id,
                        token.purpose,
                        token.email_key,
                        ms(token.created_at - spacing),
                    ),
                ) as recent:
                    if await recent.fetchone() is not None:
                        return False
            await db.execute(
                _DROP_UNUSED,
                (token.client_id, token.purpose),
            )
            await db.execute(
                "INSERT INTO account_tokens (hash, client_id, purpose, email_key, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    token.token_hash,
                    token.client_id,
                    token.purpose,
                    token.email_key,
                    ms(token.created_at),
                    ms(token.expires_at),
                ),
            )
        return True

    async def last_account_token(
        self, client_id: str, purpose: TokenPurpose
    ) -> AccountToken | None:
        """The newest token of the client and purpose."""
        row = await self._fetch_one(
            "SELECT * FROM account_tokens WHERE client_id = ? AND purpose = ?"
            " ORDER BY created_at DESC LIMIT 1",
            (client_id, purpose),
        )
        return token_from_row(row) if row else None

    async def use_account_token(
        self, token_hash: str, purpose: TokenPurpose, now: datetime
    ) -> TokenRedemption:
        """One conditional update: unused, unexpired, of this purpose."""
        async with self._transaction() as db:
            async with db.execute(
                "UPDATE account_tokens SET used_at = ? WHERE hash = ? AND purpose = ?"
                " AND used_at IS NULL AND expires_at > ? RETURNING *",
                (ms(now), token_hash, purpose, ms(now)),
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None:
                return TokenRedemption("used", token_from_row(row))
            async with db.execute(
                "SELECT * FROM account_tokens WHERE hash = ? AND purpose = ?", (token_hash, purpose)
            ) as cursor:
                row = await cursor.fetchone()
        if row is None:
            return TokenRedemption("unknown")
        return TokenRedemption("spent" if row["used_at"] is not None else "expired")

    async def drop_account_tokens(self, client_id: str, purpose: TokenPurpose) -> None:
        """Delete the client's unused tokens of this purpose."""
        async with self._transaction() as db:
            await db.execute(
                _DROP_UNUSED,
                (client_id, purpose),
            )

    async def prune_account_tokens(self, before: datetime) -> int:
        """Delete tokens that expired before ``before``."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "DELETE FROM account_tokens WHERE expires_at < ?", (ms(before),)
            )
            return cursor.rowcount


def token_from_row(row: sqlite3.Row) -> AccountToken:
    return AccountToken(
        token_hash=row["hash"],
        client_id=row["client_id"],
        purpose=row["purpose"],
        email_key=row["email_key"],
        created_at=dt(row["created_at"]),
        expires_at=dt(row["expires_at"]),
        used_at=optional_dt(row["used_at"]),
    )
