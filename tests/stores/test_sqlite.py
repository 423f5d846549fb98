"""The embedded SQLite store on real files: permissions, migrations, constraints and races."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway_auth.datadir import ensure_data_dir
from gateway_auth.settings import ConfigurationError
from gateway_auth.stores.sqlite import DATABASE_FILE, SqliteStore
from gateway_auth.stores.sqlite.schema import SCHEMA_VERSION
from tests.records import a_client


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return ensure_data_dir(tmp_path / "data")


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(data_dir / DATABASE_FILE)
    yield store
    await store.close()


async def test_the_data_dir_and_every_database_file_are_private(
    store: SqliteStore, data_dir: Path
) -> None:
    await store.add_client(a_client(), "hash")  # forces the -wal and -shm files into being

    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = sorted(p.name for p in data_dir.iterdir())
    assert files == [DATABASE_FILE, f"{DATABASE_FILE}-shm", f"{DATABASE_FILE}-wal"]
    for path in data_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_wal_mode_and_schema_version(data_dir: Path, store: SqliteStore) -> None:
    with sqlite3.connect(data_dir / DATABASE_FILE) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_opening_again_migrates_nothing_and_keeps_data(
    data_dir: Path, store: SqliteStore
) -> None:
    await store.add_client(a_client(), "hash")

    again = await SqliteStore.open(data_dir / DATABASE_FILE)
    try:
        assert await again.get_client("c1") == a_client()
    finally:
        await again.close()


async def test_two_processes_opening_a_new_file_at_once_both_succeed(data_dir: Path) -> None:
    stores = await asyncio.gather(*(SqliteStore.open(data_dir / "race.db") for _ in range(3)))
    for store in stores:
        await store.ping()
        await store.close()


async def test_a_database_from_a_newer_release_is_refused(data_dir: Path) -> None:
    path = data_dir / "newer.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(ConfigurationError, match="newer than this release"):
        await SqliteStore.open(path)
