"""``make soak MODE=faults``: /verify under steady load and a trickle of sign-ins while the
things around gateway-auth fail, as they do in production: Redis restarts empty, the Sentinel
primary is killed (the replica is promoted), and the rules file changes under SIGHUP every
two seconds. Reports what should never happen, each with a target of 0:

- ``verify_non_2xx``: a signed-in client refused (a /verify answer other than 200);
- ``suspensions_lapsed``: a suspended client let through, checked five times a second;

and the resident memory and open descriptors of the server at the start and at the end.
Sign-ins that fail while Redis has no primary are counted, not targeted: they need Redis for
their guess counting and say 503. Writes ``benchmarks/results/soak-faults.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import (
    HERE,
    PASSWORD,
    SECRET,
    gateway,
    gateway_environ,
    listener_pid,
    rss_kb,
    run_wrk,
)

from tests.support.processes import RedisServer, SentinelCluster

SECONDS = int(os.environ.get("SOAK_FAULT_SECONDS", "60"))
RELOAD_EVERY = 2.0
PROBE_EVERY = 0.2
APP_URL = "http://app.example/orders"
RULES = """\
default_policy: authenticated
rules:
  - {name: health, paths: [/health], policy: bypass}
"""


def run(wrk: str) -> int:
    """The fault soak; its report on standard output and in results/soak-faults.json."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        rules = directory / "rules.yaml"
        rules.write_text(RULES)
        cluster = SentinelCluster(directory / "redis")
        cluster.start()
        try:
            env = {
                "REDIS_URL": cluster.url,
                "JWT_SECRET": SECRET,
                "RULES_FILE": str(rules),
                "TRUSTED_PROXIES": "127.0.0.1/32",
            }
            with gateway(directory / "data", env) as (port, cookie):
                report = _soak(
                    wrk,
                    port=port,
                    cookie=cookie,
                    cluster=cluster,
                    rules=rules,
                    directory=directory,
                    env=env,
                )
        finally:
            cluster.stop()
    out = HERE / "results" / "soak-faults.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"\nwritten to {out.relative_to(HERE.parent)}")
    return 0


def _soak(
    wrk: str,
    *,
    port: int,
    cookie: str,
    cluster: SentinelCluster,
    rules: Path,
    directory: Path,
    env: dict[str, str],
) -> dict[str, object]:
    pid = listener_pid(port)
    if pid is None:
        sys.exit(f"no process listens on port {port}")
    suspended = _signed_in(port, "suspended@example.com")
    _cli(directory, port, env, "clients", "suspend", "suspended@example.com")
    start = _usage(pid)
    stop = threading.Event()
    counts = {"probes": 0, "suspensions_lapsed": 0, "logins": 0, "logins_failed": 0}
    faults: list[str] = []
    helpers = [
        threading.Thread(target=_probe, args=(port, suspended, stop, counts)),
        threading.Thread(target=_logins, args=(port, stop, counts)),
        threading.Thread(target=_reloads, args=(pid, rules, stop, faults)),
        threading.Thread(target=_redis_faults, args=(cluster, stop, faults)),
    ]
    for helper in helpers:
        helper.start()
    try:
        load = run_wrk(
            wrk,
            "soak_faults",
            f"http://127.0.0.1:{port}/verify",
            script="report.lua",
            headers=[f"Cookie: {cookie}", f"X-Original-URL: {APP_URL}"],
            env={},
            duration=SECONDS,
        )
    finally:
        stop.set()
        for helper in helpers:
            helper.join(60)
    end = _usage(pid)
    return {
        "seconds": SECONDS,
        "faults": faults,
        "verify": {
            "requests_per_s": load.requests_per_s,
            "p99_ms": load.p99_ms,
            "socket_errors": load.socket_errors,
        },
        "verify_non_2xx": load.non_2xx,
        "suspensions_lapsed": counts["suspensions_lapsed"],
        "suspension_probes": counts["probes"],
        "logins": counts["logins"],
        "logins_failed": counts["logins_failed"],
        "start": start,
        "end": end,
        "rss_growth_kb": end["rss_kb"] - start["rss_kb"],
        "fd_growth": end["open_fds"] - start["open_fds"],
    }


def _usage(pid: int) -> dict[str, int]:
    return {"rss_kb": rss_kb(pid), "open_fds": len(os.listdir(f"/proc/{pid}/fd"))}


def _cli(directory: Path, port: int, env: dict[str, str], *args: str) -> None:
    environ = gateway_environ(directory / "data", port, env)
    command = [sys.executable, "-m", "gateway_auth", *args]
    subprocess.run(command, env=environ, check=True, capture_output=True, timeout=60)


def _status(port: int, cookie: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/verify")
    request.add_header("Cookie", cookie)
    request.add_header("X-Original-URL", APP_URL)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _probe(port: int, cookie: str, stop: threading.Event, counts: dict[str, int]) -> None:
    """The suspended client asks all along: any 200 is a suspension that lapsed."""
    while not stop.wait(PROBE_EVERY):
        counts["probes"] += 1
        if _status(port, cookie) == 200:
            counts["suspensions_lapsed"] += 1


def _signed_in(port: int, email: str) -> str:
    """Register ``email`` and sign it in; its access cookie (``name=value``)."""
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    cookie = ""
    for path in ("/register", "/login"):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            cookie = response.headers.get("Set-Cookie", "")
    return cookie.split(";")[0]


def _logins(port: int, stop: threading.Event, counts: dict[str, int]) -> None:
    body = json.dumps({"email": "bench@example.com", "password": PASSWORD}).encode()
    while not stop.wait(0.5):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/login", data=body)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30):
                counts["logins"] += 1
        except (urllib.error.URLError, OSError):
            counts["logins_failed"] += 1


def _reloads(pid: int, rules: Path, stop: threading.Event, faults: list[str]) -> None:
    """A changed rules file and SIGHUP every RELOAD_EVERY seconds (the new rule never matches
    the load's path, so its answers must not change)."""
    generation = 0
    while not stop.wait(RELOAD_EVERY):
        generation += 1
        extra = f"  - {{name: reload-{generation}, paths: [/never-{generation}], policy: deny}}\n"
        rules.write_text(RULES + (extra if generation % 2 else ""))
        os.kill(pid, signal.SIGHUP)
    faults.append(f"{generation} rules reloads (SIGHUP)")


def _redis_faults(cluster: SentinelCluster, stop: threading.Event, faults: list[str]) -> None:
    """A fifth of the way in, the primary restarts empty; at half-way it is killed for good
    and the sentinels promote the replica."""
    if stop.wait(SECONDS * 0.2):
        return
    primary = _server_on(cluster, cluster.primary_port())
    primary.stop()
    primary.start()  # empty: it keeps nothing on disk
    faults.append(f"{time.strftime('%H:%M:%S')} Redis primary restarted empty")
    if stop.wait(SECONDS * 0.3):
        return
    old = cluster.primary_port()
    _server_on(cluster, old).stop()
    faults.append(f"{time.strftime('%H:%M:%S')} Redis primary killed")
    cluster.wait(lambda: cluster.primary_port() != old, "a new primary", within=60)
    faults.append(f"{time.strftime('%H:%M:%S')} the replica promoted")


def _server_on(cluster: SentinelCluster, port: int) -> RedisServer:
    return cluster.primary if cluster.primary.port == port else cluster.replica
