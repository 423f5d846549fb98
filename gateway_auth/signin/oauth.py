"""OAuth 2 by the standards: down-scoped grants (RFC 6749 section 3.3), revocation (RFC 7009),
introspection (RFC 7662) and the server's metadata (RFC 8414).

No aiohttp here. Every answer about a token is read live, from the revocation mirror and the
store, so a revocation, suspension or deletion shows in the next introspection at once.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gateway_auth.clock import Clock
from gateway_auth.errors import InvalidClient, InvalidScope, MalformedRequest, Unauthenticated
from gateway_auth.logging import log_event
from gateway_auth.models import Client, Session
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.stores.base import ClientStore, SessionStore
from gateway_auth.tokens import (
    AccessClaims,
    AccessTokens,
    refresh_token_hash,
    refresh_token_session,
)

log = logging.getLogger(__name__)
INTROSPECT_SCOPE = "introspect"
TokenHint = Literal["access_token", "refresh_token"]
TOKEN_HINTS: tuple[TokenHint, ...] = ("access_token", "refresh_token")
INACTIVE: dict[str, Any] = {"active": False}


def requested_scopes(scope: str | None, held: Sequence[str]) -> tuple[str, ...] | None:
    """The scopes a grant asks for (RFC 6749 section 3.3: space-separated), or None for "all
    the client holds"; InvalidScope when it asks for one the client does not hold."""
    if scope is None:
        return None
    asked = tuple(dict.fromkeys(scope.split(" ")))
    if "" in asked:
        raise InvalidScope("scope is a list of scopes separated by single spaces.")
    missing = [name for name in asked if name not in held]
    if missing:
        raise InvalidScope(f"This client does not hold the scope {missing[0]!r}.")
    return asked


@dataclass(frozen=True, slots=True)
class Found:
    """A token this server issued and that is still good: its session and client."""

    hint: TokenHint
    session: Session
    client: Client
    claims: AccessClaims | None  # access tokens only


class TokenAuthority:
    """Answers about, and ends, the tokens this server issued."""

    def __init__(
        self,
        *,
        clients: ClientStore,
        sessions: SessionStore,
        tokens: AccessTokens,
        revocations: Revocations,
        clock: Clock,
        require_verified_email: bool = False,
    ) -> None:
        self._require_verified_email = require_verified_email
        self._clients = clients
        self._sessions = sessions
        self._tokens = tokens
        self._revocations = revocations
        self._clock = clock

    async def introspect(self, token: str, hint: str | None) -> dict[str, Any]:
        """RFC 7662: what a resource server may know about a live token, or ``active: false``
        (unknown, expired, revoked, its client suspended or deleted)."""
        found = await self._find(token, hint)
        if found is None:
            return INACTIVE
        client, session = found.client, found.session
        if self._require_verified_email and client.kind == "user" and not client.email_verified:
            return INACTIVE  # /verify refuses it too
        base: dict[str, Any] = {
            "active": True,
            "client_id": client.id,
            "sub": client.id,
            "username": client.email,
            "iss": self._tokens.issuer,
            "aud": self._tokens.audience,
            "kind": client.kind,
            "sid": session.id,
        }
        if session.amr:  # how and when the session's sign-in was proved (RFC 8176, OIDC)
            base["amr"] = list(session.amr)
            base["auth_time"] = int(session.created_at.timestamp())
        if session.provider:  # signed in through another identity provider
            base["idp"] = session.provider
        if found.claims is not None:
            claims = found.claims
            return {
                **base,
                "token_type": "Bearer",
                # As /verify reads it now: an elevation that ended is no longer in force.
                "scope": " ".join(
                    s for s in claims.scopes_at(self._clock().timestamp()) if s in client.scopes
                ),
                "exp": claims.expires_at,
                "iat": claims.issued_at,
                "nbf": claims.issued_at,
                "jti": claims.token_id,
            }
        return {
            **base,
            "token_type": "refresh_token",
            "scope": " ".join(granted(client, session)),
            "exp": int(session.expires_at.timestamp()),
            "iat": int(session.created_at.timestamp()),
        }

    async def revoke(self, token: str, hint: str | None, caller: Client | None) -> None:
        """RFC 7009: end the token's session (its refresh token and every access token of it)
        at every gateway. A token that is not live is no error; a service client's token is
        revoked only by that client, authenticated."""
        found = await self._find(token, hint)
        if found is None:
            return
        if caller is None and found.client.kind == "service":
            raise InvalidClient("A service client authenticates to revoke its tokens.")
        if caller is not None and caller.id != found.client.id:
            raise MalformedRequest("This token was not issued to the authenticated client.")
        await self._revocations.revoke_session(found.session.id)
        log_event(
            log,
            "token_revoked",
            client_id=found.client.id,
            session_id=found.session.id,
            token_type=found.hint,
        )

    async def _find(self, token: str, hint: str | None) -> Found | None:
        # The hint only orders the lookups (RFC 7009 2.1, RFC 7662 2.1); both kinds are tried.
        order = ("refresh_token", "access_token") if hint == "refresh_token" else TOKEN_HINTS
        for kind in order:
            found = await (self._access(token) if kind == "access_token" else self._refresh(token))
            if found is not None:
                return found
        return None

    async def _access(self, token: str) -> Found | None:
        now = self._clock()
        try:
            claims = self._tokens.decode(token, now)
        except Unauthenticated:
            return None
        mirror = self._revocations.mirror
        if mirror.is_revoked(claims.session_id, claims.client_id, now.timestamp()):
            return None
        return await self._live("access_token", claims.session_id, claims.client_id, claims)

    async def _refresh(self, token: str) -> Found | None:
        session_id = refresh_token_session(token)
        if session_id is None:
            return None
        stored = await self._sessions.refresh_hash(session_id)
        if stored is None or not hmac.compare_digest(stored, refresh_token_hash(token)):
            return None
        session = await self._sessions.get_session(session_id)
        if session is None:
            return None
        return await self._live("refresh_token", session_id, session.client_id, None)

    async def _live(
        self, hint: TokenHint, session_id: str, client_id: str, claims: AccessClaims | None
    ) -> Found | None:
        now = self._clock()
        session = await self._sessions.get_session(session_id)
        if session is None or session.client_id != client_id or not session.is_active(now):
            return None
        client = await self._clients.get_client(client_id)
        if client is None or client.suspended or self._revocations.mirror.is_suspended(client_id):
            return None
        return Found(hint, session, client, claims)


def granted(client: Client, session: Session) -> tuple[str, ...]:
    """The scopes a session's grant covers now: what the client holds, narrowed to what the
    grant asked for (a scope taken from the client is gone from its grants too)."""
    if session.scopes is None:
        return client.scopes
    return tuple(scope for scope in client.scopes if scope in session.scopes)


def metadata(*, issuer: str, base_url: str, algorithm: str) -> dict[str, Any]:
    """RFC 8414 authorization server metadata: where the endpoints are and what they take."""
    auth_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": issuer,
        "token_endpoint": f"{base_url}/token",
        "jwks_uri": f"{base_url}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials", "refresh_token", "password"],
        # Required, and not empty for strict clients; with no authorization endpoint the one
        # true answer is the registered response type "none" (an answer that issues nothing).
        "response_types_supported": ["none"],
        "token_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "revocation_endpoint": f"{base_url}/revoke",
        "revocation_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "introspection_endpoint": f"{base_url}/introspect",
        "introspection_endpoint_auth_methods_supported": auth_methods,  # or a bearer token
        "access_token_signing_alg_values_supported": [algorithm],
        "service_documentation": f"{base_url}/openapi.json",
    }
