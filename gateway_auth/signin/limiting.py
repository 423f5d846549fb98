"""Rate limits on the `limits` library: shared through Redis when configured, bounded in memory.

The algorithms are limits' (the moving window and the sliding window counter); this module
only supplies where the counters live. With Redis every instance counts together (N instances
do not give N times the guesses); without it, or while Redis is down, each process counts in a
bounded table of its own, so a flood of distinct names or addresses costs a fixed amount of
memory (the least recently used counters are forgotten first) instead of growing until the
process dies.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage, Storage
from limits.aio.storage.base import MovingWindowSupport, SlidingWindowCounterSupport
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError
from limits.storage.base import TimestampedSlidingWindow

from gateway_auth.clock import Clock
from gateway_auth.errors import StoreUnavailable
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
MAX_COUNTERS = 100_000  # per process, without Redis: about 20 MB at the most
REDIS_PREFIX = "gateway-auth:limits"
_UNUSED_URI = "async+redis://localhost:6379"
T = TypeVar("T")

__all__ = ["MAX_COUNTERS", "Limiter", "RateLimitItem", "parse_limits"]


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """``20/minute;200/hour`` (limits' notation) as items; ValueError when malformed."""
    items = tuple(parse_many(text))
    if not items:
        raise ValueError("no rate limit given")
    return items


@dataclass(frozen=True, slots=True)
class Allowance:
    """Whether a hit fitted, and if not, in how many seconds to retry."""

    allowed: bool
    retry_after: int = 0


class Limiter:
    """Counts hits against limits; Redis first when configured, this process otherwise.

    ``exact`` chooses limits' moving window (each hit's time is kept, so a key stays full until
    its oldest hit in the window is a period old; for small limits such as lockouts); otherwise
    the sliding window counter (two counters a key, approximate; for per-address rates).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        exact: bool,
        redis: aioredis.Redis | None = None,
        local_fallback: bool = True,
        capacity: int = MAX_COUNTERS,
    ) -> None:
        """``local_fallback=False`` is for the CLI: a change it cannot make in Redis must fail,
        not land in a process that exits a moment later."""
        strategy = MovingWindowRateLimiter if exact else SlidingWindowCounterRateLimiter
        self._clock = clock
        self._exact = exact
        self.local_storage = BoundedMemoryStorage(clock, capacity)
        self._local = strategy(self.local_storage)
        self._shared = (
            strategy(
                RedisStorage(
                    _UNUSED_URI,  # the connections come from the pool of ``redis``
                    implementation="redispy",
                    key_prefix=REDIS_PREFIX,
                    wrap_exceptions=True,
                    connection_pool=redis.connection_pool,  # type: ignore[arg-type]
                )
            )
            if redis is not None
            else None
        )
        self._shared_failing = False
        self._local_fallback = local_fallback

    async def hit(self, items: Sequence[RateLimitItem], *key: str) -> Allowance:
        """Count one hit against every item; refused when any is exhausted (nothing counted),
        with the longest wait of those exhausted (retrying after a shorter one would fail)."""
        refusals = [v for item in items if not (v := await self.check(item, *key)).allowed]
        if refusals:
            return max(refusals, key=lambda verdict: verdict.retry_after)
        for item in items:
            # Taking the place is atomic (a Lua script in Redis): of concurrent hits that all
            # passed the check above, only as many as there are places get one.
            if not await self._acquire(item, *key):
                return await self.check(item, *key)
        return Allowance(True)

    async def check(self, item: RateLimitItem, *key: str) -> Allowance:
        """Whether one more hit would fit, counting nothing."""
        allowed, _ = await self._each(lambda limiter: limiter.test(item, *key))
        if allowed:
            return Allowance(True)
        stats, shared = await self._each(lambda limiter: limiter.get_window_stats(item, *key))
        # The moving window reports in its storage's time (ours is the injected clock); the
        # sliding window counter always in the wall clock's.
        now = self._clock().timestamp() if self._exact and not shared else time.time()
        return Allowance(False, max(1, math.ceil(stats.reset_time - now)))

    async def _acquire(self, item: RateLimitItem, *key: str) -> bool:
        acquired, _ = await self._each(lambda limiter: limiter.hit(item, *key))
        return acquired

    async def clear(self, item: RateLimitItem, *key: str) -> None:
        """Forget the counts of ``key`` under ``item``."""
        await self._each(lambda limiter: limiter.clear(item, *key))

    async def _each(self, call: Callable[[RateLimiter], Awaitable[T]]) -> tuple[T, bool]:
        """The call's result, and whether Redis answered it."""
        if self._shared is not None:
            try:
                result = await call(self._shared)
            except StorageError as exc:  # Redis is down: count here until it is back
                if not self._local_fallback:
                    raise StoreUnavailable(N_("Redis is unavailable; retry shortly.")) from None
                if not self._shared_failing:
                    log_event(
                        log, "rate_limits_local", level=logging.WARNING, error=type(exc).__name__
                    )
                self._shared_failing = True
            else:
                if self._shared_failing:
                    log_event(log, "rate_limits_shared")
                self._shared_failing = False
                return result, True
        return await call(self._local), False


class BoundedMemoryStorage(
    Storage, MovingWindowSupport, SlidingWindowCounterSupport, TimestampedSlidingWindow
):
    """limits' counters in one LRU table of at most ``capacity`` keys, on the injected clock.

    limits' own MemoryStorage grows with every key until it expires and sweeps every key on
    each hit, which a flood of distinct addresses turns into a memory and CPU attack.
    """

    STORAGE_SCHEME = None  # not for limits' URI registry: built directly

    def __init__(self, clock: Clock, capacity: int = MAX_COUNTERS) -> None:
        super().__init__()
        self._clock = clock
        self._capacity = capacity
        self._counters: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key → (n, expiry)
        # Moving windows: key → hit times, newest first, at most ``limit`` of them.
        self._events: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        """Keys held (counters and moving windows): never more than twice the capacity."""
        return len(self._counters) + len(self._events)

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def _now(self) -> float:
        return self._clock().timestamp()

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        count = await self.get(key)
        expires = self._counters[key][1] if count else self._now() + expiry
        self._counters[key] = (count + amount, expires)
        self._counters.move_to_end(key)
        while len(self._counters) > self._capacity:
            self._counters.popitem(last=False)
        return count + amount

    async def get(self, key: str) -> int:
        entry = self._counters.get(key)
        if entry is None:
            return 0
        if entry[1] <= self._now():
            del self._counters[key]
            return 0
        return entry[0]

    async def get_expiry(self, key: str) -> float:
        entry = self._counters.get(key)
        return entry[1] if entry else self._now()

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        count = len(self._counters) + len(self._events)
        self._counters.clear()
        self._events.clear()
        return count

    async def clear(self, key: str) -> None:
        self._counters.pop(key, None)
        self._events.pop(key, None)

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self._now()
        events = self._events.get(key, [])
        if len(events) > limit - amount and events[limit - amount] > now - expiry:
            return False
        self._events[key] = ([now] * amount + events)[:limit]
        self._events.move_to_end(key)
        while len(self._events) > self._capacity:
            self._events.popitem(last=False)
        return True

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self._now()
        live = [at for at in self._events.get(key, []) if at > now - expiry]
        if not live:
            self._events.pop(key, None)
            return now, 0
        return live[-1], len(live)

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        previous, previous_ttl, current, _ = await self.get_sliding_window(key, expiry)
        if math.floor(previous * previous_ttl / expiry + current) + amount > limit:
            return False
        # Each counter lives two windows: while current and while it is the previous one.
        await self.incr(self.sliding_window_keys(key, expiry, self._now())[1], 2 * expiry, amount)
        return True

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = self._now()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        previous = await self.get(previous_key)
        current = await self.get(current_key)
        previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous else 0.0
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, current, current_ttl

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        for window_key in self.sliding_window_keys(key, expiry, self._now()):
            await self.clear(window_key)
