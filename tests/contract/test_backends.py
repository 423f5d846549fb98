"""The revocation and event backends over every store: in-process (the embedded default) and
Redis must give the same answers; only how fast a change travels differs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway_auth.models import DeletionEvent
from gateway_auth.outbox import OutboxRelay
from gateway_auth.revocation.mirror import RevocationMirror
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.revocation.sync import MirrorSync
from gateway_auth.stores.base import Store
from gateway_auth.stores.redis import RedisRevocationBus
from gateway_auth.stores.redis_events import RedisEventSink, stream_key
from tests.support.clock import FakeClock
from tests.support.processes import RedisServer
from tests.support.records import a_client, a_session
from tests.support.waiting import eventually

TTL = timedelta(minutes=15)
CHANNEL = "client-data-deletion-request"


@pytest.fixture(params=["in-process", "redis"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str | None]:
    """None for the in-process backend, else the URL of a fresh redis-server."""
    if request.param == "in-process":
        yield None
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
async def instances(
    store: Store, backend: str | None, clock: FakeClock
) -> AsyncIterator[Callable[[], Revocations]]:
    """Two instances' worth of revocation machinery on one store and one backend: the first
    one made is running (its mirror is what /verify reads); later ones only write."""
    closers: list[Callable[[], Awaitable[None]]] = []
    tasks: list[asyncio.Task[None]] = []

    def make() -> Revocations:
        bus = RedisRevocationBus.from_url(backend) if backend else None
        mirror = RevocationMirror(TTL)
        if bus is not None:
            closers.append(bus.close)
        if not tasks:
            sync = MirrorSync(mirror, source=store, bus=bus, clock=clock)
            tasks.append(asyncio.create_task(sync.run()))
        return Revocations(clients=store, sessions=store, mirror=mirror, bus=bus, clock=clock)

    yield make
    for task in tasks:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    for close in closers:
        await close()


async def test_every_revocation_made_on_one_instance_is_enforced_by_another(
    store: Store, clock: FakeClock, instances: Callable[[], Revocations]
) -> None:
    await store.add_client(a_client("c1"), "h")
    await store.add_client(a_client("c2", "eve@example.com"), "h")
    await store.add_session(a_session("s1", "c1"), "h1")
    await store.add_session(a_session("s2", "c2"), "h2")
    reader = instances().mirror
    writer = instances()
    now = clock().timestamp()

    await writer.suspend_client("c1", "abuse")
    await eventually(lambda: reader.is_suspended("c1"), within=2.5)
    await writer.unsuspend_client("c1")
    await eventually(lambda: not reader.is_suspended("c1"), within=2.5)

    await writer.revoke_session("s1")
    await eventually(lambda: reader.is_revoked("s1", "c1", now), within=2.5)
    assert not reader.is_revoked("s2", "c2", now)  # revocation is per session and client

    await store.delete_client("c2", DeletionEvent("e1", "c2", "user", clock()))
    await writer.revoke_client("c2", clock())
    await eventually(lambda: reader.is_revoked("s-other", "c2", now), within=2.5)
    assert not reader.is_suspended("c2")


async def test_unknown_ids_change_nothing_on_any_backend(
    store: Store, instances: Callable[[], Revocations]
) -> None:
    writer = instances()

    assert await writer.suspend_client("nobody") is None
    assert await writer.unsuspend_client("nobody") is None
    assert await writer.revoke_session("0" * 32) is False
    assert await writer.revoke_client_sessions("nobody") == []
    assert writer.mirror.suspended == set()


async def test_a_deletion_event_is_published_once_or_waits_without_redis(
    store: Store, backend: str | None, clock: FakeClock
) -> None:
    await store.add_client(a_client("c1"), "h")
    event = DeletionEvent("e1", "c1", "user", clock())
    await store.delete_client("c1", event)
    sink = RedisEventSink.from_url(backend, CHANNEL, None) if backend else None
    relay = OutboxRelay(store, sink, clock)

    published = await relay.publish_pending()

    if sink is None:  # the embedded default keeps events until Redis is configured
        assert published == 0
        assert [p.event for p in await store.pending_events(10)] == [event]
        return
    assert backend is not None
    redis = aioredis.Redis.from_url(backend)
    try:
        entries: Any = await redis.xrange(stream_key(CHANNEL))
    finally:
        await redis.aclose()
        await sink.close()
    assert published == 1
    assert [json.loads(fields[b"event"]) for _, fields in entries] == [event.to_json()]
    assert await store.pending_events(10) == []
    await store.add_client(a_client("c9"), "h")  # purged: the email is free again
