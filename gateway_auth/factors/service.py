"""SecondFactors: adding, checking and removing an account's second factors.

No aiohttp here. A wrong code counts in the same regulation as a wrong password (the account's
counter, or the device's, and the address's), so a stolen password does not buy unlimited
guesses at six digits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from gateway_auth.clock import Clock
from gateway_auth.errors import (
    CodesLocked,
    FactorExists,
    FieldError,
    NotAUser,
    SecondFactorRequired,
    SecondFactorsOff,
    SecretsUnreadable,
    ValidationFailed,
    WrongCode,
)
from gateway_auth.factors import recovery, totp
from gateway_auth.factors.sealing import SecretBox
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event
from gateway_auth.models import (
    AMR_OTP,
    Attempt,
    Client,
    Identity,
    NoticeReason,
    Origin,
    SecondFactors,
    TotpFactor,
)
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.signin.regulation import Regulator, password_epoch
from gateway_auth.stores.base import ClientStore, FactorStore
from gateway_auth.validation import email_key

log = logging.getLogger(__name__)
ENROLMENT_TTL = timedelta(minutes=15)
# Wrong codes in a row before only a recovery code is taken (NIST SP 800-63B 5.2.2: at most 100).
MAX_CODE_FAILURES = 100
START_AGAIN = "Start again: this set-up has expired or was begun elsewhere."
Policy = Literal["off", "optional", "required"]
# Confirms the caller's password before a factor is removed or codes are replaced (Accounts').
PasswordCheck = Callable[[Identity, str, Origin], Awaitable[None]]
# Told what happened to an account's factors, for a notice to its owner.
Notify = Callable[[Client, NoticeReason], Awaitable[None]]


async def _no_notice(client: Client, reason: NoticeReason) -> None:
    return None


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """What the enrolment page shows: the secret as text and as a QR code, and the ticket its
    form posts back (the secret sealed for this session, for ENROLMENT_TTL)."""

    secret: str
    uri: str
    qr_svg: str
    ticket: str


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
        revocations: Revocations,
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
        self._revocations = revocations
        self._clock = clock
        self.policy: Policy = policy if box is not None else "off"
        self._issuer = issuer
        self._confirm_password = confirm_password
        self._notify = notify

    async def of(self, client: Client) -> SecondFactors:
        """What ``client`` has. SECOND_FACTOR=off stops new enrolments only: an app set up
        before still guards its account."""
        if client.kind == "service":
            return SecondFactors()
        return await self._store.second_factors(client.id)

    async def begin_totp(self, identity: Identity, password: str, origin: Origin) -> TotpEnrolment:
        """A new secret for this session to confirm with a first code, after the password (a
        stolen session alone cannot add an app and lock the owner out). Nothing is stored
        until the code: the secret travels sealed in the enrolment form's ticket."""
        client = identity.client
        self.enrollable(client)
        await self._confirm_password(identity, password, origin)
        if (await self.of(client)).has_app:
            raise FactorExists
        secret = totp.new_secret()
        issued = int(self._clock().timestamp())
        plain = json.dumps({"secret": secret, "issued": issued}).encode()
        ticket = self._sealer().seal(plain, _ticket_owner(identity))
        return self._enrolment(client, secret, ticket)

    def enrolment(self, identity: Identity, ticket: str) -> TotpEnrolment:
        """The enrolment a ticket of this session stands for, to show again; WrongCode
        ("start again") when it is not this session's or is over ENROLMENT_TTL old."""
        return self._enrolment(identity.client, self._ticket_secret(identity, ticket), ticket)

    async def confirm_totp(
        self, identity: Identity, ticket: str, code: str, origin: Origin
    ) -> list[str] | None:
        """Turn the app on with its first code (counted like a password); when it is the
        account's first second factor, end its other sessions (whoever had them signed in with
        the password alone) and return ten new recovery codes, shown once."""
        client = identity.client
        self.enrollable(client)
        secret = self._ticket_secret(identity, ticket)
        attempt = replace(origin.attempt, session=identity.session_id)
        counter = await self._regulator.begin(email_key(client.email), attempt, "")
        now = self._clock()
        step = totp.matching_step(secret, code, now)
        if step is None:
            log_event(log, "second_factor_confirmation_failed", client_id=client.id)
            raise WrongCode
        await self._regulator.succeeded(counter)
        sealed = self._sealer().seal(secret.encode(), _owner(client))
        first = not (await self.of(client)).enrolled
        if not await self._store.put_totp(TotpFactor(client.id, sealed, now, now, step)):
            raise FactorExists
        log_event(log, "second_factor_added", client_id=client.id, factor="totp")
        return await self.added(identity, "second-factor-added", first=first)

    async def added(
        self, identity: Identity, reason: NoticeReason, *, first: bool
    ) -> list[str] | None:
        """A second factor was just added in ``identity``'s session: the owner is told, and
        for the account's first one its other sessions end and ten recovery codes are made
        (returned, to be shown once)."""
        client = identity.client
        codes = None
        if first:
            await self._revocations.revoke_client_sessions(client.id, keep=identity.session_id)
            codes = await self._replace_codes(client)
        await self._notify(client, reason)
        return codes

    async def removed(self, client: Client, reason: NoticeReason) -> None:
        """A second factor was just removed: with the last one gone the recovery codes go too
        (they stand in for a factor); the owner is told."""
        if not (await self.of(client)).enrolled:
            await self._store.replace_recovery_codes(client.id, [])
        await self._notify(client, reason)

    async def remove_totp(self, identity: Identity, password: str, origin: Origin) -> None:
        """Remove the authenticator app after the password is confirmed; with the last
        factor gone, the recovery codes go too."""
        await self._confirm_password(identity, password, origin)
        await self._store.remove_totp(identity.client.id)
        log_event(log, "second_factor_removed", client_id=identity.client.id, factor="totp")
        await self.removed(identity.client, "second-factor-removed")

    async def replace_recovery_codes(
        self, identity: Identity, password: str, origin: Origin
    ) -> list[str]:
        """Ten new codes (shown once) instead of the old ones, after the password."""
        await self._confirm_password(identity, password, origin)
        if not (await self.of(identity.client)).enrolled:
            raise WrongCode(
                "Add a passkey or an authenticator app first: recovery codes stand in for them."
            )
        codes = await self._replace_codes(identity.client)
        await self._notify(identity.client, "recovery-codes-replaced")
        return codes

    async def reset(self, client: Client) -> bool:
        """An operator's reset: every second factor and recovery code of ``client`` goes;
        whether there was anything."""
        had = await self._store.second_factors(client.id)
        if had.totp is None and had.recovery_codes_left == 0 and not had.passkeys:
            return False
        await self._store.remove_totp(client.id)
        await self._store.remove_passkeys(client.id)
        log_event(log, "second_factor_removed", client_id=client.id, factor="all")
        await self.removed(client, "second-factor-removed")
        return True

    async def confirm(
        self, identity: Identity, origin: Origin, *, password: str | None, code: str | None
    ) -> tuple[str, ...]:
        """Confirm that the signed-in person is at the keyboard (step-up): a code from the
        app (or a recovery code) when the account has a second factor, for then the password
        alone is not enough; else the password. Counted per session, as every confirmation
        is. The second-factor methods proved (none for the password). (A passkey confirms
        through ``PasskeyService.check``.)"""
        client = identity.client
        if (await self.of(client)).enrolled:
            if code is None:
                raise SecondFactorRequired(
                    "This account has a second factor: confirm with a passkey (on the /elevate"
                    " page) or a code from the authenticator app."
                )
            used = await self.check(
                client, code, replace(origin.attempt, session=identity.session_id)
            )
            return (used.method,)
        if password is None:
            raise ValidationFailed([FieldError("password", "is required")])
        await self._confirm_password(identity, password, origin)
        return ()

    async def check(self, client: Client, code: str, attempt: Attempt) -> CodeUsed:
        """Accept a code from the authenticator app (each time step once) or a recovery code
        (each once); WrongCode otherwise, counted like a wrong password, TooManyAttempts
        when the account's or the address's limit is reached. After MAX_CODE_FAILURES wrong
        codes in a row, however slowly they came, only a recovery code is taken (CodesLocked)."""
        app = (await self.of(client)).totp
        locked = app is not None and app.failures >= MAX_CODE_FAILURES
        if locked and not recovery.looks_like_a_code(code):
            log_event(log, "second_factor_locked", level=logging.WARNING, client_id=client.id)
            raise CodesLocked
        stored_hash = await self._clients.get_password_hash(client.id)
        account = email_key(client.email)
        counter = await self._regulator.begin(account, attempt, password_epoch(stored_hash))
        used = await self._accepted(client, code)
        if used is None:
            failures = await self._store.count_code_failure(client.id)
            log_event(log, "second_factor_failed", client_id=client.id, failures=failures)
            raise WrongCode
        await self._regulator.succeeded(counter)
        if used.recovery_codes_left is not None:
            await self._store.clear_code_failures(client.id)
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
        if not factors.enrolled:
            return None
        if recovery.looks_like_a_code(code):
            if not await self._store.use_recovery_code(client.id, self._code_hash(client, code)):
                return None
            left = (await self._store.second_factors(client.id)).recovery_codes_left
            return CodeUsed(AMR_OTP, left)
        if factors.totp is None or not factors.has_app:
            return None
        secret = self._sealer().open(factors.totp.sealed_secret, _owner(client)).decode()
        step = totp.matching_step(secret, code, self._clock())
        if step is None or not await self._store.use_totp_step(client.id, step):
            return None
        return CodeUsed(AMR_OTP)

    async def _replace_codes(self, client: Client) -> list[str]:
        codes = recovery.new_codes()
        await self._store.replace_recovery_codes(
            client.id, [self._code_hash(client, code) for code in codes]
        )
        log_event(log, "recovery_codes_replaced", client_id=client.id)
        return codes

    def _code_hash(self, client: Client, code: str) -> str:
        return self._sealer().digest("recovery code", recovery.hashed_form(client.id, code))

    def _enrolment(self, client: Client, secret: str, ticket: str) -> TotpEnrolment:
        uri = totp.provisioning_uri(secret, client.email, self._issuer)
        return TotpEnrolment(secret, uri, totp.qr_svg(uri), ticket)

    def _ticket_secret(self, identity: Identity, ticket: str) -> str:
        self.enrollable(identity.client)
        opened = self._sealer().try_open(ticket, _ticket_owner(identity))
        try:
            enrolment = json.loads(opened or b"")
            secret, issued = enrolment["secret"], enrolment["issued"]
        except (ValueError, TypeError, KeyError):
            raise WrongCode(START_AGAIN) from None
        if not isinstance(secret, str) or type(issued) is not int:
            raise WrongCode(START_AGAIN)
        if self._clock().timestamp() - issued > ENROLMENT_TTL.total_seconds():
            raise WrongCode(START_AGAIN)
        return secret

    def enrollable(self, client: Client) -> None:
        """SecondFactorsOff or NotAUser unless ``client`` may add a second factor."""
        if self.policy == "off":
            raise SecondFactorsOff
        if client.kind != "user":  # guests have no password to remove an app with
            raise NotAUser(N_("Only accounts with a password can add a second factor."))

    def _sealer(self) -> SecretBox:
        if self._box is None:
            raise SecretsUnreadable
        return self._box


def _owner(client: Client) -> str:
    """What a client's TOTP secret is sealed for."""
    return f"totp:{client.id}"


def _ticket_owner(identity: Identity) -> str:
    """What an enrolment ticket is sealed for: this client, in this session."""
    return f"totp-enrolment:{identity.client.id}:{identity.session_id}"
