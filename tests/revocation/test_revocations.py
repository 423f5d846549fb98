"""Revocations and MirrorSync against a real SQLite file and a real redis-server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway_auth.config.datadir import ensure_data_dir
from gateway_auth.errors import StoreUnavailable
from gateway_auth.models import Client, DeletionEvent
from gateway_auth.revocation.mirror import RevocationMirror
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.revocation.sync import MirrorSync
from gateway_auth.stores.redis import (
    BUILT_KEY,
    REVOCATIONS_CHANNEL,
    REVOKED_KEY,
    SUSPENDED_KEY,
    RedisRevocationBus,
)
from gateway_auth.stores.sqlite import DATABASE_FILE, SqliteStore
from tests.support.clock import FakeClock
from tests.support.processes import RedisServer
from tests.support.records import a_session
from tests.support.waiting import eventually

TTL = timedelta(minutes=15)


@dataclass
class Instance:
    """One server's worth of revocation machinery."""

    revocations: Revocations
    mirror: RevocationMirror
    sync: MirrorSync
    task: asyncio.Task[None] | None = None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(ensure_data_dir(tmp_path / "data") / DATABASE_FILE)
    yield store
    await store.close()


async def add_client(store: SqliteStore, clock: FakeClock, client_id: str) -> None:
    now = clock()
    client = Client(
        client_id, f"{client_id}@example.com", "user", (), None, None, False, None, None, now, now
    )
    await store.add_client(client, None)


@pytest.fixture
async def make_instance(
    store: SqliteStore, clock: FakeClock
) -> AsyncIterator[Callable[[str | None], Instance]]:
    made: list[tuple[Instance, RedisRevocationBus | None]] = []

    def make(redis_url: str | None) -> Instance:
        bus = RedisRevocationBus.from_url(redis_url) if redis_url else None
        mirror = RevocationMirror(TTL)
        instance = Instance(
            Revocations(clients=store, sessions=store, mirror=mirror, bus=bus, clock=clock),
            mirror,
            MirrorSync(mirror, source=store, bus=bus, clock=clock),
        )
        made.append((instance, bus))
        return instance

    yield make
    for instance, bus in made:
        if instance.task is not None:
            instance.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await instance.task
        if bus is not None:
            await bus.close()


async def running(instance: Instance) -> Instance:
    assert await instance.sync.resync()
    instance.task = asyncio.create_task(instance.sync.run())
    return instance


async def health_is(instance: Instance, state: str) -> bool:
    return await instance.sync.health(30) == state


async def test_a_change_made_through_one_instance_reaches_another_within_100_ms(
    store: SqliteStore,
    clock: FakeClock,
    redis_server: RedisServer,
    make_instance: Callable[[str | None], Instance],
) -> None:
    await add_client(store, clock, "c1")
    a = await running(make_instance(redis_server.url))
    b = await running(make_instance(redis_server.url))
    await eventually(lambda: health_is(b, "ok"), within=5)

    await a.revocations.suspend_client("c1")
    await eventually(lambda: b.mirror.is_suspended("c1"), within=0.1)

    await a.revocations.unsuspend_client("c1")
    await eventually(lambda: not b.mirror.is_suspended("c1"), within=0.1)

    await a.revocations.revoke_client("c1", clock())
    await eventually(lambda: b.mirror.is_revoked("s", "c1", clock().timestamp()), within=0.1)


async def test_start_up_rebuilds_redis_from_the_store(
    store: SqliteStore,
    clock: FakeClock,
    redis_server: RedisServer,
    make_instance: Callable[[str | None], Instance],
) -> None:
    await add_client(store, clock, "c1")
    await add_client(store, clock, "c2")
    embedded = make_instance(None)
    await embedded.revocations.suspend_client("c1")  # written while no Redis was configured
    client = aioredis.Redis.from_url(redis_server.url)
    await client.sadd(SUSPENDED_KEY, "c2")  # stale: the store says c2 is not suspended

    instance = make_instance(redis_server.url)
    assert await instance.sync.resync()

    assert instance.mirror.suspended == {"c1"}
    assert await client.smembers(SUSPENDED_KEY) == {b"c1"}
    await client.aclose()


async def test_a_redis_restarted_empty_is_rebuilt_not_believed(
    store: SqliteStore,
    clock: FakeClock,
    redis_server: RedisServer,
    make_instance: Callable[[str | None], Instance],
) -> None:
    await add_client(store, clock, "c1")
    await add_client(store, clock, "c2")
    instance = make_instance(redis_server.url)
    assert await instance.sync.resync()
    await instance.revocations.suspend_client("c1")
    await store.delete_client("c2", DeletionEvent("e1", "c2", "user", clock()))
    await instance.revocations.revoke_client("c2", clock())

    redis_server.stop()
    redis_server.start()  # no persistence: it comes back empty
    assert await instance.sync.resync()

    assert instance.mirror.is_suspended("c1")
    client = aioredis.Redis.from_url(redis_server.url)
    assert await client.smembers(SUSPENDED_KEY) == {b"c1"}
    assert await client.zscore(REVOKED_KEY, "client:c2") is not None
    assert instance.mirror.is_revoked("any", "c2", clock().timestamp())
    await client.aclose()


async def test_changes_arriving_faster_than_once_a_second_keep_the_mirror_fresh(
    store: SqliteStore,
    clock: FakeClock,
    redis_server: RedisServer,
    make_instance: Callable[[str | None], Instance],
) -> None:
    # A busy cluster never has a quiet second on the channel: each delta must count as proof
    # that the subscription is live, or the mirror ages out between resyncs (every 5 s).
    await add_client(store, clock, "c1")
    writer = make_instance(redis_server.url)
    reader = await running(make_instance(redis_server.url))
    await eventually(lambda: health_is(reader, "ok"), within=5)

    oldest = 0.0
    for _ in range(12):  # 3.6 s of changes every 0.3 s, well past a 2 s staleness limit
        await writer.revocations.suspend_client("c1")
        await writer.revocations.unsuspend_client("c1")
        await asyncio.sleep(0.3)
        oldest = max(oldest, reader.mirror.age(time.monotonic()) or 99.0)

    assert oldest < 1.0


async def test_with_redis_down_the_mirror_follows_the_store_alone(
    store: SqliteStore,
    clock: FakeClock,
    redis_server: RedisServer,
    make_instance: Callable[[str | None], Instance],
) -> None:
    await add_client(store, clock, "c1")
    await add_client(store, clock, "c2")
    instance = await running(make_instance(redis_server.url))
    await instance.revocations.suspend_client("c1")
    await eventually(lambda: health_is(instance, "ok"), within=5)

    redis_server.stop()
    await eventually(lambda: health_is(instance, "disconnected"), within=5)
    other = make_instance(None)  # another instance that cannot reach Redis either
    await other.revocations.suspend_client("c2")

    assert await instance.sync.resync()
    assert instance.mirror.suspended == {"c1", "c2"}


async def test_with_the_store_down_the_live_channel_keeps_the_mirror_serving(
    clock: FakeClock,
    redis_server: RedisServer,
    make_instance: Callable[[str | None], Instance],
    store: SqliteStore,
) -> None:
    await add_client(store, clock, "c1")
    instance = await running(make_instance(redis_server.url))
    await instance.revocations.suspend_client("c1")
    await eventually(lambda: instance.sync.caught_up, within=5)

    await store.close()  # every read now fails: the store is unavailable

    assert not await instance.sync.resync()
    assert instance.mirror.is_suspended("c1")
    # Quiet seconds on the live channel prove nothing was missed: past a 2 s staleness limit,
    # the mirror still counts as fresh.
    await asyncio.sleep(3)
    assert await instance.sync.health(2.0) == "ok"


async def test_a_change_made_while_redis_is_down_is_saved_and_reported(
    store: SqliteStore,
    clock: FakeClock,
    redis_server: RedisServer,
    make_instance: Callable[[str | None], Instance],
) -> None:
    await add_client(store, clock, "c1")
    server = make_instance(redis_server.url)
    redis_server.stop()
    bus = RedisRevocationBus.from_url(redis_server.url)
    strict = Revocations(
        clients=store,
        sessions=store,
        mirror=RevocationMirror(TTL),
        bus=bus,
        clock=clock,
        require_broadcast=True,
    )

    await server.revocations.suspend_client("c1")  # a server keeps going
    with pytest.raises(StoreUnavailable, match="saved in the store"):
        await strict.unsuspend_client("c1")  # the CLI says so
    await bus.close()

    client = await store.get_client("c1")
    assert client is not None
    assert not client.suspended


async def test_the_embedded_mirror_rereads_the_store(
    store: SqliteStore, clock: FakeClock, make_instance: Callable[[str | None], Instance]
) -> None:
    await add_client(store, clock, "c1")
    reader = await running(make_instance(None))
    writer = make_instance(None)  # e.g. the CLI: same file, its own mirror

    await writer.revocations.suspend_client("c1")
    await eventually(lambda: reader.mirror.is_suspended("c1"), within=2.5)
    await writer.revocations.unsuspend_client("c1")
    await eventually(lambda: not reader.mirror.is_suspended("c1"), within=2.5)


async def test_unknown_clients_and_sessions_change_nothing(
    store: SqliteStore, make_instance: Callable[[str | None], Instance]
) -> None:
    instance = make_instance(None)

    assert await instance.revocations.suspend_client("nobody") is None
    assert await instance.revocations.unsuspend_client("nobody") is None
    assert await instance.revocations.revoke_session("0" * 32) is False
    assert instance.mirror.suspended == set()
    assert instance.mirror.revoked == {}


async def test_a_repeated_suspension_keeps_its_first_time_and_reason(
    store: SqliteStore, clock: FakeClock, make_instance: Callable[[str | None], Instance]
) -> None:
    await add_client(store, clock, "c1")
    instance = make_instance(None)
    first = await instance.revocations.suspend_client("c1", "abuse")
    clock.advance(minutes=5)

    again = await instance.revocations.suspend_client("c1", "other")
    lifted = await instance.revocations.unsuspend_client("c1")

    assert first is not None
    assert again is not None
    assert lifted is not None
    assert (again.suspended_at, again.suspend_reason) == (first.suspended_at, "abuse")
    assert (lifted.suspended, lifted.suspended_at, lifted.suspend_reason) == (False, None, None)


@pytest.fixture
async def raw_redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain client, as an attacker or a stray command would use."""
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


# What an eviction policy, a stray command or anyone who can write to Redis does to one key.
TAMPERING: dict[str, Callable[[aioredis.Redis], Awaitable[Any]]] = {
    "suspended set deleted": lambda r: r.delete(SUSPENDED_KEY),
    "suspended member removed": lambda r: r.srem(SUSPENDED_KEY, "c1"),
    "suspended set replaced by a string": lambda r: r.set(SUSPENDED_KEY, "x"),
    "revoked set deleted": lambda r: r.delete(REVOKED_KEY),
    "revocations shortened": lambda r: r.zadd(REVOKED_KEY, {"client:c2": 1, "session:s3": 1}),
    "marker deleted": lambda r: r.delete(BUILT_KEY),
    "everything flushed": lambda r: r.flushall(),
}


async def _suspended_and_deleted(store: SqliteStore, clock: FakeClock, instance: Instance) -> None:
    """c1 suspended, c2 deleted and c3's session s3 revoked, through ``instance``, as the store
    and Redis record them."""
    for client_id in ("c1", "c2", "c3"):
        await add_client(store, clock, client_id)
    await store.add_session(a_session("s3", "c3"), "refresh-hash")
    await instance.revocations.suspend_client("c1")
    await store.delete_client("c2", DeletionEvent("e1", "c2", "user", clock()))
    await instance.revocations.revoke_client("c2", clock())
    assert await instance.revocations.revoke_session("s3")


@pytest.mark.parametrize("tamper", TAMPERING.values(), ids=TAMPERING.keys())
async def test_losing_or_changing_one_redis_key_readmits_nobody(
    store: SqliteStore,
    clock: FakeClock,
    redis_server: RedisServer,
    make_instance: Callable[[str | None], Instance],
    tamper: Callable[[aioredis.Redis], Awaitable[Any]],
    raw_redis: aioredis.Redis,
) -> None:
    writer = make_instance(redis_server.url)
    assert await writer.sync.resync()
    await _suspended_and_deleted(store, clock, writer)
    reader = make_instance(redis_server.url)  # an instance that starts after the damage
    client = raw_redis

    await tamper(client)
    assert await writer.sync.resync()  # first: a new instance's start-up rebuild would mend it
    assert await reader.sync.resync()

    for instance in (reader, writer):
        assert instance.mirror.is_suspended("c1")
        assert instance.mirror.is_revoked("any", "c2", clock().timestamp())
        assert instance.mirror.is_revoked("s3", "c3", clock().timestamp())
    if await client.type(SUSPENDED_KEY) == b"set":  # repaired, unless it is not a set at all
        assert await client.smembers(SUSPENDED_KEY) == {b"c1"}
        assert await client.zscore(REVOKED_KEY, "client:c2") is not None
        assert await client.zscore(REVOKED_KEY, "session:s3") is not None


async def test_forged_deltas_neither_readmit_nor_lock_out_for_good(
    store: SqliteStore,
    clock: FakeClock,
    redis_server: RedisServer,
    make_instance: Callable[[str | None], Instance],
    raw_redis: aioredis.Redis,
) -> None:
    instance = await running(make_instance(redis_server.url))
    await _suspended_and_deleted(store, clock, instance)
    await eventually(lambda: instance.sync.caught_up, within=5)
    far = clock().timestamp() + 10 * 365 * 24 * 3600

    for forged in (
        {"op": "unsuspend", "clientId": "c1"},
        {"op": "revoke", "keys": ["session:s9"], "until": far},
    ):
        await raw_redis.publish(REVOCATIONS_CHANNEL, json.dumps(forged))
    # Deltas are handled in order: once the second is in, the first was handled too.
    await eventually(lambda: "session:s9" in instance.mirror.revoked, within=1)

    assert instance.mirror.is_suspended("c1")  # letting someone back in needs the store
    limit = clock().timestamp() + instance.mirror.retention + 61
    assert instance.mirror.revoked["session:s9"] <= limit  # no lock-out until the next restart
