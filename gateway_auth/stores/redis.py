"""Redis: the revocation state every instance shares, and the channel that spreads changes.

Keys (DESIGN "Revocation"): the set ``gateway-auth:suspended``, the sorted set
``gateway-auth:revoked`` (``session:<id>`` / ``client:<id>``, scored by expiry) and the channel
``gateway-auth:revocations`` carrying JSON deltas. A marker key says the state was built from
the store; when Redis restarts empty the marker is gone, and instances rebuild instead of
reading an empty set as "nobody is suspended".
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, Self
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway_auth.config.redis_urls import SENTINEL_SCHEMES, SentinelTarget
from gateway_auth.errors import StoreUnavailable
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event
from gateway_auth.models import Delta, MirrorState

log = logging.getLogger(__name__)
SUSPENDED_KEY = "gateway-auth:suspended"
REVOKED_KEY = "gateway-auth:revoked"
BUILT_KEY = "gateway-auth:revocations:built"
REVOCATIONS_CHANNEL = "gateway-auth:revocations"
TIMEOUT_SECONDS = 2.0
POLL_SECONDS = 1.0


def connect(url: str) -> aioredis.Redis:
    """A client that fails fast: one immediate retry at most, so the caller sees every outage.

    A ``redis+sentinel://`` URL gives a client of the service's current primary: each new
    connection asks the sentinels where it is, so after a failover the next reconnect reaches
    the promoted replica, without a restart.
    """
    options: dict[str, Any] = {
        "socket_timeout": TIMEOUT_SECONDS,
        "socket_connect_timeout": TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), 1),  # one reconnect for a pooled connection Redis dropped
        "health_check_interval": 10,
    }
    if urlsplit(url).scheme not in SENTINEL_SCHEMES:
        return aioredis.Redis.from_url(url, **options)
    target = SentinelTarget.parse(url)
    tls = {} if target.tls is None else {"ssl": True, **_tls(dict(target.tls))}
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs={
            "socket_timeout": TIMEOUT_SECONDS,
            "socket_connect_timeout": TIMEOUT_SECONDS,
            "retry": Retry(NoBackoff(), 1),  # fail fast here too: the next sentinel is asked
            "password": target.sentinel_password,
            **tls,
        },
    )
    client: aioredis.Redis = sentinel.master_for(
        target.service,
        db=target.db,
        username=target.username,
        password=target.password,
        **options,
        **tls,  # the primary (and, after a failover, the promoted replica) speaks TLS too
    )
    return client


def _tls(settings: dict[str, str]) -> dict[str, Any]:
    """redis-py's connection settings for a URL's ``ssl_*`` query values."""
    converted: dict[str, Any] = dict(settings)
    if "ssl_check_hostname" in settings:
        converted["ssl_check_hostname"] = settings["ssl_check_hostname"] == "true"
    return converted


async def disconnect(client: aioredis.Redis) -> None:
    """Close ``client``'s connections, and for a Sentinel client those to the sentinels too
    (redis-py leaves them open)."""
    await client.aclose()
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    for sentinel in getattr(manager, "sentinels", ()):
        await sentinel.aclose()


@contextmanager
def translated() -> Iterator[None]:
    """Driver errors become StoreUnavailable; the details go to the log only."""
    try:
        yield
    except (RedisError, OSError) as exc:
        log_event(log, "redis_error", level=logging.DEBUG, error=type(exc).__name__)
        raise StoreUnavailable(N_("Redis is unavailable; retry shortly.")) from None


class RedisRevocationBus:
    """The RevocationBus protocol over one Redis server (or anything that speaks to it)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    @classmethod
    def from_url(cls, url: str) -> Self:
        """A bus for ``GATEWAY_AUTH_REDIS_URL``; it connects lazily."""
        return cls(connect(url))

    async def publish(self, delta: Delta) -> None:
        """Record the change in the shared sets, then tell every subscriber."""
        with translated():
            async with self._redis.pipeline(transaction=True) as pipe:
                if delta.op == "suspend":
                    pipe.sadd(SUSPENDED_KEY, delta.client_id)
                elif delta.op == "unsuspend":
                    pipe.srem(SUSPENDED_KEY, delta.client_id)
                else:
                    pipe.zadd(REVOKED_KEY, dict.fromkeys(delta.keys, delta.until), gt=True)
                pipe.publish(REVOCATIONS_CHANNEL, delta.to_json())
                await pipe.execute()

    async def read_state(self, now: float) -> MirrorState | None:
        """Both sets, read atomically, with expired revocations pruned; None if never built."""
        with translated():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.exists(BUILT_KEY)
                pipe.smembers(SUSPENDED_KEY)
                pipe.zremrangebyscore(REVOKED_KEY, "-inf", now)
                pipe.zrange(REVOKED_KEY, f"({now}", "+inf", byscore=True, withscores=True)
                built, suspended, _, revoked = await pipe.execute()
        if not built:
            return None
        return MirrorState(
            frozenset(as_text(member) for member in suspended),
            {as_text(member): float(score) for member, score in revoked},
        )

    async def rebuild(self, read_source: Callable[[], Awaitable[MirrorState]], now: float) -> None:
        """Make Redis match the store without undoing changes made meanwhile.

        Redis's members are read *before* the store, so a suspension that lands in between is in
        the store read (it is written there first) and is never removed here.
        """
        with translated():
            before = {as_text(member) for member in await self._redis.smembers(SUSPENDED_KEY)}
        source = await read_source()
        lifted = before - source.suspended
        revoked = {key: until for key, until in source.revoked.items() if until > now}
        with translated():
            async with self._redis.pipeline(transaction=True) as pipe:
                if lifted:
                    pipe.srem(SUSPENDED_KEY, *lifted)
                if source.suspended:
                    pipe.sadd(SUSPENDED_KEY, *source.suspended)
                if revoked:
                    pipe.zadd(REVOKED_KEY, revoked, gt=True)
                pipe.set(BUILT_KEY, "1")
                await pipe.execute()
        log_event(log, "revocations_rebuilt", suspended=len(source.suspended), revoked=len(revoked))

    @asynccontextmanager
    async def deltas(self) -> AsyncIterator[AsyncIterator[Delta | None]]:
        """Subscribe to the channel; the iterator raises StoreUnavailable when it drops."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            with translated():
                await pubsub.subscribe(REVOCATIONS_CHANNEL)
            yield _messages(pubsub)
        finally:
            with suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers."""
        with translated():
            await self._redis.ping()

    async def close(self) -> None:
        """Close every connection."""
        with translated():
            await disconnect(self._redis)


async def _messages(pubsub: PubSub) -> AsyncIterator[Delta | None]:
    while True:
        with translated():
            message: dict[str, Any] | None = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=POLL_SECONDS
            )
        if message is None or message.get("type") != "message":
            yield None  # a quiet second on a live connection
            continue
        delta = Delta.from_json(message["data"])
        if delta is None:
            log_event(log, "revocation_delta_ignored", level=logging.WARNING)
            continue
        yield delta


def as_text(value: bytes | str) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else value
