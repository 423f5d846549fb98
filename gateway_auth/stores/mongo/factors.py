"""Second factors in MongoDB: one document per client (``_id`` is its id) holding the sealed
TOTP secret and the recovery codes' hashes, so every use is one conditional update."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from gateway_auth.models import SecondFactors, TotpFactor
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
        if doc is None:
            return SecondFactors()
        return SecondFactors(totp_from(client_id, doc.get("totp")), len(doc.get("recovery", [])))

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
