"""Moving an installation between stores: ``gateway-auth export`` writes every record as JSON
Lines, ``gateway-auth import`` checks a whole file before it writes anything, then upserts.

The first line is a header ``{"format": "gateway-auth-export", "version": 1, ...}``; every other
line is one record with a ``type`` of ``client``, ``session``, ``outbox``, ``tombstone``,
``second-factors`` or ``identity`` (a linked account at another identity provider). Hashes
travel as stored (passwords, refresh tokens, client secrets, recovery codes), TOTP secrets only
sealed with ENCRYPTION_KEY, passkeys as public keys: the file is as sensitive as the store.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TextIO

from gateway_auth.errors import InvalidExport
from gateway_auth.models import (
    CLIENT_KINDS,
    DELETION_TYPE,
    EVENT_TYPES,
    MAIL_PURPOSES,
    NOTICE_REASONS,
    NOTICE_TYPE,
    Client,
    DeletionEvent,
    LinkedIdentity,
    MailEvent,
    NoticeEvent,
    OutboxEvent,
    Passkey,
    Session,
    TotpFactor,
    iso,
)
from gateway_auth.stores.base import (
    ClientRecord,
    FactorRecord,
    PendingEvent,
    Record,
    SessionRecord,
    Tombstone,
    TransferStore,
)
from gateway_auth.stores.export_lines import Fields, read_object
from gateway_auth.validation import groups_problem, scopes_problem

FORMAT, VERSION = "gateway-auth-export", 1
IMPORT_BATCH = 500
PROGRESS_EVERY = 1000
# Told (records done, records in all when known) as a long transfer goes on.
Progress = Callable[[int, int | None], None] | None


async def export_to(
    store: TransferStore, out: TextIO, now: datetime, progress: Progress = None
) -> Counter[str]:
    """Write the header and every record; how many of each type were written (``progress``
    hears the running total every PROGRESS_EVERY records).

    A session or outbox entry whose client the export has not seen (it was created after the
    clients were read, on a store without snapshots) is left out, so the file always imports.
    """
    out.write(_line({"format": FORMAT, "version": VERSION, "exportedAt": iso(now)}))
    clients: set[str] = set()
    written: Counter[str] = Counter()
    async for record in store.export_records():
        if isinstance(record, ClientRecord):
            clients.add(record.client.id)
        elif (owner := _owner(record)) is not None and owner not in clients:
            written["skipped"] += 1
            continue
        kind, payload = encode(record)
        out.write(_line({"type": kind, **payload}))
        written[kind] += 1
        if progress is not None and written.total() % PROGRESS_EVERY == 0:
            progress(written.total(), None)
    return written


def _owner(record: Record) -> str | None:
    """The client a session or second-factor record belongs to (None for other records)."""
    if isinstance(record, SessionRecord):
        return record.session.client_id
    if isinstance(record, FactorRecord | LinkedIdentity):
        return record.client_id
    return None


async def import_into(
    store: TransferStore, lines: Iterable[str], progress: Progress = None
) -> Counter[str]:
    """Check every line, then write every record (in batches); how many of each type
    (``progress`` hears how many are written, of how many, after each batch)."""
    records = read_export(lines)
    for start in range(0, len(records), IMPORT_BATCH):
        batch = records[start : start + IMPORT_BATCH]
        await store.import_records(batch)
        if progress is not None:
            progress(start + len(batch), len(records))
    return Counter(encode(record)[0] for record in records)


def read_export(lines: Iterable[str]) -> list[Record]:
    """Every record of an export file, or InvalidExport naming the first bad line."""
    records: list[Record] = []
    clients: set[str] = set()
    number = 0
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        fields = Fields(number, read_object(number, text))
        if number == 1:
            _check_header(fields)
            continue
        record = _decode(fields)
        if isinstance(record, ClientRecord):
            clients.add(record.client.id)
        elif isinstance(record, SessionRecord) and record.session.client_id not in clients:
            raise InvalidExport(
                number, f"session {record.session.id} belongs to a client not in the file"
            )
        elif isinstance(record, FactorRecord) and record.client_id not in clients:
            raise InvalidExport(
                number, f"second factors of {record.client_id}: a client not in the file"
            )
        elif isinstance(record, LinkedIdentity) and record.client_id not in clients:
            raise InvalidExport(
                number, f"identity linked to {record.client_id}: a client not in the file"
            )
        records.append(record)
    if number == 0:
        raise InvalidExport(1, "the file is empty; expected a gateway-auth export")
    return records


def encode(record: Record) -> tuple[str, dict[str, Any]]:
    """A record's type and JSON fields."""
    match record:
        case ClientRecord(client=c):
            return "client", {
                "id": c.id,
                "email": c.email,
                "kind": c.kind,
                "scopes": list(c.scopes),
                "firstName": c.first_name,
                "lastName": c.last_name,
                "suspended": c.suspended,
                "suspendedAt": _iso(c.suspended_at),
                "suspendReason": c.suspend_reason,
                "createdAt": iso(c.created_at),
                "updatedAt": iso(c.updated_at),
                "deletedAt": _iso(record.deleted_at),
                "passwordHash": record.password_hash,
                "secretHash": record.secret_hash,
                "emailVerified": c.email_verified,
                "groups": list(c.groups),
            }
        case SessionRecord(session=s):
            return "session", {
                "id": s.id,
                "clientId": s.client_id,
                "createdAt": iso(s.created_at),
                "lastUsedAt": iso(s.last_used_at),
                "expiresAt": iso(s.expires_at),
                "absoluteExpiresAt": iso(s.absolute_expires_at),
                "userAgent": s.user_agent,
                "ip": s.ip,
                "revokedAt": _iso(s.revoked_at),
                "persistent": s.persistent,
                "scopes": list(s.scopes) if s.scopes is not None else None,
                "amr": list(s.amr),
                "provider": s.provider,
                "providerSid": s.provider_sid,
                "family": s.family,
                "refreshHash": record.refresh_hash,
                "rotated": [{"hash": h, "at": iso(at)} for h, at in record.rotated],
            }
        case PendingEvent():
            return "outbox", {
                "event": record.event.to_json(),
                "attempts": record.attempts,
                "createdAt": iso(record.created_at),
            }
        case Tombstone():
            return "tombstone", {"id": record.client_id, "deletedAt": iso(record.deleted_at)}
        case FactorRecord(totp=totp):
            # The secret stays sealed: only the same ENCRYPTION_KEY opens it after an import.
            sealed = None
            if totp is not None:
                sealed = {
                    "sealedSecret": totp.sealed_secret,
                    "createdAt": iso(totp.created_at),
                    "confirmedAt": _iso(totp.confirmed_at),
                    "lastStep": totp.last_step,
                    "failures": totp.failures,
                }
            return "second-factors", {
                "clientId": record.client_id,
                "totp": sealed,
                "recoveryCodeHashes": list(record.recovery_hashes),
                "passkeys": [_passkey_json(passkey) for passkey in record.passkeys],
            }
        case LinkedIdentity():
            return "identity", {
                "provider": record.provider,
                "subject": record.subject,
                "clientId": record.client_id,
                "email": record.email,
                "createdAt": iso(record.created_at),
                "lastUsedAt": _iso(record.last_used_at),
            }


def _decode(f: Fields) -> Record:
    kind = f.text("type")
    if kind == "client":
        f.only(
            "type", "id", "email", "kind", "scopes", "firstName", "lastName", "suspended",
            "suspendedAt", "suspendReason", "createdAt", "updatedAt", "deletedAt",
            "passwordHash", "secretHash", "emailVerified", "groups",
        )  # fmt: skip
        client_kind = f.text("kind")
        if client_kind not in CLIENT_KINDS:
            raise f.problem(f"kind must be one of {', '.join(CLIENT_KINDS)}")
        client = Client(
            id=f.text("id"),
            email=f.text("email"),
            kind=client_kind,
            scopes=tuple(f.each("scopes", str, "strings")),
            first_name=f.optional("firstName", str),
            last_name=f.optional("lastName", str),
            suspended=f.value("suspended", bool),
            suspended_at=f.optional_moment("suspendedAt"),
            suspend_reason=f.optional("suspendReason", str),
            created_at=f.moment("createdAt"),
            updated_at=f.moment("updatedAt"),
            # Absent from older exports: nobody was verified then, and nobody had groups.
            email_verified=f.value("emailVerified", bool) if "emailVerified" in f.values else False,
            groups=tuple(f.each("groups", str, "strings")) if "groups" in f.values else (),
        )
        # Each rides in a header to the apps: a comma or a line break there would lie to them.
        for name, problem in (
            ("scopes", scopes_problem(client.scopes)),
            ("groups", groups_problem(client.groups)),
        ):
            if problem is not None:
                raise f.problem(f"{name}: {problem}")
        return ClientRecord(
            client,
            f.optional("passwordHash", str),
            f.optional("secretHash", str),
            f.optional_moment("deletedAt"),
        )
    if kind == "session":
        f.only(
            "type", "id", "clientId", "createdAt", "lastUsedAt", "expiresAt",
            "absoluteExpiresAt", "userAgent", "ip", "revokedAt", "persistent", "scopes",
            "amr", "provider", "providerSid", "family", "refreshHash", "rotated",
        )  # fmt: skip
        session = Session(
            id=f.text("id"),
            client_id=f.text("clientId"),
            created_at=f.moment("createdAt"),
            last_used_at=f.moment("lastUsedAt"),
            expires_at=f.moment("expiresAt"),
            absolute_expires_at=f.moment("absoluteExpiresAt"),
            user_agent=f.value("userAgent", str),
            ip=f.value("ip", str),
            revoked_at=f.optional_moment("revokedAt"),
            # Absent in exports made before "Keep me signed in": such sessions were persistent.
            persistent=f.value("persistent", bool) if "persistent" in f.values else True,
            # Absent or null: the grant covers every scope the client holds.
            scopes=tuple(f.each("scopes", str, "strings"))
            if f.values.get("scopes") is not None
            else None,
            # Each absent in exports made before second factors, identity providers, domains.
            amr=tuple(f.each("amr", str, "strings")) if "amr" in f.values else (),
            provider=f.optional("provider", str),
            provider_sid=f.optional("providerSid", str),
            family=f.optional("family", str),
        )
        rotated = tuple(
            (f.nested(entry).text("hash"), f.nested(entry).moment("at"))
            for entry in f.each("rotated", dict, "objects with hash and at")
        )
        return SessionRecord(session, f.text("refreshHash"), rotated)
    if kind == "outbox":
        f.only("type", "event", "attempts", "createdAt")
        event = f.nested(f.value("event", dict))
        return PendingEvent(
            _outbox_event(f, event), f.value("attempts", int), f.moment("createdAt")
        )
    if kind == "tombstone":
        f.only("type", "id", "deletedAt")
        return Tombstone(f.text("id"), f.moment("deletedAt"))
    if kind == "second-factors":
        f.only("type", "clientId", "totp", "recoveryCodeHashes", "passkeys")
        client_id = f.text("clientId")
        totp = None
        if f.values.get("totp") is not None:
            t = f.nested(f.value("totp", dict))
            t.only("sealedSecret", "createdAt", "confirmedAt", "lastStep", "failures")
            totp = TotpFactor(
                client_id,
                t.text("sealedSecret"),
                t.moment("createdAt"),
                t.optional_moment("confirmedAt"),
                t.value("lastStep", int),
                t.value("failures", int) if "failures" in t.values else 0,
            )
        hashes = tuple(f.each("recoveryCodeHashes", str, "strings"))
        # Absent in exports made before passkeys.
        keys = f.each("passkeys", dict, "objects") if "passkeys" in f.values else []
        passkeys = tuple(_passkey(f.nested(key), client_id) for key in keys)
        return FactorRecord(client_id, totp, hashes, passkeys)
    if kind == "identity":
        f.only("type", "provider", "subject", "clientId", "email", "createdAt", "lastUsedAt")
        return LinkedIdentity(
            provider=f.text("provider"),
            subject=f.text("subject"),
            client_id=f.text("clientId"),
            email=f.value("email", str),
            created_at=f.moment("createdAt"),
            last_used_at=f.optional_moment("lastUsedAt"),
        )
    raise f.problem("type must be client, session, outbox, tombstone, second-factors or identity")


def _identity_pair(pair: Fields) -> tuple[str, str]:
    """One of a deletion event's identities."""
    pair.only("provider", "subject")
    return pair.text("provider"), pair.text("subject")


def _passkey_json(passkey: Passkey) -> dict[str, object]:
    """A WebAuthn credential on an export line: its public key and counter, nothing secret."""
    return {
        "credentialId": passkey.credential_id,
        "publicKey": base64.urlsafe_b64encode(passkey.public_key).decode().rstrip("="),
        "signCount": passkey.sign_count,
        "name": passkey.name,
        "createdAt": iso(passkey.created_at),
        "lastUsedAt": _iso(passkey.last_used_at),
        "synced": passkey.synced,
        "transports": list(passkey.transports),
        "aaguid": passkey.aaguid,
    }


def _passkey(k: Fields, client_id: str) -> Passkey:
    k.only(
        "credentialId", "publicKey", "signCount", "name", "createdAt", "lastUsedAt", "synced",
        "transports", "aaguid",
    )  # fmt: skip
    encoded = k.text("publicKey")
    try:
        standard = encoded.replace("-", "+").replace("_", "/")
        public_key = base64.b64decode(standard + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        raise k.problem("publicKey must be base64url") from None
    return Passkey(
        credential_id=k.text("credentialId"),
        client_id=client_id,
        public_key=public_key,
        sign_count=k.value("signCount", int),
        name=k.text("name"),
        created_at=k.moment("createdAt"),
        last_used_at=k.optional_moment("lastUsedAt"),
        synced=k.value("synced", bool),
        transports=tuple(k.each("transports", str, "strings")),
        aaguid=k.value("aaguid", str),
    )


def _outbox_event(f: Fields, event: Fields) -> OutboxEvent:
    event_type = event.values.get("type")
    if event_type not in EVENT_TYPES:
        raise f.problem(f"event type must be one of {', '.join(EVENT_TYPES)}")
    if event.values.get("version") != 1:
        raise f.problem("event has an unknown version")
    if event_type == DELETION_TYPE:
        event.only("type", "version", "id", "clientId", "kind", "occurredAt", "identities")
        event_kind = event.text("kind")
        if event_kind not in CLIENT_KINDS:
            raise f.problem("event has an unknown kind")
        linked = event.each("identities", dict, "objects") if "identities" in event.values else []
        identities = tuple(_identity_pair(event.nested(entry)) for entry in linked)
        return DeletionEvent(
            event.text("id"), event.text("clientId"), event_kind, event.moment("occurredAt"),
            identities,
        )  # fmt: skip
    if event_type == NOTICE_TYPE:
        event.only(
            "type", "version", "id", "clientId", "email", "name", "reason", "locale", "occurredAt"
        )  # fmt: skip
        reason = event.text("reason")
        if reason not in NOTICE_REASONS:
            raise f.problem(f"notice reason must be one of {', '.join(NOTICE_REASONS)}")
        return NoticeEvent(
            id=event.text("id"),
            client_id=event.text("clientId"),
            email=event.text("email"),
            name=event.value("name", str),
            reason=NOTICE_REASONS[NOTICE_REASONS.index(reason)],
            locale=event.optional("locale", str),
            occurred_at=event.moment("occurredAt"),
        )
    event.only(
        "type", "version", "id", "clientId", "email", "name", "link", "expiresAt", "locale",
        "occurredAt",
    )  # fmt: skip
    return MailEvent(
        id=event.text("id"),
        type=MAIL_PURPOSES[MAIL_PURPOSES.index(event_type)],
        client_id=event.text("clientId"),
        email=event.text("email"),
        name=event.value("name", str),
        link=event.value("link", str),
        expires_at=event.moment("expiresAt"),
        locale=event.optional("locale", str),
        occurred_at=event.moment("occurredAt"),
    )


def _check_header(f: Fields) -> None:
    if f.values.get("format") != FORMAT:
        raise f.problem(f'not a gateway-auth export (the first line has no "format": "{FORMAT}")')
    if f.values.get("version") != VERSION:
        raise f.problem(f"export version {f.values.get('version')!r}; this release reads {VERSION}")


def _line(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)
