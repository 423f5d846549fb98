"""The embedded SQLite store on real files: permissions, migrations, constraints and races."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway_auth.datadir import ensure_data_dir
from gateway_auth.errors import EmailTaken
from gateway_auth.models import Client, DeletionEvent, Session
from gateway_auth.settings import ConfigurationError
from gateway_auth.stores.base import ClientQuery, ProfileChanges, Rotation, Suspension
from gateway_auth.stores.sqlite import DATABASE_FILE, SqliteStore
from gateway_auth.stores.sqlite.schema import SCHEMA_VERSION

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _client(client_id: str = "c1", email: str = "ada@example.com") -> Client:
    return Client(
        id=client_id,
        email=email,
        kind="user",
        scopes=("admin",),
        first_name="Ada",
        last_name=None,
        suspended=False,
        suspended_at=None,
        suspend_reason=None,
        created_at=T0,
        updated_at=T0,
    )


def _session(session_id: str = "s1", client_id: str = "c1") -> Session:
    return Session(
        id=session_id,
        client_id=client_id,
        created_at=T0,
        last_used_at=T0,
        expires_at=T0 + timedelta(days=14),
        absolute_expires_at=T0 + timedelta(days=30),
        user_agent="test",
        ip="127.0.0.1",
        revoked_at=None,
    )


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
    await store.add_client(_client(), "hash")  # forces the -wal and -shm files into being

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
    await store.add_client(_client(), "hash")

    again = await SqliteStore.open(data_dir / DATABASE_FILE)
    try:
        assert await again.get_client("c1") == _client()
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


async def test_emails_are_unique_after_normalisation(store: SqliteStore) -> None:
    await store.add_client(_client(), "hash")

    with pytest.raises(EmailTaken):
        await store.add_client(_client("c2", "  ADA@example.COM "), "hash")
    assert (await store.get_credentials("ada@example.com")) is not None


async def test_email_lookup_is_literal(store: SqliteStore) -> None:
    await store.add_client(_client(), "hash")

    for probe in ("%", "ada%", "_da@example.com", "ada@example.com' OR '1'='1"):
        assert await store.get_credentials(probe) is None


async def test_profile_changes_and_email_clashes(store: SqliteStore) -> None:
    await store.add_client(_client(), "hash")
    await store.add_client(_client("c2", "eve@example.com"), "hash")
    later = T0 + timedelta(minutes=1)

    updated = await store.update_profile(
        "c1", ProfileChanges(later, {"first_name": None, "email": "Lovelace@example.com"})
    )
    with pytest.raises(EmailTaken):
        await store.update_profile("c2", ProfileChanges(later, {"email": "LOVELACE@example.com"}))

    assert updated is not None
    assert (updated.first_name, updated.email, updated.updated_at) == (
        None,
        "Lovelace@example.com",
        later,
    )
    assert await store.update_profile("nobody", ProfileChanges(later, {"last_name": "x"})) is None


async def test_only_one_of_two_concurrent_rotations_wins(store: SqliteStore) -> None:
    await store.add_client(_client(), "hash")
    await store.add_session(_session(), "h0")

    def rotation(new_hash: str) -> Rotation:
        return Rotation("s1", "h0", new_hash, T0, T0 + timedelta(days=14))

    results = await asyncio.gather(
        store.rotate_refresh_token(rotation("h1")), store.rotate_refresh_token(rotation("h2"))
    )

    assert sorted(r.outcome for r in results) == ["reused", "rotated"]
    session = await store.get_session("s1")
    winner = next(r for r in results if r.outcome == "rotated")
    assert winner.session == session
    unknown = await store.rotate_refresh_token(Rotation("s1", "never", "h3", T0, T0))
    assert unknown.outcome == "invalid"


async def test_a_revoked_or_expired_session_cannot_rotate(store: SqliteStore) -> None:
    await store.add_client(_client(), "hash")
    await store.add_session(_session("s1"), "a")
    await store.add_session(_session("s2"), "b")
    await store.revoke_session("s1", T0)
    late = T0 + timedelta(days=15)

    revoked = await store.rotate_refresh_token(Rotation("s1", "a", "x", T0, late))
    expired = await store.rotate_refresh_token(Rotation("s2", "b", "y", late, late))

    assert (revoked.outcome, expired.outcome) == ("invalid", "invalid")


async def test_sessions_are_revoked_per_client(store: SqliteStore) -> None:
    await store.add_client(_client(), "hash")
    await store.add_client(_client("c2", "eve@example.com"), "hash")
    for session_id, client_id in (("s1", "c1"), ("s2", "c1"), ("s3", "c1"), ("s4", "c2")):
        await store.add_session(_session(session_id, client_id), session_id)

    revoked = await store.revoke_client_sessions("c1", T0, keep="s2")

    assert sorted(revoked) == ["s1", "s3"]
    assert [s.id for s in await store.list_sessions("c1", T0)] == ["s2"]
    assert [s.id for s in await store.list_sessions("c2", T0)] == ["s4"]


async def test_deleting_queues_exactly_one_event_and_scrubs_the_client(
    store: SqliteStore,
) -> None:
    await store.add_client(_client(), "hash")
    await store.add_session(_session(), "h")
    event = DeletionEvent("e1", "c1", "user", T0)

    assert await store.delete_client("c1", event) == "deleted"
    again = DeletionEvent("e2", "c1", "user", T0)
    assert await store.delete_client("c1", again) == "already_deleted"
    assert await store.delete_client("nobody", again) == "unknown"

    assert [p.event for p in await store.pending_events(10)] == [event]
    assert await store.get_client("c1") is None
    assert await store.get_credentials("ada@example.com") is None
    assert await store.list_sessions("c1", T0) == []
    snapshot = await store.revocation_snapshot(T0 - timedelta(minutes=1))
    assert snapshot.deleted_clients == (("c1", T0),)
    assert snapshot.revoked_sessions == (("s1", T0),)


async def test_pruning_removes_only_sessions_long_over(store: SqliteStore) -> None:
    await store.add_client(_client(), "hash")
    await store.add_session(_session("old"), "a")
    await store.add_session(_session("live"), "b")
    await store.revoke_session("old", T0)

    removed = await store.prune_sessions(T0 + timedelta(seconds=1))

    assert removed == 1
    assert await store.get_session("old") is None
    assert await store.get_session("live") is not None


async def test_clients_are_listed_in_creation_order_page_by_page(store: SqliteStore) -> None:
    for i in (3, 0, 4, 1, 2):
        client = _client(f"c{i}", f"user{i}@example.com")
        await store.add_client(replace(client, created_at=T0 + timedelta(seconds=i)), "hash")

    first = await store.list_clients(ClientQuery(limit=2))
    after = (first[-1].created_at, first[-1].id)
    rest = await store.list_clients(ClientQuery(limit=10, after=after))

    assert [c.id for c in first] == ["c0", "c1"]
    assert [c.id for c in rest] == ["c2", "c3", "c4"]


async def test_clients_are_filtered_by_email_prefix_suspension_and_kind(
    store: SqliteStore,
) -> None:
    await store.add_client(_client("c1", "Ada@Example.com"), "hash")
    await store.add_client(replace(_client("c2", "a_b@example.com"), kind="service"), None)
    await store.add_client(_client("c3", "axb@example.com"), "hash")
    await store.set_suspended("c3", Suspension(True, T0))

    async def ids(**query: object) -> list[str]:
        return [c.id for c in await store.list_clients(ClientQuery(limit=10, **query))]  # type: ignore[arg-type]

    assert await ids(email_prefix="ada@") == ["c1"]
    assert await ids(email_prefix="a_") == ["c2"]  # _ is a character here, not a wildcard
    assert await ids(email_prefix="a%") == []
    assert await ids(suspended=True) == ["c3"]
    assert await ids(suspended=False, kind="user") == ["c1"]
    assert await ids(kind="service") == ["c2"]


async def test_the_outbox_is_leased_released_and_completed_into_a_tombstone(
    store: SqliteStore,
) -> None:
    await store.add_client(_client(), "hash")
    await store.add_session(_session(), "h")
    event = DeletionEvent("e1", "c1", "user", T0)
    await store.delete_client("c1", event)

    claimed = await store.claim_events(T0, T0 + timedelta(seconds=10), 10)
    assert [(p.event, p.attempts) for p in claimed] == [(event, 1)]
    assert await store.claim_events(T0, T0 + timedelta(seconds=10), 10) == []  # leased
    await store.release_events(["e1"])
    assert [p.attempts for p in await store.claim_events(T0, T0, 10)] == [2]
    assert await store.claim_events(T0, T0, 10) != []  # an expired lease is taken again

    await store.complete_event(event, T0)
    await store.complete_event(event, T0)  # a second relay finishing too changes nothing

    assert await store.pending_events(10) == []
    assert await store.get_session("s1") is None
    assert await store.delete_client("c1", event) == "already_deleted"
    await store.add_client(_client("c9"), "hash")  # the email is free again
    snapshot = await store.revocation_snapshot(T0 - timedelta(minutes=1))
    assert snapshot.deleted_clients == (("c1", T0),)


async def test_stats_count_live_clients_suspensions_sessions_and_backlog(
    store: SqliteStore,
) -> None:
    await store.add_client(_client(), "hash")
    await store.add_client(replace(_client("c2", "svc@example.com"), kind="service"), None)
    await store.add_client(_client("c3", "gone@example.com"), "hash")
    await store.set_suspended("c2", Suspension(True, T0))
    await store.add_session(_session(), "h")
    await store.delete_client("c3", DeletionEvent("e1", "c3", "user", T0))

    stats = await store.stats(T0)

    assert stats.clients_by_kind == {"user": 1, "service": 1, "guest": 0}
    assert stats.suspended == 1
    assert stats.active_sessions == 1
    assert stats.outbox_backlog == 1
