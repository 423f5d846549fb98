"""Single-use account tokens (password reset, email verification) in MongoDB: ``_id`` is the
token's SHA-256, so a use is one conditional update."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import get_args

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from gateway_auth.stores.base import AccountToken, TokenPurpose, TokenRedemption
from gateway_auth.stores.mongo.database import (
    Doc,
    MongoDatabase,
    loaded,
    optional_loaded,
    stored,
    translated,
)

TOKEN_PURPOSES: tuple[TokenPurpose, ...] = get_args(TokenPurpose)


def mail_slot(client_id: str, purpose: TokenPurpose) -> str:
    """The ``guards`` document that spaces out the client's mails of ``purpose``."""
    return f"mail:{client_id}:{purpose}"


class MongoAccountTokens(MongoDatabase):
    """The AccountTokenStore protocol (expired tokens are also dropped by a TTL index)."""

    async def add_account_token(
        self, token: AccountToken, spacing: timedelta | None = None
    ) -> bool:
        """Drop the client's earlier unused tokens of the same purpose, then insert this one;
        with ``spacing``, first take the client's mail slot (``spaced``)."""
        if spacing is not None and not await self._spaced(token, spacing):
            return False
        await self.drop_account_tokens(token.client_id, token.purpose)
        async with translated():
            await self._tokens.insert_one(
                {
                    "_id": token.token_hash,
                    "client_id": token.client_id,
                    "purpose": token.purpose,
                    "email_key": token.email_key,
                    "created_at": stored(token.created_at),
                    "expires_at": stored(token.expires_at),
                    "used_at": None,
                }
            )
        return True

    async def _spaced(self, token: AccountToken, spacing: timedelta) -> bool:
        """Take the slot of the client and purpose in ``guards`` (a conditional upsert: free
        when its last mail is older than ``spacing`` or went to another address), so instances
        cannot both mail within ``spacing``. The address is kept only as its SHA-256."""
        address = hashlib.sha256(token.email_key.encode()).hexdigest()
        async with translated():
            try:
                await self._guards.find_one_and_update(
                    {
                        "_id": mail_slot(token.client_id, token.purpose),
                        "$or": [
                            {"at": {"$lte": stored(token.created_at - spacing)}},
                            {"address": {"$ne": address}},
                        ],
                    },
                    {"$set": {"at": stored(token.created_at), "address": address}},
                    upsert=True,
                )
            except DuplicateKeyError:  # taken: a mail went to this address within ``spacing``
                return False
        return True

    async def last_account_token(
        self, client_id: str, purpose: TokenPurpose
    ) -> AccountToken | None:
        """The newest token of the client and purpose."""
        async with translated():
            doc = await self._tokens.find_one(
                {"client_id": {"$eq": client_id}, "purpose": {"$eq": purpose}},
                sort=[("created_at", DESCENDING)],
            )
        return token_from(doc) if doc else None

    async def use_account_token(
        self, token_hash: str, purpose: TokenPurpose, now: datetime
    ) -> TokenRedemption:
        """One conditional update: unused, unexpired, of this purpose."""
        moment = stored(now)
        mine = {"_id": {"$eq": token_hash}, "purpose": {"$eq": purpose}}
        async with translated():
            doc = await self._tokens.find_one_and_update(
                {**mine, "used_at": None, "expires_at": {"$gt": moment}},
                {"$set": {"used_at": moment}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return TokenRedemption("used", token_from(doc))
            doc = await self._tokens.find_one(mine)
        if doc is None:
            return TokenRedemption("unknown")
        return TokenRedemption("spent" if doc.get("used_at") is not None else "expired")

    async def drop_account_tokens(self, client_id: str, purpose: TokenPurpose) -> None:
        """Delete the client's unused tokens of this purpose."""
        async with translated():
            await self._tokens.delete_many(
                {"client_id": {"$eq": client_id}, "purpose": {"$eq": purpose}, "used_at": None}
            )

    async def prune_account_tokens(self, before: datetime) -> int:
        """Delete tokens that expired before ``before``."""
        async with translated():
            result = await self._tokens.delete_many({"expires_at": {"$lt": stored(before)}})
        return result.deleted_count


def token_from(doc: Doc) -> AccountToken:
    """The AccountToken a stored document describes."""
    return AccountToken(
        token_hash=doc["_id"],
        client_id=doc["client_id"],
        purpose=doc["purpose"],
        email_key=doc["email_key"],
        created_at=loaded(doc["created_at"]),
        expires_at=loaded(doc["expires_at"]),
        used_at=optional_loaded(doc.get("used_at")),
    )
