"""Sessions and refresh-token rotation in MongoDB: one document per session.

The hashes a session's refresh token had before are kept in the session document itself
(``rotated``), so rotating is one atomic single-document update and needs no transaction.
"""

from __future__ import annotations

import inspect
from datetime import datetime

from pymongo import DESCENDING, ReturnDocument

from gateway_auth.models import Client, Session
from gateway_auth.stores.base import Rotation, RotationResult
from gateway_auth.stores.mongo.clients import client_from
from gateway_auth.stores.mongo.database import (
    Doc,
    MongoDatabase,
    loaded,
    optional_loaded,
    optional_stored,
    stored,
    translated,
)

# Rotated hashes kept per session for reuse detection (RFC 9700 4.14.2): about ten days of
# refreshes every fifteen minutes. An older one presented again is refused as unknown instead.
ROTATED_KEPT = 1000


def active(now: datetime) -> Doc:
    """The filter for sessions that are neither revoked nor past either limit."""
    moment = stored(now)
    return {
        "revoked_at": None,
        "expires_at": {"$gt": moment},
        "absolute_expires_at": {"$gt": moment},
    }


class MongoSessions(MongoDatabase):
    """The SessionStore protocol."""

    async def add_session(self, session: Session, refresh_hash: str) -> None:
        """Insert a new session."""
        async with translated():
            await self._sessions.insert_one(session_doc(session, refresh_hash, []))

    async def get_session(self, session_id: str) -> Session | None:
        """A session by id, revoked or not."""
        async with translated():
            doc = await self._sessions.find_one({"_id": {"$eq": session_id}}, {"rotated": 0})
        return session_from(doc) if doc else None

    async def session_and_client(self, session_id: str) -> tuple[Session | None, Client | None]:
        """One aggregation: the session and, joined by ``$lookup``, its client."""
        async with translated():
            found = self._sessions.aggregate(
                [
                    {"$match": {"_id": {"$eq": session_id}}},
                    {"$limit": 1},
                    {"$project": {"rotated": 0}},
                    {
                        "$lookup": {
                            "from": self._clients.name,
                            "localField": "client_id",
                            "foreignField": "_id",
                            "as": "clients",
                        }
                    },
                ]
            )
            cursor = await found if inspect.isawaitable(found) else found
            docs = [doc async for doc in cursor]
        if not docs:
            return None, None
        clients = [doc for doc in docs[0].pop("clients") if doc.get("deleted_at") is None]
        return session_from(docs[0]), client_from(clients[0]) if clients else None

    async def refresh_hash(self, session_id: str) -> str | None:
        """The hash of the session's current refresh token."""
        async with translated():
            doc = await self._sessions.find_one(
                {"_id": {"$eq": session_id}}, {"refresh_hash": 1, "_id": 0}
            )
        return str(doc["refresh_hash"]) if doc else None

    async def rotate_refresh_token(self, rotation: Rotation) -> RotationResult:
        """Swap the hash only while it is current: the conditional update decides every race."""
        now = stored(rotation.now)
        async with translated():
            doc = await self._sessions.find_one_and_update(
                {
                    "_id": {"$eq": rotation.session_id},
                    "refresh_hash": {"$eq": rotation.presented_hash},
                    **active(now),
                },
                {
                    "$set": {
                        "refresh_hash": rotation.new_hash,
                        "last_used_at": now,
                        "expires_at": stored(rotation.expires_at),
                    },
                    "$push": {
                        "rotated": {
                            "$each": [{"hash": rotation.presented_hash, "at": now}],
                            "$slice": -ROTATED_KEPT,
                        }
                    },
                },
                projection={"rotated": 0},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return RotationResult("rotated", session=session_from(doc))
            earlier = await self._sessions.find_one(
                {
                    "_id": {"$eq": rotation.session_id},
                    "rotated.hash": {"$eq": rotation.presented_hash},
                },
                {"rotated": 1},
            )
        if earlier is not None:
            at = next(r["at"] for r in earlier["rotated"] if r["hash"] == rotation.presented_hash)
            return RotationResult("reused", rotated_at=loaded(at))
        return RotationResult("invalid")

    async def list_sessions(self, client_id: str, now: datetime) -> list[Session]:
        """The client's active sessions, most recently used first."""
        async with translated():
            cursor = self._sessions.find(
                {"client_id": {"$eq": client_id}, **active(now)}, {"rotated": 0}
            ).sort([("last_used_at", DESCENDING), ("_id", 1)])
            docs = await cursor.to_list(None)
        return [session_from(doc) for doc in docs]

    async def elevate_session(
        self, session_id: str, until: datetime, now: datetime
    ) -> Session | None:
        """Put the elevated scopes in force until ``until``; None for a revoked or unknown one."""
        async with translated():
            doc = await self._sessions.find_one_and_update(
                {"_id": {"$eq": session_id}, **active(now)},
                {"$set": {"elevated_until": stored(until)}},
                return_document=ReturnDocument.AFTER,
            )
        return session_from(doc) if doc else None

    async def prove_session(
        self, session_id: str, amr: tuple[str, ...], now: datetime
    ) -> Session | None:
        """Set the amr of an active session; None for a revoked or unknown one."""
        async with translated():
            doc = await self._sessions.find_one_and_update(
                {"_id": {"$eq": session_id}, **active(now)},
                {"$set": {"amr": list(amr)}},
                return_document=ReturnDocument.AFTER,
            )
        return session_from(doc) if doc else None

    async def provider_sessions(
        self, provider: str, *, provider_sid: str | None, client_id: str | None
    ) -> list[str]:
        """By the provider's index."""
        if provider_sid is None and client_id is None:
            return []
        query: Doc = {"provider": {"$eq": provider}, "revoked_at": None}
        if provider_sid is not None:
            query["provider_sid"] = {"$eq": provider_sid}
        if client_id is not None:
            query["client_id"] = {"$eq": client_id}
        async with translated():
            docs = await self._sessions.find(query, {"_id": 1}).to_list(None)
        return [doc["_id"] for doc in docs]

    async def revoke_session(self, session_id: str, now: datetime) -> bool:
        """Mark one session revoked (idempotent); False if it does not exist."""
        async with translated():
            result = await self._sessions.update_one(
                {"_id": {"$eq": session_id}, "revoked_at": None},
                {"$set": {"revoked_at": stored(now)}},
            )
            if result.matched_count:
                return True
            return await self._sessions.count_documents({"_id": {"$eq": session_id}}) > 0

    async def revoke_family(self, session_id: str, now: datetime) -> list[str]:
        """Revoke the active sessions of ``session_id``'s family, each conditionally; the ids
        this call revoked."""
        async with translated():
            doc = await self._sessions.find_one({"_id": {"$eq": session_id}}, {"family": 1})
        if doc is None:
            return []
        root = doc.get("family") or session_id
        return await self._revoke_each({"$or": [{"_id": root}, {"family": root}]}, now)

    async def revoke_client_sessions(
        self, client_id: str, now: datetime, *, keep: str | None = None
    ) -> list[str]:
        """Revoke the client's active sessions except ``keep``; the ids revoked."""
        return await self._revoke_sessions(client_id, now, keep)

    async def prune_sessions(self, before: datetime) -> int:
        """Delete sessions that expired or were revoked before ``before``."""
        cutoff = stored(before)
        async with translated():
            result = await self._sessions.delete_many(
                {
                    "$or": [
                        {"expires_at": {"$lt": cutoff}},
                        {"absolute_expires_at": {"$lt": cutoff}},
                        {"revoked_at": {"$lt": cutoff}},
                    ]
                }
            )
        return result.deleted_count

    async def _revoke_sessions(self, client_id: str, now: datetime, keep: str | None) -> list[str]:
        query: Doc = {"client_id": {"$eq": client_id}, "_id": {"$ne": keep}}
        return await self._revoke_each(query, now)

    async def _revoke_each(self, query: Doc, now: datetime) -> list[str]:
        """Revoke one by one, each conditionally, so the ids returned are exactly those this
        call revoked even when another instance revokes some of them at the same time."""
        moment = stored(now)
        revoked = []
        async with translated():
            cursor = self._sessions.find({**query, "revoked_at": None}, {"_id": 1})
            for doc in await cursor.to_list(None):
                result = await self._sessions.update_one(
                    {"_id": doc["_id"], "revoked_at": None}, {"$set": {"revoked_at": moment}}
                )
                if result.modified_count:
                    revoked.append(doc["_id"])
        return revoked


def session_doc(session: Session, refresh_hash: str, rotated: list[Doc]) -> Doc:
    """The stored form of a session."""
    return {
        "_id": session.id,
        "client_id": session.client_id,
        "refresh_hash": refresh_hash,
        "created_at": stored(session.created_at),
        "last_used_at": stored(session.last_used_at),
        "expires_at": stored(session.expires_at),
        "absolute_expires_at": stored(session.absolute_expires_at),
        "user_agent": session.user_agent,
        "ip": session.ip,
        "revoked_at": optional_stored(session.revoked_at),
        "persistent": session.persistent,
        "scopes": list(session.scopes) if session.scopes is not None else None,
        "amr": list(session.amr),
        "provider": session.provider,
        "provider_sid": session.provider_sid,
        "family": session.family,
        "rotated": rotated,
    }


def session_from(doc: Doc) -> Session:
    """The Session a stored document describes."""
    return Session(
        id=doc["_id"],
        client_id=doc["client_id"],
        created_at=loaded(doc["created_at"]),
        last_used_at=loaded(doc["last_used_at"]),
        expires_at=loaded(doc["expires_at"]),
        absolute_expires_at=loaded(doc["absolute_expires_at"]),
        user_agent=doc["user_agent"],
        ip=doc["ip"],
        revoked_at=optional_loaded(doc.get("revoked_at")),
        persistent=doc.get("persistent", True),  # sessions from before the choice existed
        elevated_until=optional_loaded(doc.get("elevated_until")),
        scopes=tuple(doc["scopes"]) if doc.get("scopes") is not None else None,
        amr=tuple(doc.get("amr") or ()),  # sessions from before second factors have none
        provider=doc.get("provider"),
        provider_sid=doc.get("provider_sid"),
        family=doc.get("family"),
    )
