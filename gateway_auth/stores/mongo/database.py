"""The MongoDB connection: client options, indexes, and driver-error translation.

No multi-document transactions (a standalone ``mongod`` has none): every operation is either one
atomic single-document write or a sequence ordered so that a crash in between is finished by the
next attempt (see ``deletions.py``).
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from gateway_auth.config.settings import PREFIX
from gateway_auth.emails import email_key, email_skeleton
from gateway_auth.errors import ConfigurationError, GatewayAuthError, StoreUnavailable
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
# Unique among clients that have a skeleton: an instance of an older release, during a rolling
# upgrade, writes clients without one (the next start gives them theirs).
_SKELETON_INDEX: dict[str, Any] = {
    "unique": True,
    "partialFilterExpression": {"email_skeleton": {"$type": "string"}},
}
_DELETION_PER_CLIENT: dict[str, Any] = {
    "name": "one_deletion_per_client",
    "unique": True,
    "partialFilterExpression": {"payload.type": "client-data-deletion-request"},
}
# pymongo logs commands with their documents (hashes, emails) at DEBUG: never let those through.
logging.getLogger("pymongo").setLevel(logging.WARNING)
Doc = dict[str, Any]

# An outage answers 503 within a few seconds instead of hanging requests; options given in the
# URI win, so an operator can tune them there.
TIMEOUTS_MS = {"serverSelectionTimeoutMS": 3000, "connectTimeoutMS": 3000, "socketTimeoutMS": 5000}
# How long ended sessions and delivered outbox entries stay before MongoDB's TTL monitor drops
# them; the hourly prune removes sessions earlier, this is the backstop.
KEEP_ENDED = timedelta(days=7)
_IS_DATE = {"$type": "date"}


class MongoDatabase:
    """The collections every store operation uses, and how the client is opened and closed."""

    def __init__(
        self, db: AsyncDatabase[Doc], close: Callable[[], Awaitable[None] | None] | None = None
    ) -> None:
        self._clients: AsyncCollection[Doc] = db["clients"]
        self._sessions: AsyncCollection[Doc] = db["sessions"]
        self._outbox: AsyncCollection[Doc] = db["outbox"]
        self._tombstones: AsyncCollection[Doc] = db["tombstones"]
        self._tokens: AsyncCollection[Doc] = db["account_tokens"]
        self._factors: AsyncCollection[Doc] = db["second_factors"]  # one per client, by its id
        self._passkeys: AsyncCollection[Doc] = db["passkeys"]  # one per credential, by its id
        # One per linked identity; ``_id`` is ``provider:subject`` (provider ids hold no colon).
        self._identities: AsyncCollection[Doc] = db["identities"]
        self._guards: AsyncCollection[Doc] = db["guards"]  # the admins' lease (mongo/guard.py)
        self._db = db
        self._close = close

    @classmethod
    async def open(cls, uri: str, database: str) -> Self:
        """Connect, check that the server answers and create the indexes; ConfigurationError
        (naming the hosts, never the password) when it cannot."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # the driver only warns of an option it ignores
                client: AsyncMongoClient[Doc] = AsyncMongoClient(
                    uri, appname="gateway-auth", tz_aware=True, tzinfo=UTC, **_timeouts(uri)
                )
        except (PyMongoError, ValueError, Warning) as exc:  # a malformed URI or option
            problem = _redacted(str(exc), uri)
            raise ConfigurationError([f"{PREFIX}MONGODB_URI: {problem}"]) from None
        store = cls(client[database], client.close)
        try:
            await store.create_indexes()
        except PyMongoError as exc:
            await store.close()
            if isinstance(exc, OperationFailure):  # reached, but refused (credentials, rights)
                reason = _redacted(str((exc.details or {}).get("errmsg", exc)), uri)
                problem = f"MongoDB at {_hosts(uri)} refused: {reason}"
            else:
                problem = f"MongoDB at {_hosts(uri)} did not answer"
            raise ConfigurationError(
                [f"{PREFIX}MONGODB_URI: {problem}"],
                unreachable=not isinstance(exc, OperationFailure),
            ) from None
        return store

    @classmethod
    async def on(
        cls, db: AsyncDatabase[Doc], close: Callable[[], Awaitable[None] | None] | None = None
    ) -> Self:
        """A store over a database the caller opened, with its indexes made; ``close`` is what
        closing the store does (nothing by default: the caller owns the client)."""
        store = cls(db, close)
        await store.prepare()
        return store

    async def prepare(self) -> None:
        """``create_indexes`` with driver errors translated."""
        async with translated():
            await self.create_indexes()

    async def _rekey_emails(self) -> None:
        """Give clients stored before email skeletons existed their key and skeleton under the
        current rules (``emails``), oldest first. A later look-alike of an earlier client, or a
        key the new rules give twice, keeps working: its skeleton is ``kept:<id>`` (it matches
        nothing) and its key stays as it was; the log says how many."""
        legacy = {"email_skeleton": {"$exists": False}}
        if await self._clients.count_documents(legacy, limit=1) == 0:
            return
        taken = set(await self._clients.distinct("email_skeleton"))
        kept = 0
        async for doc in self._clients.find(legacy, {"email": 1}, sort=[("created_at", 1)]):
            email, client_id = doc["email"], doc["_id"]
            skeleton = email_skeleton(email)
            if skeleton in taken:
                skeleton, kept = f"kept:{client_id}", kept + 1
            taken.add(skeleton)
            try:
                await self._clients.update_one(
                    {"_id": client_id},
                    {"$set": {"email_key": email_key(email), "email_skeleton": skeleton}},
                )
            except DuplicateKeyError:  # another client has this key under the new rules
                kept += 1
                await self._clients.update_one(
                    {"_id": client_id}, {"$set": {"email_skeleton": skeleton}}
                )
        if kept:
            log_event(log, "confusable_emails_kept", level=logging.WARNING, clients=kept)

    async def _separate_look_alikes(self) -> None:
        """Give every client but the oldest of each shared skeleton ``kept:<id>``."""
        groups = self._clients.aggregate(
            [
                {"$match": {"email_skeleton": {"$type": "string"}}},
                {"$sort": {"created_at": 1, "_id": 1}},
                {"$group": {"_id": "$email_skeleton", "ids": {"$push": "$_id"}}},
                {"$match": {"ids.1": {"$exists": True}}},
            ]
        )
        async for group in await groups if inspect.isawaitable(groups) else groups:
            for client_id in group["ids"][1:]:
                await self._clients.update_one(
                    {"_id": client_id}, {"$set": {"email_skeleton": f"kept:{client_id}"}}
                )

    async def create_indexes(self) -> None:
        """Create the indexes (idempotent: the same definitions are a no-op the next time)."""
        keep = int(KEEP_ENDED.total_seconds())
        await self._db.command("ping")
        await self._clients.create_index("email_key", unique=True)
        await self._rekey_emails()
        try:
            await self._clients.create_index("email_skeleton", **_SKELETON_INDEX)
        except DuplicateKeyError:  # two processes rekeyed at once and both took one skeleton
            await self._separate_look_alikes()
            await self._clients.create_index("email_skeleton", **_SKELETON_INDEX)
        await self._clients.create_index([("created_at", ASCENDING), ("_id", ASCENDING)])
        await self._clients.create_index(
            "deleted_at", partialFilterExpression={"deleted_at": _IS_DATE}
        )
        await self._clients.create_index("suspended", partialFilterExpression={"suspended": True})
        await self._sessions.create_index("client_id")
        await self._sessions.create_index(
            "revoked_at", partialFilterExpression={"revoked_at": _IS_DATE}
        )
        await self._sessions.create_index("expires_at")
        await self._sessions.create_index("absolute_expires_at", expireAfterSeconds=keep)
        await self._one_deletion_per_client()
        await self._outbox.create_index([("created_at", ASCENDING), ("_id", ASCENDING)])
        await self._outbox.create_index("delivered_at", expireAfterSeconds=keep)
        await self._tombstones.create_index("deleted_at")
        await self._tokens.create_index(
            [("client_id", ASCENDING), ("purpose", ASCENDING), ("created_at", ASCENDING)]
        )
        await self._tokens.create_index("expires_at", expireAfterSeconds=keep)
        await self._passkeys.create_index([("client_id", ASCENDING), ("created_at", ASCENDING)])
        await self._identities.create_index([("client_id", ASCENDING), ("created_at", ASCENDING)])
        await self._sessions.create_index(
            [("provider", ASCENDING), ("provider_sid", ASCENDING)],
            partialFilterExpression={"provider": {"$type": "string"}},
        )
        await self._sessions.create_index(
            "family", partialFilterExpression={"family": {"$type": "string"}}
        )

    async def _one_deletion_per_client(self) -> None:
        """A unique index on the client of deletion events only: mail events of one client are
        many. Releases before mail events had it on every entry (``client_id_1``)."""
        indexes = await self._outbox.index_information()
        if "client_id_1" in indexes:
            await self._outbox.drop_index("client_id_1")
        await self._outbox.create_index("client_id", **_DELETION_PER_CLIENT)

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the server answers."""
        async with translated():
            await self._db.command("ping")

    async def close(self) -> None:
        """Close the client this store opened."""
        if self._close is not None:
            closing = self._close()
            if inspect.isawaitable(closing):
                await closing


@asynccontextmanager
async def translated(on_conflict: type[GatewayAuthError] | None = None) -> AsyncIterator[None]:
    """Driver errors become domain errors; the driver's message goes only to the log."""
    try:
        yield
    except DuplicateKeyError as exc:
        if on_conflict is None:
            log_event(log, "store_error", level=logging.ERROR, error=_described(exc))
            raise StoreUnavailable from None
        raise on_conflict from None
    except PyMongoError as exc:
        log_event(log, "store_error", level=logging.ERROR, error=_described(exc))
        raise StoreUnavailable from None


def _described(exc: PyMongoError) -> str:
    """A server-side failure's message can quote the document (a duplicate key names the
    email), so only its code is logged; connection errors name hosts, which may be logged."""
    if isinstance(exc, OperationFailure):
        return f"{type(exc).__name__} (code {exc.code})"
    return f"{type(exc).__name__}: {exc}"


def stored(moment: datetime) -> datetime:
    """``moment`` truncated to the millisecond, as BSON keeps it, so values round-trip."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def optional_stored(moment: datetime | None) -> datetime | None:
    """``stored`` that lets None through."""
    return None if moment is None else stored(moment)


def loaded(moment: datetime) -> datetime:
    """A stored datetime as an aware UTC value (drivers and the emulation differ in tzinfo)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def optional_loaded(moment: datetime | None) -> datetime | None:
    """``loaded`` that lets None through."""
    return None if moment is None else loaded(moment)


def _timeouts(uri: str) -> dict[str, Any]:
    given = {name.lower() for name, _ in parse_qsl(urlsplit(uri).query)}
    return {name: ms for name, ms in TIMEOUTS_MS.items() if name.lower() not in given}


def _redacted(message: str, uri: str) -> str:
    """A driver message with the URI's password (if any) blotted out."""
    password = urlsplit(uri).password
    return message.replace(password, "***") if password else message


def _hosts(uri: str) -> str:
    """The URI's host list without credentials or options, for messages."""
    netloc = urlsplit(uri).netloc
    return netloc.rpartition("@")[2] or "(no host)"
