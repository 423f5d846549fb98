"""The one place the service graph is built: store, Redis connections, mirror, tokens, the
regulator and every service on top, opened in order and closed in reverse.

The aiohttp application, the fast ``/verify`` listener, the command line and the tests all get
their services from ``open_services``, so a new entry point cannot wire them differently (in
the spirit of hynek/svcs). Each resource registers its close on one exit stack, and its health
check, as it is opened: shutdown (in reverse order) and ``/readyz`` follow from what was
opened, not from a list kept by hand. The data directory is prepared, and the signing keys
loaded, here and nowhere else.

Two roles: ``server`` also starts the password-hashing pool, loads the revocation mirror before
anything is served and runs the background tasks (mirror sync, outbox relay, session pruning);
``tool`` is the short-lived command line, whose revocations must reach running servers through
Redis or fail, and whose lockout changes must land in Redis or fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway_auth.access.control import AccessControl
from gateway_auth.access.rules_file import RulesFileError
from gateway_auth.access.verifier import Verifier
from gateway_auth.accounts.admin import Admin
from gateway_auth.accounts.clients import Accounts, GuestPolicy
from gateway_auth.accounts.links import AccountLinks, LinkPolicy
from gateway_auth.accounts.notices import Notices
from gateway_auth.clock import Clock, system_clock
from gateway_auth.config.datadir import ensure_data_dir
from gateway_auth.config.keys import KeyRing, load_encryption_key, load_key_ring
from gateway_auth.config.settings import PREFIX, Settings
from gateway_auth.crossing.service import Crossings
from gateway_auth.errors import ConfigurationError, StoreUnavailable
from gateway_auth.factors.ceremonies import Ceremonies
from gateway_auth.factors.passkeys import PasskeyService
from gateway_auth.factors.sealing import SecretBox
from gateway_auth.factors.service import SecondFactorService
from gateway_auth.logging import log_event
from gateway_auth.mail import mail_sender, outbox_written, relayed_types
from gateway_auth.mail.sender import MailSender
from gateway_auth.metrics import Metrics
from gateway_auth.outbox import OutboxRelay
from gateway_auth.providers.control import ProviderControl
from gateway_auth.providers.file import ProvidersFileError
from gateway_auth.providers.flow import Flows
from gateway_auth.providers.service import ExternalSignIns
from gateway_auth.revocation.mirror import RevocationMirror
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.revocation.sync import MirrorSync
from gateway_auth.signin.issued import SessionPolicy
from gateway_auth.signin.oauth import TokenAuthority
from gateway_auth.signin.passwords import PasswordHasher
from gateway_auth.signin.pending import PendingSignIns
from gateway_auth.signin.regulation import Regulator, regulator_for
from gateway_auth.signin.second_step import SignInSteps
from gateway_auth.signin.sessions import Sessions
from gateway_auth.stores.base import EventSink, RevocationBus, Store
from gateway_auth.stores.configured import StoreOpener, open_store
from gateway_auth.stores.redis import RedisRevocationBus, connect, disconnect
from gateway_auth.stores.redis_events import RedisEventSink
from gateway_auth.tokens import AccessTokens

# StoreOpener and open_store are the application factory's too: it opens no store itself.
__all__ = [
    "HealthCheck",
    "Role",
    "Services",
    "StoreOpener",
    "access_control",
    "access_tokens",
    "event_sink",
    "open_services",
    "open_store",
    "revocation_bus",
]
log = logging.getLogger(__name__)
Role = Literal["server", "tool"]
PRUNE_EVERY = 3600.0
GUEST_SWEEP_EVERY = 600.0
STOP_RETRY_SECONDS = 5.0  # a task still running this long after a cancel swallowed it
PRUNE_AFTER = timedelta(days=1)
HealthCheck = Callable[[], Awaitable[str]]  # "ok", or what is wrong


@dataclass(frozen=True, slots=True)
class Services:
    """Every service of one process, wired once."""

    settings: Settings
    clock: Clock
    keys: KeyRing
    metrics: Metrics
    tokens: AccessTokens
    mirror: RevocationMirror
    verifier: Verifier
    store: Store
    bus: RevocationBus | None
    sink: EventSink | None
    hasher: PasswordHasher
    regulator: Regulator
    revocations: Revocations
    sync: MirrorSync
    relay: OutboxRelay
    mail: MailSender | None  # SMTP_URL's or MAIL_DIR's
    sessions: Sessions
    accounts: Accounts
    factors: SecondFactorService
    passkeys: PasskeyService
    steps: SignInSteps  # the second step, and passkeys alone
    links: AccountLinks
    oauth: TokenAuthority
    admin: Admin
    access: AccessControl | None  # RULES_FILE's rules (servers only)
    external: ExternalSignIns  # IDENTITY_PROVIDERS_FILE's providers (none without one)
    crossings: Crossings  # one sign-in across DOMAINS_FILE's domains
    checks: Mapping[str, HealthCheck] = field(default_factory=dict, repr=False)

    async def health(self) -> dict[str, str]:
        """Each backend's state for ``/readyz``: ``ok`` or why not, as each was registered."""
        return {name: await check() for name, check in self.checks.items()}


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


def access_control(settings: Settings) -> AccessControl | None:
    """RULES_FILE's rules, when it is set; ConfigurationError listing every problem."""
    if settings.rules_file is None:
        return None
    try:
        return AccessControl.load(settings.rules_file)
    except RulesFileError as exc:
        raise ConfigurationError([f"{PREFIX}RULES_FILE: {p}" for p in exc.problems]) from None


def provider_control(settings: Settings, clock: Clock) -> ProviderControl:
    """IDENTITY_PROVIDERS_FILE's providers (none when it is unset); ConfigurationError
    listing every problem."""
    try:
        return ProviderControl.load(settings.identity_providers_file, clock)
    except ProvidersFileError as exc:
        name = f"{PREFIX}IDENTITY_PROVIDERS_FILE"
        raise ConfigurationError([f"{name}: {p}" for p in exc.problems]) from None


def access_tokens(settings: Settings, keys: KeyRing) -> AccessTokens:
    """The access-token codec the settings describe."""
    return AccessTokens(
        keys,
        issuer=settings.issuer,
        accepted_issuers=settings.accepted_issuers,
        audience=settings.jwt_audience,
        ttl=settings.access_token_ttl,
        elevated_scopes=frozenset(settings.elevated_scopes),
    )


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    role: Role = "server",
    clock: Clock = system_clock,
    metrics: Metrics | None = None,
    hasher: PasswordHasher | None = None,
    hasher_workers: int | None = None,
    store_opener: StoreOpener = open_store,
) -> AsyncIterator[Services]:
    """Open every service for ``role``; everything opened is closed again on the way out.

    ``hasher`` and ``store_opener`` are how tests count bcrypt checks or run on another store.
    """
    server = role == "server"
    access = access_control(settings) if server else None
    providers = provider_control(settings, clock)
    ensure_data_dir(settings.data_dir)
    keys = load_key_ring(settings)
    encryption_key = load_encryption_key(settings)
    metrics = metrics or Metrics()
    tokens = access_tokens(settings, keys)
    mirror = RevocationMirror(settings.access_token_ttl)
    checks: dict[str, HealthCheck] = {}
    async with contextlib.AsyncExitStack() as stack:
        if hasher is None:
            hasher = PasswordHasher.from_settings(settings, workers=hasher_workers if server else 1)
        stack.callback(hasher.close)
        store = await store_opener(settings)
        stack.push_async_callback(store.close)
        checks["store"] = functools.partial(_store_health, store)
        # Rate-limit counters get connections of their own: a slow limit must not hold up the
        # revocation channel, nor the other way round.
        limits_redis = connect(settings.redis_url.reveal()) if settings.redis_url else None
        if limits_redis is not None:
            stack.push_async_callback(_close_redis, limits_redis)
        sink = event_sink(settings) if server else None
        if sink is not None:
            stack.push_async_callback(_close_quietly, sink)
        bus = revocation_bus(settings)
        if bus is not None:  # closed before the sink, as ever
            stack.push_async_callback(_close_quietly, bus)
        if server:
            await hasher.start()
        regulator = regulator_for(
            settings,
            clock,
            keys.derived_secret("regulation"),
            redis=limits_redis,
            metrics=metrics if server else None,
            local_fallback=server,
        )
        revocations = Revocations(
            clients=store,
            sessions=store,
            mirror=mirror,
            bus=bus,
            clock=clock,
            require_broadcast=not server,
        )
        sync = MirrorSync(mirror, source=store, bus=bus, clock=clock)
        max_staleness = settings.max_staleness.total_seconds()
        checks["revocations"] = functools.partial(sync.health, max_staleness)
        mail = mail_sender(settings, store, clock, metrics)  # else mail events go to Redis
        relay = OutboxRelay(store, sink, clock, metrics=metrics, types=relayed_types(mail))
        written = outbox_written(relay, mail)
        notices = Notices(outbox=store, clock=clock, outbox_written=written)
        links = AccountLinks(
            clients=store,
            tokens=store,
            outbox=store,
            hasher=hasher,
            revocations=revocations,
            regulator=regulator,
            clock=clock,
            policy=LinkPolicy(
                settings.links_base, settings.password_reset_ttl, settings.email_verification_ttl
            ),
            outbox_written=written,
            notices=notices,
        )
        stack.push_async_callback(links.settle)
        accounts = Accounts(
            clients=store,
            deletions=store,
            hasher=hasher,
            revocations=revocations,
            regulator=regulator,
            clock=clock,
            # The command line is how an operator creates accounts when registration is closed.
            registration_open=settings.registration == "open" or not server,
            outbox_written=written,
            links=links,
            guests=GuestPolicy(settings.guests, settings.guest_scopes, settings.guest_ttl),
            sessions=store,
            elevation_ttl=settings.elevation_ttl,
            notices=notices,
        )
        factors = SecondFactorService(
            store=store,
            clients=store,
            box=SecretBox(encryption_key) if encryption_key is not None else None,
            regulator=regulator,
            revocations=revocations,
            clock=clock,
            policy=settings.second_factor,
            issuer=settings.app_name,
            confirm_password=accounts.confirm_password,
            notify=notices.send,
        )
        passkeys = PasskeyService(
            store=store,
            clients=store,
            factors=factors,
            ceremonies=Ceremonies(keys.derived_secret("webauthn ceremony"), clock),
            regulator=regulator,
            clock=clock,
            confirm_password=accounts.confirm_password,
        )
        sessions = Sessions(
            clients=store,
            sessions=store,
            hasher=hasher,
            tokens=tokens,
            revocations=revocations,
            regulator=regulator,
            policy=SessionPolicy(settings.refresh_token_ttl, settings.session_max_age),
            clock=clock,
            factors=factors,
            pending=PendingSignIns(keys.derived_secret("pending sign-in"), clock),
            metrics=metrics,
        )
        stack.push_async_callback(providers.close)
        admin = Admin(
            clients=store,
            deletions=store,
            sessions=store,
            accounts=accounts,
            links=links,
            revocations=revocations,
            regulator=regulator,
            clock=clock,
            factors=factors,
        )
        services = Services(
            settings=settings,
            clock=clock,
            keys=keys,
            metrics=metrics,
            tokens=tokens,
            mirror=mirror,
            verifier=Verifier(
                tokens,
                mirror,
                max_staleness=max_staleness,
                cache_size=settings.token_cache_size,
                require_verified_email=settings.require_verified_email,
                require_second_factor=settings.second_factor == "required",
            ),
            store=store,
            bus=bus,
            sink=sink,
            access=access,
            hasher=hasher,
            regulator=regulator,
            revocations=revocations,
            sync=sync,
            relay=relay,
            mail=mail,
            sessions=sessions,
            accounts=accounts,
            factors=factors,
            passkeys=passkeys,
            steps=SignInSteps(
                sessions=sessions,
                clients=store,
                factors=factors,
                passkeys=passkeys,
                regulator=regulator,
            ),
            links=links,
            oauth=TokenAuthority(
                clients=store,
                sessions=store,
                tokens=tokens,
                revocations=revocations,
                clock=clock,
                require_verified_email=settings.require_verified_email,
            ),
            admin=admin,
            external=ExternalSignIns(
                control=providers,
                flows=Flows(keys.derived_secret("identity provider round trip"), clock),
                clients=store,
                identities=store,
                session_store=store,
                factor_store=store,
                sessions=sessions,
                admin=admin,
                revocations=revocations,
                regulator=regulator,
                notices=notices,
                clock=clock,
                registration_open=settings.registration == "open",
                proof_window=settings.elevation_ttl,
            ),
            crossings=Crossings(
                keys.derived_secret("crossing between domains"),
                clock,
                sessions=sessions,
                session_store=store,
                clients=store,
                tokens=tokens,
                mirror=mirror,
                revocations=revocations,
                regulator=regulator,
            ),
            checks=checks,
        )
        if server:
            await _start(services, stack)
        yield services


async def _start(services: Services, stack: contextlib.AsyncExitStack) -> None:
    """Load the mirror, then start the background work a server does (each task stopped on
    the way out before anything it uses is closed)."""
    metrics, mirror, hasher = services.metrics, services.mirror, services.hasher
    metrics.watch(
        hash_queue=lambda: hasher.in_flight,
        suspended=lambda: len(mirror.suspended),
        revoked=lambda: len(mirror.revoked),
        mirror_age=lambda: _age(mirror),
        token_cache=lambda: services.verifier.cached,
        token_decodes=lambda: services.verifier.decoded,
    )
    access = services.access
    if access is not None:
        metrics.access_rules.set_function(lambda: len(access.rules.rules))
        metrics.access_rules_invalid.set_function(lambda: 1 if access.problems else 0)
        metrics.access_reloads.read = lambda: access.reloads
    await services.sync.resync()  # serve from a loaded mirror; if Redis is down, /verify is 503
    settings = services.settings
    background = [
        services.sync.run(),
        services.relay.run(),
        *([services.mail.run()] if services.mail is not None else []),
        _prune_sessions(services.store, services.clock, settings.access_token_ttl),
        _remove_expired_guests(services.accounts),
        *([access.watch()] if access is not None else []),
    ]
    for work in background:
        stack.push_async_callback(_stop, asyncio.create_task(work))


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel a background task and wait until it ends: cancelled again every few seconds should
    it swallow a cancellation (a library that turns one into its own error), so a shutdown
    always finishes."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_RETRY_SECONDS)
        if not task.done():
            log_event(log, "task_ignored_cancellation", level=logging.WARNING, task=task.get_name())
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _store_health(store: Store) -> str:
    try:
        await store.ping()
    except StoreUnavailable:
        return "unavailable"
    return "ok"


async def _close_quietly(connection: RevocationBus | EventSink) -> None:
    with contextlib.suppress(StoreUnavailable):
        await connection.close()


async def _close_redis(redis: Redis) -> None:
    with contextlib.suppress(RedisError, OSError):
        await disconnect(redis)


def _age(mirror: RevocationMirror) -> float:
    age = mirror.age(time.monotonic())
    return -1.0 if age is None else age


async def _remove_expired_guests(accounts: Accounts) -> None:
    """Every ten minutes, delete guests past GUEST_TTL (each with its deletion event)."""
    while True:
        try:
            removed = await accounts.remove_expired_guests()
            if removed:
                log_event(log, "expired_guests_deleted", count=removed)
        except StoreUnavailable:
            pass
        await asyncio.sleep(GUEST_SWEEP_EVERY)


async def _prune_sessions(store: Store, clock: Clock, access_ttl: timedelta) -> None:
    """Hourly, delete sessions that ended long enough ago that no token can refer to them."""
    keep = max(PRUNE_AFTER, access_ttl * 2)
    while True:
        try:
            removed = await store.prune_sessions(clock() - keep)
            if removed:
                log_event(log, "sessions_pruned", count=removed)
            spent = await store.prune_account_tokens(clock())
            if spent:
                log_event(log, "account_tokens_pruned", count=spent)
        except StoreUnavailable:  # already logged by the store; the next hour retries
            pass
        await asyncio.sleep(PRUNE_EVERY)
