"""Several real server processes sharing one redis-server and one store.

Instance A is one process; instance B runs WORKERS=2 (two processes on one port through
SO_REUSEPORT), so every check below also holds whichever worker the kernel picks.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_lib

from tests.support.credentials import PASSWORD
from tests.support.instances import call, gateway_auth_cli, login, statuses, wait_until
from tests.support.processes import RedisServer, server_environment, start_server, stop_server
from tests.support.waiting import until

PROPAGATION = 0.1  # DESIGN: enforced at every other instance within 100 ms


@dataclass
class Cluster:
    a: int
    b: int
    settings: dict[str, str]
    cwd: Path


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[Cluster]:
    settings = {
        "DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": redis_server.url,
        "MAX_STALENESS": "2s",
        "COOKIE_SECURE": "false",
    }
    port_a, a = start_server(tmp_path, **settings)
    port_b, b = start_server(tmp_path, **settings, WORKERS="2")
    yield Cluster(port_a, port_b, settings, tmp_path)
    stop_server(a)
    stop_server(b)


def test_logout_and_suspension_through_one_instance_bite_at_the_other_within_100_ms(
    cluster: Cluster,
) -> None:
    cookie = login(cluster.a, "ada@example.com")
    assert statuses(cluster.b, cookie) == {200}
    client_id = call(cluster.b, "GET", "/verify", cookie=cookie)[1]["X-Auth-User-Id"]

    gateway_auth_cli(cluster.settings, "clients", "suspend", client_id)
    time.sleep(PROPAGATION)
    assert statuses(cluster.a, cookie) == {403}
    assert statuses(cluster.b, cookie) == {403}

    gateway_auth_cli(cluster.settings, "clients", "unsuspend", client_id)
    time.sleep(PROPAGATION)
    assert statuses(cluster.b, cookie) == {200}

    assert call(cluster.a, "POST", "/logout", cookie=cookie)[0] == 204
    time.sleep(PROPAGATION)
    assert statuses(cluster.b, cookie) == {401}


def test_losing_redis_serves_from_the_mirror_then_fails_closed_then_recovers(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    good = login(cluster.a, "ada@example.com")
    bad = login(cluster.a, "eve@example.com")
    bad_id = call(cluster.a, "GET", "/verify", cookie=bad)[1]["X-Auth-User-Id"]
    gateway_auth_cli(cluster.settings, "clients", "suspend", bad_id)
    time.sleep(PROPAGATION)

    redis_server.stop()
    assert statuses(cluster.b, good) == {200}  # served from the mirror
    assert statuses(cluster.b, bad) == {403}
    wait_until(cluster.b, good, 503, within=5)  # MAX_STALENESS=2s: fail closed, never open
    assert call(cluster.b, "GET", "/readyz")[0] == 503

    redis_server.start()  # empty: no persistence
    wait_until(cluster.b, good, 200, within=10)
    wait_until(cluster.a, good, 200, within=10)
    assert statuses(cluster.b, bad) == {403}  # rebuilt from the store, not believed empty
    assert call(cluster.b, "GET", "/readyz")[0] == 200


def test_workers_drain_in_flight_requests_on_sigterm(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    port, process = start_server(
        tmp_path, REDIS_URL=redis_server.url, WORKERS="2", BCRYPT_ROUNDS="13"
    )
    results: list[int] = []
    slow_login = threading.Thread(
        target=lambda: results.append(
            call(port, "POST", "/login", {"email": "nobody@example.com", "password": PASSWORD})[0]
        )
    )
    slow_login.start()
    time.sleep(0.2)  # the dummy bcrypt check at cost 13 is under way

    os.kill(process.pid, signal.SIGTERM)
    slow_login.join(30)
    process.wait(30)

    assert results == [401]  # answered, not cut off
    assert process.returncode == 0, stop_server(process)


def test_workers_refuse_to_start_without_redis(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway_auth", "serve"],
        check=False,
        env=server_environment(WORKERS="2", DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "more than one worker needs GATEWAY_AUTH_REDIS_URL" in result.stderr


def test_guesses_spread_over_instances_lock_the_account_everywhere_until_the_cli_lifts_it(
    cluster: Cluster,
) -> None:
    # Counted in Redis: N instances (and workers) do not give N times the guesses.
    _, _, body = call(
        cluster.a, "POST", "/register", {"email": "ada@example.com", "password": PASSWORD}
    )
    client_id = json.loads(body)["id"]
    wrong = {"email": "ada@example.com", "password": "not the password"}
    for n in range(10):
        assert call(cluster.a if n % 2 else cluster.b, "POST", "/login", wrong)[0] == 401

    right = {"email": "ada@example.com", "password": PASSWORD}
    assert call(cluster.a, "POST", "/login", right)[0] == 429
    assert call(cluster.b, "POST", "/login", right)[0] == 429

    gateway_auth_cli(cluster.settings, "clients", "unlock", client_id)
    assert call(cluster.b, "POST", "/login", right)[0] == 200


@pytest.mark.parametrize("loss", ["del", "flushall"])
def test_losing_redis_state_under_load_readmits_no_suspended_client(
    cluster: Cluster, redis_server: RedisServer, loss: str
) -> None:
    cookie = login(cluster.a, "ada@example.com")
    client_id = call(cluster.b, "GET", "/verify", cookie=cookie)[1]["X-Auth-User-Id"]
    gateway_auth_cli(cluster.settings, "clients", "suspend", client_id)
    wait_until(cluster.b, cookie, 403, within=2)

    redis = redis_lib.Redis.from_url(redis_server.url)
    try:
        if loss == "del":
            redis.delete("gateway-auth:suspended")
        else:
            redis.flushall()
    finally:
        redis.close()

    # Across more than one resync (5 s), at every instance and worker: still refused.
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert statuses(cluster.a, cookie, 2) == {403}
        assert statuses(cluster.b, cookie, 2) == {403}
        time.sleep(0.1)


def service_admin(settings: dict[str, str], email: str, port: int) -> tuple[str, str]:
    """A service client holding admin, made with the CLI: its id and a bearer token."""
    created = subprocess.run(
        [sys.executable, "-m", "gateway_auth", "clients", "create", "--kind", "service",
         "--email", email, "--scope", "admin"],
        env=server_environment(**settings), check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    client = json.loads(created.stdout)
    form = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/token", data=form, method="POST")
    secret = base64.b64encode(f"{client['id']}:{client['clientSecret']}".encode()).decode()
    request.add_header("Authorization", f"Basic {secret}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http only
        return client["id"], json.loads(response.read())["access_token"]


def as_admin(port: int, token: str, method: str, path: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http only
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_two_admins_suspending_each_other_on_two_instances_leave_one_admin(
    cluster: Cluster,
) -> None:
    one, one_token = service_admin(cluster.settings, "one@example.com", cluster.a)
    two, two_token = service_admin(cluster.settings, "two@example.com", cluster.b)
    for _ in range(20):
        start = threading.Barrier(2)
        answers: dict[str, int] = {}

        def suspend(port: int, token: str, target: str, start: threading.Barrier = start,
                    answers: dict[str, int] = answers) -> None:  # fmt: skip
            start.wait(10)
            answers[target] = as_admin(port, token, "PUT", f"/admin/clients/{target}/suspension")

        racers = [
            threading.Thread(target=suspend, args=(cluster.a, one_token, two)),
            threading.Thread(target=suspend, args=(cluster.b, two_token, one)),
        ]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)

        # One suspension stands. The other is refused: 409 last-admin when both passed the
        # admin check at once (the store decides), 403 when the first had already bitten.
        assert sorted(answers.values()) in ([200, 403], [200, 409]), answers
        kept, kept_token, port = (one, one_token, cluster.a) if answers[two] == 200 else (
            two, two_token, cluster.b)  # fmt: skip
        lost = two if kept == one else one
        assert as_admin(port, kept_token, "DELETE", f"/admin/clients/{lost}/suspension") == 200


def descendants(pid: int) -> set[int]:
    """Every live process started by ``pid``, its children's children included (read from
    /proc, where a re-parented orphan still shows its own pid)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, parent = stat.rsplit(")", 1)[1].split()[:2]
            if state != "Z":
                parents[int(entry.name)] = int(parent)
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc (Linux)")
def test_workers_stop_when_their_supervisor_is_killed_outright(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    port, supervisor = start_server(tmp_path, REDIS_URL=redis_server.url, WORKERS="2")
    workers = descendants(supervisor.pid)
    assert len(workers) >= 2  # two workers (and multiprocessing's resource tracker)

    supervisor.kill()  # SIGKILL: no chance to pass SIGTERM on
    supervisor.wait(10)

    # Each notices at once, drains and exits: nothing keeps serving (or spinning) unsupervised.
    until(lambda: not alive(workers), within=15, what="every worker to exit")
    with pytest.raises(urllib.error.URLError):  # refused: nobody listens
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    log = (tmp_path / f"server-{port}.log").read_text()
    assert "worker_exited" not in log  # none was restarted or died of it
