"""Reads on the event loop (``stores/sqlite/reader.py``): they answer while the writer's thread
is busy, they never hold the loop past their budget, and a disk that makes them slow sends them
to the thread for a while."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway_auth.config.datadir import ensure_data_dir
from gateway_auth.stores.sqlite import DATABASE_FILE, SqliteStore
from gateway_auth.stores.sqlite import reader as reader_module
from gateway_auth.stores.sqlite.reader import READ_BUDGET_S, STANDBY_S, Deferred, LoopReader
from tests.support.records import a_client

# Far more steps of SQLite's virtual machine than a point read takes: the progress handler
# looks at the clock many times while it runs.
LONG_QUERY = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000)"
    " SELECT count(*) AS total FROM n"
)


class SteppingClock:
    """Monotonic seconds that move only when told to, or by ``step`` at every look."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.step = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(ensure_data_dir(tmp_path / "data") / DATABASE_FILE)
    await store.add_client(a_client(), "hash")
    yield store
    await store.close()


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def reader(store: SqliteStore, tmp_path: Path, clock: SteppingClock) -> Iterator[LoopReader]:
    opened = LoopReader.open(tmp_path / "data" / DATABASE_FILE)
    loop_reader = LoopReader(opened._connection, clock)
    yield loop_reader
    loop_reader.close()


async def test_a_read_answers_while_the_writers_thread_is_held(store: SqliteStore) -> None:
    async with store._lock:
        client = await asyncio.wait_for(store.get_client("c1"), timeout=5)

    assert client is not None
    assert client.email == "ada@example.com"


async def test_a_write_is_read_back_at_once(store: SqliteStore) -> None:
    await store.add_client(a_client("c2", "grace@example.com"), "hash")
    added = await store.get_client("c2")

    assert added is not None
    assert added.email == "grace@example.com"


def test_a_read_that_overruns_its_budget_is_interrupted(
    reader: LoopReader, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader_module, "_disk_reads", lambda: 0)
    reader._disk_reads = 0
    clock.step = READ_BUDGET_S  # every look at the clock finds the budget a step further gone

    with pytest.raises(Deferred):
        reader.fetch_one(LONG_QUERY, ())
    # No disk was read: the loop keeps its reads (the overrun was a busy machine).
    clock.step = 0.0
    row = reader.fetch_one("SELECT id FROM clients WHERE id = ?", ("c1",))
    assert row is not None
    assert row["id"] == "c1"


def test_an_overrun_with_disk_reads_sends_reads_to_the_thread_for_a_while(
    reader: LoopReader, clock: SteppingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = iter(range(10, 10_000, 10))
    monkeypatch.setattr(reader_module, "_disk_reads", lambda: next(blocks))
    reader._disk_reads = 0
    clock.step = READ_BUDGET_S

    with pytest.raises(Deferred):
        reader.fetch_one(LONG_QUERY, ())
    clock.step = 0.0
    with pytest.raises(Deferred):
        reader.fetch_one("SELECT id FROM clients WHERE id = ?", ("c1",))
    clock.now += STANDBY_S
    assert reader.fetch_all("SELECT id FROM clients", ()) != []


async def test_a_deferred_read_is_answered_by_the_thread(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deferred(*_: object, **__: object) -> None:
        raise Deferred

    monkeypatch.setattr(store._reader, "_read", deferred)

    assert (await store.get_client("c1")) is not None
    assert [row["total"] for row in await store._fetch_all(LONG_QUERY)] == [200_000]


def test_a_value_sqlite_cannot_take_goes_to_the_thread_alone(reader: LoopReader) -> None:
    with pytest.raises(Deferred):  # the thread refuses it as a store error, and logs no value
        reader.fetch_one("SELECT id FROM clients WHERE email = ?", ("x\ud800@example.com",))

    # Anyone can send such a value: it must not send everyone's reads to the thread.
    assert reader.fetch_one("SELECT id FROM clients WHERE id = ?", ("c1",)) is not None


async def test_reads_made_together_answer_while_the_writers_thread_is_held(
    store: SqliteStore,
) -> None:
    async with store._lock:
        factors = await asyncio.wait_for(store.second_factors("c1"), timeout=5)

    assert factors.totp is None
    assert factors.recovery_codes_left == 0
