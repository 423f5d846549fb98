"""The sign-ins that do not end at the password: its second step (a code from the app, a
recovery code, or a passkey), and a passkey on its own.

No aiohttp here. The second step reads the half-finished sign-in (``pending``) that the
password left in the same browser, and spends it with the one step that succeeds.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace

from gateway_auth.errors import PasskeyRefused, SignInExpired
from gateway_auth.factors.ceremonies import holder_of
from gateway_auth.factors.passkeys import Answer, Challenge, PasskeyService, RelyingParty
from gateway_auth.factors.service import SecondFactorService
from gateway_auth.models import AMR_MFA, Client, Origin, SecondFactors
from gateway_auth.signin.issued import IssuedSession
from gateway_auth.signin.pending import LIFETIME as PENDING_LIFETIME
from gateway_auth.signin.pending import PendingSignIn
from gateway_auth.signin.regulation import Regulator, password_epoch
from gateway_auth.signin.sessions import Sessions
from gateway_auth.stores.base import ClientStore


@dataclass(frozen=True, slots=True)
class HalfSignedIn:
    """A browser between its password and its second step: who, and what they have."""

    client: Client
    factors: SecondFactors
    holder: str  # for a passkey challenge of this sign-in (``ceremonies.holder_of``)


class SignInSteps:
    """Finishes sign-ins with a second factor, or with a passkey alone."""

    def __init__(
        self,
        *,
        sessions: Sessions,
        clients: ClientStore,
        factors: SecondFactorService,
        passkeys: PasskeyService,
        regulator: Regulator,
    ) -> None:
        self._sessions = sessions
        self._clients = clients
        self._factors = factors
        self._passkeys = passkeys
        self._regulator = regulator

    async def half_signed_in(self, pending_token: str | None) -> HalfSignedIn:
        """The sign-in ``pending_token`` began; SignInExpired when it is gone, over five
        minutes old, or its password changed since."""
        pending, client = await self._read(pending_token)
        return HalfSignedIn(client, await self._factors.of(client), _holder(pending))

    async def passkey_challenge(self, half: HalfSignedIn, rp: RelyingParty) -> Challenge | None:
        """A challenge for one of the account's passkeys, when it has any."""
        return await self._passkeys.challenge_for(half.client, rp, "second-factor", half.holder)

    async def with_code(
        self, pending_token: str | None, code: str, origin: Origin
    ) -> IssuedSession:
        """The second step with a code from the authenticator app or a recovery code;
        WrongCode (counted) when it is not right."""
        pending, client = await self._read(pending_token)
        used = await self._factors.check(client, code, origin.attempt)
        return await self._finish(pending, client, used.method, origin)

    async def with_passkey(
        self, pending_token: str | None, answer: Answer, origin: Origin
    ) -> IssuedSession:
        """The second step with one of the account's passkeys (answering for this sign-in,
        whoever ``answer`` names as its holder); PasskeyRefused (counted) when it does not
        hold."""
        pending, client = await self._read(pending_token)
        answer = replace(answer, holder=_holder(pending))
        used = await self._passkeys.check(client, answer, "second-factor", origin.attempt)
        return await self._finish(pending, client, used.methods, origin)

    async def passkey_alone(
        self, answer: Answer, origin: Origin, *, persistent: bool
    ) -> IssuedSession:
        """A passkey that verified its user is both factors: a session at once."""
        used = await self._passkeys.sign_in(answer, origin.attempt)
        client = await self._clients.get_client(used.passkey.client_id)
        if client is None or client.suspended or client.kind != "user":
            raise PasskeyRefused
        amr = (*used.methods, AMR_MFA)
        return await self._sessions.signed_in(client, origin, persistent, None, amr)

    async def _read(self, pending_token: str | None) -> tuple[PendingSignIn, Client]:
        pending = self._sessions.pending.read(pending_token)
        client = await self._clients.get_client(pending.client_id)
        if client is None or client.suspended:
            raise SignInExpired
        stored_hash = await self._clients.get_password_hash(client.id)
        if not hmac.compare_digest(pending.password_epoch, password_epoch(stored_hash)):
            raise SignInExpired  # the password changed since: sign in with the new one
        return pending, client

    async def _finish(
        self,
        pending: PendingSignIn,
        client: Client,
        methods: str | tuple[str, ...],
        origin: Origin,
    ) -> IssuedSession:
        if not await self._regulator.spend(pending.token_id, PENDING_LIFETIME):
            raise SignInExpired  # this half-finished sign-in already became a session
        proved = (methods,) if isinstance(methods, str) else methods
        amr = tuple(dict.fromkeys((*pending.amr, *proved, AMR_MFA)))
        return await self._sessions.signed_in(
            client,
            origin,
            pending.persistent,
            None,
            amr,
            provider=pending.provider,
            provider_sid=pending.provider_sid,
        )


def _holder(pending: PendingSignIn) -> str:
    """Who may answer this sign-in's passkey challenge: the browser holding its token."""
    return holder_of("pending", pending.token_id)
