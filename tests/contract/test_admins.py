"""The last active admin is kept by the store itself, so the rule holds for every instance and
every worker on one store: suspending, demoting or deleting it is LastAdmin, and two changes
racing to take admin from the last two admins cannot both succeed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from gateway_auth.errors import LastAdmin
from gateway_auth.models import Client, DeletionEvent
from gateway_auth.stores.base import ProfileChanges, Store, Suspension
from tests.support.records import T0, a_client

LATER = T0 + timedelta(minutes=1)


def admin(client_id: str, email: str, **changes: object) -> Client:
    return replace(a_client(client_id, email), scopes=("admin", "billing"), **changes)  # type: ignore[arg-type]


async def admins(store: Store) -> set[str]:
    """Ids of the active admins."""
    found = set()
    for client_id in ("a1", "a2", "g1", "s1"):
        client = await store.get_client(client_id)
        if client and active(client):
            found.add(client_id)
    return found


def suspend(store: Store, client_id: str) -> asyncio.Future[Client | None]:
    return asyncio.ensure_future(store.set_suspended(client_id, Suspension(True, LATER, "x")))


def demote(store: Store, client_id: str) -> asyncio.Future[Client | None]:
    return asyncio.ensure_future(
        store.update_profile(client_id, ProfileChanges(LATER, {}, scopes=("billing",)))
    )


def delete(store: Store, client_id: str) -> asyncio.Future[str]:
    event = DeletionEvent(f"e-{client_id}", client_id, "user", LATER)
    return asyncio.ensure_future(store.delete_client(client_id, event))


CHANGES: dict[str, Callable[[Store, str], asyncio.Future[Any]]] = {
    "suspend": suspend,
    "demote": demote,
    "delete": delete,
}


@pytest.mark.parametrize("change", CHANGES)
async def test_the_only_active_admin_cannot_lose_admin(
    stores: tuple[Store, Store], change: str
) -> None:
    store, _ = stores
    await store.add_client(admin("a1", "a1@example.com"), "h")
    await store.add_client(admin("a2", "a2@example.com", suspended=True, suspended_at=T0), "h")
    await store.add_client(admin("g1", "g1@example.com", kind="guest"), None)

    with pytest.raises(LastAdmin):
        await CHANGES[change](store, "a1")

    # Nothing changed: still an admin, not suspended, not deleted, no event queued.
    assert await admins(store) == {"a1", "g1"}
    assert await store.pending_events(10) == []


@pytest.mark.parametrize("change", CHANGES)
async def test_an_admin_can_lose_admin_while_another_user_or_service_holds_it(
    stores: tuple[Store, Store], change: str
) -> None:
    store, _ = stores
    await store.add_client(admin("a1", "a1@example.com"), "h")
    await store.add_client(admin("s1", "s1@example.com", kind="service"), None)

    await CHANGES[change](store, "a1")

    assert await admins(store) == {"s1"}


@pytest.mark.parametrize("first", CHANGES)
@pytest.mark.parametrize("second", CHANGES)
async def test_two_instances_taking_admin_from_the_last_two_admins_leave_one(
    stores: tuple[Store, Store], first: str, second: str
) -> None:
    one, other = stores
    survivors: list[str] = []
    for round_ in range(5):
        pair = (f"a1-{round_}", f"a2-{round_}")
        for client_id in pair:
            await one.add_client(admin(client_id, f"{client_id}@example.com"), "h")
        for client_id in survivors:  # only this round's pair are admins now
            await one.update_profile(client_id, ProfileChanges(LATER, {}, scopes=("billing",)))

        outcomes = await asyncio.gather(
            CHANGES[first](one, pair[1]), CHANGES[second](other, pair[0]), return_exceptions=True
        )

        assert [type(outcome) for outcome in outcomes].count(LastAdmin) == 1, outcomes
        assert not any(isinstance(o, Exception) and not isinstance(o, LastAdmin) for o in outcomes)
        survivors = [c.id for c in [await one.get_client(i) for i in pair] if c and active(c)]
        assert len(survivors) == 1


def active(client: Client) -> bool:
    return "admin" in client.scopes and not client.suspended
