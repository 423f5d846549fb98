"""Redis behind Sentinel: a real primary, a replica and three sentinels. The primary is killed
under /verify load and during a deletion; every instance follows the promoted replica without
a restart, no event is lost, and no suspension lapses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from gateway_auth.errors import StoreUnavailable
from gateway_auth.stores.redis import RedisRevocationBus
from gateway_auth.stores.redis_events import stream_key
from tests.support.instances import call, gateway_auth_cli, login, statuses
from tests.support.processes import SentinelCluster, start_server, stop_server
from tests.support.tls import make_tls_files
from tests.support.waiting import until

STREAM = stream_key("client-data-deletion-request")


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelCluster]:
    cluster = SentinelCluster(tmp_path / "redis")
    cluster.start()
    yield cluster
    cluster.stop()


def test_every_instance_follows_a_failover_and_nothing_lapses_or_is_lost(
    tmp_path: Path, sentinels: SentinelCluster
) -> None:
    settings = {
        "DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": sentinels.url,
        "COOKIE_SECURE": "false",
        "RATE_LIMIT_PER_IP": "100000/minute",
    }
    port_a, a = start_server(tmp_path, **settings)
    port_b, b = start_server(tmp_path, **settings, WORKERS="2")
    try:
        ada = login(port_a, "ada@example.com")
        eve = login(port_a, "eve@example.com")
        leaver = login(port_b, "leaver@example.com")
        eve_id = call(port_a, "GET", "/verify", cookie=eve)[1]["X-Auth-User-Id"]
        ada_id = call(port_a, "GET", "/verify", cookie=ada)[1]["X-Auth-User-Id"]
        gateway_auth_cli(settings, "clients", "suspend", eve_id)
        for port in (port_a, port_b):
            assert statuses(port, eve, 4) == {403}
            assert statuses(port, ada, 4) == {200}

        seen: dict[str, set[int]] = {"ada": set(), "eve": set()}
        stop = threading.Event()

        def load() -> None:  # /verify traffic throughout the failover, at both instances
            while not stop.is_set():
                for port in (port_a, port_b):
                    seen["ada"].add(call(port, "GET", "/verify", cookie=ada)[0])
                    seen["eve"].add(call(port, "GET", "/verify", cookie=eve)[0])

        traffic = threading.Thread(target=load)
        traffic.start()
        old_primary = sentinels.primary.port
        sentinels.primary.stop()  # killed: the sentinels promote the replica
        # A deletion while Redis has no primary: its event waits in the outbox.
        assert call(port_b, "DELETE", "/me", cookie=leaver)[0] == 204
        sentinels.wait(lambda: sentinels.primary_port() != old_primary, "a new primary")
        new_primary = redis_sync.Redis(port=sentinels.primary_port(), socket_timeout=2)

        # The new primary carries changes to every instance and worker, as the old one did.
        gateway_auth_cli(settings, "clients", "suspend", ada_id)
        until(
            lambda: {*statuses(port_a, ada, 4), *statuses(port_b, ada, 4)} == {403},
            within=15,
            what="a suspension after the failover",
        )
        stop.set()
        traffic.join(30)

        entries = until(
            lambda: new_primary.xrange(STREAM), within=30, what="the deletion event on the stream"
        )
        new_primary.close()
    finally:
        stop_server(a)
        stop_server(b)

    assert seen["eve"] == {403}  # the suspension never lapsed
    assert seen["ada"] <= {200, 403}  # served all along (403 once suspended)
    events = [json.loads(fields[b"event"]) for _, fields in entries if fields]
    assert [e["type"] for e in events] == ["client-data-deletion-request"]


def test_tls_to_the_sentinels_and_the_primary_follows_a_failover(tmp_path: Path) -> None:
    """rediss+sentinel://: every sentinel, the primary and the replica speak TLS only."""
    tls = make_tls_files(tmp_path / "tls")
    sentinels = SentinelCluster(tmp_path / "redis", tls=tls)
    sentinels.start()
    settings = {
        "DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": sentinels.url,
        "COOKIE_SECURE": "false",
    }
    port, server = start_server(tmp_path, **settings)
    try:
        ada = login(port, "ada@example.com")
        eve = login(port, "eve@example.com")
        ada_id = call(port, "GET", "/verify", cookie=ada)[1]["X-Auth-User-Id"]
        eve_id = call(port, "GET", "/verify", cookie=eve)[1]["X-Auth-User-Id"]
        ready = call(port, "GET", "/readyz")

        gateway_auth_cli(settings, "clients", "suspend", eve_id)  # through Redis, over TLS
        until(lambda: statuses(port, eve, 4) == {403}, within=10, what="eve's suspension")
        old_primary = sentinels.primary.port
        sentinels.primary.stop()
        sentinels.wait(lambda: sentinels.primary_port() != old_primary, "a new primary")
        gateway_auth_cli(settings, "clients", "suspend", ada_id)
        until(lambda: statuses(port, ada, 4) == {403}, within=15, what="a suspension after it")
    finally:
        stop_server(server)
        sentinels.stop()

    assert ready[0] == 200
    assert json.loads(ready[2])["checks"]["revocations"] == "ok"  # subscribed, over TLS


async def test_a_sentinel_url_with_another_authority_is_refused_by_tls(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    stranger = make_tls_files(tmp_path / "other", name="someone else")
    sentinels = SentinelCluster(tmp_path / "redis", tls=tls)
    sentinels.start()
    try:
        trusted = RedisRevocationBus.from_url(sentinels.url)
        wrong = RedisRevocationBus.from_url(sentinels.url.replace(str(tls.ca), str(stranger.ca)))
        try:
            await trusted.ping()
            with pytest.raises(StoreUnavailable):
                await wrong.ping()
        finally:
            for bus in (trusted, wrong):
                await bus.close()
    finally:
        sentinels.stop()
