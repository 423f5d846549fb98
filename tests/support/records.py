"""Clients and sessions to put into a store directly, at one moment fixed when tests start."""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway_auth.models import Client, MailEvent, MailPurpose, Session
from gateway_auth.stores.base import AccountToken, TokenPurpose
from tests.support.clock import present

T0 = present()


def a_client(client_id: str = "c1", email: str = "ada@example.com") -> Client:
    return Client(
        id=client_id,
        email=email,
        kind="user",
        scopes=("read",),
        first_name="Ada",
        last_name=None,
        suspended=False,
        suspended_at=None,
        suspend_reason=None,
        created_at=T0,
        updated_at=T0,
    )


def a_session(session_id: str = "s1", client_id: str = "c1") -> Session:
    return Session(
        id=session_id,
        client_id=client_id,
        created_at=T0,
        last_used_at=T0,
        expires_at=T0 + timedelta(days=14),
        absolute_expires_at=T0 + timedelta(days=30),
        user_agent="test",
        ip="127.0.0.1",
        revoked_at=None,
    )


def a_mail_event(
    event_id: str = "m1",
    client_id: str = "c1",
    purpose: MailPurpose = "password-reset-requested",
) -> MailEvent:
    return MailEvent(
        id=event_id,
        type=purpose,
        client_id=client_id,
        email="ada@example.com",
        name="Ada",
        link=f"https://auth.example.com/password-reset/confirm?token=t-{event_id}",
        expires_at=T0 + timedelta(minutes=30),
        locale="en",
        occurred_at=T0,
    )


def an_account_token(
    token_hash: str = "h1",  # noqa: S107 - a stored hash, in a test
    client_id: str = "c1",
    purpose: TokenPurpose = "password-reset",
    *,
    created_at: datetime = T0,
) -> AccountToken:
    return AccountToken(
        token_hash=token_hash,
        client_id=client_id,
        purpose=purpose,
        email_key="ada@example.com",
        created_at=created_at,
        expires_at=created_at + timedelta(minutes=30),
    )


# A user holding two scopes, as the token tests sign for.
TOKEN_CLIENT = Client(
    id="c1",
    email="ada@example.com",
    kind="user",
    scopes=("admin", "reports:read"),
    first_name=None,
    last_name=None,
    suspended=False,
    suspended_at=None,
    suspend_reason=None,
    created_at=T0,
    updated_at=T0,
)
