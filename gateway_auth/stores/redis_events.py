"""Redis as the event sink: for each event type, a pub/sub channel and a durable stream."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, Self
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway_auth.config.redis_urls import SENTINEL_SCHEMES
from gateway_auth.errors import StoreUnavailable
from gateway_auth.models import MAIL_PURPOSES, NOTICE_TYPE, DeletionEvent, OutboxEvent
from gateway_auth.stores.redis import as_text, connect, disconnect, translated

STREAM_PREFIX = "gateway-auth:events:"
# Trimmed only far above any normal backlog: consumers that fall this far behind lose events.
STREAM_MAXLEN = 1_000_000
# Mail events carry live links: their streams keep far fewer (a mailer reads them at once, and
# their tokens expire within hours anyway).
MAIL_STREAM_MAXLEN = 100_000
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


def event_json(event: OutboxEvent) -> str:
    """The event's JSON exactly as DESIGN prints it (``json.dumps`` defaults)."""
    return json.dumps(event.to_json())


class RedisEventSink:
    """Publishes each event on its type's channel and appends it to that channel's stream, in
    one transaction. Deletions go to ``channel`` (DELETION_CHANNEL); mail events to the channel
    named after their type (``password-reset-requested``, ``email-verification-requested``)."""

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
        mails = (*MAIL_PURPOSES, NOTICE_TYPE)
        self.streams = (self.stream, *(stream_key(purpose) for purpose in mails))
        self._legacy_channel = legacy_channel
        self._replicas = replicas

    @classmethod
    def from_url(cls, url: str, channel: str, legacy_channel: str | None = None) -> Self:
        """A sink for ``GATEWAY_AUTH_REDIS_URL``; it connects lazily. Behind Sentinel an event
        counts as published once a replica has it too (see ``publish``)."""
        replicas = 1 if urlsplit(url).scheme in SENTINEL_SCHEMES else 0
        return cls(connect(url), channel, legacy_channel, replicas=replicas)

    async def publish(self, event: OutboxEvent) -> None:
        """PUBLISH and XADD (and, for deletions, the legacy bare-id PUBLISH); StoreUnavailable
        on failure."""
        body = event_json(event)
        deletion = isinstance(event, DeletionEvent)
        channel = self.channel if isinstance(event, DeletionEvent) else event.type
        maxlen = STREAM_MAXLEN if deletion else MAIL_STREAM_MAXLEN
        # One connection for the writes and the WAIT: WAIT counts only the writes made on
        # the connection that asks. Not ``async with``: redis-py's context manager leaves the
        # connection taken (and warns) when a shutdown cancels the relay while it enters or
        # leaves; ``aclose`` lets the connection go before it awaits anything.
        connection = self._redis.client()
        try:
            with translated():
                async with connection.pipeline(transaction=True) as pipe:
                    pipe.publish(channel, body)
                    pipe.xadd(stream_key(channel), {"event": body}, maxlen=maxlen, approximate=True)
                    if deletion and self._legacy_channel:
                        pipe.publish(self._legacy_channel, event.client_id)
                    await pipe.execute()
                if self._replicas and not await _replicated(connection):
                    raise StoreUnavailable("No Redis replica confirmed the event; it is retried.")
        finally:
            # Never in ``translated``: a failure to let go of a connection to a Redis that is
            # gone must not replace what is propagating (a shutdown's CancelledError turned
            # into StoreUnavailable is swallowed by the relay's retry, and the shutdown waits).
            with contextlib.suppress(RedisError, OSError):
                await connection.aclose(close_connection_pool=False)

    async def follow(self, *, from_start: bool = False) -> AsyncIterator[str | None]:
        """Each event's JSON as it is appended to any of the streams (after the existing ones,
        too, when ``from_start``), and None after each quiet second; StoreUnavailable when
        Redis goes away."""
        last: Any = dict.fromkeys(self.streams, "0" if from_start else "$")
        while True:
            with translated():
                batches: Any = await self._redis.xread(last, block=FOLLOW_BLOCK_MS, count=100)
            if not batches:
                yield None
            for stream, entries in batches or []:
                for entry_id, fields in entries:
                    last[as_text(stream)] = entry_id
                    yield as_text(fields.get(b"event", b""))

    async def close(self) -> None:
        """Close every connection."""
        with translated():
            await disconnect(self._redis)
