"""Second factors in MongoDB: one document per client (``_id`` is its id) holding the sealed
TOTP secret and the recovery codes' hashes, so every use is one conditional update; and one
document per WebAuthn credential (``_id`` is the credential's id), found by it at sign-in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from gateway_auth.models import Passkey, SecondFactors, TotpFactor
from gateway_auth.stores.mongo.database import (
    Doc,
    MongoDatabase,
    loaded,
    optional_loaded,
    optional_stored,
    stored,
    translated,
)


class MongoFactors(MongoDatabase):
    """The FactorStore protocol."""

    async def second_factors(self, client_id: str) -> SecondFactors:
        """The client's secret (sealed) and how many recovery codes are left."""
        async with translated():
            doc = await self._factors.find_one({"_id": {"$eq": client_id}})
            found = self._passkeys.find({"client_id": {"$eq": client_id}})
            keys = tuple(passkey_from(key) for key in await found.sort(_BY_AGE).to_list(None))
        if doc is None:
            return SecondFactors(passkeys=keys)
        totp = totp_from(client_id, doc.get("totp"))
        return SecondFactors(totp, len(doc.get("recovery", [])), keys)

    async def put_totp(self, factor: TotpFactor) -> bool:
        """Set the secret unless a confirmed one is there; the upsert's insert clashes on
        ``_id`` when the document exists with a confirmed secret, which means no."""
        async with translated():
            try:
                await self._factors.update_one(
                    {"_id": {"$eq": factor.client_id}, "totp.confirmed_at": None},
                    {"$set": {"totp": totp_doc(factor)}},
                    upsert=True,
                )
            except DuplicateKeyError:
                return False
        return True

    async def use_totp_step(self, client_id: str, step: int) -> bool:
        """One conditional update: confirmed, and no code of this step or later taken."""
        return await self._changed(
            {
                "_id": {"$eq": client_id},
                "totp.confirmed_at": {"$ne": None},
                "totp.last_step": {"$lt": step},
            },
            {"$set": {"totp.last_step": step, "totp.failures": 0}},
        )

    async def count_code_failure(self, client_id: str) -> int:
        """``$inc`` on the app, reading the count back."""
        async with translated():
            doc = await self._factors.find_one_and_update(
                {"_id": {"$eq": client_id}, "totp": {"$ne": None}},
                {"$inc": {"totp.failures": 1}},
                return_document=ReturnDocument.AFTER,
            )
        return int(doc["totp"]["failures"]) if doc else 0

    async def clear_code_failures(self, client_id: str) -> None:
        """Restart the count."""
        await self._changed(
            {"_id": {"$eq": client_id}, "totp.failures": {"$gt": 0}},
            {"$set": {"totp.failures": 0}},
        )

    async def remove_totp(self, client_id: str) -> bool:
        """Unset the client's secret."""
        return await self._changed(
            {"_id": {"$eq": client_id}, "totp": {"$ne": None}}, {"$unset": {"totp": ""}}
        )

    async def replace_recovery_codes(self, client_id: str, hashes: Sequence[str]) -> None:
        """Set the whole list in one write."""
        async with translated():
            await self._factors.update_one(
                {"_id": {"$eq": client_id}},
                {"$set": {"recovery": sorted(set(hashes))}},
                upsert=True,
            )

    async def use_recovery_code(self, client_id: str, code_hash: str) -> bool:
        """Pull the code, only from a document that holds it."""
        return await self._changed(
            {"_id": {"$eq": client_id}, "recovery": {"$eq": code_hash}},
            {"$pull": {"recovery": code_hash}},
        )

    async def add_passkey(self, passkey: Passkey) -> bool:
        """Insert; the credential's id is ``_id``, so a second one clashes."""
        async with translated():
            try:
                await self._passkeys.insert_one(passkey_doc(passkey))
            except DuplicateKeyError:
                return False
        return True

    async def passkey(self, credential_id: str) -> Passkey | None:
        """By its id."""
        async with translated():
            doc = await self._passkeys.find_one({"_id": {"$eq": credential_id}})
        return passkey_from(doc) if doc else None

    async def use_passkey(
        self, credential_id: str, seen_count: int, new_count: int, at: datetime
    ) -> bool:
        """One conditional update on the counter as it was read."""
        async with translated():
            result = await self._passkeys.update_one(
                {"_id": {"$eq": credential_id}, "sign_count": {"$eq": seen_count}},
                {"$set": {"sign_count": new_count, "last_used_at": stored(at)}},
            )
        return result.matched_count == 1

    async def rename_passkey(self, client_id: str, credential_id: str, name: str) -> bool:
        """Only the owner's."""
        async with translated():
            result = await self._passkeys.update_one(
                {"_id": {"$eq": credential_id}, "client_id": {"$eq": client_id}},
                {"$set": {"name": name}},
            )
        return result.matched_count == 1

    async def remove_passkey(self, client_id: str, credential_id: str) -> bool:
        """Only the owner's."""
        async with translated():
            result = await self._passkeys.delete_one(
                {"_id": {"$eq": credential_id}, "client_id": {"$eq": client_id}}
            )
        return result.deleted_count == 1

    async def remove_passkeys(self, client_id: str) -> int:
        """Every one of the client's."""
        async with translated():
            result = await self._passkeys.delete_many({"client_id": {"$eq": client_id}})
        return int(result.deleted_count)

    async def _changed(self, query: Doc, update: Doc) -> bool:
        async with translated():
            result = await self._factors.update_one(query, update)
        return result.modified_count == 1


def totp_doc(factor: TotpFactor) -> Doc:
    """The stored form of a TOTP secret."""
    return {
        "secret": factor.sealed_secret,
        "created_at": stored(factor.created_at),
        "confirmed_at": optional_stored(factor.confirmed_at),
        "last_step": factor.last_step,
        "failures": factor.failures,
    }


def totp_from(client_id: str, doc: Any) -> TotpFactor | None:
    """The TotpFactor a stored ``totp`` field describes (None when absent)."""
    if not doc:
        return None
    return TotpFactor(
        client_id=client_id,
        sealed_secret=doc["secret"],
        created_at=loaded(doc["created_at"]),
        confirmed_at=optional_loaded(doc.get("confirmed_at")),
        last_step=int(doc.get("last_step", 0)),
        failures=int(doc.get("failures", 0)),
    )


_BY_AGE = [("created_at", 1), ("_id", 1)]


def passkey_doc(passkey: Passkey) -> Doc:
    """The stored form of a WebAuthn credential."""
    return {
        "_id": passkey.credential_id,
        "client_id": passkey.client_id,
        "public_key": passkey.public_key,
        "sign_count": passkey.sign_count,
        "name": passkey.name,
        "created_at": stored(passkey.created_at),
        "last_used_at": optional_stored(passkey.last_used_at),
        "synced": passkey.synced,
        "transports": list(passkey.transports),
        "aaguid": passkey.aaguid,
    }


def passkey_from(doc: Doc) -> Passkey:
    """The Passkey a stored document describes."""
    return Passkey(
        credential_id=doc["_id"],
        client_id=doc["client_id"],
        public_key=bytes(doc["public_key"]),
        sign_count=int(doc["sign_count"]),
        name=doc["name"],
        created_at=loaded(doc["created_at"]),
        last_used_at=optional_loaded(doc.get("last_used_at")),
        synced=bool(doc.get("synced", False)),
        transports=tuple(doc.get("transports", ())),
        aaguid=doc.get("aaguid", ""),
    )
