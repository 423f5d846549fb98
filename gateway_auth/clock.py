"""Time as a dependency, so expiry is tested by moving a clock rather than by sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Returns the current time as an aware UTC datetime."""

    def __call__(self) -> datetime: ...


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


def seconds(clock: Clock) -> Callable[[], float]:
    """``clock`` as seconds since the epoch; the system clock read directly, since a datetime
    costs a microsecond on every ``/verify`` answer."""
    if clock is system_clock:
        return time.time
    return lambda: clock().timestamp()
