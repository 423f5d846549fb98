"""The Sessions service on a real store: equal work for every login failure, rehashing, reuse."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from gateway_auth.accounts.clients import Accounts, NewClient
from gateway_auth.config.settings import Settings
from gateway_auth.errors import InvalidCredentials, InvalidRefreshToken, ValidationFailed
from gateway_auth.models import Origin
from gateway_auth.services import open_services
from gateway_auth.signin.passwords import PasswordHasher
from gateway_auth.signin.sessions import Sessions
from gateway_auth.stores.sqlite import DATABASE_FILE, SqliteStore
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

ORIGIN = Origin(ip="192.0.2.1", user_agent="test")


class CountingHasher(PasswordHasher):
    """The real hasher, counting the bcrypt checks and which stored hash each was against."""

    def __init__(self, rounds: int) -> None:
        super().__init__(rounds=rounds, workers=1)
        self.checked_against: list[str | None] = []

    async def verify(self, password: str, stored_hash: str | None, *, source: str = "") -> bool:
        self.checked_against.append(stored_hash)
        return await super().verify(password, stored_hash, source=source)


@dataclass
class World:
    store: SqliteStore
    hasher: CountingHasher
    sessions: Sessions
    accounts: Accounts
    clock: FakeClock
    path: Path


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock) -> AsyncIterator[World]:
    """The services a server runs, built the way every entry point builds them."""
    settings = Settings.from_env(
        {
            "GATEWAY_AUTH_DATA_DIR": str(tmp_path / "data"),
            "GATEWAY_AUTH_BCRYPT_ROUNDS": "4",
            "GATEWAY_AUTH_JWT_SECRET": "Yq3vN8pWc1Lx7Rt5Hb2Mz9Kf4Gd6Sj0A",
        }
    )
    hasher = CountingHasher(rounds=4)
    async with open_services(settings, clock=clock, hasher=hasher) as services:
        store = services.store
        assert isinstance(store, SqliteStore)
        path = settings.data_dir / DATABASE_FILE
        yield World(store, hasher, services.sessions, services.accounts, clock, path)


async def test_every_login_failure_does_exactly_one_bcrypt_check(world: World) -> None:
    await world.accounts.register(NewClient("ada@example.com", PASSWORD), ORIGIN)
    await world.accounts.register(NewClient("sus@example.com", PASSWORD), ORIGIN)
    with sqlite3.connect(world.path) as db:
        db.execute("UPDATE clients SET suspended = 1 WHERE email = 'sus@example.com'")

    cases = [
        ("nobody@example.com", PASSWORD),  # unknown email: checked against the dummy hash
        ("ada@example.com", "wrong password"),
        ("sus@example.com", PASSWORD),  # right password, suspended
        ("", ""),
        ("x" * 5000, "y" * 5000),
    ]
    for email, password in cases:
        world.hasher.checked_against.clear()
        with pytest.raises(InvalidCredentials) as caught:
            await world.sessions.login(email, password, ORIGIN)
        assert len(world.hasher.checked_against) == 1, email
        assert caught.value.message == "Invalid email or password."

    world.hasher.checked_against.clear()
    await world.sessions.login("ada@example.com", PASSWORD, ORIGIN)
    assert len(world.hasher.checked_against) == 1


async def test_a_hash_of_an_old_cost_is_upgraded_at_login(world: World) -> None:
    await world.accounts.register(NewClient("ada@example.com", PASSWORD), ORIGIN)
    world.hasher.rounds = 5  # as if BCRYPT_ROUNDS was raised since the account was made

    await world.sessions.login("ada@example.com", PASSWORD, ORIGIN)

    credentials = await world.store.get_credentials("ada@example.com")
    assert credentials is not None
    assert (credentials.password_hash or "").startswith("$2b$05$")
    await world.sessions.login("ada@example.com", PASSWORD, ORIGIN)  # still the same password


async def test_reuse_after_the_grace_window_is_logged_and_revokes(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.accounts.register(NewClient("ada@example.com", PASSWORD), ORIGIN)
    issued = await world.sessions.login("ada@example.com", PASSWORD, ORIGIN)
    rotated = await world.sessions.refresh(issued.refresh_token, ORIGIN)
    world.clock.advance(seconds=11)

    with caplog.at_level(logging.WARNING), pytest.raises(InvalidRefreshToken):
        await world.sessions.refresh(issued.refresh_token, ORIGIN)

    assert [r.getMessage() for r in caplog.records] == ["refresh_token_reused"]
    session = await world.store.get_session(issued.session.id)
    assert session is not None
    assert session.revoked_at == world.clock.now
    with pytest.raises(InvalidRefreshToken):
        await world.sessions.refresh(rotated.refresh_token, ORIGIN)


async def test_login_records_where_the_session_comes_from(world: World) -> None:
    await world.accounts.register(NewClient("ada@example.com", PASSWORD), ORIGIN)

    issued = await world.sessions.login(
        "ADA@example.com ", PASSWORD, Origin(ip="192.0.2.7", user_agent="u" * 2000)
    )

    session = await world.store.get_session(issued.session.id)
    assert session is not None
    assert session.ip == "192.0.2.7"
    assert session.user_agent == "u" * 512
    assert session.expires_at == world.clock.now + timedelta(days=14)
    assert session.absolute_expires_at == world.clock.now + timedelta(days=30)


async def test_deleting_twice_queues_one_event(world: World) -> None:
    client = await world.accounts.register(NewClient("ada@example.com", PASSWORD), ORIGIN)

    assert await world.accounts.delete(client.id) == "deleted"
    assert await world.accounts.delete(client.id) == "already_deleted"
    assert await world.accounts.delete("no-such-id") == "unknown"

    pending = await world.store.pending_events(10)
    assert [type(p.event).__name__ for p in pending].count("DeletionEvent") == 1


async def test_operators_can_grant_scopes_but_not_malformed_ones(world: World) -> None:
    admin = await world.accounts.create(
        NewClient("root@example.com", PASSWORD), kind="user", scopes=["admin", "admin", "a:b"]
    )
    with pytest.raises(ValidationFailed) as caught:
        await world.accounts.create(
            NewClient("x@example.com", PASSWORD), kind="user", scopes=["a,b"]
        )

    assert admin.scopes == ("admin", "a:b")
    assert caught.value.errors[0].field == "scopes"
