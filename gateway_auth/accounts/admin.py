"""Operators' actions on clients: find, create, change, suspend, restore, delete, reset a
password or the second factors, list and end sessions.

No aiohttp here. Every action names the acting client (an id, or ``cli``) and leaves one
structured audit line; every action but the password reset (each mails a new link, which
replaces the last) is idempotent, and the ones that take access away reach
``/verify`` at once through ``Revocations``. None of them may leave the installation without an
active admin.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway_auth.accounts.clients import (
    Accounts,
    CreatedService,
    NewClient,
    NewService,
)
from gateway_auth.accounts.links import AccountLinks
from gateway_auth.clock import Clock
from gateway_auth.errors import (
    ClientNotFound,
    FieldError,
    SessionNotFound,
    ValidationFailed,
)
from gateway_auth.factors.service import SecondFactorService
from gateway_auth.logging import log_event
from gateway_auth.models import Client, ClientKind, ProfileField, SecondFactors, Session, iso
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.signin.regulation import Regulator
from gateway_auth.stores.base import (
    ClientQuery,
    ClientStore,
    DeletionStore,
    SessionStore,
    StoreStats,
)
from gateway_auth.validation import check, email_key, reason_problem

log = logging.getLogger(__name__)
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class ListChange:
    """Replace a client's scopes or groups (``replace``), or add and remove some."""

    replace: tuple[str, ...] | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def applied(self, names: Sequence[str]) -> tuple[str, ...]:
        """The names after the change, in their order, added ones last."""
        base = self.replace if self.replace is not None else tuple(names)
        kept = [name for name in base if name not in self.remove]
        return tuple(dict.fromkeys([*kept, *self.add]))


@dataclass(frozen=True, slots=True)
class ClientFilter:
    """What an operator searches for; every field optional."""

    email_prefix: str | None = None
    suspended: bool | None = None
    kind: ClientKind | None = None


@dataclass(frozen=True, slots=True)
class ClientPage:
    """One page of clients and the cursor of the next one (None on the last page)."""

    clients: list[Client]
    next_cursor: str | None


class Admin:
    """What the ``/admin`` routes do, on behalf of an acting client."""

    def __init__(
        self,
        *,
        clients: ClientStore,
        deletions: DeletionStore,
        sessions: SessionStore,
        accounts: Accounts,
        links: AccountLinks,
        revocations: Revocations,
        regulator: Regulator,
        clock: Clock,
        factors: SecondFactorService,
    ) -> None:
        self._clients = clients
        self._factors = factors
        self._deletions = deletions
        self._sessions = sessions
        self._accounts = accounts
        self._links = links
        self._revocations = revocations
        self._regulator = regulator
        self._clock = clock

    async def list_clients(
        self, found: ClientFilter, *, limit: int, cursor: str | None
    ) -> ClientPage:
        """Live clients in creation order; the cursor stays valid whatever is deleted meanwhile."""
        query = ClientQuery(
            limit=limit + 1,
            after=decode_cursor(cursor) if cursor else None,
            email_prefix=email_key(found.email_prefix) if found.email_prefix else None,
            suspended=found.suspended,
            kind=found.kind,
        )
        clients = await self._clients.list_clients(query)
        if len(clients) <= limit:
            return ClientPage(clients, None)
        last = clients[limit - 1]
        return ClientPage(clients[:limit], encode_cursor(last.created_at, last.id))

    async def get(self, client_id: str) -> Client:
        """One live client; ClientNotFound otherwise."""
        client = await self._clients.get_client(client_id)
        if client is None:
            raise ClientNotFound
        return client

    async def find(self, reference: str) -> Client:
        """A live client by id or, when it holds an ``@``, by email address (as normalised for
        sign-in); ClientNotFound otherwise."""
        if "@" not in reference:
            return await self.get(reference)
        credentials = await self._clients.get_credentials(email_key(reference))
        if credentials is None:
            raise ClientNotFound
        return credentials.client

    async def create_user(
        self, actor: str, new: NewClient, *, kind: ClientKind, scopes: Sequence[str]
    ) -> Client:
        """A client with a password (``user`` or ``guest``), with any scopes."""
        client = await self._accounts.create(new, kind=kind, scopes=scopes)
        self._audit(
            actor, "create", client.id, kind=kind, scopes=list(client.scopes),
            groups=list(client.groups),
        )  # fmt: skip
        return client

    async def create_service(
        self, actor: str, new: NewService, *, scopes: Sequence[str]
    ) -> CreatedService:
        """A service client and its secret, shown once."""
        created = await self._accounts.create_service(new, scopes=scopes)
        self._audit(
            actor, "create", created.client.id, kind="service", scopes=list(scopes),
            groups=list(created.client.groups),
        )  # fmt: skip
        return created

    async def update(
        self,
        actor: str,
        client_id: str,
        values: Mapping[ProfileField, str | None],
        scopes: ListChange | None = None,
        groups: ListChange | None = None,
    ) -> Client:
        """Change names, email address, scopes and groups. A scope or group taken away takes
        every session of the client with it, so no token still carrying it is accepted anywhere
        (a rule may let a group in); added ones arrive with the next token."""
        client = await self.get(client_id)
        new_scopes = scopes.applied(client.scopes) if scopes is not None else None
        new_groups = groups.applied(client.groups) if groups is not None else None
        # LastAdmin is the store's to refuse, in the same step as the change.
        updated = await self._accounts.amend(client, values, new_scopes, new_groups)
        removed = [scope for scope in client.scopes if scope not in updated.scopes]
        left = [group for group in client.groups if group not in updated.groups]
        ended: list[str] = []
        try:  # the change is made: its audit line is written even if the revocation fails
            if removed or left:
                ended = await self._revocations.revoke_client_sessions(client_id)
        finally:
            self._audit(
                actor,
                "update",
                client_id,
                fields=list(values),
                added=[scope for scope in updated.scopes if scope not in client.scopes],
                removed=removed,
                groups_added=[group for group in updated.groups if group not in client.groups],
                groups_removed=left,
                sessions_revoked=len(ended),
            )
        return updated

    async def start_password_reset(self, actor: str, client_id: str) -> datetime:
        """Mail the user a reset link now (the user, not the operator, chooses the password);
        when the link stops working."""
        client = await self.get(client_id)
        expires_at = await self._links.send_reset(client)
        self._audit(actor, "password_reset", client_id)
        return expires_at

    async def sessions(self, client_id: str) -> list[Session]:
        """The client's active sessions, newest first."""
        await self.get(client_id)
        return await self._sessions.list_sessions(client_id, self._clock())

    async def end_session(self, actor: str, client_id: str, session_id: str) -> None:
        """End one of the client's sessions everywhere; ending it again is fine."""
        await self.get(client_id)
        session = await self._sessions.get_session(session_id)
        if session is None or session.client_id != client_id:
            raise SessionNotFound
        await self._revocations.revoke_session(session_id)
        self._audit(actor, "end_session", client_id, session_id=session_id)

    async def rotate_secret(self, actor: str, client_id: str) -> str:
        """A new secret for a service client; its old secret and tokens stop working."""
        secret = await self._accounts.rotate_secret(await self.get(client_id))
        self._audit(actor, "rotate_secret", client_id)
        return secret

    async def suspend(self, actor: str, client_id: str, reason: str | None) -> Client:
        """Suspend until lifted (it never lapses); repeating keeps the first reason."""
        check({"reason": reason_problem(reason)})  # a bad reason is told before anything else
        client = await self._revocations.suspend_client(client_id, reason)  # LastAdmin: the store
        if client is None:
            raise ClientNotFound
        self._audit(actor, "suspend", client_id, reason=client.suspend_reason)
        return client

    async def unsuspend(self, actor: str, client_id: str) -> Client:
        """Lift a suspension; lifting none is fine."""
        client = await self._revocations.unsuspend_client(client_id)
        if client is None:
            raise ClientNotFound
        self._audit(actor, "unsuspend", client_id)
        return client

    async def lockout(self, client_id: str) -> int | None:
        """Seconds until untrusted clients may try the client's password again, or None."""
        client = await self.get(client_id)
        return await self._regulator.locked(email_key(client.email))

    async def unlock(self, actor: str, client_id: str) -> Client:
        """Lift the lockout at once: clients that never signed in may try the password again."""
        client = await self.get(client_id)
        await self._regulator.lift(email_key(client.email))
        self._audit(actor, "unlock", client_id)
        return client

    async def second_factors(self, client_id: str) -> SecondFactors:
        """What protects the client besides its password (never a secret)."""
        return await self._factors.of(await self.get(client_id))

    async def reset_second_factors(self, actor: str, client_id: str) -> bool:
        """Remove the client's authenticator app and recovery codes (a lost phone and lost
        codes), so the password alone signs in again; whether there was anything."""
        client = await self.get(client_id)
        removed = await self._factors.reset(client)
        self._audit(actor, "reset_second_factors", client_id, removed=removed)
        return removed

    async def delete(self, actor: str, client_id: str) -> str:
        """Delete with one deletion event; deleting again is fine, an unknown id is not."""
        outcome = await self._accounts.delete(client_id)  # LastAdmin: the store
        if outcome == "unknown":
            raise ClientNotFound
        self._audit(actor, "delete", client_id, outcome=outcome)
        return outcome

    async def revoke_sessions(self, actor: str, client_id: str) -> int:
        """End every session (and service token) of a client everywhere; how many ended."""
        await self.get(client_id)
        revoked = await self._revocations.revoke_client_sessions(client_id)
        self._audit(actor, "revoke_sessions", client_id, count=len(revoked))
        return len(revoked)

    async def stats(self) -> StoreStats:
        """Counts of clients by kind, suspended, active sessions and the outbox backlog."""
        return await self._deletions.stats(self._clock())

    @staticmethod
    def _audit(actor: str, action: str, client_id: str, **details: Any) -> None:
        fields = {"action": action, "actor": actor, "client_id": client_id, **details}
        log_event(log, "admin_action", logging.INFO, **fields)


def encode_cursor(created_at: datetime, client_id: str) -> str:
    """An opaque cursor: where the next page starts."""
    raw = json.dumps([iso(created_at), client_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; a 422 on ``cursor`` for anything this did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, client_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at) if isinstance(created_at, str) else None
    except (binascii.Error, ValueError, TypeError):
        moment = client_id = None
    if moment is None or moment.tzinfo is None or not isinstance(client_id, str):
        raise ValidationFailed([FieldError("cursor", "is not a cursor from this API")])
    return moment, client_id
