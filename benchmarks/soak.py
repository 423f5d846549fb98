"""``make soak``: a million /verify requests and a steady trickle of logins against one server
(Redis-backed), with resident memory, open file descriptors and p99 latency reported at the
start and at the end. A leak shows as growth between the two; nothing here is a pass/fail
threshold, because the machine is shared and noisy. Writes ``benchmarks/results/soak.json``.
``make soak MODE=faults`` runs ``faults.py`` instead: the same load while Redis fails.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import faults
from harness import (
    HERE,
    PASSWORD,
    SECRET,
    ensure_wrk,
    gateway,
    listener_pid,
    load,
    redis_server,
    rss_kb,
)

REQUESTS = int(os.environ.get("SOAK_REQUESTS", "1000000"))
LOGIN_EVERY = 0.5  # seconds between logins: a steady trickle, each a full bcrypt check


def main() -> int:
    wrk = ensure_wrk()
    if sys.argv[1:] == ["--mode", "faults"]:
        return faults.run(wrk)
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        env = {"REDIS_URL": redis_url, "JWT_SECRET": SECRET}
        with gateway(Path(tmp) / "soak", env) as (port, cookie):
            pid = listener_pid(port)
            if pid is None:
                sys.exit(f"no process listens on port {port}")
            stop = threading.Event()
            logins = threading.Thread(target=trickle_logins, args=(port, stop), daemon=True)
            logins.start()
            try:
                start = measure(wrk, port, cookie, pid, "start")
                # Long enough for REQUESTS even if the rate sags by a quarter meanwhile.
                bulk = load(
                    wrk,
                    "soak_bulk",
                    port,
                    cookie,
                    requests=REQUESTS,
                    rps=0.75 * start["requests_per_s"],
                )
                bulk_seconds = int(REQUESTS / max(0.75 * start["requests_per_s"], 1)) + 1
                end = measure(wrk, port, cookie, pid, "end")
            finally:
                stop.set()
                logins.join(10)
    report = {
        "verify_requests": bulk.requests_per_s * bulk_seconds,
        "bulk": {
            "requests_per_s": bulk.requests_per_s,
            "p99_ms": bulk.p99_ms,
            "non_2xx": bulk.non_2xx,
            "socket_errors": bulk.socket_errors,
        },
        "start": start,
        "end": end,
        "logins": LOGIN_COUNT[0],
        "rss_growth_kb": end["rss_kb"] - start["rss_kb"],
        "fd_growth": end["open_fds"] - start["open_fds"],
    }
    out = HERE / "results" / "soak.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"\nwritten to {out.relative_to(HERE.parent)}")
    return 0


LOGIN_COUNT = [0]


def trickle_logins(port: int, stop: threading.Event) -> None:
    body = json.dumps({"email": "bench@example.com", "password": PASSWORD}).encode()
    while not stop.wait(LOGIN_EVERY):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/login", data=body)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30):
                LOGIN_COUNT[0] += 1
        except (urllib.error.URLError, OSError):
            pass


def measure(wrk: str, port: int, cookie: str, pid: int, name: str) -> dict[str, float]:
    run = load(wrk, f"soak_{name}", port, cookie, requests=0)
    return {
        "requests_per_s": run.requests_per_s,
        "p99_ms": run.p99_ms,
        "rss_kb": rss_kb(pid),
        "open_fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


if __name__ == "__main__":
    sys.exit(main())
