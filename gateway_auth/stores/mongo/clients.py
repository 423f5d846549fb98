"""Client records in MongoDB: one document per client, ``_id`` = client id.

Every value that came from a caller is matched with ``$eq``, so even a value that is not a string
(a ``{"$ne": ""}`` smuggled past validation) is compared literally, never run as an operator.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument

from gateway_auth.emails import email_key, email_skeleton
from gateway_auth.errors import EmailTaken
from gateway_auth.models import ADMIN_SCOPE, Client, Credentials
from gateway_auth.stores.base import ClientQuery, ProfileChanges, Suspension
from gateway_auth.stores.mongo.database import (
    Doc,
    MongoDatabase,
    loaded,
    optional_loaded,
    optional_stored,
    stored,
    translated,
)
from gateway_auth.stores.mongo.guard import admins_kept

_AFTER = ReturnDocument.AFTER


def live(client_id: str) -> Doc:
    """The filter for a client that is not deleted."""
    return {"_id": {"$eq": client_id}, "deleted_at": None}


class MongoClients(MongoDatabase):
    """The ClientStore protocol."""

    async def add_client(
        self, client: Client, password_hash: str | None, *, secret_hash: str | None = None
    ) -> None:
        """Insert a client; EmailTaken if the normalised email is in use (even by a client
        whose deletion event is not published yet)."""
        async with translated(on_conflict=EmailTaken):
            await self._clients.insert_one(client_doc(client, password_hash, secret_hash))

    async def get_client(self, client_id: str) -> Client | None:
        """A live client by id."""
        async with translated():
            doc = await self._clients.find_one(live(client_id))
        return client_from(doc) if doc else None

    async def get_credentials(self, email_key: str) -> Credentials | None:
        """A live client and its password hash, by normalised email."""
        async with translated():
            doc = await self._clients.find_one(
                {"email_key": {"$eq": email_key}, "deleted_at": None}
            )
        return Credentials(client_from(doc), doc.get("password_hash")) if doc else None

    async def get_password_hash(self, client_id: str) -> str | None:
        """The password hash of a live client."""
        return await self._field(client_id, "password_hash")

    async def get_secret_hash(self, client_id: str) -> str | None:
        """The client-secret hash of a live client (service clients have one)."""
        return await self._field(client_id, "secret_hash")

    async def set_secret_hash(self, client_id: str, secret_hash: str, now: datetime) -> bool:
        """Replace a live client's secret hash; False if there is no such client."""
        async with translated():
            result = await self._clients.update_one(
                live(client_id), {"$set": {"secret_hash": secret_hash, "updated_at": stored(now)}}
            )
        return result.matched_count > 0

    async def set_password_hash(self, client_id: str, password_hash: str, now: datetime) -> None:
        """Replace a live client's password hash."""
        async with translated():
            await self._clients.update_one(
                live(client_id),
                {"$set": {"password_hash": password_hash, "updated_at": stored(now)}},
            )

    async def update_profile(self, client_id: str, changes: ProfileChanges) -> Client | None:
        """Apply profile changes; EmailTaken on a clash; None if the client is gone."""
        values: Doc = {str(name): value for name, value in changes.values.items()}
        if "email" in values:
            values["email_key"] = email_key(values["email"] or "")
            values["email_skeleton"] = email_skeleton(values["email"] or "")
        if changes.email_verified is not None:
            values["email_verified"] = changes.email_verified
        if changes.scopes is not None:
            values["scopes"] = list(changes.scopes)
        if changes.groups is not None:
            values["groups"] = list(changes.groups)
        values["updated_at"] = stored(changes.updated_at)
        demoted = changes.scopes is not None and ADMIN_SCOPE not in changes.scopes
        async with (
            translated(on_conflict=EmailTaken),
            self._admins_kept(client_id, changes.updated_at) if demoted else nullcontext(),
        ):
            doc = await self._clients.find_one_and_update(
                live(client_id), {"$set": values}, return_document=_AFTER
            )
        return client_from(doc) if doc else None

    def _admins_kept(self, client_id: str, now: datetime) -> AbstractAsyncContextManager[None]:
        return admins_kept(self._guards, self._clients, client_id, now)

    async def set_suspended(self, client_id: str, suspension: Suspension) -> Client | None:
        """Suspend or restore a live client; repeating it keeps the first timestamp and reason."""
        change = {
            "suspended": suspension.suspended,
            "suspended_at": optional_stored(suspension.suspended_at),
            "suspend_reason": suspension.reason if suspension.suspended else None,
            "updated_at": stored(suspension.now),
        }
        async with (
            translated(),
            self._admins_kept(client_id, suspension.now) if suspension.suspended else nullcontext(),
        ):
            doc = await self._clients.find_one_and_update(
                {**live(client_id), "suspended": {"$ne": suspension.suspended}},
                {"$set": change},
                return_document=_AFTER,
            )
            if doc is None:  # already in that state, or no such client
                doc = await self._clients.find_one(live(client_id))
        return client_from(doc) if doc else None

    async def list_clients(self, query: ClientQuery) -> list[Client]:
        """Live clients matching the query, in creation order."""
        where: Doc = {"deleted_at": None}
        if query.after is not None:
            created, last_id = stored(query.after[0]), query.after[1]
            where["$or"] = [
                {"created_at": {"$gt": created}},
                {"created_at": {"$eq": created}, "_id": {"$gt": last_id}},
            ]
        if query.email_prefix:
            where["email_key"] = prefix_range(query.email_prefix)
        if query.suspended is not None:
            where["suspended"] = {"$eq": query.suspended}
        if query.kind is not None:
            where["kind"] = {"$eq": query.kind}
        if query.scope is not None:
            where["scopes"] = {"$eq": query.scope}  # matches an array holding it
        async with translated():
            cursor = self._clients.find(where).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            docs = await cursor.limit(query.limit).to_list(None)
        return [client_from(doc) for doc in docs]

    async def upgrade_guest(
        self, client_id: str, email: str, password_hash: str, now: datetime
    ) -> Client | None:
        """One conditional update: only a live guest becomes a user."""
        change = {
            "kind": "user",
            "email": email,
            "email_key": email_key(email),
            "email_skeleton": email_skeleton(email),
            "password_hash": password_hash,
            "scopes": [],
            "email_verified": False,
            "updated_at": stored(now),
        }
        async with translated(on_conflict=EmailTaken):
            doc = await self._clients.find_one_and_update(
                {**live(client_id), "kind": "guest"}, {"$set": change}, return_document=_AFTER
            )
        return client_from(doc) if doc else None

    async def set_email_verified(
        self, client_id: str, email_key: str, verified: bool, now: datetime
    ) -> Client | None:
        """Mark the email (un)verified while it is still the one with ``email_key``."""
        async with translated():
            doc = await self._clients.find_one_and_update(
                {**live(client_id), "email_key": {"$eq": email_key}},
                {"$set": {"email_verified": verified, "updated_at": stored(now)}},
                return_document=_AFTER,
            )
        return client_from(doc) if doc else None

    async def _field(self, client_id: str, name: str) -> str | None:
        async with translated():
            doc = await self._clients.find_one(live(client_id), {name: 1})
        return doc.get(name) if doc else None


def prefix_range(prefix: str) -> Doc:
    """Strings that start with ``prefix``, as an index range rather than a regular expression,
    so no character of the prefix has a special meaning (MongoDB compares code points, like
    Python, because UTF-8 preserves their order)."""
    successor = prefix[:-1] + chr(ord(prefix[-1]) + 1) if ord(prefix[-1]) < 0x10FFFF else None
    bounds: Doc = {"$gte": prefix}
    if successor is not None:
        bounds["$lt"] = successor
    return bounds


def client_doc(client: Client, password_hash: str | None, secret_hash: str | None) -> Doc:
    """The stored form of a live client."""
    return {
        "_id": client.id,
        "email": client.email,
        "email_key": email_key(client.email),
        "email_skeleton": email_skeleton(client.email),
        "kind": client.kind,
        "scopes": list(client.scopes),
        "first_name": client.first_name,
        "last_name": client.last_name,
        "password_hash": password_hash,
        "secret_hash": secret_hash,
        "suspended": client.suspended,
        "suspended_at": optional_stored(client.suspended_at),
        "suspend_reason": client.suspend_reason,
        "created_at": stored(client.created_at),
        "updated_at": stored(client.updated_at),
        "deleted_at": None,
        "email_verified": client.email_verified,
        "groups": list(client.groups),
    }


def client_from(doc: Doc) -> Client:
    """The Client a stored document describes."""
    return Client(
        id=doc["_id"],
        email=doc["email"],
        kind=doc["kind"],
        scopes=tuple(doc["scopes"]),
        first_name=doc.get("first_name"),
        last_name=doc.get("last_name"),
        suspended=bool(doc["suspended"]),
        suspended_at=optional_loaded(doc.get("suspended_at")),
        suspend_reason=doc.get("suspend_reason"),
        created_at=loaded(doc["created_at"]),
        updated_at=loaded(doc["updated_at"]),
        # Absent from documents an earlier release wrote: nobody was verified then.
        email_verified=bool(doc.get("email_verified", False)),
        groups=tuple(doc.get("groups", ())),  # absent before groups existed
    )
