"""Deletion events through a real redis-server: the channel, the stream, the outbox, crashes."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import DeletionEvent, iso
from gateway_auth.stores.redis_events import RedisEventSink, stream_key
from tests.support.browser import AppClient, Browser, admin
from tests.support.clock import present
from tests.support.credentials import PASSWORD
from tests.support.instances import call
from tests.support.processes import RedisServer, server_environment, start_server, stop_server
from tests.support.project import EXAMPLES
from tests.support.waiting import eventually

CHANNEL = "client-data-deletion-request"
STREAM = stream_key(CHANNEL)
EXAMPLE = EXAMPLES / "deletion_consumer.py"


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def stream_events(redis: aioredis.Redis) -> list[str]:
    entries: Any = await redis.xrange(STREAM)
    return [fields[b"event"].decode() for _, fields in entries]


async def wait_for_events(redis: aioredis.Redis, count: int, within: float = 15) -> list[str]:
    async def arrived() -> list[str] | None:
        events = await stream_events(redis)
        return events if len(events) >= count else None

    return await eventually(arrived, within=within, what=f"{count} event(s) on the stream")


async def test_a_deletion_reaches_a_subscriber_and_a_consumer_group_exactly_as_designed(
    make_browser: Callable[..., Awaitable[Browser]],
    redis: aioredis.Redis,
    redis_server: RedisServer,
) -> None:
    await redis.xgroup_create(STREAM, "billing", id="0", mkstream=True)
    subscriber = redis.pubsub()
    await subscriber.subscribe(CHANNEL, "user-delete")
    browser = await make_browser(REDIS_URL=redis_server.url, LEGACY_DELETE_CHANNEL="user-delete")
    await browser.logged_in()
    client_id = (await browser.request("GET", "/me")).json()["id"]

    assert (await browser.request("DELETE", "/me")).status == 204
    [published] = await wait_for_events(redis, 1)
    messages: dict[str, str] = {}
    deadline = time.monotonic() + 5
    while len(messages) < 2 and time.monotonic() < deadline:
        message = await subscriber.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message:
            messages[message["channel"].decode()] = message["data"].decode()
    delivered: Any = await redis.xreadgroup("billing", "c1", {STREAM: ">"})
    await subscriber.aclose()  # type: ignore[no-untyped-call]

    event = json.loads(published)
    assert list(event) == [
        "type", "version", "id", "clientId", "kind", "occurredAt", "identities",
    ]  # fmt: skip
    assert event["identities"] == []  # none linked
    assert event["type"] == "client-data-deletion-request"
    assert event["version"] == 1
    assert len(event["id"]) == 32
    assert event["clientId"] == client_id
    assert event["kind"] == "user"
    assert event["occurredAt"] == iso(browser.http.app[SERVICES].clock())
    assert published == json.dumps(event)  # DESIGN's spacing: ", " and ": "
    assert messages == {CHANNEL: published, "user-delete": client_id}
    assert delivered[0][1][0][1] == {b"event": published.encode()}


async def test_a_repeated_delete_sends_one_event_and_frees_the_email_once_published(
    make_client: Callable[..., Awaitable[AppClient]],
    redis_server: RedisServer,
    redis: aioredis.Redis,
) -> None:
    app = await make_client(REDIS_URL=redis_server.url)
    root = Browser(app)
    await admin(app, root)
    created = await root.request(
        "POST", "/admin/clients", json={"email": "ada@example.com", "password": PASSWORD}
    )
    client_id = created.json()["id"]

    for _ in range(3):
        assert (await root.request("DELETE", f"/admin/clients/{client_id}")).status == 204
    await wait_for_events(redis, 1)
    await asyncio.sleep(0.3)
    again = await Browser(app).register("ada@example.com")

    assert len(await stream_events(redis)) == 1
    pending = await app.app[SERVICES].store.pending_events(10)
    assert [p for p in pending if isinstance(p.event, DeletionEvent)] == []
    assert again.status == 201  # the record is purged once the event is out


async def test_an_event_written_while_redis_is_down_arrives_when_it_returns(
    make_browser: Callable[..., Awaitable[Browser]], redis_server: RedisServer
) -> None:
    browser = await make_browser(REDIS_URL=redis_server.url, MAX_STALENESS="60s")
    await browser.logged_in()
    redis_server.stop()

    assert (await browser.request("DELETE", "/me")).status == 204
    await asyncio.sleep(1)
    # The registration's verification mail may have gone out before Redis stopped; the deletion
    # drops it from the outbox if not.
    pending = await browser.http.app[SERVICES].store.pending_events(10)
    redis_server.start()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        events = await wait_for_events(client, 1, within=20)
    finally:
        await client.aclose()

    assert len(pending) == 1
    assert pending[0].attempts >= 1
    assert json.loads(events[0])["id"] == pending[0].event.id


async def test_a_server_killed_after_the_outbox_write_publishes_after_restart(
    tmp_path: Path,
) -> None:
    (tmp_path / "redis").mkdir()
    redis_server = RedisServer(tmp_path / "redis")
    settings = {"DATA_DIR": str(tmp_path / "data"), "COOKIE_SECURE": "false"}
    settings["REDIS_URL"] = redis_server.url  # nothing listens there yet: publication fails
    settings["MAX_STALENESS"] = "1h"
    port, server = start_server(tmp_path, **settings)
    try:
        body = {"email": "ada@example.com", "password": PASSWORD}
        call(port, "POST", "/register", body)
        _, headers, _ = call(port, "POST", "/login", body)
        cookie = headers["Set-Cookie"].split(";")[0]
        status, _, _ = call(port, "DELETE", "/me", cookie=cookie)
        assert status == 204
        server.send_signal(signal.SIGKILL)
    finally:
        stop_server(server)
    redis_server.start()
    port, server = start_server(tmp_path, **settings)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        events = await wait_for_events(client, 1, within=30)
    finally:
        await client.aclose()
        stop_server(server)
        redis_server.stop()

    assert json.loads(events[0])["type"] == "client-data-deletion-request"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deletion_consumer", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_example_consumer_reclaims_acknowledges_and_deduplicates(
    redis: aioredis.Redis,
) -> None:
    example = load_example()
    await example.ensure_group(redis, "billing")
    await example.ensure_group(redis, "billing")  # a second start is fine
    event = {"type": CHANNEL, "version": 1, "id": "e1", "clientId": "c1", "kind": "user"}
    for _ in range(2):  # at least once: the same event may be appended twice
        await redis.xadd(STREAM, {"event": json.dumps(event)})
    handled: list[str] = []

    async def crash(_: dict[str, Any]) -> None:
        raise RuntimeError("the consumer died before deleting")

    async def delete(found: dict[str, Any]) -> None:
        handled.append(found["clientId"])

    with pytest.raises(RuntimeError):
        await example.consume_once(redis, group="billing", consumer="a", handle=crash, block_ms=100)
    count = await example.consume_once(
        redis, group="billing", consumer="b", handle=delete, block_ms=100, min_idle_ms=0
    )
    pending = await redis.xpending(STREAM, "billing")

    assert count == 1
    assert handled == ["c1"]
    assert pending["pending"] == 0


def test_the_example_runs_as_a_script() -> None:
    """``--help`` at least: the documented command line parses."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--help"], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0
    assert "--group" in result.stdout


async def test_events_tail_prints_each_event_as_it_is_appended(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    sink = RedisEventSink.from_url(redis_server.url, CHANNEL)
    env = server_environment(DATA_DIR=str(tmp_path / "data"), REDIS_URL=redis_server.url)
    tail = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway_auth", "events", "tail", env=env, stdout=subprocess.PIPE
    )
    published: list[DeletionEvent] = []
    assert tail.stdout is not None
    output = tail.stdout

    async def printed() -> bytes | None:
        """Publish one more event (tail follows from "now": one before it started is not
        for it), and the line tail printed, if any yet."""
        published.append(DeletionEvent(f"e{len(published)}", "c1", "service", present()))
        await sink.publish(published[-1])
        try:
            async with asyncio.timeout(0.5):
                return await output.readline()
        except TimeoutError:
            return None

    try:
        line = await eventually(printed, within=30, what="events tail printing an event")
    finally:
        tail.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(10):
                await tail.wait()
        finally:
            if tail.returncode is None:
                tail.kill()
                await tail.wait()
            await sink.close()

    assert json.loads(line) in [event.to_json() for event in published]
    assert tail.returncode == 0


async def test_the_example_consumer_waits_out_an_idle_stream(redis_server: RedisServer) -> None:
    # redis-py's default socket timeout equals the example's block time: an idle stream used
    # to end every wait in a TimeoutError and the consumer with it.
    example = load_example()
    client = example.connect(redis_server.url)
    try:
        await example.ensure_group(client, "billing")
        handled = await example.consume_once(
            client, group="billing", consumer="c1", handle=_never_called
        )
    finally:
        await client.aclose()
    assert handled == 0


async def _never_called(_: dict[str, Any]) -> None:
    raise AssertionError("the stream is empty")
