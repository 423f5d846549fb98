"""The stores a test can run on: SQLite, the MongoDB emulation, and a real mongod when
GATEWAY_AUTH_TEST_MONGODB_URI names one (no mongod can be installed on the build machines)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from gateway_auth.settings import Settings
from gateway_auth.stores.base import Store
from gateway_auth.stores.configured import StoreOpener, open_store
from gateway_auth.stores.mongo import MongoStore

MONGODB_URI = os.environ.get("GATEWAY_AUTH_TEST_MONGODB_URI", "")
STORES = [
    "sqlite",
    "mongo-emulated",
    pytest.param(
        "mongo",
        marks=pytest.mark.skipif(
            not MONGODB_URI,
            reason="no real mongod: set GATEWAY_AUTH_TEST_MONGODB_URI=mongodb://… to run these",
        ),
    ),
]


@asynccontextmanager
async def store_opener(kind: str) -> AsyncIterator[StoreOpener]:
    """How ``create_app`` (or a test) opens a store of ``kind``; what it made is removed after."""
    if kind == "sqlite":
        yield open_store
    elif kind == "mongo-emulated":
        yield _emulated
    else:
        name = f"gateway_auth_test_{secrets.token_hex(6)}"
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGODB_URI)

        async def real(settings: Settings) -> Store:
            return await MongoStore.open(MONGODB_URI, name)

        try:
            yield real
        finally:
            await client.drop_database(name)
            await client.close()


async def _emulated(settings: Settings) -> Store:
    """A fresh in-memory emulation per call (closing the store leaves it to the collector)."""
    database = AsyncMongoMockClient(tz_aware=True)[settings.mongodb_database]
    return await MongoStore.on(cast(AsyncDatabase[dict[str, Any]], database))
