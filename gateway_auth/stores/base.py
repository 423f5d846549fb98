"""What the services need from storage, one narrow protocol per capability.

Backends translate their driver's errors into domain errors (``EmailTaken``,
``StoreUnavailable``); nothing above ``stores/`` imports a driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from gateway_auth.models import (
    EVENT_TYPES,
    Client,
    ClientKind,
    Credentials,
    DeletionEvent,
    Delta,
    LinkedIdentity,
    MirrorState,
    OutboxEvent,
    Passkey,
    ProfileField,
    QueuedMail,
    RevocationSnapshot,
    SecondFactors,
    Session,
    TotpFactor,
)

DeletionOutcome = Literal["deleted", "already_deleted", "unknown"]


@dataclass(frozen=True, slots=True)
class ClientQuery:
    """One page of live clients in creation order, optionally filtered."""

    limit: int
    after: tuple[datetime, str] | None = None  # (created_at, id) of the last client seen
    email_prefix: str | None = None  # normalised like ``validation.email_key``
    suspended: bool | None = None
    kind: ClientKind | None = None
    scope: str | None = None  # only clients holding this scope


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts for the admin dashboard."""

    clients_by_kind: Mapping[ClientKind, int]
    suspended: int
    active_sessions: int
    outbox_backlog: int


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An outbox entry: the event, how often a relay has tried it, and when it was written."""

    event: OutboxEvent
    attempts: int
    created_at: datetime


TokenPurpose = Literal["password-reset", "email-verification"]


@dataclass(frozen=True, slots=True)
class AccountToken:
    """A single-use token mailed to a client, stored only as its SHA-256 hash and bound to the
    client (and, for email verification, to the address it was sent to)."""

    token_hash: str
    client_id: str
    purpose: TokenPurpose
    email_key: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


TokenUse = Literal["used", "unknown", "expired", "spent"]


@dataclass(frozen=True, slots=True)
class TokenRedemption:
    """What presenting a token did: ``used`` it (with the token), or why it did nothing."""

    outcome: TokenUse
    token: AccountToken | None = None


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """New values for some profile fields (``None`` clears a name); absent fields stay."""

    updated_at: datetime
    values: Mapping[ProfileField, str | None]
    email_verified: bool | None = None  # set with a new address: it is not verified yet
    scopes: tuple[str, ...] | None = None  # an operator's new set of scopes
    groups: tuple[str, ...] | None = None  # and of groups


@dataclass(frozen=True, slots=True)
class Suspension:
    """Suspend (with an optional reason) or restore a client at ``now``."""

    suspended: bool
    now: datetime
    reason: str | None = None

    @property
    def suspended_at(self) -> datetime | None:
        """When the suspension starts, or None when restoring."""
        return self.now if self.suspended else None


@dataclass(frozen=True, slots=True)
class Rotation:
    """Replace a session's refresh-token hash, only if ``presented_hash`` is still current."""

    session_id: str
    presented_hash: str
    new_hash: str
    now: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RotationResult:
    """``rotated`` with the updated session, ``reused`` with when it was rotated, or ``invalid``."""

    outcome: Literal["rotated", "reused", "invalid"]
    session: Session | None = None
    rotated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A client exactly as stored, hashes and deletion included, for moving between stores."""

    client: Client
    password_hash: str | None
    secret_hash: str | None
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session as stored, with the hashes its refresh token had before (for reuse checks)."""

    session: Session
    refresh_hash: str
    rotated: tuple[tuple[str, datetime], ...]


@dataclass(frozen=True, slots=True)
class Tombstone:
    """What stays of a purged client: its id is never reused."""

    client_id: str
    deleted_at: datetime


@dataclass(frozen=True, slots=True)
class FactorRecord:
    """A client's second factors as stored: the TOTP secret still sealed, recovery codes as
    their hashes."""

    client_id: str
    totp: TotpFactor | None
    recovery_hashes: tuple[str, ...]
    passkeys: tuple[Passkey, ...] = ()  # public keys and counters: nothing secret


Record = ClientRecord | SessionRecord | PendingEvent | Tombstone | FactorRecord | LinkedIdentity


class ClientStore(Protocol):
    """Client records."""

    async def add_client(
        self, client: Client, password_hash: str | None, *, secret_hash: str | None = None
    ) -> None:
        """Insert a client; EmailTaken if its normalised email is in use."""

    async def get_client(self, client_id: str) -> Client | None:
        """A live (not deleted) client by id."""

    async def get_credentials(self, email_key: str) -> Credentials | None:
        """A live client and its password hash, by normalised email."""

    async def get_password_hash(self, client_id: str) -> str | None:
        """The password hash of a live client."""

    async def set_password_hash(self, client_id: str, password_hash: str, now: datetime) -> None:
        """Replace a live client's password hash."""

    async def update_profile(self, client_id: str, changes: ProfileChanges) -> Client | None:
        """Apply changes (names, email, scopes) to a live client in one update; EmailTaken on an
        email clash; None if gone."""

    async def set_suspended(self, client_id: str, suspension: Suspension) -> Client | None:
        """Suspend or restore a live client (idempotent); None if there is no such client."""

    async def get_secret_hash(self, client_id: str) -> str | None:
        """The client-secret hash of a live service client."""

    async def set_secret_hash(self, client_id: str, secret_hash: str, now: datetime) -> bool:
        """Replace a live client's secret hash; False if there is no such client."""

    async def list_clients(self, query: ClientQuery) -> list[Client]:
        """Live clients matching the query, in creation order."""

    async def upgrade_guest(
        self, client_id: str, email: str, password_hash: str, now: datetime
    ) -> Client | None:
        """Turn a live guest into a user with this email and password (no scopes, unverified),
        keeping its id; EmailTaken on a clash; None if there is no such guest."""

    async def set_email_verified(
        self, client_id: str, email_key: str, verified: bool, now: datetime
    ) -> Client | None:
        """Mark a live client's email (un)verified, only while its normalised email is still
        ``email_key``; None if there is no such client or its address changed."""


class SessionStore(Protocol):
    """Sessions and their refresh-token hashes."""

    async def add_session(self, session: Session, refresh_hash: str) -> None:
        """Insert a new session."""

    async def get_session(self, session_id: str) -> Session | None:
        """A session by id, revoked or not."""

    async def session_and_client(self, session_id: str) -> tuple[Session | None, Client | None]:
        """A session by id, revoked or not, and its client unless deleted: what every
        authenticated request reads, in one round trip where the store has them."""

    async def refresh_hash(self, session_id: str) -> str | None:
        """The hash of the session's current refresh token, or None for no such session."""

    async def rotate_refresh_token(self, rotation: Rotation) -> RotationResult:
        """Atomically swap the refresh hash; of two concurrent rotations only one succeeds."""

    async def list_sessions(self, client_id: str, now: datetime) -> list[Session]:
        """The client's active sessions, newest first."""

    async def elevate_session(
        self, session_id: str, until: datetime, now: datetime
    ) -> Session | None:
        """Put the elevated scopes in force for an active session until ``until``; the session,
        or None when it is revoked, expired or unknown."""

    async def prove_session(
        self, session_id: str, amr: tuple[str, ...], now: datetime
    ) -> Session | None:
        """Record that an active session's person proved more (a second factor): its amr
        becomes ``amr``; the session, or None when it is revoked, expired or unknown."""

    async def provider_sessions(
        self, provider: str, *, provider_sid: str | None, client_id: str | None
    ) -> list[str]:
        """The ids of the unrevoked sessions opened through ``provider``: those of its session
        ``provider_sid`` when given (and of ``client_id`` when that is given too), else every
        one of ``client_id``'s (a back-channel logout names one or the other)."""

    async def revoke_session(self, session_id: str, now: datetime) -> bool:
        """Mark one session revoked; False if it does not exist."""

    async def revoke_client_sessions(
        self, client_id: str, now: datetime, *, keep: str | None = None
    ) -> list[str]:
        """Revoke every active session of a client except ``keep`` (its family too: nothing
        ties the other members to this browser, and it can cross to them again); the ids
        revoked."""

    async def revoke_family(self, session_id: str, now: datetime) -> list[str]:
        """Revoke every active session of ``session_id``'s family (the session itself, the
        one it was opened from on another domain, and every other opened from that one); the
        ids this call revoked."""

    async def prune_sessions(self, before: datetime) -> int:
        """Delete sessions expired or revoked before ``before``; how many."""


class AccountTokenStore(Protocol):
    """Single-use tokens for password resets and email verification."""

    async def add_account_token(
        self, token: AccountToken, spacing: timedelta | None = None
    ) -> bool:
        """Store a new token (every earlier unused one of its client and purpose stops working),
        unless a token of its client, purpose and address was made within ``spacing`` before it:
        then False, and nothing stored. Decided in the store, for every instance at once."""

    async def last_account_token(
        self, client_id: str, purpose: TokenPurpose
    ) -> AccountToken | None:
        """The newest token of a client and purpose, used or not (to space out new mails)."""

    async def use_account_token(
        self, token_hash: str, purpose: TokenPurpose, now: datetime
    ) -> TokenRedemption:
        """Mark the token used, atomically: of two concurrent uses only one succeeds."""

    async def drop_account_tokens(self, client_id: str, purpose: TokenPurpose) -> None:
        """Every unused token of a client and purpose stops working."""

    async def prune_account_tokens(self, before: datetime) -> int:
        """Delete tokens that expired before ``before``; how many."""


class FactorStore(Protocol):
    """Second factors: each client's TOTP secret (sealed) and recovery codes (hashed). Every
    use is one conditional write, so of two concurrent uses of a code only one succeeds."""

    async def second_factors(self, client_id: str) -> SecondFactors:
        """What the client has (nothing for an unknown client)."""

    async def put_totp(self, factor: TotpFactor) -> bool:
        """Keep the client's secret as ``factor`` says (confirmed by its first code, with
        that code's step); False (nothing written) while a confirmed one is in place."""

    async def use_totp_step(self, client_id: str, step: int) -> bool:
        """Accept a code of ``step`` from a confirmed secret, only if no code of this step or a
        later one was accepted (RFC 6238 section 5.2: replay); the failures count restarts."""

    async def count_code_failure(self, client_id: str) -> int:
        """One more wrong code for the client's app; the count now (0: there is no app)."""

    async def clear_code_failures(self, client_id: str) -> None:
        """A right code of another kind (a recovery code): the count restarts."""

    async def remove_totp(self, client_id: str) -> bool:
        """Drop the client's secret, confirmed or not; False if there was none."""

    async def replace_recovery_codes(self, client_id: str, hashes: Sequence[str]) -> None:
        """The client's recovery codes become exactly these (none: no codes)."""

    async def use_recovery_code(self, client_id: str, code_hash: str) -> bool:
        """Spend one recovery code; False if the client has no such unspent code."""

    async def add_passkey(self, passkey: Passkey) -> bool:
        """Register a WebAuthn credential; False (nothing written) when a credential with its
        id is registered already, to this account or another."""

    async def passkey(self, credential_id: str) -> Passkey | None:
        """The credential with this id, whoever it belongs to (a passkey sign-in names no
        account before it is found)."""

    async def use_passkey(
        self, credential_id: str, seen_count: int, new_count: int, at: datetime
    ) -> bool:
        """Record a sign-in with the credential: its counter goes from ``seen_count`` to
        ``new_count`` only if it still reads ``seen_count`` (of two uses of one assertion,
        one wins); False otherwise."""

    async def rename_passkey(self, client_id: str, credential_id: str, name: str) -> bool:
        """Give the client's credential a new name; False if the client has no such one."""

    async def remove_passkey(self, client_id: str, credential_id: str) -> bool:
        """Drop the client's credential; False if the client has no such one."""

    async def remove_passkeys(self, client_id: str) -> int:
        """Drop every credential of the client; how many there were."""


class IdentityStore(Protocol):
    """Accounts at other identity providers linked to clients: (provider, subject) belongs to
    exactly one live client."""

    async def link_identity(self, identity: LinkedIdentity) -> bool:
        """Link it; False (nothing written) when (provider, subject) is linked already, to
        this client or another, or the client is not a live one."""

    async def identity(self, provider: str, subject: str) -> LinkedIdentity | None:
        """The link of (provider, subject), whoever it belongs to."""

    async def identities(self, client_id: str) -> list[LinkedIdentity]:
        """The client's links, oldest first."""

    async def use_identity(self, provider: str, subject: str, email: str, at: datetime) -> None:
        """Note a sign-in through the link, and the address the provider gave with it."""

    async def unlink_identity(self, client_id: str, provider: str, subject: str) -> bool:
        """Drop the client's link; False if the client has no such one."""


class DeletionStore(Protocol):
    """The outbox: deleting clients (mark deleted, revoke sessions and queue the event, in one
    step) and queueing mail events."""

    async def delete_client(self, client_id: str, event: DeletionEvent) -> DeletionOutcome:
        """Delete and queue ``event``; a client already deleted gets no second event."""

    async def queue_event(self, event: QueuedMail) -> None:
        """Write a mail event to the outbox for the relay to publish."""

    async def pending_events(self, limit: int) -> list[PendingEvent]:
        """Events written to the outbox and not yet published, oldest first."""

    async def claim_events(
        self, now: datetime, lease_until: datetime, limit: int, types: Sequence[str] = EVENT_TYPES
    ) -> list[PendingEvent]:
        """Take up to ``limit`` outbox entries of ``types`` no other relay holds, until then."""

    async def release_events(self, event_ids: list[str]) -> None:
        """Give leased entries back at once (their publication failed), for the next attempt."""

    async def complete_event(self, event: OutboxEvent, now: datetime) -> None:
        """The event is published: drop it from the outbox; for a deletion, purge the client for
        good too, keeping only a tombstone so its id is never reused (its email may register
        again)."""

    async def stats(self, now: datetime) -> StoreStats:
        """Counts of clients, suspensions, active sessions and the outbox backlog."""


class TransferStore(Protocol):
    """Everything a store holds, out and in, so an installation can move to another store."""

    def export_records(self) -> AsyncIterator[Record]:
        """Every client (deleted ones too), then every session, every pending outbox entry,
        every tombstone and every client's second factors; clients come first so an import
        can check references."""

    async def import_records(self, records: Sequence[Record]) -> None:
        """Insert each record, replacing one with the same id (so a re-run after an interruption
        finishes the job); EmailTaken when a client's email belongs to another id."""


class RevocationSource(Protocol):
    """What the revocation mirror is loaded from."""

    async def revocation_snapshot(self, since: datetime) -> RevocationSnapshot:
        """Suspended clients, and sessions revoked or clients deleted since ``since``."""


class Store(
    ClientStore,
    SessionStore,
    AccountTokenStore,
    FactorStore,
    IdentityStore,
    DeletionStore,
    TransferStore,
    RevocationSource,
    Protocol,
):
    """A complete backend, as the app wires it; services take only the slices they use."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""

    async def close(self) -> None:
        """Release connections."""


class EventSink(Protocol):
    """Where published events go (Redis: a pub/sub channel and a stream for each type)."""

    async def publish(self, event: OutboxEvent) -> None:
        """Deliver one event; StoreUnavailable when it could not be delivered."""

    def follow(self, *, from_start: bool = False) -> AsyncIterator[str | None]:
        """Each published event's JSON, live, and None after each quiet second."""

    async def close(self) -> None:
        """Release connections."""


class RevocationBus(Protocol):
    """Revocation state shared by every instance, with change notification (Redis).

    Every method raises StoreUnavailable when the bus cannot be reached.
    """

    async def publish(self, delta: Delta) -> None:
        """Record the change in the shared state, then broadcast it to every instance."""

    async def read_state(self, now: float) -> MirrorState | None:
        """The shared state; None when it was lost (an emptied Redis) and must be rebuilt."""

    async def rebuild(self, read_source: Callable[[], Awaitable[MirrorState]], now: float) -> None:
        """Make the shared state match the source of truth, without losing concurrent changes."""

    def deltas(self) -> AbstractAsyncContextManager[AsyncIterator[Delta | None]]:
        """Subscribe; iterate to receive each change as it is published, and None after every
        quiet second, which shows that the subscription is alive."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the bus answers."""

    async def close(self) -> None:
        """Release connections."""
