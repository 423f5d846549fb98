"""The records the service keeps: clients, their sessions, and the events of the outbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from gateway_auth.validation import clean_name

ClientKind = Literal["user", "service", "guest"]
CLIENT_KINDS: tuple[ClientKind, ...] = ("user", "service", "guest")
ProfileField = Literal["email", "first_name", "last_name"]  # what an owner may change
DELETION_TYPE = "client-data-deletion-request"
ADMIN_SCOPE = "admin"  # the stores never let the last active user or service holding it go
DeltaOp = Literal["suspend", "unsuspend", "revoke"]
_OPS: frozenset[str] = frozenset({"suspend", "unsuspend", "revoke"})
MAX_DELTA_KEYS = 10_000


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
    groups: tuple[str, ...] = ()  # set by operators; tokens carry them, /verify sends them


def new_client(
    now: datetime,
    kind: ClientKind,
    email: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    scopes: Sequence[str] = (),
    groups: Sequence[str] = (),
) -> Client:
    """A new client record, not yet stored (names cleaned as ``validation.clean_name`` does)."""
    return Client(
        id=uuid.uuid4().hex,
        email=email.strip(),
        kind=kind,
        scopes=tuple(dict.fromkeys(scopes)),
        groups=tuple(dict.fromkeys(groups)),
        first_name=clean_name(first_name),
        last_name=clean_name(last_name),
        suspended=False,
        suspended_at=None,
        suspend_reason=None,
        created_at=now,
        updated_at=now,
    )


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
    # How the sign-in that opened it was proved (RFC 8176 values, as the tokens' ``amr``);
    # empty for sessions from before second factors, and for service clients.
    amr: tuple[str, ...] = ()
    # Signed in through another identity provider (``providers/``): its id in the providers
    # file, and the provider's own session id (``sid``), which its back-channel logout names.
    provider: str | None = None
    provider_sid: str | None = None
    # Opened on another domain from a live session there (``crossing/``): the id of the
    # family's first session, whose end (or any member's) ends every member. None: the first.
    family: str | None = None

    def is_active(self, now: datetime) -> bool:
        """Not revoked, and neither the sliding nor the absolute limit has passed."""
        return self.revoked_at is None and now < self.expires_at and now < self.absolute_expires_at


# RFC 8176's authentication method references that gateway-auth issues.
AMR_PASSWORD, AMR_OTP, AMR_HARDWARE_KEY, AMR_SOFTWARE_KEY, AMR_USER_PRESENCE, AMR_MFA = (
    "pwd",
    "otp",
    "hwk",
    "swk",
    "user",
    "mfa",
)
# Proved by another identity provider (not in RFC 8176; the value Microsoft Entra ID uses).
AMR_FEDERATED = "fed"


@dataclass(frozen=True, slots=True)
class LinkedIdentity:
    """An account at another identity provider, linked to one client: (provider, subject) is
    its key and belongs to exactly one client. ``email`` is what the provider said when the
    link was made or last used (shown to the person, never used to find the account)."""

    provider: str  # the provider's id in the providers file
    subject: str  # the provider's stable id for the person (``sub``; GitHub's numeric id)
    client_id: str
    email: str
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """An authenticator app's shared secret, sealed (``factors.sealing``): usable once
    ``confirmed_at`` is set; ``last_step`` is the newest RFC 6238 time step accepted, so no
    code is taken twice; ``failures`` counts wrong codes in a row, however slowly they come."""

    client_id: str
    sealed_secret: str
    created_at: datetime
    confirmed_at: datetime | None = None
    last_step: int = 0
    failures: int = 0  # wrong codes since the last right one (recovery codes included)


@dataclass(frozen=True, slots=True)
class Passkey:
    """A WebAuthn credential (a passkey or a security key) registered to an account: its
    public key, never a secret. ``sign_count`` is the authenticator's counter as last seen
    (0 for authenticators that keep none); ``synced`` says the credential may live on several
    devices (backup eligible), which makes its proof RFC 8176's ``swk`` rather than ``hwk``."""

    credential_id: str  # base64url, as browsers name it
    client_id: str
    public_key: bytes  # COSE_Key, as the authenticator gave it
    sign_count: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    synced: bool = False
    transports: tuple[str, ...] = ()
    aaguid: str = ""

    @property
    def method(self) -> str:
        """RFC 8176's value for a proof with this credential."""
        return AMR_SOFTWARE_KEY if self.synced else AMR_HARDWARE_KEY


@dataclass(frozen=True, slots=True)
class SecondFactors:
    """What an account has besides its password (never a secret in clear)."""

    totp: TotpFactor | None = None
    recovery_codes_left: int = 0
    passkeys: tuple[Passkey, ...] = ()

    @property
    def has_app(self) -> bool:
        """Whether a confirmed authenticator app guards the account."""
        return self.totp is not None and self.totp.confirmed_at is not None

    @property
    def enrolled(self) -> bool:
        """Whether a sign-in to this account needs a second step."""
        return self.has_app or bool(self.passkeys)


@dataclass(frozen=True, slots=True)
class DeletionEvent:
    """Tells downstream services to delete a client's data; published at least once."""

    id: str
    client_id: str
    kind: ClientKind
    occurred_at: datetime
    # The client's accounts at other identity providers, (provider, subject): downstream
    # services may have keyed data by them.
    identities: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        """The wire format of a ``client-data-deletion-request`` event."""
        return {
            "type": DELETION_TYPE,
            "version": 1,
            "id": self.id,
            "clientId": self.client_id,
            "kind": self.kind,
            "occurredAt": iso(self.occurred_at),
            "identities": [{"provider": p, "subject": s} for p, s in self.identities],
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> DeletionEvent:
        """The event ``to_json`` described (as kept in an outbox; events queued before
        identities existed have none)."""
        identities = tuple(
            (str(entry["provider"]), str(entry["subject"]))
            for entry in payload.get("identities", ())
        )
        return cls(
            payload["id"],
            payload["clientId"],
            payload["kind"],
            parse_iso(payload["occurredAt"]),
            identities,
        )


MailPurpose = Literal["password-reset-requested", "email-verification-requested"]
MAIL_PURPOSES: tuple[MailPurpose, ...] = (
    "password-reset-requested",
    "email-verification-requested",
)


@dataclass(frozen=True, slots=True)
class MailEvent:
    """Asks a mailer to send a client a link with a single-use token; published at least once.

    gateway-auth mails it itself with ``SMTP_URL`` (``mail/``); else a mailer reading Redis
    (``examples/mailer.py``) does.
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


NOTICE_TYPE = "security-notice"
NoticeReason = Literal[
    "second-factor-added",
    "second-factor-removed",
    "passkey-added",
    "passkey-removed",
    "recovery-code-used",
    "recovery-codes-replaced",
    "password-changed",
    "password-reset",
    "email-changed",
    "identity-linked",
    "identity-unlinked",
]
NOTICE_REASONS: tuple[NoticeReason, ...] = get_args(NoticeReason)


@dataclass(frozen=True, slots=True)
class NoticeEvent:
    """Tells a person that something changed on their account, in case it was not them: a
    ``security-notice`` for a mailer, published at least once. It carries no link."""

    id: str
    client_id: str
    email: str  # where to send it (for a changed address: the old one, and the new one)
    name: str
    reason: NoticeReason
    locale: str | None
    occurred_at: datetime
    type: str = NOTICE_TYPE

    def to_json(self) -> dict[str, object]:
        """The wire format of a ``security-notice`` event."""
        return {
            "type": NOTICE_TYPE,
            "version": 1,
            "id": self.id,
            "clientId": self.client_id,
            "email": self.email,
            "name": self.name,
            "reason": self.reason,
            "locale": self.locale,
            "occurredAt": iso(self.occurred_at),
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> NoticeEvent:
        """The event ``to_json`` described (as kept in an outbox)."""
        return cls(
            payload["id"],
            payload["clientId"],
            payload["email"],
            payload["name"],
            payload["reason"],
            payload["locale"],
            parse_iso(payload["occurredAt"]),
        )


OutboxEvent = DeletionEvent | MailEvent | NoticeEvent
QueuedMail = MailEvent | NoticeEvent  # what a mailer sends
MAIL_TYPES = (*MAIL_PURPOSES, NOTICE_TYPE)
EVENT_TYPES = (DELETION_TYPE, *MAIL_TYPES)


def event_from_json(payload: Mapping[str, Any]) -> OutboxEvent:
    """Any kind of outbox event, by its ``type``."""
    if payload.get("type") == DELETION_TYPE:
        return DeletionEvent.from_json(payload)
    if payload.get("type") == NOTICE_TYPE:
        return NoticeEvent.from_json(payload)
    return MailEvent.from_json(payload)


def parse_iso(text: str) -> datetime:
    """What ``iso`` wrote."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2026-11-20T12:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who is trying a password: their address, the device tokens they hold, and, for a
    password confirmation, the session they are already signed in with."""

    source: str = ""
    devices: tuple[str, ...] = ()
    session: str | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a login or refresh comes from (recorded on the session), and the device token the
    client holds, if any (see ``regulation``)."""

    ip: str
    user_agent: str
    devices: tuple[str, ...] = ()  # device tokens presented (a planted one may come first)
    locale: str | None = None  # the first language the client asked for, for mails

    @property
    def attempt(self) -> Attempt:
        """This origin as a password attempt."""
        return Attempt(self.ip, self.devices)


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller: the live client and the session its token belongs to."""

    client: Client
    session_id: str
    # What the presented token may do now: its scopes (narrowed by the grant, elevated ones
    # only while in force) that the client still holds. Checks of a scope read these.
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RevocationSnapshot:
    """What the store says is revoked: read at start-up and on every embedded resync."""

    suspended_clients: frozenset[str] = frozenset()
    revoked_sessions: tuple[tuple[str, datetime], ...] = ()
    deleted_clients: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True, slots=True)
class MirrorState:
    """A whole mirror's content: suspended client ids, and revoked keys with their expiry."""

    suspended: frozenset[str] = frozenset()
    revoked: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: RevocationSnapshot, retention: float) -> MirrorState:
        """The state a store snapshot describes, each revocation kept for ``retention`` seconds."""
        revoked: dict[str, float] = {}
        entries = [(f"session:{sid}", at) for sid, at in snapshot.revoked_sessions]
        entries += [(f"client:{cid}", at) for cid, at in snapshot.deleted_clients]
        for key, at in entries:
            revoked[key] = max(revoked.get(key, 0.0), at.timestamp() + retention)
        return cls(snapshot.suspended_clients, revoked)

    def covers(self, other: MirrorState) -> bool:
        """True when this state refuses everything ``other`` refuses, at least as long."""
        revoked = self.revoked
        return self.suspended >= other.suspended and all(
            revoked.get(key, 0.0) >= until for key, until in other.revoked.items()
        )


@dataclass(frozen=True, slots=True)
class Delta:
    """One change to every mirror; its JSON form travels on the Redis channel."""

    op: DeltaOp
    client_id: str = ""
    keys: tuple[str, ...] = ()
    until: float = 0.0

    def to_json(self) -> str:
        """The compact JSON published on ``gateway-auth:revocations``."""
        if self.op == "revoke":
            return json.dumps({"op": "revoke", "keys": list(self.keys), "until": self.until})
        return json.dumps({"op": self.op, "clientId": self.client_id})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Delta | None:
        """Parse a published delta; None for anything malformed (it is logged and skipped)."""
        try:
            data: Any = json.loads(raw)
            op = data["op"]
            if op not in _OPS:
                return None
            if op == "revoke":
                keys, until = data["keys"], data["until"]
                valid = (
                    isinstance(keys, list)
                    and 0 < len(keys) <= MAX_DELTA_KEYS
                    and all(
                        isinstance(k, str) and k.startswith(("session:", "client:")) for k in keys
                    )
                    and type(until) in (int, float)
                )
                return cls("revoke", keys=tuple(keys), until=float(until)) if valid else None
            client_id = data["clientId"]
            return (
                cls(op, client_id=client_id) if isinstance(client_id, str) and client_id else None
            )
        except (ValueError, TypeError, KeyError):
            return None
