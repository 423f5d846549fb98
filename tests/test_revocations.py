"""RevocationMirror: O(1) answers, kept only while an old token could still be accepted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway_auth.revocations import RevocationMirror, RevocationSnapshot

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_revoked_sessions_and_deleted_clients_are_refused_for_a_token_lifetime() -> None:
    mirror = RevocationMirror(timedelta(minutes=15))
    mirror.revoke_sessions(["s1"], T0)
    mirror.revoke_client("c2", T0)
    now = T0.timestamp()

    assert mirror.is_revoked("s1", "c1", now)
    assert mirror.is_revoked("s9", "c2", now)
    assert not mirror.is_revoked("s2", "c1", now)
    later = now + 15 * 60 + 31  # past the TTL plus leeway: the tokens have expired anyway
    assert not mirror.is_revoked("s1", "c1", later)


def test_a_snapshot_from_the_store_is_loaded() -> None:
    mirror = RevocationMirror(timedelta(minutes=15))

    mirror.load(
        RevocationSnapshot(
            suspended_clients=frozenset({"c3"}),
            revoked_sessions=(("s1", T0),),
            deleted_clients=(("c2", T0),),
        )
    )

    assert mirror.is_suspended("c3")
    assert mirror.is_revoked("s1", "x", T0.timestamp())
    assert mirror.is_revoked("x", "c2", T0.timestamp())


def test_old_entries_are_pruned_as_the_map_grows() -> None:
    mirror = RevocationMirror(timedelta(minutes=1))
    mirror.revoke_sessions([f"old{i}" for i in range(1000)], T0)

    mirror.revoke_sessions([f"new{i}" for i in range(100)], T0 + timedelta(hours=1))

    assert len(mirror.revoked) == 100
