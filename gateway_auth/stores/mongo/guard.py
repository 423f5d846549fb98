"""The rule that an installation keeps an active admin, held by a lease across instances.

MongoDB changes one document atomically, but suspending admin1 and admin2 at the same moment
changes two. Every change that can take admin away (suspend, demote, delete) therefore holds
the lease in ``guards`` (one document, taken by a conditional update) while it checks that
another active admin remains and makes its change, so such changes are serialised across every
instance. Changes that give admin (grant, restore, create) need no lease: they cannot break the
rule. A holder that dies lets go when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from gateway_auth.errors import LastAdmin, StoreUnavailable
from gateway_auth.models import ADMIN_SCOPE
from gateway_auth.stores.mongo.database import Doc, stored

LEASE = timedelta(seconds=30)  # far longer than a change takes; how long a dead holder blocks
WAIT = 10.0  # seconds to wait for the lease before answering 503
_KEY = "admins"
# An admin that keeps the installation manageable: live, not suspended, and able to sign in
# again (a guest's sessions end with its GUEST_TTL, so a guest never counts).
_ACTIVE_ADMIN: Doc = {
    "deleted_at": None,
    "suspended": False,
    "kind": {"$ne": "guest"},
    "scopes": ADMIN_SCOPE,
}


@asynccontextmanager
async def admins_kept(
    guards: AsyncCollection[Doc], clients: AsyncCollection[Doc], client_id: str, now: datetime
) -> AsyncIterator[None]:
    """Hold the lease for a change that may take admin from ``client_id``; LastAdmin first if
    it is the only active admin. Use it inside ``translated()``."""
    holder = uuid.uuid4().hex
    await _take(guards, holder, now)
    try:
        target = await clients.find_one({"_id": {"$eq": client_id}, **_ACTIVE_ADMIN}, {"_id": 1})
        if target is not None:
            other = await clients.find_one({"_id": {"$ne": client_id}, **_ACTIVE_ADMIN}, {"_id": 1})
            if other is None:
                raise LastAdmin
        yield
    finally:
        with contextlib.suppress(PyMongoError):  # unreleased, it runs out after LEASE
            await guards.update_one(
                {"_id": _KEY, "holder": {"$eq": holder}}, {"$set": {"holder": None}}
            )


async def _take(guards: AsyncCollection[Doc], holder: str, now: datetime) -> None:
    """Take the lease when it is free or has run out; while another holds it the upsert's
    insert collides with the existing document (DuplicateKeyError), and this waits."""
    deadline = time.monotonic() + WAIT
    pause = 0.002
    while True:
        try:
            await guards.find_one_and_update(
                {"_id": _KEY, "$or": [{"holder": None}, {"until": {"$lt": stored(now)}}]},
                {"$set": {"holder": holder, "until": stored(now + LEASE)}},
                upsert=True,
            )
        except DuplicateKeyError:
            if time.monotonic() > deadline:
                raise StoreUnavailable from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
        else:
            return
