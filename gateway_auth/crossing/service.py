"""Carrying a sign-in from one domain to another, PKCE-style, with nothing but signed tokens.

The portal on the domain a browser arrives at (the *target*) keeps a random verifier in a
``__Host-`` cookie of its own and sends the browser to another domain's portal with a
*request*: the target's name, the verifier's SHA-256 (the challenge), where to go afterwards
and the domains already asked, signed with a key derived from the signing key, so no portal
can be told to answer anywhere but a configured domain. A portal that sees a live session
answers with a *code*: 60 seconds, bound to the target and the challenge, and spent at its
first use. Only the browser that holds the verifier can redeem it, only at the target, once.
A portal with no session passes the request on to the next domain, and the last one sends
the browser back empty-handed, to the sign-in form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway_auth.clock import Clock
from gateway_auth.errors import CrossingRefused, Unauthenticated
from gateway_auth.logging import log_event
from gateway_auth.models import Origin, Session
from gateway_auth.revocation.mirror import RevocationMirror
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.signin.issued import IssuedSession
from gateway_auth.signin.regulation import Regulator
from gateway_auth.signin.sessions import Sessions
from gateway_auth.stores.base import ClientStore, SessionStore
from gateway_auth.tokens import (
    AccessTokens,
    ShortTokens,
    refresh_token_hash,
    refresh_token_session,
)

log = logging.getLogger(__name__)
REQUEST_LIFETIME = timedelta(minutes=2)  # through every portal and back
CODE_LIFETIME = timedelta(seconds=60)
REQUEST_CLAIMS = ("tgt", "chl", "rd", "via")
CODE_CLAIMS = ("sid", "cid", "tgt", "chl")
PEOPLE = frozenset({"user", "guest"})  # the kinds of client that have a browser to carry


@dataclass(frozen=True, slots=True)
class Request:
    """A target domain's request for a sign-in, as the portals pass it along."""

    target: str  # the asking domain's portal host
    challenge: str  # base64url SHA-256 of the verifier in the target's cookie
    return_to: str  # where the browser was going (checked again at the target)
    asked: tuple[str, ...] = ()  # the domains that had no session, in order


def new_verifier() -> str:
    """A fresh verifier (256 bits, as RFC 7636 asks)."""
    return secrets.token_urlsafe(32)


def challenge_of(verifier: str) -> str:
    """RFC 7636's S256: base64url SHA-256, no padding."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Crossings:
    """Issues and reads requests, vouches with codes, redeems them."""

    def __init__(
        self,
        key: bytes,
        clock: Clock,
        *,
        sessions: Sessions,
        session_store: SessionStore,
        clients: ClientStore,
        tokens: AccessTokens,
        mirror: RevocationMirror,
        revocations: Revocations,
        regulator: Regulator,
    ) -> None:
        self._requests = ShortTokens(
            key, clock, typ="gateway-auth-crossing-request", audience="gateway-auth:crossing",
            lifetime=REQUEST_LIFETIME, claims=REQUEST_CLAIMS,
        )  # fmt: skip
        self._codes = ShortTokens(
            key, clock, typ="gateway-auth-crossing-code", audience="gateway-auth:crossing",
            lifetime=CODE_LIFETIME, claims=CODE_CLAIMS,
        )  # fmt: skip
        self._sessions = sessions
        self._session_store = session_store
        self._clients = clients
        self._tokens = tokens
        self._mirror = mirror
        self._revocations = revocations
        self._regulator = regulator
        self._clock = clock

    async def _vouching(self, access_token: str, refresh_tokens: list[str]) -> Session | None:
        """The live session this browser proves it holds: its access cookie names it (expired
        or not), and its refresh cookie is the session's current refresh token, which no app
        ever sees (an access token that leaked from an app's logs is not enough). None for
        anything less, or for a session that is not a person's."""
        now = self._clock()
        try:
            claims = self._tokens.decode(access_token, now, allow_expired=True)
        except Unauthenticated:
            return None
        session = await self._session_store.get_session(claims.session_id)
        if session is None or not self._live(session, claims.client_id, now):
            return None
        current = await self._session_store.refresh_hash(session.id)
        proved = current is not None and any(
            refresh_token_session(token) == session.id
            and hmac.compare_digest(refresh_token_hash(token), current)
            for token in refresh_tokens
        )
        client = await self._clients.get_client(session.client_id) if proved else None
        if client is None or client.kind not in PEOPLE or client.suspended:
            return None
        return None if self._mirror.is_suspended(client.id) else session

    def _live(self, session: Session, client_id: str, now: datetime) -> bool:
        return (
            session.client_id == client_id
            and session.is_active(now)
            and not self._mirror.is_revoked(session.id, client_id, now.timestamp())
        )

    async def _join_family(self, session_id: str, client_id: str, origin: Origin) -> IssuedSession:
        """A session on another domain for the browser whose live session ``session_id``
        vouched for it: the same client, grant, proof and sign-in time (a second factor counts
        for the whole family), ending when the family ends and never after the vouching
        session's absolute limit. CrossingRefused when that session or its client is gone."""
        now = self._clock()
        source = await self._session_store.get_session(session_id)
        client = await self._clients.get_client(client_id)
        if source is None or not self._live(source, client_id, now) or client is None:
            raise CrossingRefused("the session that vouched has ended")
        if client.suspended or self._mirror.is_suspended(client.id):
            raise CrossingRefused("the account is suspended")
        issued = await self._sessions.start(
            client,
            origin,
            persistent=source.persistent,
            not_after=source.absolute_expires_at,
            granted=source.scopes,
            amr=source.amr,
            family=source.family or source.id,
            signed_in_at=source.created_at,
        )
        # A sign-out that ended the family while this member was being added has not seen
        # it: look again, and end it too.
        source = await self._session_store.get_session(session_id)
        if source is None or not self._live(source, client_id, self._clock()):
            await self._revocations.revoke_session(issued.session.id)
            raise CrossingRefused("the family ended while the session was opened")
        return issued

    def issue_request(self, request: Request) -> str:
        """The request's token, for the URL of the next portal."""
        return self._requests.issue(
            {
                "tgt": request.target,
                "chl": request.challenge,
                "rd": request.return_to,
                "via": ",".join(request.asked),
            }
        )

    def read_request(self, token: str | None) -> Request | None:
        """The request of a genuine, unexpired token; None otherwise."""
        claims = self._requests.read(token)
        if claims is None or not all(isinstance(claims[name], str) for name in REQUEST_CLAIMS):
            return None
        asked = tuple(name for name in claims["via"].split(",") if name)
        return Request(claims["tgt"], claims["chl"], claims["rd"], asked)

    async def vouch(
        self, request: Request, access_token: str | None, refresh_tokens: list[str]
    ) -> str | None:
        """A code for the target when this browser holds a live session here (its access
        cookie, and its refresh cookie: ``_vouching``); None when it does not."""
        session = await self._vouching(access_token, refresh_tokens) if access_token else None
        if session is None:
            return None
        log_event(
            log, "crossing_vouched", client_id=session.client_id, session_id=session.id,
            target=request.target,
        )  # fmt: skip
        return self._codes.issue(
            {
                "sid": session.id,
                "cid": session.client_id,
                "tgt": request.target,
                "chl": request.challenge,
            }
        )

    async def redeem(
        self, code: str, request: Request | None, here: str, verifier: str | None, origin: Origin
    ) -> IssuedSession:
        """A session here, in the vouching session's family, for the browser holding the
        verifier; CrossingRefused (saying why, for the log) for anything else."""
        claims = self._codes.read(code)
        if claims is None or not all(isinstance(claims[name], str) for name in CODE_CLAIMS):
            raise CrossingRefused("expired or not genuine")
        # Spent whenever it is presented, before anything else is checked: a code that leaked
        # (a gateway's access log, a browser's history) is worth nothing once it arrived.
        if not await self._regulator.spend(f"crossing:{claims['jti']}", CODE_LIFETIME):
            raise CrossingRefused("used already")
        if request is None:
            raise CrossingRefused("with a request that expired or is not genuine")
        if claims["tgt"] != here or request.target != here:
            raise CrossingRefused(f"for {claims['tgt']}, redeemed at {here}")
        if (
            not verifier
            or claims["chl"] != request.challenge
            or not hmac.compare_digest(challenge_of(verifier), claims["chl"])
        ):
            raise CrossingRefused("without the verifier of the browser that asked")
        issued = await self._join_family(claims["sid"], claims["cid"], origin)
        log_event(
            log, "crossing_redeemed", client_id=issued.client.id, session_id=issued.session.id,
            family=issued.session.family, domain=here,
        )  # fmt: skip
        return issued
