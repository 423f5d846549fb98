"""Group commit on the embedded store: writes queued together share one commit, each is
answered only once it is durable, and a cancelled task in the middle of a commit or of opening
the transaction neither strands the others nor stops later writes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from gateway_auth.config.datadir import ensure_data_dir
from gateway_auth.stores.sqlite import DATABASE_FILE, SqliteStore
from tests.support.records import a_client
from tests.support.waiting import eventually

WITHIN = 10.0  # seconds: only a hang takes this long


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return ensure_data_dir(tmp_path / "data") / DATABASE_FILE


@pytest.fixture
async def store(path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(path)
    yield store
    await store.close()


def holding(store: SqliteStore, statement: str, gate: asyncio.Event) -> None:
    """Make ``statement`` on the writer's connection wait for ``gate`` before it is sent."""
    real = store._db.execute

    def gated(sql: str, parameters: Any = None) -> Awaitable[Any]:
        if sql != statement:
            return real(sql, parameters)

        async def later() -> Any:
            await gate.wait()
            return await real(sql, parameters)

        return later()

    store._db.execute = gated  # type: ignore[method-assign,assignment]


async def test_writes_queued_together_are_committed_together(
    store: SqliteStore, path: Path
) -> None:
    commits = 0
    real = store._db.execute

    def counted(sql: str, parameters: Any = None) -> Any:
        nonlocal commits
        commits += sql == "COMMIT"
        return real(sql, parameters)

    store._db.execute = counted  # type: ignore[method-assign]

    await asyncio.gather(
        *(store.add_client(a_client(f"c{n}", f"user{n}@example.com"), "hash") for n in range(20))
    )

    assert commits < 20
    reopened = sqlite3.connect(path)  # what is on disk, as another process reads it
    assert reopened.execute("SELECT count(*) FROM clients").fetchone() == (20,)
    reopened.close()


async def test_a_cancelled_commit_still_answers_every_write_in_it(store: SqliteStore) -> None:
    gate = asyncio.Event()
    holding(store, "COMMIT", gate)
    write = asyncio.create_task(store.add_client(a_client(), "hash"))
    await eventually(
        lambda: store._batch is None and store._committer is not None,
        what="the commit under way",
    )
    assert store._committer is not None
    store._committer.cancel()  # as a read under a timeout would be, while it commits
    await asyncio.sleep(0)
    gate.set()

    await asyncio.wait_for(write, WITHIN)

    assert write.exception() is None
    assert await store.get_client("c1") is not None


async def test_a_write_cancelled_while_it_opens_the_transaction_stops_no_later_write(
    store: SqliteStore, path: Path
) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock: BEGIN waits
    first = asyncio.create_task(store.add_client(a_client(), "hash"))
    # The batch is set just before BEGIN is handed to the writer's thread, in the same step:
    # once it is, BEGIN is queued there, and cancelling the task cannot take it back.
    await eventually(lambda: store._batch is not None, what="BEGIN handed to the thread")
    first.cancel()
    other.execute("COMMIT")  # BEGIN goes through on the thread after all
    other.close()

    await asyncio.wait_for(store.add_client(a_client("c2", "grace@example.com"), "hash"), WITHIN)

    assert first.cancelled()
    assert await store.get_client("c2") is not None
    await store.ping()
