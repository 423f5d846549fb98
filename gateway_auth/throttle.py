"""Password-guessing throttle (OWASP ASVS 2.2.1): too many recent failures on one account → 429.

Keyed by account (the presented email, or a client id for password confirmations), never by IP:
behind a gateway that is not a trusted proxy every user shares one address, and an IP limit
would lock everyone out. Unknown emails are counted like known ones, so a refusal says nothing
about whether an account exists. In-process: each instance counts its own failures.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from datetime import timedelta

from gateway_auth.clock import Clock
from gateway_auth.errors import TooManyAttempts

MAX_FAILURES = 10
WINDOW = timedelta(minutes=15)
MAX_TRACKED = 100_000  # accounts remembered at once; the least recently failed are forgotten


class FailureThrottle:
    """Counts failures per key over a sliding window and refuses keys over the limit."""

    def __init__(
        self, clock: Clock, *, limit: int = MAX_FAILURES, window: timedelta = WINDOW
    ) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window.total_seconds()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, key: str) -> None:
        """Raise TooManyAttempts while ``key`` has failed too often within the window."""
        now = self._clock().timestamp()
        recent = self._recent(key, now)
        if len(recent) >= self._limit:
            raise TooManyAttempts(retry_after=max(1, math.ceil(recent[0] + self._window - now)))

    def failed(self, key: str) -> None:
        """Record one failure for ``key``."""
        now = self._clock().timestamp()
        recent = self._recent(key, now)
        recent.append(now)
        self._failures[key] = recent
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures: the real owner is back."""
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        recent = self._failures.get(key, deque())
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        return recent
