"""The application factory: settings in, a wired aiohttp application out."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from aiohttp import web
from redis.exceptions import RedisError

from gateway_auth.accounts import Accounts
from gateway_auth.admin import Admin
from gateway_auth.clock import Clock, system_clock
from gateway_auth.cookies import CookiePolicy
from gateway_auth.datadir import ensure_data_dir
from gateway_auth.errors import StoreUnavailable
from gateway_auth.events import OutboxRelay
from gateway_auth.http import account, admin, auth, me, ops, portal, token, verify
from gateway_auth.http.appkeys import (
    ACCOUNTS,
    ADMIN,
    CLOCK,
    COOKIES,
    KEYS,
    METRICS,
    MIRROR_SYNC,
    ORIGINS,
    OUTBOX_RELAY,
    PAGES,
    REVOCATIONS,
    SESSIONS,
    SETTINGS,
    STORE,
    TRUSTED_PEERS,
    VERIFIER,
)
from gateway_auth.http.bodies import MAX_BODY_BYTES
from gateway_auth.http.csrf import FormTokens, OriginPolicy
from gateway_auth.http.forwarded import TrustedPeers
from gateway_auth.http.middlewares import http_policy
from gateway_auth.http.pages import Pages
from gateway_auth.keys import load_key_ring
from gateway_auth.logging import log_event
from gateway_auth.metrics import Metrics
from gateway_auth.mirror import RevocationMirror
from gateway_auth.passwords import PasswordHasher
from gateway_auth.regulation import regulator_for
from gateway_auth.revocations import MirrorSync, Revocations
from gateway_auth.sessions import SessionPolicy, Sessions
from gateway_auth.settings import PREFIX, Settings
from gateway_auth.stores.base import EventSink, RevocationBus, Store
from gateway_auth.stores.configured import StoreOpener, open_store
from gateway_auth.stores.redis import RedisRevocationBus, connect
from gateway_auth.stores.redis_events import RedisEventSink
from gateway_auth.tokens import AccessTokens
from gateway_auth.verify import Verifier

log = logging.getLogger(__name__)
PRUNE_EVERY = 3600.0
PRUNE_AFTER = timedelta(days=1)


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    hasher_workers: int | None = None,
    store_opener: StoreOpener = open_store,
) -> web.Application:
    """Build the application; keys are loaded now so key problems stop start-up at once.

    ``store_opener`` is how tests run the whole API on another store (the MongoDB emulation).
    """
    ensure_data_dir(settings.data_dir)
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[http_policy])
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[KEYS] = load_key_ring(settings)
    app[COOKIES] = CookiePolicy.from_settings(settings)
    app[TRUSTED_PEERS] = TrustedPeers(settings.trusted_proxies)
    app[ORIGINS] = OriginPolicy.from_settings(settings, app[TRUSTED_PEERS])
    app[PAGES] = Pages(
        settings, FormTokens.from_settings(settings, app[KEYS].derived_secret("form tokens"))
    )
    app[METRICS] = Metrics()
    tokens = AccessTokens(
        app[KEYS],
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=settings.access_token_ttl,
    )
    mirror = RevocationMirror(settings.access_token_ttl)
    app[VERIFIER] = Verifier(tokens, mirror, max_staleness=settings.max_staleness.total_seconds())
    app.cleanup_ctx.append(_backends(tokens, mirror, hasher_workers, store_opener))
    app.add_routes(routes(settings.base_path))
    return app


def routes(base: str) -> list[web.RouteDef]:
    """Every route, in one table, under BASE_PATH."""
    return [
        web.route("*", f"{base}/verify", verify.verify, name="verify"),
        web.get(f"{base}/", account.home, name="home"),
        web.get(f"{base}/register", portal.register_page, name="register_page"),
        web.post(f"{base}/register", auth.register, name="register"),
        web.get(f"{base}/login", portal.login_page, name="login_page"),
        web.post(f"{base}/login", auth.login, name="login"),
        web.get(f"{base}/refresh", portal.refresh_hop, name="refresh_hop"),
        web.post(f"{base}/refresh", auth.refresh, name="refresh"),
        web.get(f"{base}/logout", portal.logout_page, name="logout_page"),
        web.post(f"{base}/logout", auth.logout, name="logout"),
        web.get(f"{base}/denied", portal.denied_page, name="denied"),
        web.post(f"{base}/account/profile", account.save_profile, name="account_profile"),
        web.post(f"{base}/account/email", account.change_email, name="account_email"),
        web.post(f"{base}/account/password", account.change_password, name="account_password"),
        web.post(
            f"{base}/account/sessions/end-others",
            account.end_other_sessions,
            name="account_end_others",
        ),
        web.post(
            f"{base}/account/sessions/{{id}}/end", account.end_session, name="account_end_session"
        ),
        web.post(f"{base}/token", token.token, name="token"),
        web.get(f"{base}/me", me.get_me, name="me"),
        web.patch(f"{base}/me", me.patch_me),
        web.delete(f"{base}/me", me.delete_me),
        web.put(f"{base}/me/password", me.put_password, name="password"),
        web.get(f"{base}/me/sessions", me.list_sessions, name="sessions"),
        web.delete(f"{base}/me/sessions", me.delete_sessions),
        web.delete(f"{base}/me/sessions/{{id}}", me.delete_session, name="session"),
        web.get(f"{base}/admin/clients", admin.list_clients, name="admin_clients"),
        web.post(f"{base}/admin/clients", admin.create_client),
        web.get(f"{base}/admin/clients/{{id}}", admin.get_client, name="admin_client"),
        web.delete(f"{base}/admin/clients/{{id}}", admin.delete_client),
        web.put(f"{base}/admin/clients/{{id}}/suspension", admin.suspend, name="admin_suspension"),
        web.delete(f"{base}/admin/clients/{{id}}/suspension", admin.unsuspend),
        web.get(f"{base}/admin/clients/{{id}}/lockout", admin.get_lockout),
        web.delete(f"{base}/admin/clients/{{id}}/lockout", admin.lift_lockout),
        web.delete(
            f"{base}/admin/clients/{{id}}/sessions", admin.revoke_sessions, name="admin_sessions"
        ),
        web.post(f"{base}/admin/clients/{{id}}/secret", admin.rotate_secret, name="admin_secret"),
        web.get(f"{base}/admin/stats", admin.stats, name="admin_stats"),
        web.get(f"{base}/.well-known/jwks.json", ops.jwks, name="jwks"),
        web.get(f"{base}/healthz", ops.healthz, name="healthz"),
        web.get(f"{base}/readyz", ops.readyz, name="readyz"),
        web.get(f"{base}/metrics", ops.metrics, name="metrics"),
        web.get(f"{base}/openapi.json", ops.openapi, name="openapi"),
    ]


def revocation_bus(settings: Settings) -> RevocationBus | None:
    """Redis when configured; None on the embedded default."""
    if settings.redis_url is None:
        return None
    return RedisRevocationBus.from_url(settings.redis_url.reveal())


def event_sink(settings: Settings) -> EventSink | None:
    """Redis when configured; None on the embedded default (events wait in the outbox)."""
    if settings.redis_url is None:
        return None
    return RedisEventSink.from_url(
        settings.redis_url.reveal(), settings.deletion_channel, settings.legacy_delete_channel
    )


def _backends(
    tokens: AccessTokens,
    mirror: RevocationMirror,
    hasher_workers: int | None,
    store_opener: StoreOpener,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def backends(app: web.Application) -> AsyncIterator[None]:
        settings, clock = app[SETTINGS], app[CLOCK]
        store = await store_opener(settings)
        bus = revocation_bus(settings)
        sink = event_sink(settings)
        hasher = PasswordHasher.from_settings(settings, workers=hasher_workers)
        # Rate-limit counters get connections of their own: a slow limit must not hold up the
        # revocation channel, nor the other way round.
        limits_redis = connect(settings.redis_url.reveal()) if settings.redis_url else None
        tasks: list[asyncio.Task[None]] = []
        try:
            await hasher.start()
            regulator = regulator_for(
                settings,
                clock,
                app[KEYS].derived_secret("regulation"),
                redis=limits_redis,
                metrics=app[METRICS],
            )
            revocations = Revocations(
                clients=store, sessions=store, mirror=mirror, bus=bus, clock=clock
            )
            sync = MirrorSync(mirror, source=store, bus=bus, clock=clock)
            metrics = app[METRICS]
            relay = OutboxRelay(store, sink, clock, metrics=metrics)
            metrics.watch(
                hash_queue=lambda: hasher.in_flight,
                suspended=lambda: len(mirror.suspended),
                revoked=lambda: len(mirror.revoked),
                mirror_age=lambda: _age(mirror),
            )
            await sync.resync()  # serve from a loaded mirror; if Redis is down, /verify is 503
            app[STORE] = store
            app[REVOCATIONS] = revocations
            app[MIRROR_SYNC] = sync
            app[OUTBOX_RELAY] = relay
            app[SESSIONS] = Sessions(
                clients=store,
                sessions=store,
                hasher=hasher,
                tokens=tokens,
                revocations=revocations,
                regulator=regulator,
                policy=SessionPolicy(settings.refresh_token_ttl, settings.session_max_age),
                clock=clock,
                metrics=metrics,
            )
            app[ACCOUNTS] = Accounts(
                clients=store,
                deletions=store,
                hasher=hasher,
                revocations=revocations,
                regulator=regulator,
                clock=clock,
                registration_open=settings.registration == "open",
                outbox_written=relay.wake,
            )
            app[ADMIN] = Admin(
                clients=store,
                deletions=store,
                accounts=app[ACCOUNTS],
                revocations=revocations,
                regulator=regulator,
                clock=clock,
            )
            tasks.append(asyncio.create_task(sync.run()))
            tasks.append(asyncio.create_task(relay.run()))
            tasks.append(
                asyncio.create_task(_prune_sessions(store, clock, settings.access_token_ttl))
            )
            log_event(
                log,
                "started",
                data_dir=str(settings.data_dir),
                store="sqlite" if settings.embedded else "mongodb",
                hash_workers=hasher.workers,
                redis=bus is not None,
            )
            _warn_if_anyone_can_register(settings)
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            hasher.close()
            for connection in (bus, sink):
                if connection is not None:
                    with contextlib.suppress(StoreUnavailable):
                        await connection.close()
            if limits_redis is not None:
                with contextlib.suppress(RedisError, OSError):
                    await limits_redis.aclose()
            await store.close()

    return backends


def _warn_if_anyone_can_register(settings: Settings) -> None:
    """Open registration beyond loopback lets strangers in: say so, loudly, at every start."""
    if settings.registration != "open" or _is_loopback(settings.host):
        return
    log_event(
        log,
        "registration_open",
        level=logging.WARNING,
        listen=f"{settings.host}:{settings.port}",
        who_can_get_in=(
            "anyone who can reach this server, or a gateway in front of it, can register, sign"
            " in and pass /verify to every app it protects"
        ),
        advice=f"set {PREFIX}REGISTRATION=closed and create accounts with"
        " `gateway-auth clients create` or the admin API",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _age(mirror: RevocationMirror) -> float:
    age = mirror.age(time.monotonic())
    return -1.0 if age is None else age


async def _prune_sessions(store: Store, clock: Clock, access_ttl: timedelta) -> None:
    """Hourly, delete sessions that ended long enough ago that no token can refer to them."""
    keep = max(PRUNE_AFTER, access_ttl * 2)
    while True:
        try:
            removed = await store.prune_sessions(clock() - keep)
            if removed:
                log_event(log, "sessions_pruned", count=removed)
        except StoreUnavailable:  # already logged by the store; the next hour retries
            pass
        await asyncio.sleep(PRUNE_EVERY)
