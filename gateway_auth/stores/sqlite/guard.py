"""The rule that an installation keeps an active admin, inside the write that would break it.

The check runs in the same ``BEGIN IMMEDIATE`` transaction as the change: SQLite lets one writer
at a time hold that lock, across every process on the file, so two operators taking admin away
from each other at the same moment are serialised and the second one sees the first's change.
"""

from __future__ import annotations

import aiosqlite

from gateway_auth.errors import LastAdmin
from gateway_auth.models import ADMIN_SCOPE

# An admin that keeps the installation manageable: live, not suspended, and able to sign in
# again (a guest's sessions end with its GUEST_TTL, so a guest never counts).
_ACTIVE_ADMIN = (
    "deleted_at IS NULL AND suspended = 0 AND kind != 'guest'"
    " AND EXISTS (SELECT 1 FROM json_each(clients.scopes) WHERE value = ?)"
)


async def keep_an_admin(db: aiosqlite.Connection, client_id: str) -> None:
    """LastAdmin if ``client_id`` is the only active admin. Call it in the write transaction
    that suspends, demotes or deletes the client, before the change."""
    async with db.execute(
        f"SELECT EXISTS (SELECT 1 FROM clients WHERE id = ? AND {_ACTIVE_ADMIN})"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM clients WHERE id != ? AND {_ACTIVE_ADMIN})",
        (client_id, ADMIN_SCOPE, client_id, ADMIN_SCOPE),
    ) as cursor:
        row = await cursor.fetchone()
    if row is not None and row[0]:
        raise LastAdmin
