"""The rule that an installation keeps an active admin, held by a lease across instances.

MongoDB changes one document atomically, but suspending admin1 and admin2 at the same moment
changes two. A change that takes admin away from an active admin (suspend, demote, delete)
therefore holds the lease in ``guards`` (one document, taken by a conditional update) while it
checks that another active admin remains and makes its change, so such changes are serialised
across every instance. Changes to anyone else (guests, users without admin: most deletions)
take no lease, nor do changes that give admin (grant, restore, create): they cannot break the
rule. A holder that dies lets go when its lease runs out.

The limit, without multi-document transactions: the change is not fenced by the lease, so a
holder that stalls for longer than ``LEASE`` between its check and its write (a process paused,
a failover's retried write) could race the next holder; that is logged
(``admin_guard_lease_lost``) when the stalled holder lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from gateway_auth.errors import LastAdmin, StoreUnavailable
from gateway_auth.logging import log_event
from gateway_auth.models import ADMIN_SCOPE
from gateway_auth.stores.mongo.database import Doc, stored

log = logging.getLogger(__name__)
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
    target = {"_id": {"$eq": client_id}, **_ACTIVE_ADMIN}
    if await clients.find_one(target, {"_id": 1}) is None:
        yield  # not an active admin: nothing to keep (becoming one takes no admin away)
        return
    holder = uuid.uuid4().hex
    await _take(guards, holder, now)
    try:
        if await clients.find_one(target, {"_id": 1}) is not None:  # still, under the lease
            other = await clients.find_one({"_id": {"$ne": client_id}, **_ACTIVE_ADMIN}, {"_id": 1})
            if other is None:
                raise LastAdmin
        yield
    finally:
        with contextlib.suppress(PyMongoError):  # unreleased, it runs out after LEASE
            released = await guards.update_one(
                {"_id": _KEY, "holder": {"$eq": holder}}, {"$set": {"holder": None}}
            )
            if released.matched_count == 0:
                log_event(log, "admin_guard_lease_lost", level=logging.ERROR, client_id=client_id)


async def _take(guards: AsyncCollection[Doc], holder: str, now: datetime) -> None:
    """Take the lease when it is free or has run out; while another holds it the upsert's
    insert collides with the existing document (DuplicateKeyError), and this waits."""
    started = time.monotonic()
    pause = 0.002
    while True:
        # The caller's clock at the start, moved on by the time waited: a dead holder's lease
        # runs out while this waits, and the lease taken late is still LEASE long.
        moment = now + timedelta(seconds=time.monotonic() - started)
        try:
            await guards.find_one_and_update(
                {"_id": _KEY, "$or": [{"holder": None}, {"until": {"$lt": stored(moment)}}]},
                {"$set": {"holder": holder, "until": stored(moment + LEASE)}},
                upsert=True,
            )
        except DuplicateKeyError:
            if time.monotonic() - started > WAIT:
                raise StoreUnavailable from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
        else:
            return
