"""SecondFactors: adding, checking and removing an account's second factors.

No aiohttp here. A wrong code counts in the same regulation as a wrong password (the account's
counter, or the device's, and the address's), so a stolen password does not buy unlimited
guesses at six digits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal

from gateway_auth.clock import Clock
from gateway_auth.errors import (
    FactorExists,
    FieldError,
    SecondFactorRequired,
    SecondFactorsOff,
    ValidationFailed,
    WrongCode,
)
from gateway_auth.factors import recovery, totp
from gateway_auth.factors.sealing import SecretBox
from gateway_auth.logging import log_event
from gateway_auth.models import (
    AMR_OTP,
    Attempt,
    Client,
    Identity,
    Origin,
    SecondFactors,
    TotpFactor,
)
from gateway_auth.signin.regulation import Regulator, password_epoch
from gateway_auth.stores.base import ClientStore, FactorStore
from gateway_auth.validation import email_key

log = logging.getLogger(__name__)
Policy = Literal["off", "optional", "required"]
# Confirms the caller's password before a factor is removed or codes are replaced (Accounts').
PasswordCheck = Callable[[Identity, str, Origin], Awaitable[None]]
# Told what happened to an account's factors, for a notice to its owner.
Notify = Callable[[Client, str], Awaitable[None]]


async def _no_notice(client: Client, what: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """What the enrolment page shows: the secret as text and as a QR code."""

    secret: str
    uri: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class CodeUsed:
    """A second factor that was accepted: the RFC 8176 method, and whether it was a
    recovery code (how many are left then)."""

    method: str
    recovery_codes_left: int | None = None


class SecondFactorService:
    """Authenticator apps and recovery codes for each account."""

    def __init__(
        self,
        *,
        store: FactorStore,
        clients: ClientStore,
        box: SecretBox | None,
        regulator: Regulator,
        clock: Clock,
        policy: Policy,
        issuer: str,
        confirm_password: PasswordCheck,
        notify: Notify = _no_notice,
    ) -> None:
        self._store = store
        self._clients = clients
        self._box = box
        self._regulator = regulator
        self._clock = clock
        self.policy: Policy = policy if box is not None else "off"
        self._issuer = issuer
        self._confirm_password = confirm_password
        self._notify = notify

    async def of(self, client: Client) -> SecondFactors:
        """What ``client`` has (nothing while second factors are off)."""
        if self.policy == "off" or client.kind == "service":
            return SecondFactors()
        return await self._store.second_factors(client.id)

    async def begin_totp(self, client: Client) -> TotpEnrolment:
        """A new secret waiting for its first code (replacing one that never got it);
        FactorExists while a confirmed one is in place."""
        box = self._sealer()
        secret = totp.new_secret()
        factor = TotpFactor(client.id, box.seal(secret.encode(), _owner(client)), self._clock())
        if not await self._store.put_totp(factor):
            raise FactorExists
        return self._enrolment(client, secret)

    async def pending_totp(self, client: Client) -> TotpEnrolment | None:
        """The secret waiting for its first code, to show again; None if there is none."""
        factor = (await self.of(client)).totp
        if factor is None or factor.confirmed_at is not None:
            return None
        secret = self._sealer().open(factor.sealed_secret, _owner(client)).decode()
        return self._enrolment(client, secret)

    async def confirm_totp(self, identity: Identity, code: str, origin: Origin) -> list[str]:
        """Confirm the waiting secret with a first code; the new recovery codes when the
        account had none (shown once), else an empty list. Counted like a password."""
        client = identity.client
        factor = (await self.of(client)).totp
        if factor is None or factor.confirmed_at is not None:
            raise WrongCode("Start again: there is no authenticator app waiting to be confirmed.")
        attempt = replace(origin.attempt, session=identity.session_id)
        counter = await self._regulator.begin(email_key(client.email), attempt, "")
        secret = self._sealer().open(factor.sealed_secret, _owner(client)).decode()
        step = totp.matching_step(secret, code, self._clock())
        if step is None or not await self._store.confirm_totp(
            client.id, factor.sealed_secret, step, self._clock()
        ):
            log_event(log, "second_factor_confirmation_failed", client_id=client.id)
            raise WrongCode
        await self._regulator.succeeded(counter)
        log_event(log, "second_factor_added", client_id=client.id, factor="totp")
        codes: list[str] = []
        if (await self._store.second_factors(client.id)).recovery_codes_left == 0:
            codes = await self._replace_codes(client)
        await self._notify(client, "second-factor-added")
        return codes

    async def remove_totp(self, identity: Identity, password: str, origin: Origin) -> None:
        """Remove the authenticator app after the password is confirmed; with the last
        factor gone, the recovery codes go too."""
        await self._confirm_password(identity, password, origin)
        await self._remove(identity.client)

    async def replace_recovery_codes(
        self, identity: Identity, password: str, origin: Origin
    ) -> list[str]:
        """Ten new codes (shown once) instead of the old ones, after the password."""
        await self._confirm_password(identity, password, origin)
        if not (await self.of(identity.client)).enrolled:
            raise WrongCode("Add an authenticator app first: recovery codes stand in for it.")
        codes = await self._replace_codes(identity.client)
        await self._notify(identity.client, "recovery-codes-replaced")
        return codes

    async def reset(self, client: Client) -> bool:
        """An operator's reset: every second factor and recovery code of ``client`` goes;
        whether there was anything."""
        had = await self._store.second_factors(client.id)
        if had.totp is None and had.recovery_codes_left == 0:
            return False
        await self._remove(client)
        return True

    async def confirm(
        self, identity: Identity, origin: Origin, *, password: str | None, code: str | None
    ) -> None:
        """Confirm that the signed-in person is at the keyboard (step-up): a code from the
        app when the account has one, for then the password alone is not enough; else the
        password. Counted per session, as every confirmation is."""
        client = identity.client
        if (await self.of(client)).enrolled:
            if code is None:
                raise SecondFactorRequired(
                    "This account has an authenticator app: confirm with a code from it."
                )
            await self.check(client, code, replace(origin.attempt, session=identity.session_id))
            return
        if password is None:
            raise ValidationFailed([FieldError("password", "is required")])
        await self._confirm_password(identity, password, origin)

    async def check(self, client: Client, code: str, attempt: Attempt) -> CodeUsed:
        """Accept a code from the authenticator app (each time step once) or a recovery code
        (each once); WrongCode otherwise, counted like a wrong password, TooManyAttempts
        when the account's or the address's limit is reached."""
        stored_hash = await self._clients.get_password_hash(client.id)
        account = email_key(client.email)
        counter = await self._regulator.begin(account, attempt, password_epoch(stored_hash))
        used = await self._accepted(client, code)
        if used is None:
            log_event(log, "second_factor_failed", client_id=client.id)
            raise WrongCode
        await self._regulator.succeeded(counter)
        if used.recovery_codes_left is not None:
            log_event(
                log,
                "recovery_code_used",
                level=logging.WARNING,
                client_id=client.id,
                left=used.recovery_codes_left,
            )
            await self._notify(client, "recovery-code-used")
        return used

    async def _accepted(self, client: Client, code: str) -> CodeUsed | None:
        factors = await self.of(client)
        if not factors.enrolled or factors.totp is None:
            return None
        if recovery.looks_like_a_code(code):
            if not await self._store.use_recovery_code(
                client.id, recovery.code_hash(client.id, code)
            ):
                return None
            left = (await self._store.second_factors(client.id)).recovery_codes_left
            return CodeUsed(AMR_OTP, left)
        secret = self._sealer().open(factors.totp.sealed_secret, _owner(client)).decode()
        step = totp.matching_step(secret, code, self._clock())
        if step is None or not await self._store.use_totp_step(client.id, step):
            return None
        return CodeUsed(AMR_OTP)

    async def _replace_codes(self, client: Client) -> list[str]:
        codes = recovery.new_codes()
        await self._store.replace_recovery_codes(
            client.id, [recovery.code_hash(client.id, code) for code in codes]
        )
        log_event(log, "recovery_codes_replaced", client_id=client.id)
        return codes

    async def _remove(self, client: Client) -> None:
        await self._store.remove_totp(client.id)
        await self._store.replace_recovery_codes(client.id, [])
        log_event(log, "second_factor_removed", client_id=client.id, factor="totp")
        await self._notify(client, "second-factor-removed")

    def _enrolment(self, client: Client, secret: str) -> TotpEnrolment:
        uri = totp.provisioning_uri(secret, client.email, self._issuer)
        return TotpEnrolment(secret, uri, totp.qr_svg(uri))

    def _sealer(self) -> SecretBox:
        if self._box is None or self.policy == "off":
            raise SecondFactorsOff
        return self._box


def _owner(client: Client) -> str:
    """What a client's TOTP secret is sealed for."""
    return f"totp:{client.id}"
