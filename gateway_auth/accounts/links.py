"""The account lifecycle by mail: password resets and email verification.

It stores a single-use token (its SHA-256 only, bound to the client, and for verification to
the address) and writes a mail event carrying the link to the outbox, which the built-in sender
(``mail/``) mails, or the relay publishes for a mailer, at least once, like deletion events.

A reset request answers the same whatever the address: the lookup and the mail happen after
the answer, in the background, so neither the body nor the time taken says whether an account
exists. A client gets at most one mail of a kind a minute (requests in between do nothing), so
nobody can flood someone's mailbox through this service.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway_auth.accounts.notices import Notices
from gateway_auth.clock import Clock
from gateway_auth.errors import (
    ClientNotFound,
    GatewayAuthError,
    LinkExpired,
    LinkInvalid,
    LinkUsed,
    NotAUser,
)
from gateway_auth.logging import log_event, mask_email
from gateway_auth.models import Client, MailEvent, Origin
from gateway_auth.revocation.revocations import Revocations
from gateway_auth.signin.passwords import PasswordHasher
from gateway_auth.signin.regulation import Regulator, source_key
from gateway_auth.stores.base import (
    AccountToken,
    AccountTokenStore,
    ClientStore,
    DeletionStore,
    TokenPurpose,
    TokenUse,
)
from gateway_auth.tokens import display_name
from gateway_auth.validation import check, email_key, email_problem, password_problem

log = logging.getLogger(__name__)
RESEND_AFTER = timedelta(seconds=60)  # the most one client is mailed, per kind of mail
_REFUSALS: dict[TokenUse, type[GatewayAuthError]] = {
    "unknown": LinkInvalid,
    "expired": LinkExpired,
    "spent": LinkUsed,
}


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """Where mailed links point and how long their tokens live."""

    base_url: str  # PUBLIC_URL + BASE_PATH: never the Host a request named (reset poisoning)
    reset_ttl: timedelta
    verification_ttl: timedelta

    def link(self, purpose: TokenPurpose, token: str) -> str:
        """The page that uses a token: ``/password-reset/confirm`` or
        ``/email-verification/confirm``, with the token in the query."""
        return f"{self.base_url}/{purpose}/confirm?token={token}"


def token_hash(token: str) -> str:
    """SHA-256 of a mailed token, as stored: 256 random bits need no stretching."""
    return hashlib.sha256(token.encode(errors="surrogatepass")).hexdigest()


class AccountLinks:
    """Password resets and email verification through mailed single-use links."""

    def __init__(
        self,
        *,
        clients: ClientStore,
        tokens: AccountTokenStore,
        outbox: DeletionStore,
        hasher: PasswordHasher,
        revocations: Revocations,
        regulator: Regulator,
        clock: Clock,
        policy: LinkPolicy,
        outbox_written: Callable[[], None] = lambda: None,
        notices: Notices | None = None,
    ) -> None:
        self._clients = clients
        self._notices = notices
        self._tokens = tokens
        self._outbox = outbox
        self._hasher = hasher
        self._revocations = revocations
        self._regulator = regulator
        self._clock = clock
        self.policy = policy
        self._outbox_written = outbox_written
        self._background: set[asyncio.Task[None]] = set()

    async def request_password_reset(self, email: str, origin: Origin) -> None:
        """Mail a reset link if ``email`` belongs to a user who may sign in; say nothing either
        way. Counted against the caller's address like a sign-in."""
        check({"email": email_problem(email)})
        await self._regulator.admit(origin.attempt)
        self._spawn(self._mail_reset(email_key(email), origin.locale))

    async def send_reset(self, client: Client) -> datetime:
        """An operator's reset: mail the user a link at once (the user chooses the password;
        the old one keeps working until then); when the link stops working."""
        if client.kind != "user":
            raise NotAUser
        expires_at = await self._mail(client, "password-reset", None, spacing=None)
        assert expires_at is not None  # noqa: S101 - an operator's link is never spaced out
        return expires_at

    async def reset_password(self, token: str, new_password: str, origin: Origin) -> Client:
        """Set a new password from a reset link: the token is used up, every session of the
        client ends everywhere, and the address counts as verified (the mail reached it)."""
        await self._regulator.admit(origin.attempt)
        check({"newPassword": password_problem(new_password)})
        new_hash = await self._hasher.hash(new_password, source=source_key(origin.ip))
        used = await self._use(token, "password-reset")
        client = await self._clients.get_client(used.client_id)
        if client is None or client.suspended or used.email_key != email_key(client.email):
            raise LinkInvalid  # gone, suspended, or the link went to an address left since
        now = self._clock()
        await self._clients.set_password_hash(client.id, new_hash, now)
        revoked = await self._revocations.revoke_client_sessions(client.id)
        if not client.email_verified:
            client = (
                await self._clients.set_email_verified(client.id, used.email_key, True, now)
                or client
            )
        log_event(log, "password_reset", client_id=client.id, sessions_revoked=len(revoked))
        if self._notices is not None:
            await self._notices.send(client, "password-reset", locale=origin.locale)
        return client

    async def send_verification(self, client: Client, locale: str | None = None) -> bool:
        """Mail a verification link to a user whose address is not verified; False when none
        was sent (verified already, not a user, or mailed within the last minute)."""
        if client.kind != "user" or client.email_verified:
            return False
        return await self._mail(client, "email-verification", locale) is not None

    async def verify_email(self, token: str, origin: Origin) -> Client:
        """Mark the address verified from a verification link, if it is still the client's."""
        await self._regulator.admit(origin.attempt)
        used = await self._use(token, "email-verification")
        client = await self._clients.set_email_verified(
            used.client_id, used.email_key, True, self._clock()
        )
        if client is None:  # the client is gone, or has changed its address since
            raise LinkInvalid
        log_event(log, "email_verified", client_id=client.id)
        return client

    async def mark_verified(self, client_id: str, verified: bool = True) -> Client:
        """An operator's say-so (``gateway-auth clients verify-email``)."""
        client = await self._clients.get_client(client_id)
        if client is None:
            raise ClientNotFound
        updated = await self._clients.set_email_verified(
            client.id, email_key(client.email), verified, self._clock()
        )
        if updated is None:
            raise ClientNotFound
        log_event(log, "email_verified", client_id=client.id, by="operator", verified=verified)
        return updated

    async def forget_links(self, client_id: str) -> None:
        """Every unused link of the client stops working (its address or password changed)."""
        await self._tokens.drop_account_tokens(client_id, "password-reset")
        await self._tokens.drop_account_tokens(client_id, "email-verification")

    async def settle(self) -> None:
        """Wait for the mails being prepared in the background (at shutdown, and in tests)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _mail_reset(self, account: str, locale: str | None) -> None:
        credentials = await self._clients.get_credentials(account)
        client = credentials.client if credentials else None
        if client is None or client.kind != "user" or client.suspended:
            log_event(log, "password_reset_not_sent", email=mask_email(account))
            return
        if await self._mail(client, "password-reset", locale) is None:
            log_event(log, "password_reset_not_sent", client_id=client.id, reason="recent")

    async def _mail(
        self,
        client: Client,
        purpose: TokenPurpose,
        locale: str | None,
        spacing: timedelta | None = RESEND_AFTER,
    ) -> datetime | None:
        """Queue a mail with a new link; when the link stops working, or None when this address
        got this kind of mail within ``spacing`` (the store decides, for every instance; a new
        address gets its link at once)."""
        now = self._clock()
        ttl = self.policy.reset_ttl if purpose == "password-reset" else self.policy.verification_ttl
        token = secrets.token_urlsafe(32)
        added = await self._tokens.add_account_token(
            AccountToken(
                token_hash(token), client.id, purpose, email_key(client.email), now, now + ttl
            ),
            spacing,
        )
        if not added:
            return None
        event = MailEvent(
            id=uuid.uuid4().hex,
            type="password-reset-requested"
            if purpose == "password-reset"
            else "email-verification-requested",
            client_id=client.id,
            email=client.email,
            name=display_name(client),
            link=self.policy.link(purpose, token),
            expires_at=now + ttl,
            locale=locale,
            occurred_at=now,
        )
        await self._outbox.queue_event(event)
        self._outbox_written()
        log_event(log, "mail_queued", type=event.type, client_id=client.id, event_id=event.id)
        return event.expires_at

    async def _use(self, token: str, purpose: TokenPurpose) -> AccountToken:
        redemption = await self._tokens.use_account_token(token_hash(token), purpose, self._clock())
        if redemption.outcome != "used" or redemption.token is None:
            raise _REFUSALS.get(redemption.outcome, LinkInvalid)()
        return redemption.token

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._logged(work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _logged(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except GatewayAuthError as exc:  # the store is down: the caller can ask again
            log_event(log, "mail_not_queued", level=logging.WARNING, error=type(exc).__name__)
