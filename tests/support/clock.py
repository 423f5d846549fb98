"""Time in tests: the real present to start from, and a clock that moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def present() -> datetime:
    """The real present, to the second: where fixed moments in tests start from.

    Never a calendar date: libraries (the MongoDB emulation's TTL indexes, cookie jars) compare
    times with the wall clock, so a fixed date turns into a time bomb.
    """
    return datetime.now(UTC).replace(microsecond=0)


class FakeClock:
    """A clock that starts at the real present and then only moves when a test moves it."""

    def __init__(self) -> None:
        self.now = present()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
