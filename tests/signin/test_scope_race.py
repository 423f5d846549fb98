"""A sign-in or a client-credentials grant racing an operator's removal of a scope never yields
a token that /verify accepts for that scope: the session is stored before the client is read
again for the token, and the removal changes the client before it ends the client's sessions,
so either the token lacks the scope or its session is ended."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway_auth.access.verifier import Verifier
from gateway_auth.accounts.admin import ListChange
from gateway_auth.accounts.clients import NewClient, NewService
from gateway_auth.config.settings import Settings
from gateway_auth.errors import Unauthenticated
from gateway_auth.models import Origin, Session
from gateway_auth.services import Services, open_services
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD

ORIGIN = Origin(ip="192.0.2.1", user_agent="test")
BILLING = frozenset({"billing"})


@pytest.fixture
async def services(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> AsyncIterator[Services]:
    async with open_services(make_settings(), clock=clock) as opened:
        yield opened


def race(services: Services, client_id: str, *, before_the_write: bool) -> None:
    """Take ``billing`` from the client while its new session is being stored: just before
    the write (after the sign-in read the client) or just after it."""
    store: Any = services.store
    stored = store.add_session

    async def removal() -> None:
        change = ListChange(remove=("billing",))
        await services.admin.update("cli", client_id, {}, change)

    async def add_session(session: Session, refresh_hash: str) -> None:
        if before_the_write:
            await removal()
        await stored(session, refresh_hash)
        if not before_the_write:
            await removal()

    store.add_session = add_session


def allowed_for_billing(services: Services, clock: FakeClock, token: str) -> bool:
    """What /verify?scope=billing decides for the token (the verifier gateways ask)."""
    verifier = Verifier(services.tokens, services.revocations.mirror, max_staleness=3600)
    verdict = verifier.verify(token, BILLING, clock().timestamp(), time.monotonic())
    return verdict.outcome == "allow"


@pytest.mark.parametrize("before_the_write", [True, False], ids=["before", "after"])
@pytest.mark.parametrize("grant", ["password", "client_credentials"])
async def test_a_grant_racing_a_scope_removal_never_passes_for_that_scope(
    services: Services, clock: FakeClock, grant: str, before_the_write: bool
) -> None:
    if grant == "password":
        client = await services.admin.create_user(
            "cli", NewClient("ada@example.com", PASSWORD), kind="user", scopes=["billing"]
        )
        race(services, client.id, before_the_write=before_the_write)
        token = (await services.sessions.login("ada@example.com", PASSWORD, ORIGIN)).access_token
    else:
        created = await services.admin.create_service(
            "cli", NewService("svc@example.com"), scopes=["billing"]
        )
        client = created.client
        race(services, client.id, before_the_write=before_the_write)
        issued = await services.sessions.client_credentials(client.id, created.secret, ORIGIN)
        token = issued.access_token

    assert not allowed_for_billing(services, clock, token)
    stored = await services.store.get_client(client.id)
    assert stored is not None
    assert stored.scopes == ()  # the removal went through


async def test_a_sign_in_racing_a_suspension_gets_no_token(services: Services) -> None:
    client = await services.admin.create_user(
        "cli", NewClient("ada@example.com", PASSWORD), kind="user", scopes=[]
    )
    store: Any = services.store
    stored = store.add_session

    async def add_session(session: Session, refresh_hash: str) -> None:
        await services.admin.suspend("cli", client.id, "racing")
        await stored(session, refresh_hash)

    store.add_session = add_session

    with pytest.raises(Unauthenticated):
        await services.sessions.login("ada@example.com", PASSWORD, ORIGIN)
