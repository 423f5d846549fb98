"""The rate-limit counters: bounded in memory, shared through a real redis-server, and still
counting (locally) when Redis goes away."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from limits import RateLimitItemPerMinute

from gateway_auth.errors import StoreUnavailable
from gateway_auth.signin.limiting import Limiter
from gateway_auth.stores.redis import as_text, connect
from tests.support.clock import FakeClock
from tests.support.processes import RedisServer

FIVE_A_MINUTE = RateLimitItemPerMinute(5)


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = connect(redis_server.url)
    yield client
    await client.aclose()


@pytest.mark.parametrize("exact", [True, False], ids=["moving-window", "sliding-counter"])
async def test_a_flood_of_distinct_keys_costs_bounded_memory_and_locks_nobody_out(
    clock: FakeClock, exact: bool
) -> None:
    limiter = Limiter(clock, exact=exact, capacity=100)

    for _ in range(5):
        await limiter.hit((FIVE_A_MINUTE,), "source", "victim")
    for n in range(5_000):
        await limiter.hit((FIVE_A_MINUTE,), "source", f"flood-{n}")

    assert len(limiter.local_storage) <= 2 * 100
    assert (await limiter.check(FIVE_A_MINUTE, "source", "newcomer")).allowed


async def test_counts_expire_with_the_injected_clock(clock: FakeClock) -> None:
    limiter = Limiter(clock, exact=True)
    for _ in range(5):
        await limiter.hit((FIVE_A_MINUTE,), "account", "a")

    refused = await limiter.check(FIVE_A_MINUTE, "account", "a")
    clock.advance(seconds=61)
    later = await limiter.check(FIVE_A_MINUTE, "account", "a")

    assert (refused.allowed, refused.retry_after) == (False, 60)
    assert later.allowed


@pytest.mark.parametrize("exact", [True, False], ids=["moving-window", "sliding-counter"])
async def test_instances_sharing_redis_count_together(
    clock: FakeClock, redis: aioredis.Redis, exact: bool
) -> None:
    first, second = (
        Limiter(clock, exact=exact, redis=redis),
        Limiter(clock, exact=exact, redis=redis),
    )
    for limiter in (first, second, first, second, first):
        await limiter.hit((FIVE_A_MINUTE,), "account", "shared")

    assert not (await second.check(FIVE_A_MINUTE, "account", "shared")).allowed
    assert not (await first.check(FIVE_A_MINUTE, "account", "shared")).allowed
    keys = [as_text(key) for key in await redis.keys("*")]
    assert keys
    assert all(key.startswith("gateway-auth:limits") for key in keys)
    await second.clear(FIVE_A_MINUTE, "account", "shared")
    assert (await first.check(FIVE_A_MINUTE, "account", "shared")).allowed


async def test_without_redis_a_server_counts_locally_and_the_cli_fails(
    clock: FakeClock, redis_server: RedisServer, redis: aioredis.Redis
) -> None:
    server = Limiter(clock, exact=True, redis=redis)
    cli = Limiter(clock, exact=True, redis=redis, local_fallback=False)
    redis_server.stop()

    for _ in range(5):
        await server.hit((FIVE_A_MINUTE,), "account", "a")

    assert not (await server.check(FIVE_A_MINUTE, "account", "a")).allowed
    with pytest.raises(StoreUnavailable):
        await cli.clear(FIVE_A_MINUTE, "account", "a")
