"""Consume gateway-auth's deletion events in a downstream service, at least once, without loss.

gateway-auth appends every ``client-data-deletion-request`` event to the Redis stream
``gateway-auth:events:client-data-deletion-request`` (and also PUBLISHes it, best effort). A
service reads the stream through a consumer group, so an event that arrives while the service
is down waits for it:

- ``XREADGROUP`` hands each new entry to one consumer of the group;
- ``XACK`` after the data is deleted marks it done;
- ``XAUTOCLAIM`` takes over entries another consumer read but never acknowledged (it crashed);
- delivery is at least once, so deletions are deduplicated on the event ``id``.

Run it beside your service::

    python examples/deletion_consumer.py --redis-url redis://localhost:6379/0 --group billing

and replace ``delete_client_data`` with your own deletion.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

STREAM = "gateway-auth:events:client-data-deletion-request"
SEEN_FOR_SECONDS = 7 * 24 * 3600  # remember handled event ids this long
BLOCK_MS = 5000  # how long one XREADGROUP waits for new entries on an idle stream
Handler = Callable[[dict[str, Any]], Awaitable[None]]


def connect(url: str) -> aioredis.Redis:
    """A client whose reads outlast a blocking XREADGROUP.

    redis-py's default socket timeout (5 s) equals the block time, so an idle stream would end
    every wait in a TimeoutError; the socket may wait a little longer than Redis is asked to.
    """
    return aioredis.Redis.from_url(
        url, socket_timeout=BLOCK_MS / 1000 + 10, socket_connect_timeout=5
    )


async def ensure_group(redis: aioredis.Redis, group: str, stream: str = STREAM) -> None:
    """Create the consumer group (and the stream) once; from the start, so nothing is missed."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def consume_once(
    redis: aioredis.Redis,
    *,
    group: str,
    consumer: str,
    handle: Handler,
    stream: str = STREAM,
    block_ms: int = BLOCK_MS,
    min_idle_ms: int = 60_000,
) -> int:
    """Handle what a crashed consumer left, then new entries; how many events were handled."""
    claimed: Any = await redis.xautoclaim(
        stream, group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=100
    )
    fresh: Any = await redis.xreadgroup(group, consumer, {stream: ">"}, count=100, block=block_ms)
    entries = list(claimed[1]) + [entry for _, batch in fresh or [] for entry in batch]
    handled = 0
    for entry_id, fields in entries:
        event = json.loads(fields[b"event"])
        seen = f"{group}:deletion-seen:{event['id']}"
        if not await redis.exists(seen):  # a redelivery of an event already handled: skip it
            await handle(event)  # raises? then no ACK: it is delivered again
            await redis.set(seen, "1", ex=SEEN_FOR_SECONDS)
            handled += 1
        await redis.xack(stream, group, entry_id)
    return handled


async def delete_client_data(event: dict[str, Any]) -> None:
    """Replace with your service's deletion of everything it holds for ``clientId``."""
    print(f"deleting data of client {event['clientId']} (event {event['id']})", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://localhost:6379/0")
    parser.add_argument("--group", required=True, help="one group per downstream service")
    parser.add_argument("--consumer", default="consumer-1", help="unique within the group")
    args = parser.parse_args()
    redis = connect(args.redis_url)
    await ensure_group(redis, args.group)
    while True:
        try:
            await consume_once(
                redis, group=args.group, consumer=args.consumer, handle=delete_client_data
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:  # Redis restarting: wait
            print(f"redis unavailable ({exc}); retrying", flush=True)
            await asyncio.sleep(1)


if __name__ == "__main__":
    asyncio.run(main())
