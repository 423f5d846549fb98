"""The records the service keeps: clients, their sessions, and the events of the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

ClientKind = Literal["user", "service", "guest"]
CLIENT_KINDS: tuple[ClientKind, ...] = ("user", "service", "guest")
DELETION_TYPE = "client-data-deletion-request"


@dataclass(frozen=True, slots=True)
class Client:
    """An account. It never carries its password hash, so no response can leak one."""

    id: str
    email: str
    kind: ClientKind
    scopes: tuple[str, ...]
    first_name: str | None
    last_name: str | None
    suspended: bool
    suspended_at: datetime | None
    suspend_reason: str | None
    created_at: datetime
    updated_at: datetime
    # The client followed a link mailed to this address since it was last set.
    email_verified: bool = False


@dataclass(frozen=True, slots=True)
class Credentials:
    """A client together with its password hash, for the login path only."""

    client: Client
    password_hash: str | None


@dataclass(frozen=True, slots=True)
class Session:
    """One login: what a refresh token extends and what logout revokes."""

    id: str
    client_id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    absolute_expires_at: datetime
    user_agent: str
    ip: str
    revoked_at: datetime | None
    # "Keep me signed in": cookies that outlive the browser (True), or die with it (False).
    persistent: bool = True
    # Step-up: the ELEVATED_SCOPES are in force for this session until then (a fresh password).
    elevated_until: datetime | None = None
    # The grant's scope (RFC 6749 3.3): None for every scope the client holds, else only these.
    scopes: tuple[str, ...] | None = None

    def is_active(self, now: datetime) -> bool:
        """Not revoked, and neither the sliding nor the absolute limit has passed."""
        return self.revoked_at is None and now < self.expires_at and now < self.absolute_expires_at


@dataclass(frozen=True, slots=True)
class DeletionEvent:
    """Tells downstream services to delete a client's data; published at least once."""

    id: str
    client_id: str
    kind: ClientKind
    occurred_at: datetime

    def to_json(self) -> dict[str, object]:
        """The wire format of a ``client-data-deletion-request`` event."""
        return {
            "type": DELETION_TYPE,
            "version": 1,
            "id": self.id,
            "clientId": self.client_id,
            "kind": self.kind,
            "occurredAt": iso(self.occurred_at),
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> DeletionEvent:
        """The event ``to_json`` described (as kept in an outbox)."""
        return cls(
            payload["id"], payload["clientId"], payload["kind"], parse_iso(payload["occurredAt"])
        )


MailPurpose = Literal["password-reset-requested", "email-verification-requested"]
MAIL_PURPOSES: tuple[MailPurpose, ...] = (
    "password-reset-requested",
    "email-verification-requested",
)


@dataclass(frozen=True, slots=True)
class MailEvent:
    """Asks a mailer to send a client a link with a single-use token; published at least once.

    gateway-auth sends no mail itself: the mailer (``examples/mailer.py``) consumes these.
    """

    id: str
    type: MailPurpose
    client_id: str
    email: str
    name: str
    link: str  # where the token is used: absolute, on PUBLIC_URL
    expires_at: datetime
    locale: str | None
    occurred_at: datetime

    def to_json(self) -> dict[str, object]:
        """The wire format of a ``password-reset-requested`` or ``email-verification-requested``
        event."""
        return {
            "type": self.type,
            "version": 1,
            "id": self.id,
            "clientId": self.client_id,
            "email": self.email,
            "name": self.name,
            "link": self.link,
            "expiresAt": iso(self.expires_at),
            "locale": self.locale,
            "occurredAt": iso(self.occurred_at),
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> MailEvent:
        """The event ``to_json`` described (as kept in an outbox)."""
        return cls(
            payload["id"],
            payload["type"],
            payload["clientId"],
            payload["email"],
            payload["name"],
            payload["link"],
            parse_iso(payload["expiresAt"]),
            payload["locale"],
            parse_iso(payload["occurredAt"]),
        )


OutboxEvent = DeletionEvent | MailEvent
EVENT_TYPES = (DELETION_TYPE, *MAIL_PURPOSES)


def event_from_json(payload: Mapping[str, Any]) -> OutboxEvent:
    """Either kind of outbox event, by its ``type``."""
    if payload.get("type") == DELETION_TYPE:
        return DeletionEvent.from_json(payload)
    return MailEvent.from_json(payload)


def parse_iso(text: str) -> datetime:
    """What ``iso`` wrote."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2026-11-20T12:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
