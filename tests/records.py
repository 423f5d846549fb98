"""Clients and sessions to put into a store directly, at one moment fixed when tests start."""

from __future__ import annotations

from datetime import timedelta

from gateway_auth.models import Client, Session
from tests.support import present

T0 = present()


def a_client(client_id: str = "c1", email: str = "ada@example.com") -> Client:
    return Client(
        id=client_id,
        email=email,
        kind="user",
        scopes=("admin",),
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
