"""Accounts: registering, creating, updating, re-passwording and deleting clients.

No aiohttp here: callers pass plain values and get plain values or domain errors back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway_auth.clock import Clock
from gateway_auth.errors import RegistrationClosed, WrongPassword
from gateway_auth.logging import log_event
from gateway_auth.models import Client, ClientKind, DeletionEvent
from gateway_auth.passwords import PasswordHasher
from gateway_auth.revocations import Revocations
from gateway_auth.sessions import Identity
from gateway_auth.stores.base import (
    ClientStore,
    DeletionStore,
    ProfileChanges,
    ProfileField,
)
from gateway_auth.throttle import FailureThrottle
from gateway_auth.validation import (
    check,
    clean_name,
    email_problem,
    name_problem,
    password_problem,
    scope_problem,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewClient:
    """What it takes to create a client with a password."""

    email: str
    password: str
    first_name: str | None = None
    last_name: str | None = None


class Accounts:
    """Creates and changes client records."""

    def __init__(
        self,
        *,
        clients: ClientStore,
        deletions: DeletionStore,
        hasher: PasswordHasher,
        revocations: Revocations,
        throttle: FailureThrottle,
        clock: Clock,
        registration_open: bool,
    ) -> None:
        self._clients = clients
        self._deletions = deletions
        self._hasher = hasher
        self._revocations = revocations
        self._throttle = throttle
        self._clock = clock
        self._registration_open = registration_open

    async def register(self, new: NewClient) -> Client:
        """Self-registration: always a ``user`` with no scopes, and only while it is open."""
        if not self._registration_open:
            raise RegistrationClosed
        return await self.create(new, kind="user", scopes=())

    async def create(self, new: NewClient, *, kind: ClientKind, scopes: Sequence[str]) -> Client:
        """Create a client of any kind and scopes (operators: CLI and admin API)."""
        check(
            {
                "email": email_problem(new.email),
                "password": password_problem(new.password),
                "firstName": name_problem(new.first_name),
                "lastName": name_problem(new.last_name),
                "scopes": next(filter(None, map(scope_problem, scopes)), None),
            }
        )
        password_hash = await self._hasher.hash(new.password)
        now = self._clock()
        client = Client(
            id=uuid.uuid4().hex,
            email=new.email.strip(),
            kind=kind,
            scopes=tuple(dict.fromkeys(scopes)),
            first_name=clean_name(new.first_name),
            last_name=clean_name(new.last_name),
            suspended=False,
            suspended_at=None,
            suspend_reason=None,
            created_at=now,
            updated_at=now,
        )
        await self._clients.add_client(client, password_hash)
        log_event(log, "client_created", client_id=client.id, kind=kind, scopes=list(client.scopes))
        return client

    async def update_profile(
        self,
        identity: Identity,
        values: Mapping[ProfileField, str | None],
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
        if "email" in values:
            await self._confirm_password(identity, current_password or "")
        cleaned = {
            name: (value or "").strip() if name == "email" else clean_name(value)
            for name, value in values.items()
        }
        if not cleaned:
            return identity.client
        updated = await self._clients.update_profile(
            identity.client.id, ProfileChanges(updated_at=self._clock(), values=cleaned)
        )
        return updated or identity.client

    async def change_password(self, identity: Identity, current: str, new: str) -> None:
        """Replace the password and end every other session of the client."""
        check({"newPassword": password_problem(new)})
        await self._confirm_password(identity, current)
        now = self._clock()
        await self._clients.set_password_hash(identity.client.id, await self._hasher.hash(new), now)
        revoked = await self._revocations.revoke_client_sessions(
            identity.client.id, keep=identity.session_id
        )
        log_event(
            log, "password_changed", client_id=identity.client.id, sessions_revoked=len(revoked)
        )

    async def delete(self, client: Client) -> bool:
        """Delete a client: gone from reads and tokens at once, with a deletion event queued."""
        now = self._clock()
        event = DeletionEvent(uuid.uuid4().hex, client.id, client.kind, now)
        deleted = await self._deletions.delete_client(client.id, event)
        if deleted:
            await self._revocations.revoke_client(client.id, now)
            log_event(log, "client_deleted", client_id=client.id, event_id=event.id)
        return deleted

    async def _confirm_password(self, identity: Identity, password: str) -> None:
        # A stolen access token must not become a way to guess the password.
        key = f"client:{identity.client.id}"
        self._throttle.check(key)
        stored_hash = await self._clients.get_password_hash(identity.client.id)
        if not await self._hasher.verify(password, stored_hash):
            self._throttle.failed(key)
            log_event(log, "password_confirmation_failed", client_id=identity.client.id)
            raise WrongPassword
        self._throttle.succeeded(key)
