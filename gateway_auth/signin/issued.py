"""What signing in hands out: sessions with their tokens, an access token alone, a service
client's token, or the second step a sign-in still needs; and how long sessions last."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway_auth.models import Client, Origin, Session
from gateway_auth.tokens import new_session_id


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """The tokens handed out by a login or refresh, with their lifetimes in seconds."""

    client: Client
    session: Session
    access_token: str
    access_expires_in: int
    refresh_token: str
    refresh_expires_in: int
    device_token: str | None = None  # after a password login: the client's new device token
    scopes: tuple[str, ...] = ()  # those in force in the access token (step-up aside)


@dataclass(frozen=True, slots=True)
class SecondStep:
    """The password was right and the account has a second factor: no session yet, only the
    token of the half-finished sign-in (for a cookie of the sign-in path)."""

    client: Client
    pending_token: str


@dataclass(frozen=True, slots=True)
class IssuedAccess:
    """A new access token alone, for a browser whose refresh token lost a race a moment ago:
    its refresh cookie stays as it is (the winner's, or the one it still holds)."""

    client: Client
    session: Session
    access_token: str
    access_expires_in: int
    refresh_expires_in: int
    scopes: tuple[str, ...] = ()  # the scopes the new token has in force


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A service client's access token (no refresh token: it asks again with its secret)."""

    client: Client
    access_token: str
    expires_in: int
    scopes: tuple[str, ...] = ()  # the scopes it carries


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long sessions last: sliding idle limit and absolute limit."""

    refresh_ttl: timedelta
    max_age: timedelta


def seconds_left(session: Session, now: datetime) -> int:
    """How long the session's refresh cookie may still live."""
    return max(0, int((session.expires_at - now).total_seconds()))


MAX_USER_AGENT = 512


def new_session(
    client: Client,
    origin: Origin,
    now: datetime,
    expires_at: datetime,
    absolute: datetime,
    *,
    persistent: bool = True,
) -> Session:
    """A session opened now for ``client`` from ``origin``, not stored yet."""
    return Session(
        id=new_session_id(),
        client_id=client.id,
        created_at=now,
        last_used_at=now,
        expires_at=expires_at,
        absolute_expires_at=absolute,
        user_agent=origin.user_agent[:MAX_USER_AGENT],
        ip=origin.ip,
        revoked_at=None,
        persistent=persistent,
    )
