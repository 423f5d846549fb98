"""Export and import of everything the MongoDB store holds (``gateway-auth export`` / ``import``).

Without a multi-document snapshot, a client created during an export may appear without its
sessions or the reverse; ``transfer.export_to`` drops sessions whose client it has not seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from pymongo import ASCENDING

from gateway_auth.errors import EmailTaken
from gateway_auth.models import LinkedIdentity, Passkey
from gateway_auth.stores.base import (
    ClientRecord,
    FactorRecord,
    PendingEvent,
    Record,
    SessionRecord,
    Tombstone,
)
from gateway_auth.stores.mongo.clients import client_doc, client_from
from gateway_auth.stores.mongo.database import (
    MongoDatabase,
    loaded,
    optional_loaded,
    optional_stored,
    stored,
    translated,
)
from gateway_auth.stores.mongo.deletions import outbox_doc, pending_from
from gateway_auth.stores.mongo.factors import passkey_doc, passkey_from, totp_doc, totp_from
from gateway_auth.stores.mongo.identities import identity_doc, identity_from
from gateway_auth.stores.mongo.sessions import ROTATED_KEPT, session_doc, session_from

_BY_CREATION = [("created_at", ASCENDING), ("_id", ASCENDING)]


class MongoTransfer(MongoDatabase):
    """The TransferStore protocol."""

    async def export_records(self) -> AsyncIterator[Record]:
        """Every record, collection by collection (clients first)."""
        async with translated():
            async for doc in self._clients.find().sort(_BY_CREATION):
                yield ClientRecord(
                    client_from(doc),
                    doc.get("password_hash"),
                    doc.get("secret_hash"),
                    optional_loaded(doc.get("deleted_at")),
                )
            async for doc in self._sessions.find().sort(_BY_CREATION):
                rotated = tuple((r["hash"], loaded(r["at"])) for r in doc.get("rotated", []))
                yield SessionRecord(session_from(doc), doc["refresh_hash"], rotated)
            async for doc in self._outbox.find({"delivered_at": None}).sort(_BY_CREATION):
                yield pending_from(doc)
            async for doc in self._tombstones.find().sort([("deleted_at", 1), ("_id", 1)]):
                yield Tombstone(doc["_id"], loaded(doc["deleted_at"]))
            keys: dict[str, list[Passkey]] = {}
            async for doc in self._passkeys.find().sort([("client_id", 1), ("created_at", 1)]):
                keys.setdefault(doc["client_id"], []).append(passkey_from(doc))
            async for doc in self._factors.find().sort([("_id", 1)]):
                totp = totp_from(doc["_id"], doc.get("totp"))
                own = tuple(keys.pop(doc["_id"], ()))
                yield FactorRecord(doc["_id"], totp, tuple(doc.get("recovery", ())), own)
            for client_id, passkeys in sorted(keys.items()):
                yield FactorRecord(client_id, None, (), tuple(passkeys))
            by_client = [("client_id", 1), ("created_at", 1), ("_id", 1)]
            async for doc in self._identities.find().sort(by_client):
                yield identity_from(doc)

    async def import_records(self, records: Sequence[Record]) -> None:
        """Replace-or-insert each record by id; EmailTaken on an email owned by another id."""
        async with translated(on_conflict=EmailTaken):
            for record in records:
                await self._import(record)

    async def _import(self, record: Record) -> None:
        match record:
            case ClientRecord(client=client):
                doc = client_doc(client, record.password_hash, record.secret_hash)
                doc["deleted_at"] = optional_stored(record.deleted_at)
                # An export can hold look-alikes that an upgrade kept working: keep them so.
                look_alike = {"email_skeleton": doc["email_skeleton"], "_id": {"$ne": client.id}}
                if await self._clients.find_one(look_alike, {"_id": 1}) is not None:
                    doc["email_skeleton"] = f"kept:{client.id}"
                await self._clients.replace_one({"_id": client.id}, doc, upsert=True)
            case SessionRecord(session=session):
                rotated = [
                    {"hash": hash_, "at": stored(at)}
                    for hash_, at in record.rotated[-ROTATED_KEPT:]
                ]
                doc = session_doc(session, record.refresh_hash, rotated)
                await self._sessions.replace_one({"_id": session.id}, doc, upsert=True)
            case PendingEvent(event=event):
                await self._outbox.replace_one({"_id": event.id}, outbox_doc(record), upsert=True)
            case Tombstone():
                await self._tombstones.update_one(
                    {"_id": record.client_id},
                    {"$setOnInsert": {"deleted_at": stored(record.deleted_at)}},
                    upsert=True,
                )
            case FactorRecord(totp=totp):
                doc = {"recovery": sorted(set(record.recovery_hashes))}
                if totp is not None:
                    doc["totp"] = totp_doc(totp)
                await self._factors.replace_one({"_id": record.client_id}, doc, upsert=True)
                await self._passkeys.delete_many({"client_id": {"$eq": record.client_id}})
                for passkey in record.passkeys:
                    await self._passkeys.replace_one(
                        {"_id": passkey.credential_id}, passkey_doc(passkey), upsert=True
                    )
            case LinkedIdentity():
                doc = identity_doc(record)
                await self._identities.replace_one({"_id": doc["_id"]}, doc, upsert=True)
