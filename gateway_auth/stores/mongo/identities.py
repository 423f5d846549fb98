"""Accounts at other identity providers in MongoDB: one document per (provider, subject),
whose ``_id`` is ``provider:subject``, so a second link of one identity clashes on insert."""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from gateway_auth.models import LinkedIdentity
from gateway_auth.stores.mongo.clients import live
from gateway_auth.stores.mongo.database import (
    Doc,
    MongoDatabase,
    loaded,
    optional_loaded,
    optional_stored,
    stored,
    translated,
)


class MongoIdentities(MongoDatabase):
    """The IdentityStore protocol."""

    async def link_identity(self, identity: LinkedIdentity) -> bool:
        """Insert when the client is live; a client deleted meanwhile loses the link again
        (no transactions: the insert, then a second look)."""
        async with translated():
            if await self._clients.count_documents(live(identity.client_id), limit=1) == 0:
                return False
            try:
                await self._identities.insert_one(identity_doc(identity))
            except DuplicateKeyError:
                return False
            if await self._clients.count_documents(live(identity.client_id), limit=1) == 0:
                await self._identities.delete_one({"_id": {"$eq": key(identity)}})
                return False
        return True

    async def identity(self, provider: str, subject: str) -> LinkedIdentity | None:
        """By its key."""
        async with translated():
            doc = await self._identities.find_one({"_id": {"$eq": f"{provider}:{subject}"}})
        return identity_from(doc) if doc else None

    async def identities(self, client_id: str) -> list[LinkedIdentity]:
        """Oldest first."""
        async with translated():
            found = self._identities.find({"client_id": {"$eq": client_id}})
            docs = await found.sort([("created_at", 1), ("_id", 1)]).to_list(None)
        return [identity_from(doc) for doc in docs]

    async def use_identity(self, provider: str, subject: str, email: str, at: datetime) -> None:
        """One update."""
        async with translated():
            await self._identities.update_one(
                {"_id": {"$eq": f"{provider}:{subject}"}},
                {"$set": {"email": email, "last_used_at": stored(at)}},
            )

    async def unlink_identity(self, client_id: str, provider: str, subject: str) -> bool:
        """Only the client's own."""
        async with translated():
            result = await self._identities.delete_one(
                {"_id": {"$eq": f"{provider}:{subject}"}, "client_id": {"$eq": client_id}}
            )
        return result.deleted_count == 1


def key(identity: LinkedIdentity) -> str:
    """The document's ``_id``."""
    return f"{identity.provider}:{identity.subject}"


def identity_doc(identity: LinkedIdentity) -> Doc:
    """The stored form of a link."""
    return {
        "_id": key(identity),
        "provider": identity.provider,
        "subject": identity.subject,
        "client_id": identity.client_id,
        "email": identity.email,
        "created_at": stored(identity.created_at),
        "last_used_at": optional_stored(identity.last_used_at),
    }


def identity_from(doc: Doc) -> LinkedIdentity:
    """The LinkedIdentity a stored document describes."""
    return LinkedIdentity(
        provider=doc["provider"],
        subject=doc["subject"],
        client_id=doc["client_id"],
        email=doc["email"],
        created_at=loaded(doc["created_at"]),
        last_used_at=optional_loaded(doc.get("last_used_at")),
    )
