"""Passkeys: WebAuthn credentials registered, checked, renamed and removed (py_webauthn).

No aiohttp here. Every credential is discoverable and verifies its user, so each one both
signs in alone ("Sign in with a passkey") and serves as a second factor after the password.
Attestation is ``none``: any authenticator the browser offers is welcome, and nothing about it
is claimed. The challenge travels with the page (``ceremonies``) and signs once; a counter that
goes back refuses the sign-in (a cloned authenticator) and is logged.
"""

from __future__ import annotations

import base64
import hmac
import logging
from dataclasses import dataclass, replace

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from gateway_auth.clock import Clock
from gateway_auth.errors import (
    CeremonyExpired,
    FieldError,
    PasskeyExists,
    PasskeyNotFound,
    PasskeyRefused,
    ValidationFailed,
)
from gateway_auth.factors.ceremonies import LIFETIME, Ceremonies, Purpose, holder_of
from gateway_auth.factors.service import PasswordCheck, SecondFactorService
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event
from gateway_auth.models import AMR_USER_PRESENCE, Attempt, Client, Identity, Origin, Passkey
from gateway_auth.signin.regulation import Regulator, password_epoch
from gateway_auth.stores.base import ClientStore, FactorStore
from gateway_auth.tokens import display_name
from gateway_auth.validation import email_key

log = logging.getLogger(__name__)
MAX_PASSKEYS = 20  # per account: enough for every device a person owns, not a storage sink
MAX_NAME = 64
MAX_CREDENTIAL_ID = 1023  # bytes (WebAuthn Level 3, 7.1 step 25)
MAX_PUBLIC_KEY = 2048  # bytes of COSE key: an RSA-4096 key needs about 550
# What hostile or broken answers raise in py_webauthn (deep JSON nesting: RecursionError).
_UNREADABLE = (WebAuthnException, ValueError, TypeError, KeyError, RecursionError)
_TIMEOUT_MS = int(LIFETIME.total_seconds() * 1000)
# Who may answer a passkey sign-in's challenge: anyone who has the page (the account is not
# known yet), for the authenticator signs only on the relying party's own origin; the challenge
# still signs once, within five minutes, and its form post carries a form token.
_ANYONE = holder_of("sign-in page")


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Whom passkeys belong to (WebAuthn's RP ID, a domain) and which page origins may use
    them, as the HTTP layer works them out from PUBLIC_URL, WEBAUTHN_RP_ID or the request."""

    id: str
    name: str
    origins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Challenge:
    """What a page hands the browser: the options (the JSON ``PublicKeyCredential``'s
    ``parseCreationOptionsFromJSON``/``parseRequestOptionsFromJSON`` read) and the token that
    names the ceremony when the answer comes back."""

    options: str
    token: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A browser's answer to a ceremony: the token its page carried, the credential (the JSON
    of ``PublicKeyCredential.toJSON()``), the site it was made on, and who hands it in
    (``ceremonies.holder_of``)."""

    rp: RelyingParty
    token: str
    credential: str
    holder: str


@dataclass(frozen=True, slots=True)
class PasskeyUsed:
    """A passkey that signed (whose: its ``client_id``), and the RFC 8176 methods it proved
    (``hwk`` or ``swk``, and ``user`` when the authenticator verified its user)."""

    passkey: Passkey
    methods: tuple[str, ...]


class PasskeyService:
    """Each account's passkeys, and the ceremonies that use them."""

    def __init__(
        self,
        *,
        store: FactorStore,
        clients: ClientStore,
        factors: SecondFactorService,
        ceremonies: Ceremonies,
        regulator: Regulator,
        clock: Clock,
        confirm_password: PasswordCheck,
    ) -> None:
        self._store = store
        self._clients = clients
        self._factors = factors
        self._ceremonies = ceremonies
        self._regulator = regulator
        self._clock = clock
        self._confirm_password = confirm_password

    async def begin_registration(
        self, identity: Identity, password: str, origin: Origin, rp: RelyingParty
    ) -> Challenge:
        """Options for a new passkey, after the password (a stolen session alone cannot add a
        way in); for this session, for five minutes."""
        client = identity.client
        self._factors.enrollable(client)
        await self._confirm_password(identity, password, origin)
        existing = (await self._factors.of(client)).passkeys
        if len(existing) >= MAX_PASSKEYS:
            raise ValidationFailed(
                [FieldError("passkey", f"at most {MAX_PASSKEYS} passkeys: remove one first")]
            )
        ceremony, token = self._ceremonies.issue("register", session_holder(identity))
        options = generate_registration_options(
            rp_id=rp.id,
            rp_name=rp.name,
            user_name=client.email,
            user_id=client.id.encode(),
            user_display_name=display_name(client) or client.email,
            challenge=ceremony.challenge,
            timeout=_TIMEOUT_MS,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[_descriptor(key) for key in existing],
        )
        return Challenge(options_to_json(options), token)

    async def register(
        self, identity: Identity, rp: RelyingParty, token: str, credential: str, name: str
    ) -> tuple[list[str] | None, tuple[str, ...]]:
        """Keep the new passkey: the recovery codes (shown once) when it is the account's
        first second factor, whose other sessions then end, as when an app is added; and the
        RFC 8176 methods its creation proved (it verified its user)."""
        client = identity.client
        self._factors.enrollable(client)
        name = _checked_name(name)
        ceremony = self._ceremonies.read(token, "register", session_holder(identity))
        try:
            parsed = parse_registration_credential_json(credential)
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=ceremony.challenge,
                expected_rp_id=rp.id,
                expected_origin=list(rp.origins),
                require_user_verification=True,
            )
        except _UNREADABLE as exc:
            refused = "passkey_registration_refused"
            log_event(log, refused, client_id=client.id, reason=_reason(exc))
            raise PasskeyRefused from None
        if (
            len(verified.credential_id) > MAX_CREDENTIAL_ID
            or len(verified.credential_public_key) > MAX_PUBLIC_KEY
        ):
            log_event(log, "passkey_registration_refused", client_id=client.id, reason="size")
            raise PasskeyRefused
        if not await self._regulator.spend(ceremony.token_id, LIFETIME):
            raise PasskeyRefused
        now = self._clock()
        passkey = Passkey(
            credential_id=_b64(verified.credential_id),
            client_id=client.id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=name,
            created_at=now,
            synced=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            transports=tuple(t.value for t in parsed.response.transports or ()),
            aaguid=verified.aaguid,
        )
        had = await self._factors.of(client)
        if len(had.passkeys) >= MAX_PASSKEYS:  # ceremonies begun before the last ones landed
            raise PasskeyRefused
        first = not had.enrolled
        if not await self._store.add_passkey(passkey):
            raise PasskeyExists
        log_event(log, "second_factor_added", client_id=client.id, factor="passkey")
        codes = await self._factors.added(identity, "passkey-added", first=first)
        return codes, (passkey.method, AMR_USER_PRESENCE)

    def sign_in_challenge(self, rp: RelyingParty) -> Challenge:
        """Options for a passkey sign-in: any passkey of this site, the user verified (the
        passkey is then both factors)."""
        ceremony, token = self._ceremonies.issue("sign-in", _ANYONE)
        options = generate_authentication_options(
            rp_id=rp.id,
            challenge=ceremony.challenge,
            timeout=_TIMEOUT_MS,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return Challenge(options_to_json(options), token)

    async def challenge_for(
        self, client: Client, rp: RelyingParty, purpose: Purpose, holder: str
    ) -> Challenge | None:
        """Options for one of ``client``'s passkeys (the second step, or a confirmation);
        None when it has none."""
        keys = (await self._factors.of(client)).passkeys
        if not keys:
            return None
        ceremony, token = self._ceremonies.issue(purpose, holder)
        options = generate_authentication_options(
            rp_id=rp.id,
            challenge=ceremony.challenge,
            timeout=_TIMEOUT_MS,
            allow_credentials=[_descriptor(key) for key in keys],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return Challenge(options_to_json(options), token)

    async def sign_in(self, answer: Answer, attempt: Attempt) -> PasskeyUsed:
        """A passkey alone signs in (whoever ``answer`` names as its holder): it must verify
        its user. PasskeyRefused for any answer that does not hold, counted against the
        account it names (and the address)."""
        return await self._used(replace(answer, holder=_ANYONE), "sign-in", attempt, None)

    async def check(
        self, client: Client, answer: Answer, purpose: Purpose, attempt: Attempt
    ) -> PasskeyUsed:
        """One of ``client``'s passkeys answered the challenge of ``purpose``."""
        return await self._used(answer, purpose, attempt, client)

    async def rename(self, identity: Identity, credential_id: str, name: str) -> None:
        """A new name for one of the caller's passkeys."""
        name = _checked_name(name)
        if not await self._store.rename_passkey(identity.client.id, credential_id, name):
            raise PasskeyNotFound
        log_event(log, "passkey_renamed", client_id=identity.client.id)

    async def remove(
        self, identity: Identity, credential_id: str, password: str, origin: Origin
    ) -> None:
        """Remove one of the caller's passkeys after the password; with the last second
        factor gone, the recovery codes go too."""
        await self._confirm_password(identity, password, origin)
        client = identity.client
        if not await self._store.remove_passkey(client.id, credential_id):
            raise PasskeyNotFound
        log_event(log, "second_factor_removed", client_id=client.id, factor="passkey")
        await self._factors.removed(client, "passkey-removed")

    async def _used(
        self, answer: Answer, purpose: Purpose, attempt: Attempt, client: Client | None
    ) -> PasskeyUsed:
        ceremony = self._ceremonies.read(answer.token, purpose, answer.holder)
        try:
            parsed = parse_authentication_credential_json(answer.credential)
        except _UNREADABLE:
            await self._regulator.admit(attempt)
            raise PasskeyRefused from None
        passkey = await self._store.passkey(_b64(parsed.raw_id))
        owner = await self._clients.get_client(passkey.client_id) if passkey else None
        if passkey is None or owner is None or (client is not None and owner.id != client.id):
            await self._regulator.admit(attempt)
            log_event(log, "passkey_refused", reason="unknown credential")
            raise PasskeyRefused
        stored_hash = await self._clients.get_password_hash(owner.id)
        account = email_key(owner.email)
        counter = await self._regulator.begin(account, attempt, password_epoch(stored_hash))
        verified = self._verified(
            owner, passkey, parsed, challenge=ceremony.challenge, rp=answer.rp, purpose=purpose
        )
        if not await self._regulator.spend(ceremony.token_id, LIFETIME):
            raise CeremonyExpired(N_("This passkey request was already answered; try again."))
        seen, new = passkey.sign_count, verified.new_sign_count
        if (seen or new) and new <= seen:  # a cloned authenticator
            log_event(
                log,
                "passkey_counter_regressed",
                level=logging.WARNING,
                client_id=owner.id,
                passkey=passkey.name,
                stored=seen,
                presented=new,
            )
            raise PasskeyRefused
        if not await self._store.use_passkey(passkey.credential_id, seen, new, self._clock()):
            raise PasskeyRefused  # another sign-in with it moved the counter meanwhile
        await self._regulator.succeeded(counter)
        used = replace(passkey, sign_count=new)
        methods = (used.method, AMR_USER_PRESENCE) if verified.user_verified else (used.method,)
        return PasskeyUsed(used, methods)

    def _verified(
        self,
        owner: Client,
        passkey: Passkey,
        parsed: AuthenticationCredential,
        *,
        challenge: bytes,
        rp: RelyingParty,
        purpose: Purpose,
    ) -> VerifiedAuthentication:
        """The assertion, checked against the challenge, the site and the stored public key
        (the counter is compared by the caller, which tells a clone apart)."""
        handle = parsed.response.user_handle
        if handle is not None and not hmac.compare_digest(handle, owner.id.encode()):
            log_event(log, "passkey_refused", client_id=owner.id, reason="another user handle")
            raise PasskeyRefused
        try:
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=rp.id,
                expected_origin=list(rp.origins),
                credential_public_key=passkey.public_key,
                credential_current_sign_count=0,  # compared by the caller
                require_user_verification=purpose == "sign-in",
            )
        except _UNREADABLE as exc:
            log_event(log, "passkey_refused", client_id=owner.id, reason=_reason(exc))
            raise PasskeyRefused from None
        return verified


def session_holder(identity: Identity) -> str:
    """Who may finish a registration or confirmation: this account, in this session."""
    return holder_of("session", identity.client.id, identity.session_id)


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(id=_bytes(passkey.credential_id))


def _checked_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise ValidationFailed([FieldError("name", f"must be 1 to {MAX_NAME} characters")])
    return name


def _reason(error: Exception) -> str:
    """Why an answer failed, for the log: py_webauthn's message, which may quote what the
    client sent (its origin, say), cut short and kept to one printable line."""
    text = f"{type(error).__name__}: {error}"
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
