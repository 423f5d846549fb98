"""The embedded store: one SQLite file in WAL mode, through aiosqlite."""

from __future__ import annotations

from gateway_auth.stores.sqlite.clients import SqliteClients
from gateway_auth.stores.sqlite.deletions import SqliteDeletions
from gateway_auth.stores.sqlite.factors import SqliteFactors
from gateway_auth.stores.sqlite.identities import SqliteIdentities
from gateway_auth.stores.sqlite.sessions import SqliteSessions
from gateway_auth.stores.sqlite.tokens import SqliteAccountTokens
from gateway_auth.stores.sqlite.transfer import SqliteTransfer

DATABASE_FILE = "gateway-auth.db"


class SqliteStore(
    SqliteClients,
    SqliteSessions,
    SqliteAccountTokens,
    SqliteFactors,
    SqliteIdentities,
    SqliteDeletions,
    SqliteTransfer,
):
    """Every store protocol over one SQLite file."""


__all__ = ["DATABASE_FILE", "SqliteStore"]
