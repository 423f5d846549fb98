"""The store contract for linked identities: (provider, subject) belongs to one live client,
is found by its key, is dropped with its client (and named in the deletion event), survives an
export and import; and sessions opened through a provider are found by its session id."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from gateway_auth.models import DeletionEvent, LinkedIdentity
from gateway_auth.stores.base import Store
from gateway_auth.stores.export import export_to, read_export
from tests.support.records import T0, a_client, a_session

LATER = T0 + timedelta(minutes=1)


def an_identity(
    subject: str = "alice-at-idp", client_id: str = "c1", provider: str = "corp"
) -> LinkedIdentity:
    return LinkedIdentity(provider, subject, client_id, "alice@corp.example", T0)


async def test_an_identity_belongs_to_exactly_one_live_client(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")

    results = await asyncio.gather(
        store.link_identity(an_identity()), store.link_identity(an_identity(client_id="c2"))
    )

    assert sorted(results) == [False, True]
    owner = "c1" if results[0] else "c2"
    assert await store.identity("corp", "alice-at-idp") == an_identity(client_id=owner)
    assert not await store.link_identity(an_identity(client_id=owner))  # not twice either
    assert not await store.link_identity(an_identity("other", client_id="nobody"))
    assert await store.identity("corp", "other") is None
    # The same subject at another provider is another identity.
    assert await store.link_identity(an_identity(client_id=owner, provider="github"))


async def test_a_clients_identities_are_listed_used_and_unlinked_by_their_owner_only(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")
    await store.link_identity(an_identity())
    await store.link_identity(replace(an_identity("gh-1", provider="github"), created_at=LATER))

    await store.use_identity("corp", "alice-at-idp", "alice@new.example", LATER)

    listed = await store.identities("c1")
    assert [(i.provider, i.subject) for i in listed] == [
        ("corp", "alice-at-idp"),
        ("github", "gh-1"),
    ]
    assert listed[0].email == "alice@new.example"
    assert listed[0].last_used_at == LATER
    assert await store.identities("c2") == []
    assert not await store.unlink_identity("c2", "corp", "alice-at-idp")
    assert await store.unlink_identity("c1", "corp", "alice-at-idp")
    assert not await store.unlink_identity("c1", "corp", "alice-at-idp")
    assert await store.identity("corp", "alice-at-idp") is None


async def test_deleting_a_client_frees_its_identities_and_names_them_in_the_event(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.link_identity(an_identity())
    await store.link_identity(replace(an_identity("gh-1", provider="github"), created_at=LATER))

    assert await store.delete_client("c1", DeletionEvent("e1", "c1", "user", LATER)) == "deleted"

    assert await store.identity("corp", "alice-at-idp") is None
    assert await store.identities("c1") == []
    (pending,) = await store.pending_events(10)
    assert pending.event.to_json()["identities"] == [
        {"provider": "corp", "subject": "alice-at-idp"},
        {"provider": "github", "subject": "gh-1"},
    ]
    assert not await store.link_identity(an_identity())  # a deleted client links nothing


async def test_sessions_through_a_provider_are_found_by_its_session_id_or_client(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")
    through = replace(a_session("s1"), provider="corp", provider_sid="idp-sid-1")
    await store.add_session(through, "h1")
    await store.add_session(
        replace(a_session("s2"), provider="corp", provider_sid="idp-sid-2"), "h2"
    )
    await store.add_session(a_session("s3"), "h3")  # a password sign-in
    await store.add_session(
        replace(a_session("s4", "c2"), provider="corp", provider_sid="idp-sid-1"), "h4"
    )

    assert await store.get_session("s1") == through
    by_sid = await store.provider_sessions("corp", provider_sid="idp-sid-1", client_id=None)
    assert sorted(by_sid) == ["s1", "s4"]
    assert await store.provider_sessions("corp", provider_sid="idp-sid-1", client_id="c1") == ["s1"]
    by_client = await store.provider_sessions("corp", provider_sid=None, client_id="c1")
    assert sorted(by_client) == ["s1", "s2"]
    assert await store.provider_sessions("github", provider_sid=None, client_id="c1") == []
    assert await store.provider_sessions("corp", provider_sid=None, client_id=None) == []
    await store.revoke_session("s1", LATER)
    assert await store.provider_sessions("corp", provider_sid="idp-sid-1", client_id="c1") == []


async def test_identities_and_session_providers_survive_an_export_and_import(
    store: Store, tmp_path: Path
) -> None:
    await store.add_client(a_client(), "hash")
    await store.link_identity(replace(an_identity(), last_used_at=LATER))
    session = replace(a_session(), provider="corp", provider_sid="idp-sid-1")
    await store.add_session(session, "h1")
    exported = tmp_path / "export.jsonl"
    with exported.open("w") as out:
        await export_to(store, out, T0)
    lines = exported.read_text().splitlines()
    assert json.loads(lines[-1]) == {
        "type": "identity",
        "provider": "corp",
        "subject": "alice-at-idp",
        "clientId": "c1",
        "email": "alice@corp.example",
        "createdAt": json.loads(lines[-1])["createdAt"],
        "lastUsedAt": json.loads(lines[-1])["lastUsedAt"],
    }

    await store.unlink_identity("c1", "corp", "alice-at-idp")
    await store.import_records(read_export(lines))

    assert await store.identity("corp", "alice-at-idp") == replace(
        an_identity(), last_used_at=LATER
    )
    assert await store.get_session(session.id) == session
