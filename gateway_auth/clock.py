"""Time as a dependency, so expiry is tested by moving a clock rather than by sleeping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Returns the current time as an aware UTC datetime."""

    def __call__(self) -> datetime: ...


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)
