"""Reads on the event loop itself: a second connection that answers indexed lookups from
SQLite's page cache in microseconds, where handing a query to the driver's thread and back costs
two thread switches, each waiting for the GIL while the loop is busy.

WAL lets this connection read while the writer's thread writes, and every read starts its own
transaction, so it sees each write whose answer has been given. A read may never hold the loop
long: SQLite interrupts it once it overruns its budget (the driver's thread then reads it). A
read that overran while this thread has been reading from the disk, or that SQLite could not
answer at once (busy, locked, an I/O error), sends the reads of the next moments to the driver's
thread, where a slow disk costs a request its latency and not the loop everyone's. An overrun
without disk reads is the process waiting for a core on a busy machine, which the thread would
not cure: reads stay here.
"""

from __future__ import annotations

import resource
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

READ_BUDGET_S = 0.002  # longer than any point read, far shorter than a request's patience
STANDBY_S = 5.0  # how long reads go to the thread after one overran or failed here
PROGRESS_STEPS = 1_000  # SQLite's virtual-machine steps between two looks at the clock
# What the disk or another connection makes a read wait for; other errors are the read's own.
_WAIT_ERRORS = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR})


class Deferred(Exception):
    """This read is for the driver's thread: the loop must not wait for it."""


class LoopReader:
    """A read-only connection used only from the event loop's thread."""

    def __init__(
        self, connection: sqlite3.Connection, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._connection = connection
        self._clock = clock
        self._deadline = 0.0
        self._standby_until = 0.0
        self._disk_reads = _disk_reads()
        connection.set_progress_handler(self._overran, PROGRESS_STEPS)

    @classmethod
    def open(cls, path: Path) -> Self:
        """A connection to the database the writer has opened (and put in WAL mode)."""
        connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        connection.row_factory = sqlite3.Row
        for pragma in ("query_only=ON", "busy_timeout=0", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        return cls(connection)

    def close(self) -> None:
        self._connection.close()

    def fetch_one(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Row | None:
        """The first row, read here and now; Deferred when the thread must read it."""
        rows = self._read(sql, params, many=False)
        return rows[0] if rows else None

    def fetch_all(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        """Every row, read here and now; Deferred when the thread must read them."""
        return self._read(sql, params, many=True)

    def fetch_together(
        self, statements: Sequence[tuple[str, tuple[Any, ...]]]
    ) -> list[list[sqlite3.Row]]:
        """Every row of each statement, all read in one transaction (a consistent view)."""
        return self._read_all(statements, together=True)

    def _read(self, sql: str, params: tuple[Any, ...], *, many: bool) -> list[sqlite3.Row]:
        return self._read_all([(sql, params)], many=many)[0]

    def _read_all(
        self,
        statements: Sequence[tuple[str, tuple[Any, ...]]],
        *,
        many: bool = True,
        together: bool = False,
    ) -> list[list[sqlite3.Row]]:
        started = self._clock()
        if started < self._standby_until:
            raise Deferred
        self._deadline = started + READ_BUDGET_S
        connection = self._connection
        try:
            if together:
                connection.execute("BEGIN")
            try:
                results = []
                for sql, params in statements:
                    cursor = connection.execute(sql, params)
                    try:
                        results.append(cursor.fetchall() if many else cursor.fetchmany(1))
                    finally:
                        cursor.close()
            finally:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
        except sqlite3.Error as exc:
            primary = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF  # of an extended code
            if primary == sqlite3.SQLITE_INTERRUPT:
                self._overran_by_disk()
            elif primary in _WAIT_ERRORS:
                self._standby_until = self._clock() + STANDBY_S
            raise Deferred from None  # the thread reads it again, and reports what fails there
        except ValueError:  # a value SQLite cannot take (text that is not UTF-8): reported there
            raise Deferred from None
        if self._clock() > self._deadline:
            self._overran_by_disk()
        return results

    def _overran_by_disk(self) -> None:
        """After an overrun: reads go to the thread for a while if this thread has waited for
        the disk since the last overrun (block input, as getrusage counts it)."""
        disk_reads = _disk_reads()
        if disk_reads > self._disk_reads:
            self._standby_until = self._clock() + STANDBY_S
        self._disk_reads = disk_reads

    def _overran(self) -> int:
        """SQLite's progress callback: non-zero interrupts the statement."""
        return 1 if self._clock() > self._deadline else 0


# Linux counts per thread; elsewhere (macOS) the process's count is the nearest there is.
_WHO = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)


def _disk_reads() -> int:
    """Blocks this thread has read from a disk (not from the page cache) since it began."""
    return resource.getrusage(_WHO).ru_inblock
