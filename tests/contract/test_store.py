"""The store contract: every backend (SQLite, MongoDB emulated, real MongoDB when configured)
must behave exactly alike, because the services above cannot tell them apart."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from gateway_auth.errors import EmailTaken
from gateway_auth.models import DeletionEvent
from gateway_auth.stores.base import ClientQuery, ProfileChanges, Rotation, Store, Suspension
from tests.support.records import T0, a_client, a_mail_event, a_session, an_account_token


async def test_emails_are_unique_after_normalisation(store: Store) -> None:
    await store.add_client(a_client(), "hash")

    with pytest.raises(EmailTaken):
        await store.add_client(a_client("c2", "  ADA@example.COM "), "hash")
    assert (await store.get_credentials("ada@example.com")) is not None


async def test_email_lookup_is_literal(store: Store) -> None:
    await store.add_client(a_client(), "hash")

    probes = ("%", "ada%", "_da@example.com", "ada@example.com' OR '1'='1")
    regex = (".*", "^ada", "ada@example\\.com", "[a]da@example.com", "ada@example.com|x")
    for probe in (*probes, *regex):
        assert await store.get_credentials(probe) is None


async def test_profile_changes_and_email_clashes(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")
    later = T0 + timedelta(minutes=1)

    updated = await store.update_profile(
        "c1", ProfileChanges(later, {"first_name": None, "email": "Lovelace@example.com"})
    )
    with pytest.raises(EmailTaken):
        await store.update_profile("c2", ProfileChanges(later, {"email": "LOVELACE@example.com"}))

    assert updated is not None
    assert (updated.first_name, updated.email, updated.updated_at) == (
        None,
        "Lovelace@example.com",
        later,
    )
    assert await store.update_profile("nobody", ProfileChanges(later, {"last_name": "x"})) is None


async def test_a_client_is_created_read_updated_and_deleted(store: Store) -> None:
    client = replace(a_client(), scopes=("read", "billing"), last_name="Lovelace")
    await store.add_client(client, "pw-hash", secret_hash=None)

    assert await store.get_client("c1") == client
    credentials = await store.get_credentials("ada@example.com")
    assert credentials is not None
    assert (credentials.client, credentials.password_hash) == (client, "pw-hash")
    later = T0 + timedelta(seconds=1)
    await store.set_password_hash("c1", "new-hash", later)
    assert await store.get_password_hash("c1") == "new-hash"
    assert await store.set_secret_hash("c1", "secret-hash", later)
    assert await store.get_secret_hash("c1") == "secret-hash"
    assert not await store.set_secret_hash("nobody", "x", later)
    assert await store.get_client("nobody") is None

    assert await store.delete_client("c1", DeletionEvent("e1", "c1", "user", later)) == "deleted"
    assert await store.get_client("c1") is None
    assert await store.get_password_hash("c1") is None
    assert await store.get_secret_hash("c1") is None
    assert await store.set_secret_hash("c1", "again", later) is False


async def test_timestamps_round_trip_to_the_millisecond(store: Store) -> None:
    moment = T0 + timedelta(microseconds=123_456)
    await store.add_client(replace(a_client(), created_at=moment, updated_at=moment), "h")

    client = await store.get_client("c1")

    assert client is not None
    assert client.created_at == T0 + timedelta(milliseconds=123)
    assert client.created_at.utcoffset() == timedelta(0)


async def test_suspension_is_kept_with_its_first_time_and_reason(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    later = T0 + timedelta(minutes=5)

    first = await store.set_suspended("c1", Suspension(True, T0, "chargeback"))
    again = await store.set_suspended("c1", Suspension(True, later, "other"))
    read = await store.get_client("c1")
    snapshot = await store.revocation_snapshot(T0)

    assert first == again == read
    assert read is not None
    assert (read.suspended, read.suspended_at, read.suspend_reason) == (True, T0, "chargeback")
    assert snapshot.suspended_clients == frozenset({"c1"})
    restored = await store.set_suspended("c1", Suspension(False, later))
    assert restored is not None
    assert (restored.suspended, restored.suspended_at, restored.suspend_reason) == (
        False,
        None,
        None,
    )
    assert (await store.revocation_snapshot(T0)).suspended_clients == frozenset()
    assert await store.set_suspended("nobody", Suspension(True, T0)) is None


async def test_only_one_of_two_concurrent_rotations_wins(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session(), "h0")

    def rotation(new_hash: str) -> Rotation:
        return Rotation("s1", "h0", new_hash, T0, T0 + timedelta(days=14))

    results = await asyncio.gather(
        store.rotate_refresh_token(rotation("h1")), store.rotate_refresh_token(rotation("h2"))
    )

    assert sorted(r.outcome for r in results) == ["reused", "rotated"]
    session = await store.get_session("s1")
    winner = next(r for r in results if r.outcome == "rotated")
    assert winner.session == session
    unknown = await store.rotate_refresh_token(Rotation("s1", "never", "h3", T0, T0))
    assert unknown.outcome == "invalid"


async def test_of_many_concurrent_rotations_exactly_one_wins(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session(), "h0")

    results = await asyncio.gather(
        *(
            store.rotate_refresh_token(Rotation("s1", "h0", f"n{i}", T0, T0 + timedelta(days=1)))
            for i in range(8)
        )
    )

    assert sorted(r.outcome for r in results) == ["reused"] * 7 + ["rotated"]
    assert all(r.rotated_at == T0 for r in results if r.outcome == "reused")


async def test_a_rotated_token_presented_again_is_reuse_until_the_session_goes(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session(), "h0")
    later = T0 + timedelta(minutes=15)
    await store.rotate_refresh_token(Rotation("s1", "h0", "h1", T0, T0 + timedelta(days=14)))
    await store.rotate_refresh_token(Rotation("s1", "h1", "h2", later, later + timedelta(days=14)))

    reuse = await store.rotate_refresh_token(Rotation("s1", "h0", "x", later, later))
    other_session = await store.rotate_refresh_token(Rotation("s2", "h0", "x", later, later))

    assert (reuse.outcome, reuse.rotated_at) == ("reused", T0)
    assert other_session.outcome == "invalid"
    session = await store.get_session("s1")
    assert session is not None
    assert (session.last_used_at, session.expires_at) == (later, later + timedelta(days=14))


async def test_sessions_expire_by_the_injected_clock(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session(), "h0")
    idle_end = T0 + timedelta(days=14)

    assert [s.id for s in await store.list_sessions("c1", idle_end - timedelta(seconds=1))] == [
        "s1"
    ]
    assert await store.list_sessions("c1", idle_end) == []
    assert (await store.stats(idle_end)).active_sessions == 0
    late = await store.rotate_refresh_token(Rotation("s1", "h0", "h1", idle_end, idle_end))
    assert late.outcome == "invalid"
    session = await store.get_session("s1")  # an expired session is still readable
    assert session is not None
    assert not session.is_active(idle_end)


async def test_sessions_are_listed_most_recently_used_first(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    for minutes, session_id in ((1, "b"), (3, "a"), (2, "c")):
        used = T0 + timedelta(minutes=minutes)
        await store.add_session(replace(a_session(session_id), last_used_at=used), session_id)

    assert [s.id for s in await store.list_sessions("c1", T0)] == ["a", "c", "b"]


async def test_a_revoked_or_expired_session_cannot_rotate(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session("s1"), "a")
    await store.add_session(a_session("s2"), "b")
    await store.revoke_session("s1", T0)
    late = T0 + timedelta(days=15)

    revoked = await store.rotate_refresh_token(Rotation("s1", "a", "x", T0, late))
    expired = await store.rotate_refresh_token(Rotation("s2", "b", "y", late, late))

    assert (revoked.outcome, expired.outcome) == ("invalid", "invalid")


async def test_sessions_are_revoked_per_client(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")
    for session_id, client_id in (("s1", "c1"), ("s2", "c1"), ("s3", "c1"), ("s4", "c2")):
        await store.add_session(a_session(session_id, client_id), session_id)

    revoked = await store.revoke_client_sessions("c1", T0, keep="s2")

    assert sorted(revoked) == ["s1", "s3"]
    assert [s.id for s in await store.list_sessions("c1", T0)] == ["s2"]
    assert [s.id for s in await store.list_sessions("c2", T0)] == ["s4"]


async def _a_family(store: Store) -> None:
    """s1 on one domain; s2 and s3 opened from it on two others; s4 another sign-in."""
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session("s1"), "h1")
    for member in ("s2", "s3"):
        await store.add_session(replace(a_session(member), family="s1"), member)
    await store.add_session(a_session("s4"), "h4")


async def test_a_family_ends_together_from_any_member(store: Store) -> None:
    await _a_family(store)

    assert await store.revoke_session("s3", T0)
    ended = await store.revoke_family("s3", T0)

    assert sorted(ended) == ["s1", "s2"]  # s3 itself was ended first
    assert [s.id for s in await store.list_sessions("c1", T0)] == ["s4"]
    assert (await store.get_session("s2")) is not None
    assert await store.revoke_family("s1", T0) == []  # nothing left to end
    assert await store.revoke_family("nobody", T0) == []


async def test_ending_every_other_session_keeps_the_one_kept_alone(store: Store) -> None:
    await _a_family(store)

    revoked = await store.revoke_client_sessions("c1", T0, keep="s2")

    assert sorted(revoked) == ["s1", "s3", "s4"]  # nothing ties s2's family to its browser
    assert [s.id for s in await store.list_sessions("c1", T0)] == ["s2"]
    assert (await store.get_session("s2")) == replace(a_session("s2"), family="s1")


async def test_deleting_queues_exactly_one_event_and_scrubs_the_client(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session(), "h")
    event = DeletionEvent("e1", "c1", "user", T0)

    assert await store.delete_client("c1", event) == "deleted"
    again = DeletionEvent("e2", "c1", "user", T0)
    assert await store.delete_client("c1", again) == "already_deleted"
    assert await store.delete_client("nobody", again) == "unknown"

    assert [p.event for p in await store.pending_events(10)] == [event]
    assert await store.get_client("c1") is None
    assert await store.get_credentials("ada@example.com") is None
    assert await store.list_sessions("c1", T0) == []
    snapshot = await store.revocation_snapshot(T0 - timedelta(minutes=1))
    assert snapshot.deleted_clients == (("c1", T0),)
    assert snapshot.revoked_sessions == (("s1", T0),)


async def test_concurrent_deletions_queue_one_event(store: Store) -> None:
    await store.add_client(a_client(), "hash")

    outcomes = await asyncio.gather(
        *(store.delete_client("c1", DeletionEvent(f"e{i}", "c1", "user", T0)) for i in range(5))
    )

    assert sorted(outcomes) == ["already_deleted"] * 4 + ["deleted"]
    assert len(await store.pending_events(10)) == 1


async def test_the_outbox_lists_oldest_first_and_stays_until_completed(store: Store) -> None:
    for i in (2, 0, 1):
        await store.add_client(a_client(f"c{i}", f"user{i}@example.com"), "hash")
        at = T0 + timedelta(seconds=i)
        await store.delete_client(f"c{i}", DeletionEvent(f"e{i}", f"c{i}", "user", at))

    pending = await store.pending_events(10)
    two = await store.claim_events(T0, T0 + timedelta(seconds=10), 2)

    assert [p.event.id for p in pending] == ["e0", "e1", "e2"]
    assert [p.attempts for p in pending] == [0, 0, 0]
    assert [p.created_at for p in pending] == [T0 + timedelta(seconds=i) for i in range(3)]
    assert [p.event.id for p in two] == ["e0", "e1"]
    await store.complete_event(two[0].event, T0)
    assert [p.event.id for p in await store.pending_events(10)] == ["e1", "e2"]
    assert (await store.stats(T0)).outbox_backlog == 2


async def test_pruning_removes_only_sessions_long_over(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session("old"), "a")
    await store.add_session(a_session("live"), "b")
    await store.revoke_session("old", T0)

    removed = await store.prune_sessions(T0 + timedelta(seconds=1))

    assert removed == 1
    assert await store.get_session("old") is None
    assert await store.get_session("live") is not None


async def test_clients_are_listed_in_creation_order_page_by_page(store: Store) -> None:
    for i in (3, 0, 4, 1, 2):
        client = a_client(f"c{i}", f"user{i}@example.com")
        await store.add_client(replace(client, created_at=T0 + timedelta(seconds=i)), "hash")

    tie = replace(a_client("b9", "tie@example.com"), created_at=T0 + timedelta(seconds=2))
    await store.add_client(tie, "hash")  # same moment as c2: the id breaks the tie

    first = await store.list_clients(ClientQuery(limit=2))
    after = (first[-1].created_at, first[-1].id)
    rest = await store.list_clients(ClientQuery(limit=10, after=after))

    assert [c.id for c in first] == ["c0", "c1"]
    assert [c.id for c in rest] == ["b9", "c2", "c3", "c4"]
    last = await store.list_clients(ClientQuery(limit=10, after=(rest[1].created_at, "b9")))
    assert [c.id for c in last] == ["c2", "c3", "c4"]


async def test_clients_are_filtered_by_email_prefix_suspension_and_kind(
    store: Store,
) -> None:
    await store.add_client(a_client("c1", "Ada@Example.com"), "hash")
    await store.add_client(replace(a_client("c2", "a_b@example.com"), kind="service"), None)
    await store.add_client(a_client("c3", "axb@example.com"), "hash")
    await store.set_suspended("c3", Suspension(True, T0))

    async def ids(**query: object) -> list[str]:
        return [c.id for c in await store.list_clients(ClientQuery(limit=10, **query))]  # type: ignore[arg-type]

    assert await ids(email_prefix="ada@") == ["c1"]
    assert await ids(email_prefix="a_") == ["c2"]  # _ is a character here, not a wildcard
    assert await ids(email_prefix="a%") == []
    assert await ids(suspended=True) == ["c3"]
    assert await ids(suspended=False, kind="user") == ["c1"]
    assert await ids(kind="service") == ["c2"]


async def test_the_outbox_is_leased_released_and_completed_into_a_tombstone(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session(), "h")
    event = DeletionEvent("e1", "c1", "user", T0)
    await store.delete_client("c1", event)

    claimed = await store.claim_events(T0, T0 + timedelta(seconds=10), 10)
    assert [(p.event, p.attempts) for p in claimed] == [(event, 1)]
    assert await store.claim_events(T0, T0 + timedelta(seconds=10), 10) == []  # leased
    await store.release_events(["e1"])
    assert [p.attempts for p in await store.claim_events(T0, T0, 10)] == [2]
    assert await store.claim_events(T0, T0, 10) != []  # an expired lease is taken again

    await store.complete_event(event, T0)
    await store.complete_event(event, T0)  # a second relay finishing too changes nothing

    assert await store.pending_events(10) == []
    assert await store.get_session("s1") is None
    assert await store.delete_client("c1", event) == "already_deleted"
    await store.add_client(a_client("c9"), "hash")  # the email is free again
    snapshot = await store.revocation_snapshot(T0 - timedelta(minutes=1))
    assert snapshot.deleted_clients == (("c1", T0),)


async def test_stats_count_live_clients_suspensions_sessions_and_backlog(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(replace(a_client("c2", "svc@example.com"), kind="service"), None)
    await store.add_client(a_client("c3", "gone@example.com"), "hash")
    await store.set_suspended("c2", Suspension(True, T0))
    await store.add_session(a_session(), "h")
    await store.delete_client("c3", DeletionEvent("e1", "c3", "user", T0))

    stats = await store.stats(T0)

    assert stats.clients_by_kind == {"user": 1, "service": 1, "guest": 0}
    assert stats.suspended == 1
    assert stats.active_sessions == 1
    assert stats.outbox_backlog == 1


async def test_mail_events_wait_beside_deletions_and_completing_one_purges_nobody(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")
    first, second = (
        a_mail_event("m1", "c1"),
        a_mail_event("m2", "c1", "email-verification-requested"),
    )
    await store.queue_event(first)
    await store.queue_event(second)  # a client may have several
    await store.delete_client("c2", DeletionEvent("e1", "c2", "user", T0 + timedelta(seconds=1)))

    pending = await store.pending_events(10)
    assert [p.event for p in pending] == [
        first,
        second,
        DeletionEvent("e1", "c2", "user", T0 + timedelta(seconds=1)),
    ]
    claimed = await store.claim_events(T0, T0 + timedelta(seconds=10), 10)
    for entry in claimed:
        await store.complete_event(entry.event, T0)

    assert await store.pending_events(10) == []
    assert await store.get_client("c1") is not None  # a mail event's client stays
    assert (await store.stats(T0)).outbox_backlog == 0


async def test_an_account_token_works_once_and_only_for_its_purpose(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_account_token(an_account_token("h1"))
    soon = T0 + timedelta(minutes=1)

    assert (await store.use_account_token("h1", "email-verification", soon)).outcome == "unknown"
    used = await store.use_account_token("h1", "password-reset", soon)
    again = await store.use_account_token("h1", "password-reset", soon)

    assert used.outcome == "used"
    assert used.token is not None
    assert (used.token.client_id, used.token.email_key, used.token.used_at) == (
        "c1",
        "ada@example.com",
        soon,
    )
    assert again.outcome == "spent"
    assert (await store.use_account_token("nope", "password-reset", soon)).outcome == "unknown"


async def test_two_uses_of_one_token_at_once_succeed_once(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_account_token(an_account_token("h1"))

    results = await asyncio.gather(
        *(store.use_account_token("h1", "password-reset", T0) for _ in range(5))
    )

    assert sorted(r.outcome for r in results) == ["spent"] * 4 + ["used"]


async def test_an_expired_token_does_nothing(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_account_token(an_account_token("h1"))

    late = await store.use_account_token("h1", "password-reset", T0 + timedelta(minutes=30))

    assert late.outcome == "expired"
    assert await store.prune_account_tokens(T0 + timedelta(minutes=31)) == 1
    assert (await store.use_account_token("h1", "password-reset", T0)).outcome == "unknown"


async def test_a_new_token_replaces_the_unused_ones_of_its_client_and_purpose(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")
    await store.add_account_token(an_account_token("old"))
    await store.add_account_token(an_account_token("verify", purpose="email-verification"))
    await store.add_account_token(an_account_token("eve", "c2"))
    later = T0 + timedelta(seconds=5)
    await store.add_account_token(an_account_token("new", created_at=later))

    assert (await store.use_account_token("old", "password-reset", later)).outcome == "unknown"
    assert (await store.use_account_token("eve", "password-reset", later)).outcome == "used"
    assert (await store.use_account_token("verify", "email-verification", later)).outcome == "used"
    newest = await store.last_account_token("c1", "password-reset")
    assert newest is not None
    assert newest.token_hash == "new"
    await store.drop_account_tokens("c1", "password-reset")
    assert (await store.use_account_token("new", "password-reset", later)).outcome == "unknown"


async def test_a_deleted_clients_tokens_are_gone(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_account_token(an_account_token("h1"))

    await store.delete_client("c1", DeletionEvent("e1", "c1", "user", T0))

    assert (await store.use_account_token("h1", "password-reset", T0)).outcome == "unknown"


async def test_email_verification_holds_for_one_address(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    later = T0 + timedelta(minutes=1)

    assert (await store.get_client("c1")).email_verified is False  # type: ignore[union-attr]
    assert await store.set_email_verified("c1", "other@example.com", True, later) is None
    verified = await store.set_email_verified("c1", "ada@example.com", True, later)
    assert verified is not None
    assert verified.email_verified is True
    changed = await store.update_profile(
        "c1",
        ProfileChanges(later, {"email": "lovelace@example.com"}, email_verified=False),
    )
    assert changed is not None
    assert changed.email_verified is False
    assert (await store.get_client("c1")) == changed
    assert await store.set_email_verified("gone", "ada@example.com", True, later) is None


async def test_a_guest_becomes_a_user_keeping_its_id(store: Store) -> None:
    guest = replace(a_client("g1", "guest-g1@guest.invalid"), kind="guest", scopes=("cart",))
    await store.add_client(guest, None)
    await store.add_client(a_client("c2", "eve@example.com"), "hash")
    later = T0 + timedelta(minutes=1)

    with pytest.raises(EmailTaken):
        await store.upgrade_guest("g1", "EVE@example.com", "pw", later)
    user = await store.upgrade_guest("g1", "Ada@example.com", "pw", later)
    again = await store.upgrade_guest("g1", "other@example.com", "pw", later)

    assert user is not None
    assert (user.id, user.kind, user.email, user.scopes, user.email_verified) == (
        "g1",
        "user",
        "Ada@example.com",
        (),
        False,
    )
    assert again is None  # a user is no guest any more
    assert await store.upgrade_guest("c2", "x@example.com", "pw", later) is None
    credentials = await store.get_credentials("ada@example.com")
    assert credentials is not None
    assert (credentials.client, credentials.password_hash) == (user, "pw")


async def test_a_session_and_its_client_are_read_together_as_apart(store: Store) -> None:
    later = T0 + timedelta(minutes=1)
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session(), "h0")

    async def both_apart() -> tuple[object, object]:
        session = await store.get_session("s1")
        return session, await store.get_client("c1") if session else None

    pair = await store.session_and_client("s1")
    assert pair == await both_apart()
    assert pair[0] is not None
    assert pair[1] is not None
    assert pair[1].id == "c1"
    await store.set_suspended("c1", Suspension(True, later, "abuse"))
    suspended = await store.session_and_client("s1")
    assert suspended == await both_apart()
    assert suspended[1] is not None
    assert suspended[1].suspended
    await store.revoke_session("s1", later)
    revoked = await store.session_and_client("s1")
    assert revoked[0] is not None
    assert revoked[0].revoked_at == later
    await store.delete_client("c1", DeletionEvent("e1", "c1", "user", later))
    assert (await store.session_and_client("s1"))[1] is None
    assert await store.session_and_client("nobody") == (None, None)
