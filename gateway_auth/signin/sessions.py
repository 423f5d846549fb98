"""Sessions: logging in, refreshing with rotation, logging out, and authenticating requests.

No aiohttp here: callers pass plain values and get plain values or domain errors back.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import replace
from datetime import datetime, timedelta

from gateway_auth.clock import Clock
from gateway_auth.errors import (
    ClientSuspended,
    InvalidClient,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenSuperseded,
    SecondFactorRequired,
    SessionNotFound,
    TooManyAttempts,
    Unauthenticated,
)
from gateway_auth.factors.service import SecondFactorService
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event, mask_email
from gateway_auth.metrics import Metrics
from gateway_auth.models import AMR_PASSWORD, Client, Identity, Origin, Session
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.signin.issued import (
    IssuedAccess,
    IssuedSession,
    IssuedToken,
    SecondStep,
    SessionPolicy,
    new_session,
    seconds_left,
)
from gateway_auth.signin.oauth import granted, requested_scopes
from gateway_auth.signin.passwords import PasswordHasher, login_refusal
from gateway_auth.signin.pending import PendingSignIn, PendingSignIns
from gateway_auth.signin.regulation import Regulator, password_epoch, source_key
from gateway_auth.stores.base import ClientStore, Rotation, SessionStore
from gateway_auth.tokens import (
    AccessClaims,
    AccessTokens,
    client_secret_matches,
    new_refresh_token,
    refresh_token_hash,
    refresh_token_session,
)
from gateway_auth.validation import email_key

log = logging.getLogger(__name__)
# Two tabs refreshing with one cookie at the same moment are a race, not a theft: the loser is
# refused without revoking the session. Reuse after this window revokes it (RFC 9700 4.14.2).
REUSE_GRACE = timedelta(seconds=10)


class Sessions:
    """Opens, extends, checks and ends sessions."""

    def __init__(
        self,
        *,
        clients: ClientStore,
        sessions: SessionStore,
        hasher: PasswordHasher,
        tokens: AccessTokens,
        revocations: Revocations,
        regulator: Regulator,
        policy: SessionPolicy,
        clock: Clock,
        factors: SecondFactorService,
        pending: PendingSignIns,
        metrics: Metrics | None = None,
    ) -> None:
        self._clients = clients
        self._sessions = sessions
        self._hasher = hasher
        self._tokens = tokens
        self._revocations = revocations
        self._mirror = revocations.mirror
        self._regulator = regulator
        self._policy = policy
        self._clock = clock
        self.factors = factors
        self.pending = pending
        self._metrics = metrics or Metrics()

    async def login(
        self,
        email: str,
        password: str,
        origin: Origin,
        *,
        persistent: bool = True,
        scope: str | None = None,
    ) -> IssuedSession:
        """``sign_in`` for a caller with no second step (a program: OAuth's password grant):
        an account with a second factor is refused with SecondFactorRequired."""
        issued = await self.sign_in(
            email, password, origin, persistent=persistent, scope=scope, second_step=False
        )
        if isinstance(issued, SecondStep):  # sign_in refuses first; this keeps the type honest
            raise SecondFactorRequired
        return issued

    async def sign_in(
        self,
        email: str,
        password: str,
        origin: Origin,
        *,
        persistent: bool = True,
        scope: str | None = None,
        second_step: bool = True,
    ) -> IssuedSession | SecondStep:
        """Check credentials and open a session; one generic failure for every reason.

        ``persistent`` is "Keep me signed in": whether the session's cookies outlive the browser.
        ``scope`` (OAuth's) narrows the grant to some of the client's scopes; it is checked only
        after the password, so it tells nothing about an account to someone without it. An
        account with a second factor gets a SecondStep (SecondFactorRequired without
        ``second_step``) and its failure stays counted until the code is right, so the
        password alone never buys more guesses."""
        account = email_key(email)
        logins = self._metrics.logins
        attempt = origin.attempt
        regulator = self._regulator
        credentials = await self._clients.get_credentials(account)
        stored_hash = credentials.password_hash if credentials else None
        epoch = password_epoch(stored_hash)
        try:  # counted before any hashing
            counter = await regulator.begin(account, attempt, epoch)
        except TooManyAttempts:
            logins["throttled"].inc()
            raise
        # Always exactly one bcrypt check, against a dummy hash when the email is unknown,
        # so the time taken does not tell whether an account exists.
        password_ok = await self._hasher.verify(password, stored_hash, source=source_key(origin.ip))
        reason = login_refusal(credentials.client if credentials else None, password_ok)
        if reason or credentials is None or stored_hash is None:
            log_event(log, "login_failed", reason=reason, email=mask_email(email))
            logins[reason or "bad_password"].inc()
            raise InvalidCredentials  # the failure was counted by begin()
        client = credentials.client
        granted = requested_scopes(scope, client.scopes)
        if self._hasher.needs_rehash(stored_hash):
            stored_hash = await self._hasher.hash(password)
            await self._clients.set_password_hash(client.id, stored_hash, self._clock())
        if (await self.factors.of(client)).enrolled:
            if not second_step:
                raise SecondFactorRequired(
                    "This account has a second factor: sign in through the portal, or give "
                    "the program a service client (client credentials) of its own."
                )
            log_event(log, "login_second_factor_asked", client_id=client.id)
            pending = PendingSignIn(
                client.id, (AMR_PASSWORD,), persistent, password_epoch(stored_hash)
            )
            return SecondStep(client, self.pending.issue(pending))
        await regulator.succeeded(counter)
        return await self.signed_in(client, origin, persistent, granted, (AMR_PASSWORD,))

    async def signed_in(
        self,
        client: Client,
        origin: Origin,
        persistent: bool,
        granted: tuple[str, ...] | None,
        amr: tuple[str, ...],
        *,
        provider: str | None = None,
        provider_sid: str | None = None,
    ) -> IssuedSession:
        """Open a session for a client that just proved ``amr`` (through ``provider``, whose
        own session is ``provider_sid``, when another identity provider vouched), and trust
        this browser."""
        issued = await self.start(
            client,
            origin,
            persistent=persistent,
            granted=granted,
            amr=amr,
            provider=provider,
            provider_sid=provider_sid,
        )
        log_event(
            log, "login_succeeded", client_id=client.id, session_id=issued.session.id, amr=amr
        )
        self._metrics.logins["success"].inc()
        # Trusted from now on (regulation), until the password changes.
        stored_hash = await self._clients.get_password_hash(client.id)
        device = self._regulator.devices.issue(email_key(client.email), password_epoch(stored_hash))
        return replace(issued, device_token=device)

    async def refresh(
        self, refresh_token: str, origin: Origin, *, scope: str | None = None
    ) -> IssuedSession:
        """Rotate the refresh token and issue a new access token; ``scope`` narrows this access
        token to part of the grant (RFC 6749 section 6), the grant itself stays."""
        now = self._clock()
        session_id = refresh_token_session(refresh_token)
        session = await self._sessions.get_session(session_id) if session_id else None
        if session is None or not session.is_active(now):
            raise InvalidRefreshToken
        client = await self._clients.get_client(session.client_id)
        if client is None or client.suspended:
            raise InvalidRefreshToken
        presented = refresh_token_hash(refresh_token)
        narrowed = None
        # Only the holder of the current refresh token learns whether a scope is held.
        if scope is not None and hmac.compare_digest(
            await self._sessions.refresh_hash(session.id) or "", presented
        ):
            narrowed = requested_scopes(scope, granted(client, session))
        new_token, new_hash = new_refresh_token(session.id)
        result = await self._sessions.rotate_refresh_token(
            Rotation(
                session_id=session.id,
                presented_hash=presented,
                new_hash=new_hash,
                now=now,
                expires_at=min(now + self._policy.refresh_ttl, session.absolute_expires_at),
            )
        )
        if result.outcome == "rotated" and result.session is not None:
            return self._issue(client, result.session, new_token, now, narrowed)
        if result.outcome == "reused" and result.rotated_at is not None:
            if now - result.rotated_at <= REUSE_GRACE:
                raise RefreshTokenSuperseded
            await self._revocations.revoke_session(session.id)
            self._metrics.refresh_reuse.inc()
            log_event(
                log,
                "refresh_token_reused",
                level=logging.WARNING,
                client_id=client.id,
                session_id=session.id,
                ip=origin.ip,
            )
        raise InvalidRefreshToken

    async def refresh_browser(
        self, refresh_token: str, origin: Origin
    ) -> IssuedSession | IssuedAccess:
        """``refresh`` for the browser's refresh hop: a token superseded a moment ago (two tabs,
        or the answer that carried its successor never arrived) gets a new access token alone,
        so the browser leaves the hop instead of bouncing back to it. After the grace, reuse
        still revokes the session."""
        try:
            return await self.refresh(refresh_token, origin)
        except RefreshTokenSuperseded:
            now = self._clock()
            session = await self._sessions.get_session(refresh_token_session(refresh_token) or "")
            client = await self._clients.get_client(session.client_id) if session else None
            if session is None or client is None or client.suspended or not session.is_active(now):
                raise InvalidRefreshToken from None
            return self._access_alone(client, session, now)

    async def reissue(self, client: Client, access_token: str | None) -> IssuedAccess | None:
        """A new access token for the session of ``access_token`` (expired or not) when it is
        ``client``'s and still active, so a change to the client (a verified address) shows in
        this browser at once; None otherwise. The refresh token stays as it is."""
        now = self._clock()
        try:
            claims = self._tokens.decode(access_token or "", now, allow_expired=True)
        except Unauthenticated:
            return None
        session = await self._sessions.get_session(claims.session_id)
        if session is None or session.client_id != client.id or not session.is_active(now):
            return None
        # No wider than the token it replaces (a refresh may have narrowed it): its scopes,
        # and its elevated ones, which step-up may just have put in force.
        held = (*claims.scopes, *(scope for scope, _ in claims.elevations))
        return self._access_alone(client, session, now, held)

    def _access_alone(
        self,
        client: Client,
        session: Session,
        now: datetime,
        narrowed: tuple[str, ...] | None = None,
    ) -> IssuedAccess:
        scopes = session.scopes
        if narrowed is not None:
            scopes = tuple(s for s in narrowed if scopes is None or s in scopes)
        access, expires_in = self._tokens.issue(
            client,
            session.id,
            now,
            not_after=session.absolute_expires_at,
            elevated_until=session.elevated_until,
            granted=scopes,
            amr=session.amr,
            auth_time=session.created_at if session.amr else None,
            provider=session.provider,
        )
        in_force = self._tokens.in_force(client, session.elevated_until, now, scopes)[0]
        return IssuedAccess(
            client, session, access, expires_in, seconds_left(session, now), in_force
        )

    def steps_up(self, client: Client, claims: AccessClaims | None) -> bool:
        """Whether the client holds an elevated scope that this token does not have in force."""
        if claims is None or client.kind == "service":
            return False
        elevated = self._tokens.elevated_scopes
        return any(s in elevated and s not in claims.scopes for s in client.scopes)

    def scopes_in_force(self, client: Client, session: Session) -> tuple[str, ...]:
        """The client's scopes that a token issued now for this session would carry."""
        return self._tokens.in_force(client, session.elevated_until, self._clock(), session.scopes)[
            0
        ]

    def session_of(self, access_token: str) -> str | None:
        """The session id in a genuine access token, expired or not; None for anything else."""
        try:
            return self._tokens.decode(access_token, self._clock(), allow_expired=True).session_id
        except Unauthenticated:
            return None

    async def client_credentials(
        self, client_id: str, secret: str, origin: Origin, *, scope: str | None = None
    ) -> IssuedToken:
        """A service client's access token, in a session of its own lifetime, so that revoking
        the client's sessions, suspending or deleting it ends the token at once everywhere;
        ``scope`` narrows it to some of the client's scopes."""
        client = await self.authenticate_client(client_id, secret, origin)
        granted_scopes = requested_scopes(scope, client.scopes)
        now = self._clock()
        lifetime = timedelta(seconds=self._tokens.ttl_seconds)
        session = replace(
            new_session(client, origin, now, now + lifetime, now + lifetime),
            scopes=granted_scopes,
        )
        await self._sessions.add_session(session, new_refresh_token(session.id)[1])  # unusable
        client = await self._as_stored(client)
        token, expires_in = self._tokens.issue(
            client, session.id, now, not_after=session.absolute_expires_at, granted=granted_scopes
        )
        log_event(log, "service_token_issued", client_id=client.id, session_id=session.id)
        return IssuedToken(client, token, expires_in, self.scopes_in_force(client, session))

    async def authenticate_client(self, client_id: str, secret: str, origin: Origin) -> Client:
        """The live, unsuspended service client these credentials prove; InvalidClient else.

        No address limit here: a secret of 256 random bits is not guessed online, and services
        behind one egress address must not be refused because a neighbour is noisy."""
        client = await self._clients.get_client(client_id)
        is_service = client is not None and client.kind == "service"
        stored_hash = await self._clients.get_secret_hash(client_id) if is_service else None
        # Compared even without a hash, so an unknown id costs what a wrong secret costs.
        if not client_secret_matches(secret, stored_hash) or client is None:
            log_event(log, "client_authentication_failed", known_client=client is not None)
            raise InvalidClient
        if client.suspended:
            log_event(log, "client_authentication_failed", client_id=client.id, reason="suspended")
            raise InvalidClient(N_("This client is suspended."))
        return client

    async def authenticate(self, access_token: str) -> Identity:
        """The live client and session behind an access token, checked against the store."""
        now = self._clock()
        claims = self._tokens.decode(access_token, now)
        if self._mirror.is_revoked(claims.session_id, claims.client_id, now.timestamp()):
            raise Unauthenticated(N_("The session has ended."))
        session, client = await self._sessions.session_and_client(claims.session_id)
        if session is None or session.client_id != claims.client_id or not session.is_active(now):
            raise Unauthenticated(N_("The session has ended."))
        if client is None:
            raise Unauthenticated(N_("The session has ended."))
        if client.suspended or self._mirror.is_suspended(client.id):
            raise ClientSuspended
        in_force = claims.scopes_at(now.timestamp())
        return Identity(client, session.id, tuple(s for s in in_force if s in client.scopes))

    async def logout(self, access_token: str) -> Session | None:
        """End the token's session (an expired but genuine token still identifies it); the
        session ended, if any."""
        now = self._clock()
        try:
            claims = self._tokens.decode(access_token, now, allow_expired=True)
        except Unauthenticated:
            return None
        session = await self._sessions.get_session(claims.session_id)
        if session is None or session.client_id != claims.client_id:
            return None
        await self._revocations.revoke_session(session.id)
        log_event(log, "logout", client_id=claims.client_id, session_id=session.id)
        return session

    async def active(self, identity: Identity) -> list[Session]:
        """The caller's active sessions."""
        return await self._sessions.list_sessions(identity.client.id, self._clock())

    async def revoke(self, identity: Identity, session_id: str) -> None:
        """Revoke one of the caller's own sessions; SessionNotFound for anyone else's."""
        session = await self._sessions.get_session(session_id)
        if session is None or session.client_id != identity.client.id:
            raise SessionNotFound
        await self._revocations.revoke_session(session_id)

    async def revoke_all(self, identity: Identity, *, keep: str | None = None) -> None:
        """Revoke every session of the caller, except ``keep``."""
        revoked = await self._revocations.revoke_client_sessions(identity.client.id, keep=keep)
        log_event(log, "sessions_revoked", client_id=identity.client.id, count=len(revoked))

    async def start(
        self,
        client: Client,
        origin: Origin,
        *,
        persistent: bool,
        not_after: datetime | None = None,
        granted: tuple[str, ...] | None = None,
        amr: tuple[str, ...] = (AMR_PASSWORD,),
        provider: str | None = None,
        provider_sid: str | None = None,
        family: str | None = None,
        signed_in_at: datetime | None = None,
    ) -> IssuedSession:
        """Open a session for a client whose password was just checked or chosen (or a new
        guest's, which ends with the guest at ``not_after``), for the ``granted`` scopes (None:
        every scope the client holds), proved by ``amr``; in ``family``, signed in at that family's
        ``signed_in_at``, when another domain's session vouched for the browser (``crossing/``)."""
        now = self._clock()
        policy = self._policy
        absolute = now + policy.max_age
        if not_after is not None:
            absolute = min(absolute, not_after)
        session = replace(
            new_session(
                client, origin, now, min(now + policy.refresh_ttl, absolute), absolute,
                persistent=persistent,
            ),
            scopes=granted, amr=amr, provider=provider, provider_sid=provider_sid, family=family,
            created_at=signed_in_at or now,
        )  # fmt: skip
        refresh_token, refresh_hash = new_refresh_token(session.id)
        await self._sessions.add_session(session, refresh_hash)
        return self._issue(await self._as_stored(client), session, refresh_token, now)

    async def _as_stored(self, client: Client) -> Client:
        """The client read again once its new session is stored: a scope taken away meanwhile
        is either seen here or ends this session (``Admin.update`` changes, then revokes); a
        client deleted or suspended meanwhile gets no token."""
        stored = await self._clients.get_client(client.id)
        if stored is None or stored.suspended:
            raise Unauthenticated(N_("The session has ended."))
        return stored

    def _issue(
        self,
        client: Client,
        session: Session,
        refresh_token: str,
        now: datetime,
        narrowed: tuple[str, ...] | None = None,
    ) -> IssuedSession:
        scopes = session.scopes if narrowed is None else narrowed
        access_token, access_expires_in = self._tokens.issue(
            client,
            session.id,
            now,
            not_after=session.absolute_expires_at,
            elevated_until=session.elevated_until,
            granted=scopes,
            amr=session.amr,
            auth_time=session.created_at if session.amr else None,
            provider=session.provider,
        )
        return IssuedSession(
            client=client,
            session=session,
            access_token=access_token,
            access_expires_in=access_expires_in,
            refresh_token=refresh_token,
            refresh_expires_in=seconds_left(session, now),
            scopes=self.scopes_in_force(client, replace(session, scopes=scopes)),
        )
