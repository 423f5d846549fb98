"""Groups on every store: kept with the client, changed alone, found again after a restart of
the read path (a client stored before groups existed has none)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from gateway_auth.stores.base import ClientQuery, ProfileChanges, Store
from tests.support.records import T0, a_client

LATER = T0 + timedelta(seconds=1)


async def test_groups_are_kept_and_changed_on_their_own(store: Store) -> None:
    client = replace(a_client(), scopes=("read", "billing"), groups=("ops", "support"))
    await store.add_client(client, "hash")
    await store.add_client(a_client("c2", "grace@example.com"), "hash")

    credentials = await store.get_credentials("ada@example.com")
    listed = await store.list_clients(ClientQuery(10))
    changed = await store.update_profile("c1", ProfileChanges(LATER, {}, groups=("support",)))
    renamed = await store.update_profile("c1", ProfileChanges(LATER, {"first_name": "Augusta"}))

    assert await store.get_client("c1") == replace(
        client, groups=("support",), first_name="Augusta", updated_at=LATER
    )
    assert credentials is not None
    assert credentials.client.groups == ("ops", "support")
    assert [c.groups for c in listed] == [("ops", "support"), ()]
    assert changed is not None
    assert (changed.groups, changed.scopes) == (("support",), ("read", "billing"))
    assert renamed is not None
    assert renamed.groups == ("support",)  # a change that names no groups keeps them
    emptied = await store.update_profile("c1", ProfileChanges(LATER, {}, groups=()))
    assert emptied is not None
    assert emptied.groups == ()
