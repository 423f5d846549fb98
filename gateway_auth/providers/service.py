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
from dataclasses import dataclass

from gateway_auth.accounts.admin import Admin, ScopeChange
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
from gateway_auth.logging import log_event, mask_email
from gateway_auth.models import (
    AMR_FEDERATED,
    Client,
    Identity,
    LinkedIdentity,
    Origin,
    new_client,
)
from gateway_auth.providers.control import ProviderControl
from gateway_auth.providers.flow import LINK_LIFETIME, ROUND_TRIP, Flows, PendingLink, Purpose
from gateway_auth.providers.provider import Profile, Provider, refusal
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.signin.issued import IssuedSession, SecondStep
from gateway_auth.signin.pending import PendingSignIn
from gateway_auth.signin.regulation import Regulator, password_epoch
from gateway_auth.signin.sessions import Sessions
from gateway_auth.stores.base import ClientStore, FactorStore, IdentityStore, SessionStore
from gateway_auth.validation import email_key, email_problem

log = logging.getLogger(__name__)
REFUSALS = {
    "email_missing": "{name} did not tell us your email address, which this sign-in needs.",
    "email_unverified": "{name} has not verified your email address, so it cannot show "
    "that you belong to an allowed domain.",
    "domain": "Accounts with an address at {domain} cannot sign in with {name} here.",
    "group": "Your {name} account is not in a group that may sign in here.",
}


@dataclass(frozen=True, slots=True)
class Began:
    """Where to send the browser, and the round trip's cookie."""

    url: str
    trip_token: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session, through the provider."""

    issued: IssuedSession
    return_to: str


@dataclass(frozen=True, slots=True)
class SecondStepDue:
    """The provider vouched; the account's own second factor is still to come."""

    step: SecondStep
    return_to: str


@dataclass(frozen=True, slots=True)
class MustProve:
    """An account has this address: prove it to link the identity (the link's cookie)."""

    link_token: str
    email: str
    provider: Provider
    return_to: str


@dataclass(frozen=True, slots=True)
class Linked:
    """The identity is now (or was already) the signed-in person's."""

    identity: LinkedIdentity
    provider: Provider
    return_to: str


Outcome = SignedIn | SecondStepDue | MustProve | Linked


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
        return_to: str = "",
        session_id: str = "",
    ) -> Began:
        """Start a round trip: ProviderNotFound, or ExternalSignInFailed when the provider
        cannot be reached for its endpoints."""
        client = self.control.client(provider_id)
        trip = Flows.new_trip(provider_id, purpose, return_to, session_id)
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
        signed_in: Identity | None = None,
    ) -> Outcome:
        """Finish a round trip with the provider's answer (the callback's query)."""
        client = self.control.client(provider_id)
        provider = client.provider
        trip = self.flows.read_trip(trip_token)
        state = params.get("state", "")
        if (
            trip is None
            or trip.provider != provider_id  # an answer meant for another provider: mix-up
            or not hmac.compare_digest(trip.state.encode(), state.encode())
        ):
            raise _failed("state", provider, "no round trip of this browser's matches")
        if not await self._regulator.spend(trip.token_id, ROUND_TRIP):
            raise _failed("state", provider, "round trip already finished")
        issuer = await client.issuer()
        if "iss" in params and params["iss"] != issuer:  # RFC 9207: mix-up
            raise _failed("invalid_answer", provider, f"iss {params['iss'][:200]!r}")
        if "error" in params:
            raise _provider_error(provider, params)
        if issuer is not None and "iss" not in params and _requires_iss(client):
            raise _failed("invalid_answer", provider, "no iss though the provider sends it")
        code = params.get("code", "")
        if not code:
            raise _failed("invalid_answer", provider, "no code")
        profile = await client.finish(code, redirect_uri, verifier=trip.verifier, nonce=trip.nonce)
        reason = refusal(provider, profile)
        if reason is not None:
            log_event(
                log, "provider_sign_in_refused", provider=provider.id, reason=reason,
                email=mask_email(profile.email),
            )  # fmt: skip
            domain = profile.email.rpartition("@")[2]
            text = REFUSALS[reason].format(name=provider.name, domain=domain)
            raise ExternalSignInFailed("not_allowed", text, reason)
        if trip.purpose == "link":
            if signed_in is None or signed_in.session_id != trip.session_id:
                raise _failed("state", provider, "the link was asked for by another session")
            linked = await self._link(provider, profile, signed_in.client)
            return Linked(linked, provider, trip.return_to)
        return await self._sign_in(provider, profile, origin, trip.return_to)

    async def _sign_in(
        self, provider: Provider, profile: Profile, origin: Origin, return_to: str
    ) -> Outcome:
        linked = await self._identities.identity(provider.id, profile.subject)
        client = await self._clients.get_client(linked.client_id) if linked else None
        if client is None:
            account = await self._clients.get_credentials(email_key(profile.email))
            if account is not None:
                pending = PendingLink(
                    provider.id, profile.subject, profile.email, account.client.id, return_to
                )
                log_event(log, "provider_link_needs_proof", provider=provider.id,
                          client_id=account.client.id)  # fmt: skip
                return MustProve(self.flows.issue_link(pending), account.client.email, provider,
                                 return_to)  # fmt: skip
            client = await self._create(provider, profile)
        if client.suspended:
            raise ExternalSignInFailed("suspended", "This account is suspended.", client.id)
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

    async def _create(self, provider: Provider, profile: Profile) -> Client:
        """A new user for this identity, when the provider may create one; never half made:
        the account is removed again if its identity cannot be linked."""
        may = provider.create_accounts and (self._registration_open or provider.admits_by_policy)
        if not may:
            raise ExternalSignInFailed(
                "no_account",
                f"There is no account here for {profile.email or 'this address'}, and signing in "
                f"with {provider.name} does not create one. Ask an administrator for an account.",
                "create_accounts is off or registration is closed",
            )
        if email_problem(profile.email):
            raise _failed("invalid_answer", provider, "an email address we cannot use")
        client = new_client(
            self._clock(), "user", profile.email, first_name=profile.first_name,
            last_name=profile.last_name, scopes=provider.scopes_for(profile.groups),
        )  # fmt: skip
        try:
            await self._clients.add_client(client, None)
        except EmailTaken:  # a deleted account's, reserved until its event is out; or a race
            raise ExternalSignInFailed(
                "no_account",
                "An account with this address was just deleted or created here. Try again in "
                "a few minutes.",
                "address reserved",
            ) from None
        if profile.email_verified:
            now = self._clock()
            verified = await self._clients.set_email_verified(
                client.id, email_key(client.email), True, now
            )
            client = verified or client
        identity = LinkedIdentity(provider.id, profile.subject, client.id, profile.email,
                                  self._clock())  # fmt: skip
        if not await self._identities.link_identity(identity):
            await self._admin.delete(f"provider:{provider.id}", client.id)
            raise _failed("state", provider, "the identity was linked meanwhile")
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
                f"provider:{provider.id}", client.id, {}, ScopeChange(replace=wanted)
            )
        except LastAdmin:
            log_event(log, "provider_scopes_kept", level=logging.WARNING, provider=provider.id,
                      client_id=client.id, reason="last admin")  # fmt: skip
            return client

    async def _link(self, provider: Provider, profile: Profile, client: Client) -> LinkedIdentity:
        identity = LinkedIdentity(provider.id, profile.subject, client.id, profile.email,
                                  self._clock())  # fmt: skip
        existing = await self._identities.identity(provider.id, profile.subject)
        if existing is not None:
            if existing.client_id != client.id:
                raise ExternalSignInFailed(
                    "identity_taken",
                    f"This {provider.name} account is linked to another account here already.",
                    existing.client_id,
                )
            return existing
        if not await self._identities.link_identity(identity):
            raise _failed("identity_taken", provider, "linked meanwhile")
        log_event(log, "identity_linked", client_id=client.id, provider=provider.id)
        await self._notices.send(client, "identity-linked")
        return identity

    async def link_proved(self, link_token: str | None, client: Client) -> Linked | None:
        """After the person proved ``client`` (password, and second factor if any): the
        pending link, if this browser holds one for this very account; None otherwise."""
        pending = self.flows.read_link(link_token)
        if pending is None or pending.client_id != client.id:
            return None
        if not await self._regulator.spend(pending.token_id, LINK_LIFETIME):
            return None
        provider = self.control.client(pending.provider).provider
        profile = Profile(pending.subject, pending.email, False)
        return Linked(await self._link(provider, profile, client), provider, pending.return_to)

    def pending_link(self, link_token: str | None) -> tuple[PendingLink, Provider] | None:
        """The link this browser waits to make, for the sign-in page to say so."""
        pending = self.flows.read_link(link_token)
        if pending is None:
            return None
        provider = next((p for p in self.providers if p.id == pending.provider), None)
        return (pending, provider) if provider else None

    async def identities(self, client_id: str) -> list[LinkedIdentity]:
        """The client's linked identities, oldest first."""
        return await self._identities.identities(client_id)

    async def unlink(self, client: Client, provider_id: str, subject: str) -> None:
        """Remove one of the client's identities, never its last way in (LastWayIn):
        a password, a passkey or another identity must remain."""
        linked = await self._identities.identities(client.id)
        if not any(i.provider == provider_id and i.subject == subject for i in linked):
            raise IdentityNotFound
        others = len(linked) > 1
        has_password = await self._clients.get_password_hash(client.id) is not None
        passkeys = (await self._factor_store.second_factors(client.id)).passkeys
        if not (others or has_password or passkeys):
            raise LastWayIn
        if not await self._identities.unlink_identity(client.id, provider_id, subject):
            raise IdentityNotFound
        log_event(log, "identity_unlinked", client_id=client.id, provider=provider_id)
        await self._notices.send(client, "identity-unlinked")

    async def linked_to(self, client_id: str) -> list[LinkedIdentity]:
        """An operator's view: the live client's identities; ClientNotFound for no client."""
        if await self._clients.get_client(client_id) is None:
            raise ClientNotFound
        return await self._identities.identities(client_id)

    async def operator_unlink(
        self, actor: str, client_id: str, provider_id: str, subject: str
    ) -> None:
        """An operator removes a link (the person keeps the mailed password reset as a way in);
        IdentityNotFound when the client has no such one. Audited like every admin action."""
        client = await self._clients.get_client(client_id)
        if client is None:
            raise ClientNotFound
        if not await self._identities.unlink_identity(client_id, provider_id, subject):
            raise IdentityNotFound
        log_event(log, "admin_action", action="unlink_identity", actor=actor,
                  client_id=client_id, provider=provider_id)  # fmt: skip
        await self._notices.send(client, "identity-unlinked")

    async def backchannel_logout(self, provider_id: str, logout_token: str) -> int:
        """End the sessions a provider's logout token names, at every gateway at once; how
        many. ExternalSignInFailed (invalid_answer) when the token does not verify or was
        used before."""
        client = self.control.client(provider_id)
        claims = await client.logout_claims(logout_token)
        if not await self._regulator.spend(f"logout:{provider_id}:{claims['jti']}", ROUND_TRIP):
            raise _failed("invalid_answer", client.provider, "logout token replayed")
        subject, sid = claims.get("sub"), claims.get("sid")
        owner = None
        if isinstance(subject, str):
            linked = await self._identities.identity(provider_id, subject)
            if linked is None:
                return 0
            owner = linked.client_id
        ended = await self._session_store.provider_sessions(
            provider_id, provider_sid=sid if isinstance(sid, str) else None, client_id=owner
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


def _provider_error(provider: Provider, params: Mapping[str, str]) -> ExternalSignInFailed:
    error = params.get("error", "")[:100]
    if error == "access_denied":
        return ExternalSignInFailed(
            "cancelled", f"The sign-in with {provider.name} was cancelled.", error
        )
    return ExternalSignInFailed(
        "provider_error",
        f"{provider.name} could not sign you in ({error or 'no reason given'}). Please try again.",
        f"{error}: {params.get('error_description', '')[:200]}",
    )


def _failed(reason: str, provider: Provider, detail: str) -> ExternalSignInFailed:
    messages = {
        "state": f"The sign-in with {provider.name} took too long, was finished already, or "
        "did not start in this browser. Please try again.",
        "invalid_answer": f"The answer from {provider.name} could not be verified. "
        "Please sign in again.",
        "identity_taken": f"This {provider.name} account is linked to another account here "
        "already.",
    }
    return ExternalSignInFailed(reason, messages[reason], detail)  # type: ignore[arg-type]
