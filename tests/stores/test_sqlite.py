"""The embedded SQLite store on real files: permissions, migrations, constraints and races."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway_auth.config.datadir import ensure_data_dir
from gateway_auth.emails import email_key, email_skeleton
from gateway_auth.errors import ConfigurationError
from gateway_auth.stores.sqlite import DATABASE_FILE, SqliteStore
from gateway_auth.stores.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from tests.support.records import a_client


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


async def test_an_older_database_gets_new_email_keys_and_look_alikes_keep_working(
    data_dir: Path,
) -> None:
    # A version-3 database holding addresses the new rules call the same or look-alike.
    path = data_dir / "old.db"
    _version_3_database(
        path, ["ada@example.com", "\N{CYRILLIC SMALL LETTER A}da@example.com", "Bob@Bücher.example"]
    )

    store = await SqliteStore.open(path)
    try:
        found = [
            await store.get_credentials(email_key(e))
            for e in (
                "ADA@example.com",
                "\N{CYRILLIC SMALL LETTER A}da@example.com",
                "bob@xn--bcher-kva.example",
            )
        ]
    finally:
        await store.close()

    assert [c.client.id if c else None for c in found] == ["c0", "c1", "c2"]
    with sqlite3.connect(path) as db:
        skeletons = dict(db.execute("SELECT id, email_skeleton FROM clients").fetchall())
    assert skeletons["c0"] == email_skeleton("ada@example.com")
    assert skeletons["c1"] == "kept:c1"  # the later look-alike keeps working; it matches nothing
    assert skeletons["c2"] == email_skeleton("bob@bücher.example")


async def test_a_new_key_that_is_another_rows_old_key_does_not_stop_the_migration(
    data_dir: Path,
) -> None:
    # The older row's new key ("a@example.com") is the newer row's old one.
    path = data_dir / "clash.db"
    _version_3_database(path, ["\N{FULLWIDTH LATIN SMALL LETTER A}@example.com", "a@example.com"])

    store = await SqliteStore.open(path)
    try:
        older = await store.get_credentials(email_key("a@example.com"))
        newer = await store.get_client("c1")
    finally:
        await store.close()

    assert older is not None
    assert older.client.id == "c0"
    assert newer is not None  # kept, for an operator to rename


def _version_3_database(path: Path, emails: list[str]) -> None:
    """A database as release 3 left it, holding ``emails`` (client ``c<n>``, oldest first) under
    the key rule of that time."""
    with sqlite3.connect(path) as db:
        for statement in (s for migration in MIGRATIONS[:3] for s in migration):
            db.execute(statement)
        db.execute("PRAGMA user_version = 3")
        for n, email in enumerate(emails):
            db.execute(
                "INSERT INTO clients (id, email, email_key, kind, created_at, updated_at)"
                " VALUES (?, ?, ?, 'user', ?, ?)",
                (f"c{n}", email, email.casefold(), n, n),
            )
