"""Redis as the deletion-event sink: the pub/sub channel and the durable stream of DESIGN."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Self
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from gateway_auth.errors import StoreUnavailable
from gateway_auth.models import DeletionEvent
from gateway_auth.redis_urls import SENTINEL_SCHEME
from gateway_auth.stores.redis import as_text, connect, translated

STREAM_PREFIX = "gateway-auth:events:"
# Trimmed only far above any normal backlog: consumers that fall this far behind lose events.
STREAM_MAXLEN = 1_000_000
FOLLOW_BLOCK_MS = 1000
WAIT_MS = 1000  # how long a published event waits for a replica's confirmation, behind Sentinel


async def _replicated(connection: aioredis.Redis) -> bool:
    """Whether the writes just made on ``connection`` reached a replica, where there is one.

    Replication is asynchronous: an entry only the primary holds is lost if it fails over now,
    so while a replica is connected the event counts as published only once one confirms it
    (else it stays in the outbox and is sent again; consumers deduplicate on the event id).
    A primary with no replica at all (just promoted, its old primary gone) has nothing to wait
    for: waiting would only append the event again and again.
    """
    replication: Any = await connection.info("replication")
    if not replication.get("connected_slaves"):
        return True
    return bool(await connection.wait(1, WAIT_MS) >= 1)


def stream_key(channel: str) -> str:
    """The stream a channel's events are appended to."""
    return STREAM_PREFIX + channel


def event_json(event: DeletionEvent) -> str:
    """The event's JSON exactly as DESIGN prints it (``json.dumps`` defaults)."""
    return json.dumps(event.to_json())


class RedisEventSink:
    """Publishes each event on the channel and appends it to the stream, in one transaction."""

    def __init__(
        self,
        client: aioredis.Redis,
        channel: str,
        legacy_channel: str | None = None,
        *,
        replicas: int = 0,
    ) -> None:
        self._redis = client
        self.channel = channel
        self.stream = stream_key(channel)
        self._legacy_channel = legacy_channel
        self._replicas = replicas

    @classmethod
    def from_url(cls, url: str, channel: str, legacy_channel: str | None = None) -> Self:
        """A sink for ``GATEWAY_AUTH_REDIS_URL``; it connects lazily. Behind Sentinel an event
        counts as published once a replica has it too (see ``publish``)."""
        replicas = 1 if urlsplit(url).scheme == SENTINEL_SCHEME else 0
        return cls(connect(url), channel, legacy_channel, replicas=replicas)

    async def publish(self, event: DeletionEvent) -> None:
        """PUBLISH and XADD (and the legacy bare-id PUBLISH); StoreUnavailable on failure."""
        body = event_json(event)
        with translated():
            # One connection for the writes and the WAIT: WAIT counts only the writes made on
            # the connection that asks.
            async with self._redis.client() as connection:
                async with connection.pipeline(transaction=True) as pipe:
                    pipe.publish(self.channel, body)
                    pipe.xadd(self.stream, {"event": body}, maxlen=STREAM_MAXLEN, approximate=True)
                    if self._legacy_channel:
                        pipe.publish(self._legacy_channel, event.client_id)
                    await pipe.execute()
                if self._replicas and not await _replicated(connection):
                    raise StoreUnavailable("No Redis replica confirmed the event; it is retried.")

    async def follow(self, *, from_start: bool = False) -> AsyncIterator[str | None]:
        """Each event's JSON as it is appended to the stream (after the existing ones, too,
        when ``from_start``), and None after each quiet second; StoreUnavailable when Redis
        goes away."""
        last = "0" if from_start else "$"
        while True:
            with translated():
                batches: Any = await self._redis.xread(
                    {self.stream: last}, block=FOLLOW_BLOCK_MS, count=100
                )
            if not batches:
                yield None
            for _, entries in batches or []:
                for entry_id, fields in entries:
                    last = entry_id
                    yield as_text(fields.get(b"event", b""))

    async def close(self) -> None:
        """Close every connection."""
        with translated():
            await self._redis.aclose()
