"""The SQLite connections: opening, one lock for the writer's, reads on the loop, and
driver-error translation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Self, TypeVar, cast

import aiosqlite

from gateway_auth.config.datadir import create_private_file
from gateway_auth.errors import ConfigurationError, GatewayAuthError, StoreUnavailable
from gateway_auth.logging import log_event
from gateway_auth.stores.sqlite.reader import Deferred, LoopReader
from gateway_auth.stores.sqlite.schema import migrate

log = logging.getLogger(__name__)
BUSY_WAIT_MS = 5_000
MIGRATION_WAIT_MS = 300_000
# aiosqlite logs every statement with its parameters (hashes, emails) at DEBUG: never let
# those through, whatever the root level.
logging.getLogger("aiosqlite").setLevel(logging.WARNING)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WAL_SWITCH_SECONDS = 5.0
DECODED_ROWS = 4_096
T = TypeVar("T")


class SqliteDatabase:
    """One connection on the driver's thread for writes and snapshots, each alone under a
    lock, and one on the loop for single reads (``reader.LoopReader``)."""

    def __init__(self, db: aiosqlite.Connection, reader: LoopReader) -> None:
        self._db = db
        self._reader = reader
        # One connection serves every request, so statements of two operations must never
        # interleave inside one transaction; SQLite serialises writers anyway.
        self._lock = asyncio.Lock()
        self._batch: asyncio.Future[None] | None = None  # the open transaction's commit
        self._committer: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, path: Path) -> Self:
        """Open (creating with mode 0600) and migrate the database at ``path``."""
        try:
            create_private_file(path)  # SQLite gives its -wal and -shm files the same mode
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError([f"cannot open the database {path}: {exc}"]) from None
        db.row_factory = sqlite3.Row
        try:
            await _enable_wal(db)
            for pragma in (
                "synchronous=FULL",
                "foreign_keys=ON",
                f"busy_timeout={MIGRATION_WAIT_MS}",
            ):
                await db.execute(f"PRAGMA {pragma}")
            # Another worker may be migrating (rekeying every client takes a while on a large
            # database): wait for it longer than a request ever waits for a lock.
            await migrate(db)
            await db.execute(f"PRAGMA busy_timeout={BUSY_WAIT_MS}")
            reader = LoopReader.open(path)
        except sqlite3.Error as exc:
            await db.close()
            raise ConfigurationError([f"cannot use the database {path}: {exc}"]) from None
        except BaseException:
            await db.close()
            raise
        return cls(db, reader)

    async def close(self) -> None:
        """Commit what is open, and close the connections."""
        async with self._lock:
            await self._commit()
        self._reader.close()
        await self._db.close()

    async def ping(self) -> None:
        """Raise StoreUnavailable unless a trivial query answers on the writer's connection
        (the one that can be stuck; the loop's reader answers from the page cache)."""
        await self._fetch_on_thread("SELECT 1", (), many=False)

    @asynccontextmanager
    async def _transaction(
        self, *, on_conflict: type[GatewayAuthError] | None = None
    ) -> AsyncIterator[aiosqlite.Connection]:
        """One operation's writes, in a savepoint of the open transaction, answered once that
        transaction is committed: group commit. Every operation that queued for the connection
        while one transaction was open joins it, and its commit (one fsync for all) is the
        next thing in the queue after them; a write is still durable before its answer."""
        async with self._lock, _translated(on_conflict):
            for _ in range(2):
                batch = await self._join_batch()
                if await self._on_writer(_savepoint):
                    break
                self._lose(batch)
            else:
                raise StoreUnavailable
            try:
                yield self._db
            except BaseException:
                if not await self._on_writer(_undo):
                    self._lose(batch)
                raise
            await self._db.execute("RELEASE operation")
        await asyncio.shield(batch)

    async def _write(
        self,
        work: Callable[[sqlite3.Connection], T],
        *,
        on_conflict: type[GatewayAuthError] | None = None,
    ) -> T:
        """``_transaction`` for an operation whose statements need no awaiting in between:
        ``work`` runs on the writer's thread with its connection, savepoint and all, in one
        hand-off instead of one per statement (the hot writes: a new session, a rotation)."""
        async with self._lock, _translated(on_conflict):
            for _ in range(2):
                batch = await self._join_batch()
                outcome = await self._on_writer(_in_savepoint, work)
                if outcome is not _NO_TRANSACTION:
                    break
                self._lose(batch)
            else:
                raise StoreUnavailable
        await asyncio.shield(batch)
        return cast(T, outcome)

    async def _on_writer(self, call: Callable[..., T], *args: Any) -> T:
        """``call(connection, *args)`` on the writer's thread, in one hand-off. aiosqlite runs
        every call of its connection there, in order, through ``_execute``, with the
        connection as ``_conn``: its own methods do exactly this."""
        db = self._db
        result: T = await db._execute(call, db._conn, *args)  # type: ignore[no-untyped-call]
        return result

    async def _join_batch(self) -> asyncio.Future[None]:
        """The open transaction's commit, opening the transaction (and queueing its commit
        behind the operations waiting now) when none is open. Called holding the lock."""
        if self._batch is None:
            batch = self._batch = asyncio.get_running_loop().create_future()
            self._committer = asyncio.ensure_future(self._commit_in_turn())
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except asyncio.CancelledError:
                raise  # BEGIN still runs on the thread: the committer ends that transaction
            except BaseException:
                self._lose(batch)  # nobody has joined it
                raise
        return self._batch

    def _lose(self, batch: asyncio.Future[None]) -> None:
        """The transaction is gone (SQLite rolled it back whole: a full disk, an I/O error,
        or BEGIN failed): whoever joined it is told its write was not kept."""
        if self._batch is batch:
            self._batch = None
        if not batch.done():
            log_event(log, "store_error", level=logging.ERROR, error="transaction rolled back")
            batch.set_exception(StoreUnavailable())
            batch.exception()  # retrieved: an operation that joined it raises it itself

    async def _commit_in_turn(self) -> None:
        async with self._lock:
            await self._commit()

    async def _commit(self) -> None:
        """Commit the open transaction, if any, and answer its operations. Holding the lock,
        which is not given up before the commit is through, even when the task that holds it
        is cancelled (a read under a timeout): the next statement must not run before it."""
        batch, self._batch = self._batch, None
        if batch is not None:
            await _through(asyncio.ensure_future(self._finish(batch)))

    async def _finish(self, batch: asyncio.Future[None]) -> None:
        try:
            await self._db.execute("COMMIT")
        except (sqlite3.Error, ValueError) as exc:
            log_event(log, "store_error", level=logging.ERROR, error=_described(exc))
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await self._db.execute("ROLLBACK")
            self._lose(batch)
        except BaseException:
            self._lose(batch)
            raise
        else:
            if not batch.done():
                batch.set_result(None)

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """One read transaction: a consistent view that does not block writers (WAL)."""
        async with self._lock, _translated(None):
            await self._commit()  # never inside writes not yet committed
            await self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                await self._db.execute("ROLLBACK")

    async def _fetch_one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        arguments = tuple(params)
        try:
            return self._reader.fetch_one(sql, arguments)
        except Deferred:
            rows = await self._fetch_on_thread(sql, arguments, many=False)
            return rows[0] if rows else None

    async def _fetch_together(
        self, statements: Sequence[tuple[str, tuple[Any, ...]]]
    ) -> list[list[sqlite3.Row]]:
        """Every row of each statement, read in one transaction (a consistent view)."""
        try:
            return self._reader.fetch_together(statements)
        except Deferred:
            pass
        async with self._snapshot() as db:
            results = []
            for sql, params in statements:
                async with db.execute(sql, params) as cursor:
                    results.append(list(await cursor.fetchall()))
            return results

    async def _fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        arguments = tuple(params)
        try:
            return self._reader.fetch_all(sql, arguments)
        except Deferred:
            return await self._fetch_on_thread(sql, arguments, many=True)

    async def _fetch_on_thread(
        self, sql: str, arguments: tuple[Any, ...], *, many: bool
    ) -> list[sqlite3.Row]:
        """A read on the writer's connection, for what the loop's reader left to it."""
        async with self._lock, _translated(None):
            await self._commit()  # never inside writes not yet committed
            async with self._db.execute(sql, arguments) as cursor:
                return list(await cursor.fetchall() if many else await cursor.fetchmany(1))


_NO_TRANSACTION = object()  # what _in_savepoint answers when the transaction is gone


def _savepoint(connection: sqlite3.Connection) -> bool:
    """Open an operation's savepoint; False when the transaction it belongs in is gone."""
    if not connection.in_transaction:
        return False
    connection.execute("SAVEPOINT operation")
    return True


def _undo(connection: sqlite3.Connection) -> bool:
    """Undo the operation's savepoint; False when SQLite has rolled the transaction back."""
    if not connection.in_transaction:
        return False
    connection.execute("ROLLBACK TO operation")
    connection.execute("RELEASE operation")
    return True


def _in_savepoint(
    connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]
) -> object:
    """``work`` in a savepoint of the open transaction, undone alone when it fails;
    _NO_TRANSACTION, without running it, when the transaction is gone."""
    if not _savepoint(connection):
        return _NO_TRANSACTION
    try:
        result = work(connection)
    except BaseException:
        _undo(connection)
        raise
    connection.execute("RELEASE operation")
    return result


async def _through(task: asyncio.Future[None]) -> None:
    """Wait for ``task`` to end even if this task is cancelled meanwhile; then pass the
    cancellation on."""
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
            continue
        break
    if cancelled:
        raise asyncio.CancelledError


async def _enable_wal(db: aiosqlite.Connection) -> None:
    """Switch to WAL. That needs the file to itself and SQLite answers "locked" at once instead
    of waiting (the busy timeout does not apply), so a process starting beside another retries."""
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    while True:
        try:
            await db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
        else:
            return


@asynccontextmanager
async def _translated(on_conflict: type[GatewayAuthError] | None) -> AsyncIterator[None]:
    """Driver errors become domain errors; the driver's message goes only to the log."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if on_conflict is None:
            log_event(log, "store_error", level=logging.ERROR, error=_described(exc))
            raise StoreUnavailable from None
        raise on_conflict from None
    except (sqlite3.Error, ValueError) as exc:  # aiosqlite raises ValueError once closed
        log_event(log, "store_error", level=logging.ERROR, error=_described(exc))
        raise StoreUnavailable from None


def _described(exc: Exception) -> str:
    """SQLite's own messages name tables and states; any other error's text may quote the
    parameters (an email, a hash), so only its type is logged."""
    if isinstance(exc, sqlite3.Error):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


class Decoded(Generic[T]):
    """Records made from rows before, by the row's values: a row read again (a session and
    its client on every authenticated request) is not decoded again. Records are immutable,
    so an entry is right as long as its row is; a changed row is a new key."""

    def __init__(self, decode: Callable[[sqlite3.Row], T], size: int = DECODED_ROWS) -> None:
        self._decode = decode
        self._size = size
        self._records: dict[tuple[Any, ...], T] = {}

    def __call__(self, row: sqlite3.Row) -> T:
        key = tuple(row)
        record = self._records.get(key)
        if record is None:
            record = self._decode(row)
            if len(self._records) >= self._size:
                del self._records[next(iter(self._records))]  # the oldest entry
            self._records[key] = record
        return record


def ms(moment: datetime) -> int:
    """Exact milliseconds since the epoch, truncated like ``models.iso``, so values round-trip."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def optional_ms(moment: datetime | None) -> int | None:
    """``ms`` that lets None through."""
    return None if moment is None else ms(moment)


def dt(millis: int) -> datetime:
    """The UTC datetime of a stored millisecond timestamp."""
    return _EPOCH + timedelta(milliseconds=millis)


def optional_dt(millis: int | None) -> datetime | None:
    """``dt`` that lets None through."""
    return None if millis is None else dt(millis)
