"""What the benchmarks start and measure with: servers on free ports (the tests' own process
helpers), wrk runs and their figures, and the resident memory of a listener.

``run.py`` (``make bench``), ``compare.py`` (two trees side by side) and ``soak.py`` use these.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the tests' process helpers: one way to start each program

from gateway_auth.signin.passwords import (  # noqa: E402
    HASHING_NICENESS,
    QUEUE_PER_WORKER,
    default_workers,
)
from tests.support.processes import (  # noqa: E402 - after the path above
    accepts,
    free_port,
    nginx_main,
    redis_command,
    spawned,
)

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNECTIONS = 64
SECRET = "QmT0bX3n7Vh2Lw9Ea5RsYk1Zc8Pf4Ju6Dg0Hi3No"  # a fixed, random-looking key
PASSWORD = "correct horse battery staple"
READY_WITHIN = 30.0


@dataclass
class Run:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def median_run(runs: list[Run]) -> Run:
    """Each figure's median over the rounds."""
    return Run(
        runs[0].name,
        requests_per_s=statistics.median(r.requests_per_s for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        non_2xx=sum(r.non_2xx for r in runs),
        socket_errors=sum(r.socket_errors for r in runs),
    )


def ensure_wrk() -> str:
    return ensure("wrk", "wrk")


def ensure(command: str, package: str) -> str:
    """The path of ``command``, installed with apt (as root) when it is missing."""
    where = f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/local/sbin"
    path = shutil.which(command, path=where)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)
        return shutil.which(command, path=where) or sys.exit(f"{package} did not install")
    sys.exit(f"make bench needs {command}: install it with your package manager ({package})")


def wait_ready(port: int, path: str = "/verify") -> None:
    """Until the server on ``port`` answers ``path`` (any status)."""
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).close()
        except urllib.error.HTTPError:
            return  # it answers, with an error status: ready all the same
        except OSError:
            time.sleep(0.1)
        else:
            return
    sys.exit(f"nothing answered on port {port}")


@contextmanager
def server(
    command: list[str],
    env: dict[str, str] | None = None,
    port: int | None = None,
    ready: str = "/verify",
    cwd: Path | None = None,
) -> Iterator[int]:
    """``command`` (``{port}`` in it replaced) listening on ``port``, once ``ready`` answers."""
    port = port or free_port()
    with spawned(
        [part.replace("{port}", str(port)) for part in command],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        start_new_session=True,  # WORKERS are stopped with their supervisor
    ):
        wait_ready(port, ready)
        yield port


@contextmanager
def servers(command: list[str], count: int) -> Iterator[int]:
    """Two copies of ``command`` sharing one port (SO_REUSEPORT)."""
    port = free_port()
    with server(command, port=port), server(command, port=port):
        yield port


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A redis-server of the benchmark's own; its URL."""
    port = free_port()
    binary = ensure("redis-server", "redis-server")
    command = redis_command(binary, port, directory)
    with spawned(command, stdout=subprocess.DEVNULL):
        deadline = time.monotonic() + READY_WITHIN
        while not accepts(port):
            if time.monotonic() > deadline:
                sys.exit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def gateway(
    data_dir: Path, env: dict[str, str], *, tree: Path | None = None
) -> Iterator[tuple[int, str]]:
    """``gateway-auth serve`` on a free port, and a signed-in access cookie; ``tree`` runs
    another checkout's code on this environment's dependencies."""
    port = free_port()
    environ = gateway_environ(data_dir, port, env, tree)
    base = env.get("BASE_PATH", "")
    command = [sys.executable, "-m", "gateway_auth", "serve"]
    with server(command, environ, port=port, ready=f"{base}/healthz", cwd=tree):
        yield port, login(port, base)


def gateway_environ(
    data_dir: Path, port: int, env: dict[str, str], tree: Path | None = None
) -> dict[str, str]:
    """The environment of a benchmark's gateway-auth (its server, or a command on its store)."""
    settings = {
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "COOKIE_SECURE": "false",
        "LOG_FORMAT": "json",
        # The login load comes from one address: let it hash, as logins from many would.
        "RATE_LIMIT_PER_IP": "100000000/minute",
        **env,
    }
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_AUTH_")}
    environ |= {f"GATEWAY_AUTH_{k}": v for k, v in settings.items()}
    if tree is not None:
        environ["PYTHONPATH"] = str(tree)
    return environ


@contextmanager
def nginx_sites(directory: Path) -> Iterator[tuple[int, int]]:
    """nginx answering ``return 200`` (the machine's ceiling, and the upstream of the rest) and
    a plain proxy to it, with nothing in between."""
    binary = ensure("nginx", "nginx-light")
    directory.mkdir()
    static, proxied = free_port(), free_port()
    sites = f"""
    upstream static {{ server 127.0.0.1:{static}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{static};
        location / {{ return 200; }}
    }}
    server {{
        listen 127.0.0.1:{proxied};
        location / {{
            proxy_pass http://static;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""
    conf = directory / "nginx.conf"
    conf.write_text(nginx_main(directory, sites, level="error"))
    command = [binary, "-c", str(conf), "-p", str(directory), "-e", str(directory / "error.log")]
    with spawned(command, start_new_session=True):
        for port in (static, proxied):
            wait_ready(port, "/")
        yield static, proxied


def login(port: int, base: str = "") -> str:
    """Register and sign in bench@example.com; its access cookie (``name=value``)."""
    body = json.dumps({"email": "bench@example.com", "password": PASSWORD}).encode()
    cookie = ""
    for path in ("/register", "/login"):
        url = f"http://127.0.0.1:{port}{base}{path}"
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                cookie = response.headers.get("Set-Cookie", "")
        except urllib.error.HTTPError:
            cookie = ""
    return cookie.split(";")[0]


def load(
    wrk: str,
    name: str,
    port: int,
    cookie: str,
    *,
    tokens: Path | None = None,
    path: str = "/verify",
    requests: int = 0,
    rps: float = 0,
    headers: str = "",
) -> Run:
    """wrk against ``path``: with ``cookie`` on every request, or the next of ``tokens`` (and
    then ``headers``, raw lines, too)."""
    duration = max(DURATION, int(requests / max(rps, 1)) + 1) if requests else DURATION
    script = "tokens.lua" if tokens else "report.lua"
    env = {"BENCH_TOKENS": str(tokens), "BENCH_HEADERS": headers} if tokens else {}
    lines = [f"Cookie: {cookie}"] if cookie else []
    url = f"http://127.0.0.1:{port}{path}"
    return run_wrk(wrk, name, url, script=script, headers=lines, env=env, duration=duration)


def run_wrk(
    wrk: str,
    name: str,
    url: str,
    *,
    script: str,
    headers: list[str],
    env: dict[str, str],
    duration: int = DURATION,
) -> Run:
    """One wrk run against ``url`` with ``script`` (in this directory), the header lines
    ``headers`` and the scripts' settings ``env``; its figures, as ``name``."""
    command = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency"]
    command += ["-s", str(HERE / script)]
    for header in headers:
        command += ["-H", header]
    environ = {**os.environ, "BENCH_REPORT": str(HERE / "report.lua"), **env}
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, env=environ
    ).stdout
    return parsed(name, output)


def parsed(name: str, output: str) -> Run:
    """The figures in the JSON line report.lua makes wrk print last."""
    data = json.loads(output.strip().splitlines()[-1])
    return Run(
        name,
        requests_per_s=round(data["requests"] / (data["duration_us"] / 1e6)),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["non_2xx"],
        socket_errors=data["socket_errors"],
    )


def load_with_logins(wrk: str, port: int, tokens: Path) -> tuple[Run, Run]:
    """/verify while logins keep the hashing pool busy, and those logins. As many logins are
    in flight as one address may have hashing (a quarter of the pool's places), so every
    worker hashes all the time and none is refused: more would measure a flood of 429s."""
    workers = default_workers()
    concurrent = max(1, workers * (1 + QUEUE_PER_WORKER) // 4)
    command = [
        wrk,
        "-t1",
        f"-c{concurrent}",
        f"-d{DURATION + 2}s",
        "-s",
        str(HERE / "login.lua"),
        f"http://127.0.0.1:{port}/login",
    ]
    environ = {**os.environ, "BENCH_REPORT": str(HERE / "report.lua")}
    with spawned(command, stdout=subprocess.PIPE, text=True, env=environ) as logins:
        time.sleep(1)  # the logins' load under way first: it is what /verify is measured beside
        verify = load(wrk, "verify_during_logins", port, "", tokens=tokens)
        output, _ = logins.communicate()
    return verify, parsed("logins_during_verify", output)


def load_beside_busy_core(wrk: str, port: int, tokens: Path) -> Run:
    """/verify while another process spins on a core at the hashing threads' niceness: what a
    busy second core alone costs on this machine, without any login in gateway-auth."""
    spin = [sys.executable, "-c", f"import os\nos.nice({HASHING_NICENESS})\nwhile True: pass"]
    with spawned(spin):
        return load(wrk, "verify_beside_busy_core", port, "", tokens=tokens)


def rss_of_port(port: int) -> int:
    """Resident memory (kB) of the process listening on ``port``; 0 when none is found."""
    pid = listener_pid(port)
    return rss_kb(pid) if pid else 0


def listener_pid(port: int) -> int | None:
    """The process listening on ``port``, found by its socket's inode."""
    inode_hex = f"{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(":" + inode_hex) and fields[3] == "0A":
                inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if links & inodes:
            return int(pid)
    return None


def rss_kb(pid: int) -> int:
    """Resident memory (kB) of ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(row for row in status.splitlines() if row.startswith("VmRSS")).split()[1])
