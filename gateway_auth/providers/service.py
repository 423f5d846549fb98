"""Signing in, linking and logging out through another identity provider, with gateway-auth's
own accounts, sessions and revocations.

An identity (provider, subject) belongs to one client. A first sign-in through a provider
creates an account when none has the address (and the provider may), or, when one has it,
asks the person to prove that account in the same browser before the link is made: an address
alone never links. A second factor set up here is still asked after the provider. No aiohttp.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from datetime import timedelta

from gateway_auth.accounts.admin import Admin, ListChange
from gateway_auth.accounts.notices import Notices
from gateway_auth.clock import Clock
from gateway_auth.errors import (
    ClientNotFound,
    EmailTaken,
    ExternalSignInFailed,
    IdentityNotFound,
    LastAdmin,
    LastWayIn,
)
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event, mask_email
from gateway_auth.models import (
    AMR_FEDERATED,
    Client,
    Identity,
    LinkedIdentity,
    Origin,
    new_client,
)
from gateway_auth.providers.client import LOGOUT_SPEND_SECONDS
from gateway_auth.providers.control import ProviderControl
from gateway_auth.providers.flow import LINK_LIFETIME, ROUND_TRIP, Flows, PendingLink, Purpose
from gateway_auth.providers.outcomes import (
    REFUSALS,
    Began,
    Linked,
    MustProve,
    Outcome,
    SecondStepDue,
    SignedIn,
    failed,
    not_a_user,
    provider_error,
)
from gateway_auth.providers.provider import Profile, Provider, refusal
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.signin.issued import SecondStep
from gateway_auth.signin.pending import PendingSignIn
from gateway_auth.signin.regulation import Regulator, password_epoch
from gateway_auth.signin.sessions import Sessions
from gateway_auth.stores.base import ClientStore, FactorStore, IdentityStore, SessionStore
from gateway_auth.validation import email_key, email_problem, identity_claims_problem

log = logging.getLogger(__name__)


class ExternalSignIns:
    """The provider round trips, the identities they prove, and back-channel logout."""

    def __init__(
        self,
        *,
        control: ProviderControl,
        flows: Flows,
        clients: ClientStore,
        identities: IdentityStore,
        session_store: SessionStore,
        factor_store: FactorStore,
        sessions: Sessions,
        admin: Admin,
        revocations: Revocations,
        regulator: Regulator,
        notices: Notices,
        clock: Clock,
        registration_open: bool,
        proof_window: timedelta,
    ) -> None:
        self.control = control
        self.flows = flows
        self._clients = clients
        self._identities = identities
        self._session_store = session_store
        self._factor_store = factor_store
        self._sessions = sessions
        self._admin = admin
        self._revocations = revocations
        self._regulator = regulator
        self._notices = notices
        self._clock = clock
        self._registration_open = registration_open
        self._proof_window = proof_window  # how recent a proof linking asks (ELEVATION_TTL)

    @property
    def providers(self) -> tuple[Provider, ...]:
        """Those in force, in the file's order."""
        return self.control.providers

    async def begin(
        self,
        provider_id: str,
        purpose: Purpose,
        redirect_uri: str,
        *,
        browser: str,
        return_to: str = "",
        session_id: str = "",
    ) -> Began:
        """Start a round trip for the browser ``browser`` (``FormTokens.binding``):
        ProviderNotFound, or ExternalSignInFailed when the provider cannot be reached."""
        client = self.control.client(provider_id)
        trip = Flows.new_trip(provider_id, purpose, browser, return_to, session_id)
        url = await client.authorization_url(
            redirect_uri, state=trip.state, nonce=trip.nonce, verifier=trip.verifier
        )
        log_event(log, "provider_round_trip_started", provider=provider_id, purpose=purpose)
        return Began(url, self.flows.issue_trip(trip))

    async def complete(
        self,
        provider_id: str,
        trip_token: str | None,
        params: Mapping[str, str],
        redirect_uri: str,
        origin: Origin,
        *,
        browser: str,
    ) -> Outcome:
        """Finish a round trip with the provider's answer (the callback's query), in the
        browser that started it."""
        client = self.control.client(provider_id)
        provider = client.provider
        trip = self.flows.read_trip(trip_token)
        state = params.get("state", "")
        if (
            trip is None
            or trip.provider != provider_id  # an answer meant for another provider: mix-up
            or not hmac.compare_digest(trip.state.encode(), state.encode())
            or not hmac.compare_digest(trip.browser.encode(), browser.encode())
        ):
            raise failed("state", provider, "no round trip of this browser's matches")
        if not await self._regulator.spend(trip.token_id, ROUND_TRIP):
            raise failed("state", provider, "round trip already finished")
        issuer = await client.issuer()
        if "iss" in params and not await client.is_issuer(params["iss"]):  # RFC 9207: mix-up
            raise failed("invalid_answer", provider, f"iss {params['iss'][:200]!r}")
        if "error" in params:
            raise provider_error(provider, params)
        if issuer is not None and "iss" not in params and _requires_iss(client):
            raise failed("invalid_answer", provider, "no iss though the provider sends it")
        code = params.get("code", "")
        if not code:
            raise failed("invalid_answer", provider, "no code")
        profile = await client.finish(code, redirect_uri, verifier=trip.verifier, nonce=trip.nonce)
        reason = refusal(provider, profile)
        if reason is not None:
            log_event(
                log, "provider_sign_in_refused", provider=provider.id, reason=reason,
                email=mask_email(profile.email),
            )  # fmt: skip
            domain = profile.email.rpartition("@")[2]
            raise ExternalSignInFailed(
                "not_allowed", REFUSALS[reason], reason, name=provider.name, domain=domain
            )
        if trip.purpose == "link":
            # The session that asked, still live: its access token may have expired meanwhile,
            # and the trip (bound to this browser) names it.
            owner = await self._live_owner(trip.session_id)
            if owner is None:
                raise failed("state", provider, "the session that asked for the link ended")
            linked = await self._link(provider, profile, owner)
            return Linked(linked, provider, trip.return_to)
        return await self._sign_in(provider, profile, origin, trip.return_to, browser)

    async def _sign_in(
        self, provider: Provider, profile: Profile, origin: Origin, return_to: str, browser: str
    ) -> Outcome:
        linked = await self._identities.identity(provider.id, profile.subject)
        client = await self._clients.get_client(linked.client_id) if linked else None
        if client is None:
            account = await self._clients.get_credentials(email_key(profile.email))
            if account is not None:
                return self._must_prove(provider, profile, account.client, return_to, browser)
            client = await self._create(provider, profile)
        if client.kind != "user":
            raise not_a_user(provider)
        if client.suspended:
            raise ExternalSignInFailed("suspended", N_("This account is suspended."), client.id)
        client = await self._apply_groups(provider, profile, client)
        await self._identities.use_identity(provider.id, profile.subject, profile.email,
                                            self._clock())  # fmt: skip
        if (await self._sessions.factors.of(client)).enrolled:
            stored_hash = await self._clients.get_password_hash(client.id)
            half = PendingSignIn(
                client.id, (AMR_FEDERATED,), False, password_epoch(stored_hash),
                provider=provider.id, provider_sid=profile.provider_sid,
            )  # fmt: skip
            log_event(log, "login_second_factor_asked", client_id=client.id, provider=provider.id)
            return SecondStepDue(SecondStep(client, self._sessions.pending.issue(half)),
                                 return_to)  # fmt: skip
        issued = await self._sessions.signed_in(
            client, origin, False, None, (AMR_FEDERATED,),
            provider=provider.id, provider_sid=profile.provider_sid,
        )  # fmt: skip
        return SignedIn(issued, return_to)

    def _must_prove(
        self, provider: Provider, profile: Profile, account: Client, return_to: str, browser: str
    ) -> MustProve:
        """An account has the address: the link waits for that account's proof, and only
        when the provider vouches for the address (else anyone could name any address at a
        provider that does not check, and wait for its owner to sign in)."""
        if account.kind != "user":
            raise not_a_user(provider)
        if not profile.email_verified:
            raise ExternalSignInFailed(
                "not_allowed",
                N_(
                    "An account here already uses {email}, and {name} has not verified that "
                    "address, so it cannot be linked this way. Sign in with your password, "
                    "then link {name} on your account page."
                ),
                "unverified address of an existing account",
                email=profile.email,
                name=provider.name,
            )
        pending = PendingLink(
            provider.id, profile.subject, profile.email, account.id, browser, return_to
        )
        log_event(log, "provider_link_needs_proof", provider=provider.id, client_id=account.id)
        return MustProve(self.flows.issue_link(pending), account.email, provider, return_to)

    async def _create(self, provider: Provider, profile: Profile) -> Client:
        """A new user for this identity, when the provider may create one and vouches for the
        address (an unproved one would let anyone claim another's address before its owner
        comes); never half made: removed again if its identity cannot be linked."""
        may = provider.create_accounts and (self._registration_open or provider.admits_by_policy)
        if not may:
            raise ExternalSignInFailed(
                "no_account",
                N_(
                    "There is no account here for {email}, and signing in with {name} does "
                    "not create one. Ask an administrator for an account."
                ),
                "create_accounts is off or registration is closed",
                email=profile.email or "-",
                name=provider.name,
            )
        if not profile.email_verified:
            raise ExternalSignInFailed(
                "no_account",
                N_(
                    "{name} has not verified your email address, so no account can be made "
                    "with it here. Verify it there, or ask an administrator for an account."
                ),
                "unverified address",
                name=provider.name,
            )
        if email_problem(profile.email):
            raise failed("invalid_answer", provider, "an email address we cannot use")
        scopes = provider.scopes_for(profile.groups)
        first, last = profile.first_name, profile.last_name
        if identity_claims_problem(profile.email, first, last, scopes):
            first = last = None  # names too long for a cookie's claims: the person adds them
        client = new_client(
            self._clock(), "user", profile.email, first_name=first, last_name=last, scopes=scopes
        )
        try:
            await self._clients.add_client(client, None)
        except EmailTaken:  # a deleted account's, reserved until its event is out; or a race
            raise ExternalSignInFailed(
                "no_account",
                N_(
                    "An account with this address was just deleted or created here. Try again "
                    "in a few minutes."
                ),
                "address reserved",
            ) from None
        verified = await self._clients.set_email_verified(
            client.id, email_key(client.email), True, self._clock()
        )
        client = verified or client
        identity = LinkedIdentity(provider.id, profile.subject, client.id, profile.email,
                                  self._clock())  # fmt: skip
        if not await self._identities.link_identity(identity):
            await self._admin.delete(f"provider:{provider.id}", client.id)
            raise failed("state", provider, "the identity was linked meanwhile")
        log_event(log, "client_created", client_id=client.id, kind="user", provider=provider.id,
                  scopes=list(client.scopes))  # fmt: skip
        return client

    async def _apply_groups(self, provider: Provider, profile: Profile, client: Client) -> Client:
        """Set the scopes this provider manages from the groups it says the person is in; a
        scope taken away ends the client's sessions (``Admin.update``)."""
        managed = provider.managed_scopes
        if not managed:
            return client
        mapped = provider.scopes_for(profile.groups)
        kept = tuple(s for s in client.scopes if s not in managed or s in mapped)
        wanted = tuple(dict.fromkeys((*kept, *mapped)))  # in their order, new ones last
        if set(wanted) == set(client.scopes):
            return client
        try:
            return await self._admin.update(
                f"provider:{provider.id}", client.id, {}, ListChange(replace=wanted)
            )
        except LastAdmin:
            log_event(log, "provider_scopes_kept", level=logging.WARNING, provider=provider.id,
                      client_id=client.id, reason="last admin")  # fmt: skip
            return client

    async def _link(self, provider: Provider, profile: Profile, client: Client) -> LinkedIdentity:
        if client.kind != "user":
            raise not_a_user(provider)
        identity = LinkedIdentity(provider.id, profile.subject, client.id, profile.email,
                                  self._clock())  # fmt: skip
        existing = await self._identities.identity(provider.id, profile.subject)
        if existing is not None:
            if existing.client_id != client.id:
                raise ExternalSignInFailed(
                    "identity_taken",
                    N_("This {name} account is linked to another account here already."),
                    existing.client_id,
                    name=provider.name,
                )
            return existing
        if not await self._identities.link_identity(identity):
            raise failed("identity_taken", provider, "linked meanwhile")
        log_event(log, "identity_linked", client_id=client.id, provider=provider.id)
        await self._notices.send(client, "identity-linked")
        return identity

    async def _live_owner(self, session_id: str) -> Client | None:
        """The live, unsuspended client of a live session; None otherwise."""
        session = await self._session_store.get_session(session_id) if session_id else None
        if session is None or not session.is_active(self._clock()):
            return None
        client = await self._clients.get_client(session.client_id)
        return client if client is not None and not client.suspended else None

    async def recently_proved(self, session_id: str) -> bool:
        """Whether the session's person proved the account within the proof window: signed
        in, or confirmed at ``/elevate``, that recently. Linking asks it. A session carried
        over from another domain proved nothing by being opened."""
        session = await self._session_store.get_session(session_id)
        if session is None or not session.is_active(now := self._clock()):
            return False
        elevated = session.elevated_until is not None and session.elevated_until > now
        signed_in = session.family is None and now - session.created_at <= self._proof_window
        return elevated or signed_in

    async def link_proved(
        self, link_token: str | None, identity: Identity, browser: str
    ) -> Linked | None:
        """The person confirmed the pending link after proving the account: made, if this
        browser holds one for this very account and the proof is recent; None otherwise."""
        pending = self.flows.read_link(link_token)
        if (
            pending is None
            or pending.client_id != identity.client.id
            or not hmac.compare_digest(pending.browser.encode(), browser.encode())
            or not await self.recently_proved(identity.session_id)
        ):
            return None
        if not await self._regulator.spend(pending.token_id, LINK_LIFETIME):
            return None
        provider = self.control.client(pending.provider).provider
        profile = Profile(pending.subject, pending.email, False)
        linked = await self._link(provider, profile, identity.client)
        return Linked(linked, provider, pending.return_to)

    def pending_link(
        self, link_token: str | None, browser: str, client_id: str | None = None
    ) -> tuple[PendingLink, Provider] | None:
        """The link this browser waits to make (for ``client_id``'s account, when given), for
        a page to say so."""
        pending = self.flows.read_link(link_token)
        if (
            pending is None
            or not hmac.compare_digest(pending.browser.encode(), browser.encode())
            or (client_id is not None and pending.client_id != client_id)
        ):
            return None
        provider = next((p for p in self.providers if p.id == pending.provider), None)
        return (pending, provider) if provider else None

    async def identities(self, client_id: str) -> list[LinkedIdentity]:
        """The client's linked identities, oldest first."""
        return await self._identities.identities(client_id)

    async def unlink(self, identity: Identity, provider_id: str, subject: str) -> None:
        """Remove one of the person's identities, never their last way in (LastWayIn): a
        password, a passkey or another identity at a provider still configured must remain.
        Their other sessions through that provider end."""
        client = identity.client
        linked = await self._identities.identities(client.id)
        if not any(i.provider == provider_id and i.subject == subject for i in linked):
            raise IdentityNotFound
        configured = {p.id for p in self.providers}
        others = any(
            i.provider in configured and (i.provider, i.subject) != (provider_id, subject)
            for i in linked
        )
        has_password = await self._clients.get_password_hash(client.id) is not None
        passkeys = (await self._factor_store.second_factors(client.id)).passkeys
        if not (others or has_password or passkeys):
            raise LastWayIn
        if not await self._identities.unlink_identity(client.id, provider_id, subject):
            raise IdentityNotFound
        ended = await self._end_sessions_through(provider_id, client.id, keep=identity.session_id)
        log_event(log, "identity_unlinked", client_id=client.id, provider=provider_id,
                  sessions_revoked=ended)  # fmt: skip
        await self._notices.send(client, "identity-unlinked")

    async def linked_to(self, client_id: str) -> list[LinkedIdentity]:
        """An operator's view: the live client's identities; ClientNotFound for no client."""
        if await self._clients.get_client(client_id) is None:
            raise ClientNotFound
        return await self._identities.identities(client_id)

    async def operator_unlink(
        self, actor: str, client_id: str, provider_id: str, subject: str
    ) -> None:
        """An operator removes a link, and the sessions that came through that provider end
        (the person keeps the mailed password reset as a way in); IdentityNotFound when the
        client has no such one. Audited like every admin action."""
        client = await self._clients.get_client(client_id)
        if client is None:
            raise ClientNotFound
        if not await self._identities.unlink_identity(client_id, provider_id, subject):
            raise IdentityNotFound
        ended = await self._end_sessions_through(provider_id, client_id)
        log_event(log, "admin_action", action="unlink_identity", actor=actor,
                  client_id=client_id, provider=provider_id, sessions_revoked=ended)  # fmt: skip
        await self._notices.send(client, "identity-unlinked")

    async def _end_sessions_through(
        self, provider_id: str, client_id: str, keep: str | None = None
    ) -> int:
        found = await self._session_store.provider_sessions(
            provider_id, provider_sid=None, client_id=client_id
        )
        ended = [session_id for session_id in found if session_id != keep]
        for session_id in ended:
            await self._revocations.revoke_session(session_id)
        return len(ended)

    async def backchannel_logout(self, provider_id: str, logout_token: str) -> int:
        """End the sessions a provider's logout token names, at every gateway at once; how
        many. ExternalSignInFailed (invalid_answer) when the token does not verify or was
        used before."""
        client = self.control.client(provider_id)
        claims = await client.logout_claims(logout_token)
        spend = timedelta(seconds=LOGOUT_SPEND_SECONDS)  # as long as the token is believed
        if not await self._regulator.spend(f"logout:{provider_id}:{claims['jti']}", spend):
            raise failed("invalid_answer", client.provider, "logout token replayed")
        subject, sid = claims.get("sub"), claims.get("sid")
        sid = sid if isinstance(sid, str) else None
        owner = None
        if isinstance(subject, str):
            linked = await self._identities.identity(provider_id, subject)
            owner = linked.client_id if linked else None
            if owner is None and sid is None:
                return 0  # nobody here has that identity (any more)
        # A sid alone names the provider's session, whoever it was linked to then.
        ended = await self._session_store.provider_sessions(
            provider_id, provider_sid=sid, client_id=owner
        )
        for session_id in ended:
            await self._revocations.revoke_session(session_id)
        log_event(log, "provider_logout", provider=provider_id, sessions=len(ended))
        return len(ended)

    async def end_session_url(self, provider_id: str | None, post_logout: str) -> str | None:
        """Where sign-out sends the browser next when its session came through a provider
        that asks for RP-initiated logout; None otherwise (or when it cannot be reached)."""
        if not provider_id:
            return None
        try:
            client = self.control.client(provider_id)
            if not client.provider.rp_initiated_logout:
                return None
            return await client.end_session_url(post_logout, None)
        except (ExternalSignInFailed, LookupError):
            return None


def _requires_iss(client: object) -> bool:
    """Whether the provider said it sends ``iss`` with every answer (RFC 9207)."""
    metadata = getattr(client, "_metadata", None) or {}
    return metadata.get("authorization_response_iss_parameter_supported") is True
