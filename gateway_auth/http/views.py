"""The JSON shapes of clients and sessions (camelCase, timestamps in RFC 3339 UTC)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway_auth.models import Client, LinkedIdentity, ProfileField, SecondFactors, Session, iso

PROFILE_FIELDS: dict[str, ProfileField] = {
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
}  # the API's names for what a client may change of its profile


def client_view(client: Client) -> dict[str, Any]:
    """A client as the API shows it; the password hash is not part of the model at all."""
    return {
        "id": client.id,
        "email": client.email,
        "emailVerified": client.email_verified,
        "kind": client.kind,
        "scopes": list(client.scopes),
        "groups": list(client.groups),
        "firstName": client.first_name,
        "lastName": client.last_name,
        "suspended": client.suspended,
        "suspendedAt": iso(client.suspended_at) if client.suspended_at else None,
        "suspendReason": client.suspend_reason,
        "createdAt": iso(client.created_at),
        "updatedAt": iso(client.updated_at),
    }


def session_view(session: Session, current_session_id: str) -> dict[str, Any]:
    """A session as its owner sees it; ``current`` marks the one making the request."""
    return {
        "id": session.id,
        "current": session.id == current_session_id,
        "createdAt": iso(session.created_at),
        "lastUsedAt": iso(session.last_used_at),
        "expiresAt": iso(session.expires_at),
        "absoluteExpiresAt": iso(session.absolute_expires_at),
        "userAgent": session.user_agent,
        "ip": session.ip,
    }


def json_response(body: object, *, status: int = 200) -> web.Response:
    """``application/json; charset=utf-8``, compact, non-ASCII kept as is."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return web.Response(text=text, status=status, content_type="application/json", charset="utf-8")


def not_cached(response: web.Response) -> web.Response:
    """Add ``Pragma: no-cache`` beside ``Cache-Control: no-store`` (RFC 6749 section 5.1), for
    answers that carry a token or a secret."""
    response.headers["Pragma"] = "no-cache"
    return response


def identity_view(identity: LinkedIdentity) -> dict[str, object]:
    """A linked identity as the API shows it."""
    return {
        "provider": identity.provider,
        "subject": identity.subject,
        "email": identity.email,
        "createdAt": iso(identity.created_at),
        "lastUsedAt": iso(identity.last_used_at) if identity.last_used_at else None,
    }


def second_factors_view(factors: SecondFactors) -> dict[str, object]:
    """What an operator sees of a client's second factors: never a secret."""
    return {
        "authenticatorApp": factors.has_app,
        "passkeys": [
            {
                "name": key.name,
                "createdAt": iso(key.created_at),
                "lastUsedAt": iso(key.last_used_at) if key.last_used_at else None,
                "synced": key.synced,
            }
            for key in factors.passkeys
        ],
        "recoveryCodesLeft": factors.recovery_codes_left,
    }
