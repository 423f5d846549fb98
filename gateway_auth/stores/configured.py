"""Which store the settings select: MongoDB when ``MONGODB_URI`` is set, else the SQLite file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway_auth.config.settings import Settings
from gateway_auth.stores.base import Store
from gateway_auth.stores.mongo import MongoStore
from gateway_auth.stores.sqlite import DATABASE_FILE, SqliteStore

StoreOpener = Callable[[Settings], Awaitable[Store]]


async def open_store(settings: Settings) -> Store:
    """Open (and prepare: migrations, indexes) the configured store; the data directory is
    ``open_services``' to prepare."""
    if settings.mongodb_uri is not None:
        return await MongoStore.open(settings.mongodb_uri.reveal(), settings.mongodb_database)
    return await SqliteStore.open(settings.data_dir / DATABASE_FILE)
