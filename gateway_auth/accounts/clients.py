"""Accounts: registering, creating, updating, re-passwording and deleting clients.

No aiohttp here: callers pass plain values and get plain values or domain errors back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway_auth.accounts.links import AccountLinks
from gateway_auth.accounts.notices import Notices
from gateway_auth.clock import Clock
from gateway_auth.errors import (
    ClientNotFound,
    GuestsClosed,
    NotAGuest,
    NotAServiceClient,
    RegistrationClosed,
    StoreUnavailable,
    Unauthenticated,
    WrongPassword,
)
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event
from gateway_auth.models import (
    AMR_MFA,
    Client,
    ClientKind,
    DeletionEvent,
    Identity,
    NoticeReason,
    Origin,
    ProfileField,
    Session,
    new_client,
)
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.signin.passwords import PasswordHasher
from gateway_auth.signin.regulation import Regulator, source_key
from gateway_auth.stores.base import (
    ClientQuery,
    ClientStore,
    DeletionOutcome,
    DeletionStore,
    ProfileChanges,
    SessionStore,
)
from gateway_auth.tokens import new_client_secret
from gateway_auth.validation import (
    check,
    clean_name,
    email_key,
    email_problem,
    groups_problem,
    identity_claims_problem,
    name_problem,
    password_problem,
    scopes_problem,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewClient:
    """What it takes to create a client with a password."""

    email: str
    password: str
    first_name: str | None = None
    last_name: str | None = None
    groups: tuple[str, ...] = ()  # an operator's, never a registration's


@dataclass(frozen=True, slots=True)
class NewService:
    """What it takes to create a service client (it gets a secret, not a password)."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GuestPolicy:
    """Whether anyone may start as a guest, with which scopes, and for how long."""

    enabled: bool = False
    scopes: tuple[str, ...] = ()
    ttl: timedelta = timedelta(days=30)


GUEST_DOMAIN = "guest.invalid"  # RFC 2606: never delivered, so nothing is mailed to a guest


@dataclass(frozen=True, slots=True)
class CreatedService:
    """A new service client and its secret, which is shown this once and never again."""

    client: Client
    secret: str


class Accounts:
    """Creates and changes client records."""

    def __init__(
        self,
        *,
        clients: ClientStore,
        deletions: DeletionStore,
        hasher: PasswordHasher,
        revocations: Revocations,
        regulator: Regulator,
        clock: Clock,
        registration_open: bool,
        outbox_written: Callable[[], None] = lambda: None,
        links: AccountLinks,
        sessions: SessionStore,
        guests: GuestPolicy | None = None,
        elevation_ttl: timedelta = timedelta(minutes=10),
        notices: Notices | None = None,
    ) -> None:
        self._clients = clients
        self._notices = notices
        self._deletions = deletions
        self._hasher = hasher
        self._revocations = revocations
        self._regulator = regulator
        self._clock = clock
        self._registration_open = registration_open
        self._outbox_written = outbox_written  # wakes the relay, so the event goes out at once
        self._links = links  # mails verification links to new and changed addresses
        self._guests = guests or GuestPolicy()
        self._sessions = sessions
        self.elevation_ttl = elevation_ttl

    async def register(self, new: NewClient, origin: Origin) -> Client:
        """Self-registration: always a ``user`` with no scopes, and only while it is open."""
        if not self._registration_open:
            raise RegistrationClosed
        await self._regulator.admit(origin.attempt)  # before the hash it costs
        client = await self.create(new, kind="user", scopes=(), source=source_key(origin.ip))
        await self._send_verification(client, origin.locale)
        return client

    async def create(
        self, new: NewClient, *, kind: ClientKind, scopes: Sequence[str], source: str = ""
    ) -> Client:
        """Create a client with a password, of any kind but ``service`` (CLI and admin API)."""
        check(
            {
                "kind": "service clients get a secret, not a password"
                if kind == "service"
                else None,
                "email": email_problem(new.email),
                "password": password_problem(new.password),
                "firstName": name_problem(new.first_name),
                "lastName": name_problem(new.last_name),
                "groups": groups_problem(new.groups),
                "scopes": scopes_problem(scopes) or _claims_problem(new, scopes),
            }
        )
        password_hash = await self._hasher.hash(new.password, source=source)
        client = new_client(
            self._clock(),
            kind,
            new.email,
            first_name=new.first_name,
            last_name=new.last_name,
            scopes=scopes,
            groups=new.groups,
        )
        await self._clients.add_client(client, password_hash)
        log_event(log, "client_created", client_id=client.id, kind=kind, scopes=list(client.scopes))
        return client

    async def create_guest(self, origin: Origin) -> Client:
        """A guest client: no password or secret (it cannot sign in again, only keep its
        session), the guest scopes, and the placeholder address ``guest-<id>@guest.invalid``.
        Counted against the caller's address like a registration."""
        if not self._guests.enabled or not self._registration_open:
            raise GuestsClosed
        await self._regulator.admit(origin.attempt)
        client = new_client(self._clock(), "guest", "", scopes=self._guests.scopes)
        client = replace(client, email=f"guest-{client.id}@{GUEST_DOMAIN}")
        await self._clients.add_client(client, None)
        log_event(log, "client_created", client_id=client.id, kind="guest")
        return client

    def guest_expiry(self, client: Client) -> datetime:
        """When a guest is deleted (and its sessions end at the latest)."""
        return client.created_at + self._guests.ttl

    async def upgrade_guest(
        self, identity: Identity, email: str, password: str, origin: Origin
    ) -> Client:
        """Turn the caller, a guest, into a user with this email and password, keeping its
        id, so what downstream services hold for it stays attached. Its guest scopes go."""
        if identity.client.kind != "guest":
            raise NotAGuest
        if not self._guests.enabled or not self._registration_open:
            raise RegistrationClosed
        check(
            {
                "email": email_problem(email)
                or (f"must not be a {GUEST_DOMAIN} address" if _is_guest(email) else None),
                "password": password_problem(password),
            }
        )
        check({"email": _claims_problem(NewClient(email, password, None, None), ())})
        await self._regulator.admit(origin.attempt)
        password_hash = await self._hasher.hash(password, source=source_key(origin.ip))
        client = await self._clients.upgrade_guest(
            identity.client.id, email.strip(), password_hash, self._clock()
        )
        if client is None:
            raise NotAGuest
        log_event(log, "guest_upgraded", client_id=client.id)
        await self._send_verification(client, origin.locale)
        return client

    async def remove_expired_guests(self, *, limit: int = 1000) -> int:
        """Delete guests older than GUEST_TTL, oldest first, each with its deletion event;
        how many were deleted."""
        cutoff = self._clock() - self._guests.ttl
        removed = 0
        page = await self._clients.list_clients(ClientQuery(limit=100, kind="guest"))
        while page and removed < limit:
            for guest in page:
                if guest.created_at > cutoff:
                    return removed
                if await self.delete(guest.id) == "deleted":
                    removed += 1
            last = page[-1]
            query = ClientQuery(limit=100, kind="guest", after=(last.created_at, last.id))
            page = await self._clients.list_clients(query)
        return removed

    async def create_service(self, new: NewService, *, scopes: Sequence[str]) -> CreatedService:
        """Create a service client; it authenticates at ``/token`` with the secret returned."""
        check(
            {
                "email": email_problem(new.email),
                "firstName": name_problem(new.first_name),
                "lastName": name_problem(new.last_name),
                "groups": groups_problem(new.groups),
                "scopes": scopes_problem(scopes) or _claims_problem(new, scopes),
            }
        )
        client = new_client(
            self._clock(),
            "service",
            new.email,
            first_name=new.first_name,
            last_name=new.last_name,
            scopes=scopes,
            groups=new.groups,
        )
        secret, secret_hash = new_client_secret()
        await self._clients.add_client(client, None, secret_hash=secret_hash)
        log_event(log, "client_created", client_id=client.id, kind="service", scopes=list(scopes))
        return CreatedService(client, secret)

    async def rotate_secret(self, client: Client) -> str:
        """A new secret for a service client; the old one and every token it got stop working."""
        if client.kind != "service":
            raise NotAServiceClient
        secret, secret_hash = new_client_secret()
        if not await self._clients.set_secret_hash(client.id, secret_hash, self._clock()):
            raise ClientNotFound
        await self._revocations.revoke_client_sessions(client.id)
        log_event(log, "client_secret_rotated", client_id=client.id)
        return secret

    async def update_profile(
        self,
        identity: Identity,
        values: Mapping[ProfileField, str | None],
        origin: Origin,
        *,
        current_password: str | None = None,
    ) -> Client:
        """Change names and, when the current password confirms it, the email address."""
        check(
            {
                "email": email_problem(values["email"] or "") if "email" in values else None,
                "firstName": name_problem(values.get("first_name")),
                "lastName": name_problem(values.get("last_name")),
                "currentPassword": "is required to change the email address"
                if "email" in values and current_password is None
                else None,
            }
        )
        check({_first_field(values): _profile_claims_problem(identity.client, values)})
        if "email" in values:
            await self.confirm_password(identity, current_password or "", origin)
        cleaned = {
            name: (value or "").strip() if name == "email" else clean_name(value)
            for name, value in values.items()
        }
        if not cleaned:
            return identity.client
        new_address = "email" in cleaned and email_key(cleaned["email"] or "") != email_key(
            identity.client.email
        )
        updated = await self._clients.update_profile(
            identity.client.id,
            ProfileChanges(
                updated_at=self._clock(),
                values=cleaned,
                email_verified=False if new_address else None,
            ),
        )
        if updated is not None and new_address:
            await self._links.forget_links(updated.id)
            await self._send_verification(updated, origin.locale)
            await self._notice(updated, "email-changed", identity.client.email, origin.locale)
        return updated or identity.client

    async def amend(
        self,
        client: Client,
        values: Mapping[ProfileField, str | None],
        scopes: Sequence[str] | None = None,
        groups: Sequence[str] | None = None,
    ) -> Client:
        """An operator's change of names, email address, scopes and groups, in one update: no
        password asked, and a new address is unverified and gets its link, as when the client
        changes it."""
        check(
            {
                "email": email_problem(values["email"] or "") if "email" in values else None,
                "firstName": name_problem(values.get("first_name")),
                "lastName": name_problem(values.get("last_name")),
                "scopes": scopes_problem(scopes) if scopes is not None else None,
                "groups": groups_problem(groups) if groups is not None else None,
            }
        )
        new_scopes = tuple(dict.fromkeys(scopes)) if scopes is not None else None
        new_groups = tuple(dict.fromkeys(groups)) if groups is not None else None
        changed = replace(
            client,
            scopes=client.scopes if new_scopes is None else new_scopes,
            groups=client.groups if new_groups is None else new_groups,
        )
        field = "scopes" if scopes is not None else "groups" if groups is not None else None
        check({field or _first_field(values): _profile_claims_problem(changed, values)})
        cleaned = {
            name: (value or "").strip() if name == "email" else clean_name(value)
            for name, value in values.items()
        }
        new_address = "email" in cleaned and email_key(cleaned["email"] or "") != email_key(
            client.email
        )
        updated = await self._clients.update_profile(
            client.id,
            ProfileChanges(
                updated_at=self._clock(),
                values=cleaned,
                email_verified=False if new_address else None,
                scopes=new_scopes,
                groups=new_groups,
            ),
        )
        if updated is None:
            raise ClientNotFound
        if new_address:
            await self._links.forget_links(updated.id)
            await self._send_verification(updated, None)
            await self._notice(updated, "email-changed", client.email, None)
        return updated

    async def change_password(
        self, identity: Identity, current: str, new: str, origin: Origin
    ) -> None:
        """Replace the password and end every other session of the client."""
        check({"newPassword": password_problem(new)})
        await self.confirm_password(identity, current, origin)
        now = self._clock()
        new_hash = await self._hasher.hash(new, source=source_key(origin.ip))
        await self._clients.set_password_hash(identity.client.id, new_hash, now)
        await self._links.forget_links(identity.client.id)  # an older reset link must not undo it
        revoked = await self._revocations.revoke_client_sessions(
            identity.client.id, keep=identity.session_id
        )
        log_event(
            log, "password_changed", client_id=identity.client.id, sessions_revoked=len(revoked)
        )
        await self._notice(identity.client, "password-changed", None, origin.locale)

    async def elevate_confirmed(self, identity: Identity) -> Session:
        """Step-up, once the person is confirmed (``SecondFactorService.confirm``: a code, or
        the password): the ELEVATED_SCOPES the client holds are in force for this session for
        ELEVATION_TTL (refreshes do not extend it; ending the session ends it)."""
        now = self._clock()
        session = await self._sessions.elevate_session(
            identity.session_id, now + self.elevation_ttl, now
        )
        if session is None:
            raise Unauthenticated(N_("The session has ended."))
        log_event(log, "session_elevated", client_id=identity.client.id, session_id=session.id)
        return session

    async def prove(self, identity: Identity, methods: tuple[str, ...]) -> Session:
        """This session's person just proved a second factor (RFC 8176 ``methods``): the
        session is multi-factor from now on (``two_factor`` rules, SECOND_FACTOR=required)."""
        session = await self._sessions.get_session(identity.session_id)
        amr = tuple(dict.fromkeys((*(session.amr if session else ()), *methods, AMR_MFA)))
        proved = await self._sessions.prove_session(identity.session_id, amr, self._clock())
        if session is None or proved is None:
            raise Unauthenticated(N_("The session has ended."))
        log_event(log, "session_proved", client_id=identity.client.id, session_id=session.id)
        return proved

    async def has_password(self, client_id: str) -> bool:
        """Whether the client can sign in with a password (one made by another identity
        provider has none until it sets one through a mailed link)."""
        return await self._clients.get_password_hash(client_id) is not None

    async def delete(self, client_id: str) -> DeletionOutcome:
        """Delete a client: gone from reads and tokens at once, with one deletion event queued.

        Repeating it is harmless: a client already deleted gets no second event.
        """
        client = await self._clients.get_client(client_id)
        now = self._clock()
        # Without a live client the store writes nothing and only says why.
        event = DeletionEvent(uuid.uuid4().hex, client_id, client.kind if client else "user", now)
        outcome = await self._deletions.delete_client(client_id, event)
        if outcome == "deleted":
            await self._revocations.revoke_client(client_id, now)
            self._outbox_written()
            log_event(log, "client_deleted", client_id=client_id, event_id=event.id)
        return outcome

    async def delete_self(self, identity: Identity) -> None:
        """The client deletes its own account (``DELETE /me``); LastAdmin from the store if it
        is the only active admin."""
        await self.delete(identity.client.id)

    async def _notice(
        self, client: Client, reason: NoticeReason, email: str | None, locale: str | None
    ) -> None:
        """A security notice to the client (at ``email``: for a new address, the old one)."""
        if self._notices is not None:
            await self._notices.send(client, reason, email=email, locale=locale)

    async def _send_verification(self, client: Client, locale: str | None) -> None:
        """Mail a verification link; the account change stands even if the mail cannot be
        queued now (the client can ask for the link again)."""
        try:
            await self._links.send_verification(client, locale)
        except StoreUnavailable:
            log_event(log, "mail_not_queued", level=logging.WARNING, client_id=client.id)

    async def confirm_password(self, identity: Identity, password: str, origin: Origin) -> None:
        """WrongPassword unless ``password`` is the signed-in client's (counted per session)."""
        # A stolen access token must not become a way to guess the password: confirmations are
        # counted per session (it proves a sign-in already), so neither an attacker's guesses
        # nor a noisy neighbour's address can stop the owner changing their password.
        attempt = replace(origin.attempt, session=identity.session_id)
        counter = await self._regulator.begin(email_key(identity.client.email), attempt, "")
        stored_hash = await self._clients.get_password_hash(identity.client.id)
        if not await self._hasher.verify(password, stored_hash, source=source_key(origin.ip)):
            log_event(log, "password_confirmation_failed", client_id=identity.client.id)
            raise WrongPassword
        await self._regulator.succeeded(counter)


def _is_guest(email: str) -> bool:
    return email.strip().lower().endswith("@" + GUEST_DOMAIN)


def _claims_problem(new: NewClient | NewService, scopes: Sequence[str]) -> str | None:
    return identity_claims_problem(new.email, new.first_name, new.last_name, scopes, new.groups)


def _profile_claims_problem(
    client: Client, values: Mapping[ProfileField, str | None]
) -> str | None:
    email = values.get("email", client.email) or ""
    first = values.get("first_name", client.first_name)
    last = values.get("last_name", client.last_name)
    return identity_claims_problem(email, first, last, client.scopes, client.groups)


def _first_field(values: Mapping[ProfileField, str | None]) -> str:
    names = {"email": "email", "first_name": "firstName", "last_name": "lastName"}
    return next((names[name] for name in values), "email")
