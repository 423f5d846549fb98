"""RevocationMirror: O(1) answers, deltas, resyncs that never lose a concurrent change."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway_auth.models import Delta, MirrorState, RevocationSnapshot
from gateway_auth.revocation.mirror import RevocationMirror
from tests.support.clock import present

T0 = present()
TTL = timedelta(minutes=15)


def test_revoked_sessions_and_deleted_clients_are_refused_for_a_token_lifetime() -> None:
    mirror = RevocationMirror(TTL)
    mirror.apply(mirror.revocation(["session:s1", "client:c2"], T0))
    now = T0.timestamp()

    assert mirror.is_revoked("s1", "c1", now)
    assert mirror.is_revoked("s9", "c2", now)
    assert not mirror.is_revoked("s2", "c1", now)
    later = now + 15 * 60 + 31  # past the TTL plus leeway: the tokens have expired anyway
    assert not mirror.is_revoked("s1", "c1", later)


def test_an_old_session_entry_does_not_hide_a_later_client_deletion() -> None:
    mirror = RevocationMirror(TTL)
    mirror.apply(mirror.revocation(["session:s1"], T0 - timedelta(hours=1)))  # long expired
    mirror.apply(mirror.revocation(["client:c1"], T0))

    assert mirror.is_revoked("s1", "c1", T0.timestamp())


def test_suspension_comes_and_goes() -> None:
    mirror = RevocationMirror(TTL)

    mirror.apply(Delta("suspend", client_id="c1"))
    assert mirror.is_suspended("c1")
    mirror.apply(Delta("unsuspend", client_id="c1"))
    assert not mirror.is_suspended("c1")


def test_a_store_snapshot_becomes_a_state_with_expiries() -> None:
    state = MirrorState.from_snapshot(
        RevocationSnapshot(
            suspended_clients=frozenset({"c3"}),
            revoked_sessions=(("s1", T0),),
            deleted_clients=(("c2", T0),),
        ),
        retention=100.0,
    )

    assert state.suspended == {"c3"}
    assert state.revoked == {"session:s1": T0.timestamp() + 100, "client:c2": T0.timestamp() + 100}


def test_a_resync_replaces_suspensions_but_never_forgets_a_revocation() -> None:
    mirror = RevocationMirror(TTL)
    mirror.apply(Delta("suspend", client_id="lifted-elsewhere"))
    mirror.apply(mirror.revocation(["session:local"], T0))
    mirror.begin_resync()

    mirror.finish_resync(MirrorState(frozenset({"c9"}), {"session:remote": 9e12}), 5.0)

    assert mirror.suspended == {"c9"}
    assert mirror.is_revoked("local", "x", T0.timestamp())
    assert mirror.is_revoked("remote", "x", T0.timestamp())
    assert mirror.age(7.0) == 2.0


def test_changes_arriving_while_a_resync_reads_older_state_survive_it() -> None:
    mirror = RevocationMirror(TTL)
    mirror.begin_resync()
    mirror.apply(Delta("suspend", client_id="c1"))  # arrives after the source was read

    mirror.finish_resync(MirrorState(), 1.0)

    assert mirror.is_suspended("c1")


def test_a_failed_resync_keeps_the_state_and_its_age() -> None:
    mirror = RevocationMirror(TTL)
    mirror.begin_resync()
    mirror.finish_resync(MirrorState(frozenset({"c1"})), 1.0)
    mirror.begin_resync()

    mirror.abort_resync()

    assert mirror.is_suspended("c1")
    assert mirror.age(31.0) == 30.0
    assert RevocationMirror(TTL).age(1.0) is None


def test_old_entries_are_pruned_as_the_map_grows() -> None:
    mirror = RevocationMirror(timedelta(minutes=1))
    mirror.apply(mirror.revocation([f"session:old{i}" for i in range(1000)], T0))

    mirror.apply(
        mirror.revocation([f"session:new{i}" for i in range(100)], T0 + timedelta(hours=1))
    )

    assert len(mirror.revoked) == 100


@pytest.mark.parametrize(
    "delta",
    [
        Delta("suspend", client_id="c1"),
        Delta("unsuspend", client_id="c1"),
        Delta("revoke", keys=("session:a", "client:b"), until=1.5),
    ],
)
def test_deltas_survive_their_json_form(delta: Delta) -> None:
    assert Delta.from_json(delta.to_json()) == delta


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"op": "explode", "clientId": "c"}',
        b'{"op": "suspend"}',
        b'{"op": "suspend", "clientId": ""}',
        b'{"op": "suspend", "clientId": 5}',
        b'{"op": "revoke", "keys": [], "until": 1}',
        b'{"op": "revoke", "keys": ["other:x"], "until": 1}',
        b'{"op": "revoke", "keys": ["session:x"], "until": "1"}',
        b'{"op": "revoke", "keys": ["session:x"], "until": true}',
        b'{"op": "revoke", "keys": "session:x", "until": 1}',
    ],
)
def test_malformed_deltas_are_refused(raw: bytes) -> None:
    assert Delta.from_json(raw) is None
