"""The stores a test can run on: SQLite, the MongoDB emulation, and a real mongod when
GATEWAY_AUTH_TEST_MONGODB_URI names one (no mongod can be installed on the build machines)."""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, cast

from mongomock_motor import AsyncMongoMockClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

from gateway_auth.config.datadir import ensure_data_dir
from gateway_auth.config.settings import Settings
from gateway_auth.stores.base import Store
from gateway_auth.stores.configured import StoreOpener, open_store
from gateway_auth.stores.mongo import MongoStore

MONGODB_URI = os.environ.get("GATEWAY_AUTH_TEST_MONGODB_URI", "")
# A real mongod joins only when configured; the session header says which stores run.
STORES = ["sqlite", "mongo-emulated", *(["mongo"] if MONGODB_URI else [])]


def stores_header() -> str:
    """One line for pytest's header: which stores the contract and API suites run on."""
    if MONGODB_URI:
        return f"stores: {', '.join(STORES)} (a real mongod from GATEWAY_AUTH_TEST_MONGODB_URI)"
    return (
        f"stores: {', '.join(STORES)}; no real mongod"
        " (set GATEWAY_AUTH_TEST_MONGODB_URI=mongodb://… to add one)"
    )


@asynccontextmanager
async def store_opener(kind: str) -> AsyncIterator[StoreOpener]:
    """How ``create_app`` (or a test) opens a store of ``kind``. Every store one opener opens
    shares its data, as instances sharing one file or one database do; closing a store cuts
    its connection, so later calls fail as after an outage. What it made is removed after."""
    if kind == "sqlite":

        async def sqlite(settings: Settings) -> Store:
            ensure_data_dir(settings.data_dir)  # as open_services prepares it
            return await open_store(settings)

        yield sqlite
    elif kind == "mongo-emulated":
        emulation: Any = AsyncMongoMockClient(tz_aware=True)

        async def emulated(settings: Settings) -> Store:
            link = _Link()
            database = link.wrap(emulation[settings.mongodb_database])
            return await MongoStore.on(cast(AsyncDatabase[dict[str, Any]], database), link.cut)

        yield emulated
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


async def _round_trip(answer: Awaitable[Any]) -> Any:
    """Other tasks run while a call is on its way, as with a real server, so races between
    instances (tests/contract/test_admins.py) are as open on the emulation as on MongoDB."""
    await asyncio.sleep(0)
    return await answer


class _Link:
    """The emulation runs in-process and cannot lose its connection; this switch makes every
    call through one store fail with the driver's own error once that store is closed."""

    def __init__(self) -> None:
        self.up = True

    def cut(self) -> None:
        self.up = False

    def wrap(self, target: Any) -> Any:
        link = self

        class Proxy:
            def __getitem__(self, name: str) -> Any:
                return link.wrap(target[name])

            def __getattr__(self, name: str) -> Any:
                attribute = getattr(target, name)
                if not callable(attribute):
                    return attribute

                def call(*args: Any, **kwargs: Any) -> Any:
                    if not link.up:
                        raise AutoReconnect("connection closed")
                    result = attribute(*args, **kwargs)
                    return _round_trip(result) if inspect.iscoroutine(result) else result

                return call

        return Proxy()
