"""``make bench``: /verify beside its baselines, every figure a ratio measured in the same run.

Runs, one after another on this machine: the baselines (nginx answering ``return 200``, the
physical ceiling; the bare aiohttp handler; the naive design, a full PyJWT decode and one Redis
SISMEMBER per request), then gateway-auth's /verify on its fast listener: one token, 10,000
distinct tokens round-robin, no token, garbage tokens, while logins hash passwords, beside a
process that keeps the other core busy, on two workers, behind nginx ``auth_request``, and a
million requests over a million distinct tokens to watch memory; and ``/me`` (an ordinary
aiohttp route) with the fast listener off and on.
Prints a table and writes ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tokens import garbage, mint

from gateway_auth.signin.passwords import HASHING_NICENESS, QUEUE_PER_WORKER, default_workers

HERE = Path(__file__).resolve().parent
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNECTIONS = 64
SECRET = "QmT0bX3n7Vh2Lw9Ea5RsYk1Zc8Pf4Ju6Dg0Hi3No"  # a fixed, random-looking key
PASSWORD = "correct horse battery staple"
# A cookie of the length a real access token has, for the baselines, which do not read it.
SAMPLE_COOKIE = "gateway_auth=" + "x" * 485
DISTINCT = 10_000
FORWARDED = (
    "X-Original-URL: http://app.example.com/app/orders/42?tab=items\r\n"
    "X-Original-Method: GET\r\n"
    "X-Forwarded-For: 192.0.2.10\r\n"
)
MILLION = int(os.environ.get("BENCH_MILLION", "1000000"))
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log error;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream static {{ server 127.0.0.1:{static}; keepalive 64; }}
    upstream gateway_auth {{ server 127.0.0.1:{auth}; keepalive 64; }}
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
    }}
    server {{
        listen 127.0.0.1:{checked};
        location / {{
            auth_request /_verify;
            proxy_pass http://static;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location = /_verify {{
            internal;
            proxy_pass http://gateway_auth/verify;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}
    }}
}}
"""


@dataclass
class Run:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def main() -> int:
    wrk = ensure_wrk()
    results: dict[str, Run] = {}
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        work = Path(tmp)
        distinct = mint(DISTINCT, work / "distinct.txt", SECRET)
        junk = garbage(DISTINCT, work / "garbage.txt")
        env = {"REDIS_URL": redis_url, "JWT_SECRET": SECRET, "ACCESS_TOKEN_TTL": "2h"}
        naive_env = {"BENCH_JWT_SECRET": SECRET, "BENCH_REDIS_URL": redis_url}
        plain_env = {**env, "FAST_VERIFY": "false"}
        # The budget's pairs, measured in alternating rounds while every server is up: on a
        # shared, noisy machine a baseline and its subject then meet the same conditions, and
        # each budget ratio is the median of the rounds' ratios.
        with (
            server([sys.executable, str(HERE / "bare.py"), "{port}"]) as bare,
            server([sys.executable, str(HERE / "naive.py"), "{port}"], naive_env) as naive,
            gateway(work / "redis", env) as (port, cookie),
            gateway(work / "plain", plain_env) as (plain, plain_cookie),
            gateway(work / "ruled", {**env, "RULES_FILE": str(fifty_rules(work))}) as (ruled, _),
        ):
            rounds = [
                {
                    # The baselines get the same request /verify gets, cookie included.
                    "bare": load(wrk, "bare", bare, SAMPLE_COOKIE),
                    "verify_10k_tokens": load(wrk, "verify_10k_tokens", port, "", tokens=distinct),
                    "naive": load(wrk, "naive", naive, "", tokens=distinct),
                    "no_token": load(wrk, "no_token", port, ""),
                    "naive_garbage": load(wrk, "naive_garbage", naive, "", tokens=junk),
                    "garbage_tokens": load(wrk, "garbage_tokens", port, "", tokens=junk),
                    "me_fast_listener": load(wrk, "me_fast_listener", port, cookie, path="/me"),
                    "me_aiohttp_only": load(
                        wrk, "me_aiohttp_only", plain, plain_cookie, path="/me"
                    ),
                }
                for _ in range(ROUNDS)
            ]
            results |= {name: median_run([r[name] for r in rounds]) for name in rounds[0]}
            # The access rules' pair, as nginx asks (X-Original-URL, X-Original-Method).
            rule_rounds = [
                {
                    "verify_10k_forwarded": load(
                        wrk, "verify_10k_forwarded", port, "", tokens=distinct, headers=FORWARDED
                    ),
                    "verify_10k_rules50": load(
                        wrk, "verify_10k_rules50", ruled, "", tokens=distinct, headers=FORWARDED
                    ),
                }
                for _ in range(ROUNDS)
            ]
            results |= {name: median_run([r[name] for r in rule_rounds]) for name in rule_rounds[0]}
            rounds = [{**a, **b} for a, b in zip(rounds, rule_rounds, strict=True)]
            results["verify_one_token"] = load(wrk, "verify_one_token", port, cookie)
            results["verify_during_logins"], results["logins_during_verify"] = load_with_logins(
                wrk, port, distinct
            )
            results["verify_beside_busy_core"] = load_beside_busy_core(wrk, port, distinct)
            with nginx(work / "nginx", port) as (static, proxied, checked):
                results["nginx_return_200"] = load(wrk, "nginx_return_200", static, cookie)
                results["nginx_proxy"] = load(wrk, "nginx_proxy", proxied, cookie)
                results["nginx_auth_request"] = load(wrk, "nginx_auth_request", checked, cookie)
        with gateway(work / "embedded", {}) as (port, cookie):
            results["verify_embedded"] = load(wrk, "verify_embedded", port, cookie)
        with servers([sys.executable, str(HERE / "bare.py"), "{port}"], 2) as port:
            results["bare_2_workers"] = load(wrk, "bare_2_workers", port, SAMPLE_COOKIE)
        with gateway(work / "redis2", {**env, "WORKERS": "2"}) as (port, _):
            results["verify_redis_2_workers"] = load(
                wrk, "verify_redis_2_workers", port, "", tokens=distinct
            )
        with gateway(work / "million", env) as (port, _):
            millions = mint(MILLION, work / "million.txt", SECRET)
            # Memory is compared once the token cache is full: what must not grow is the rest.
            load(wrk, "warm_up", port, "", tokens=distinct)
            rss_before = rss_of_port(port)
            million = load(
                wrk,
                "verify_1m_distinct",
                port,
                "",
                tokens=millions,
                requests=MILLION,
                rps=results["verify_10k_tokens"].requests_per_s,
            )
            rss_after = rss_of_port(port)
    report = summarise(results, rounds, million, rss_before, rss_after)
    out = HERE / "results" / "latest.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwritten to {out.relative_to(HERE.parent)}")
    return 0


def fifty_rules(directory: Path) -> Path:
    """A rules file of 50 rules, a company's worth: 48 about other sites and paths, then a
    health check and the app the benchmark's request is for, which the last rule decides."""
    rules = ["default_policy: deny", "rules:"]
    for n in range(48):
        rules += [
            f"  - name: site-{n}",
            f"    hosts: [site{n}.example.com, '*.site{n}.example.net']",
            f"    paths: [/area{n}, {{glob: '/files{n}/**.pdf'}}, {{regex: '/api/v{n}/.*'}}]",
            "    methods: [GET, POST]",
            "    networks: [10.0.0.0/8]",
            f"    scopes: [scope{n}]",
        ]
    rules += [
        "  - name: health",
        "    paths: [/health, /healthz]",
        "    policy: bypass",
        "  - name: app",
        "    hosts: [app.example.com]",
        "    policy: authenticated",
    ]
    path = directory / "rules50.yaml"
    path.write_text("\n".join(rules) + "\n")
    return path


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, path: str = "/verify") -> None:
    deadline = time.monotonic() + 30
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
    command: list[str], env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[int]:
    port = port or free_port()
    process = subprocess.Popen(
        [part.replace("{port}", str(port)) for part in command],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, "/healthz" if "gateway_auth" in command else "/verify")
        yield port
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def servers(command: list[str], count: int) -> Iterator[int]:
    port = free_port()
    with server(command, port=port), server(command, port=port):
        yield port


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()


@contextmanager
def gateway(data_dir: Path, env: dict[str, str]) -> Iterator[tuple[int, str]]:
    port = free_port()
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
    with server([sys.executable, "-m", "gateway_auth", "serve"], environ, port=port):
        yield port, login(port)


def login(port: int) -> str:
    body = json.dumps({"email": "bench@example.com", "password": PASSWORD}).encode()
    for path in ("/register", "/login"):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST")
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
    script = HERE / ("tokens.lua" if tokens else "report.lua")
    command = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", "-s", str(script)]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    env = {**os.environ, "BENCH_REPORT": str(HERE / "report.lua")}
    if tokens:
        env["BENCH_TOKENS"] = str(tokens)
        env["BENCH_HEADERS"] = headers
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
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
    logins = subprocess.Popen(
        [
            wrk,
            "-t1",
            f"-c{concurrent}",
            f"-d{DURATION + 2}s",
            "-s",
            str(HERE / "login.lua"),
            f"http://127.0.0.1:{port}/login",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "BENCH_REPORT": str(HERE / "report.lua")},
    )
    time.sleep(1)
    try:
        verify = load(wrk, "verify_during_logins", port, "", tokens=tokens)
    finally:
        output, _ = logins.communicate()
    return verify, parsed("logins_during_verify", output)


def load_beside_busy_core(wrk: str, port: int, tokens: Path) -> Run:
    """/verify while another process spins on a core at the hashing threads' niceness: what a
    busy second core alone costs on this machine, without any login in gateway-auth."""
    spinner = subprocess.Popen(
        [sys.executable, "-c", f"import os\nos.nice({HASHING_NICENESS})\nwhile True: pass"]
    )
    try:
        return load(wrk, "verify_beside_busy_core", port, "", tokens=tokens)
    finally:
        spinner.kill()
        spinner.wait()


@contextmanager
def nginx(directory: Path, auth: int) -> Iterator[tuple[int, int, int]]:
    """nginx with three sites: ``return 200`` (the ceiling, and the upstream of the others), a
    plain proxy to it, and the same proxy behind ``auth_request`` to gateway-auth on ``auth``."""
    binary = ensure("nginx", "nginx-light")
    directory.mkdir()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir()
    static, proxied, checked = free_port(), free_port(), free_port()
    conf = directory / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(dir=directory, static=static, proxied=proxied, checked=checked, auth=auth)
    )
    process = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(directory), "-e", str(directory / "error.log")]
    )
    try:
        for port in (static, proxied, checked):
            wait_ready(port, "/")
        yield static, proxied, checked
    finally:
        process.terminate()
        process.wait(30)


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


def summarise(
    results: dict[str, Run],
    rounds: list[dict[str, Run]],
    million: Run,
    rss_before: int,
    rss_after: int,
) -> dict[str, object]:
    r = results
    ratio = lambda a, b: round(a / b, 3) if b else None  # noqa: E731

    def paired(subject: str, baseline: str, figure: str = "requests_per_s") -> float | None:
        """The median over the rounds of subject / baseline, each round's pair side by side."""
        values = [
            getattr(one[subject], figure) / getattr(one[baseline], figure)
            for one in rounds
            if getattr(one[baseline], figure)
        ]
        return round(statistics.median(values), 3) if values else None

    rps = {name: run.requests_per_s for name, run in r.items()}
    verify = r["verify_10k_tokens"]
    budget = {
        "verify_10k_vs_bare_rps": (paired("verify_10k_tokens", "bare"), ">= 2.0"),
        "verify_10k_vs_bare_p99": (paired("verify_10k_tokens", "bare", "p99_ms"), "<= 1.0"),
        "verify_10k_vs_naive_rps": (paired("verify_10k_tokens", "naive"), ">= 10"),
        "no_token_vs_bare_rps": (paired("no_token", "bare"), ">= 1.5"),
        "garbage_vs_naive_garbage_rps": (paired("garbage_tokens", "naive_garbage"), ">= 1.0"),
        "p99_during_logins_vs_alone": (
            ratio(r["verify_during_logins"].p99_ms, verify.p99_ms),
            "<= 1.25",
        ),
        "two_worker_scaling_vs_bare": (
            ratio(
                rps["verify_redis_2_workers"] / verify.requests_per_s,
                rps["bare_2_workers"] / rps["bare"],
            ),
            ">= 0.9",
        ),
        "rss_after_1m_distinct_vs_before": (ratio(rss_after, rss_before), "0.9 .. 1.1"),
        "rules50_vs_no_rules_rps": (paired("verify_10k_rules50", "verify_10k_forwarded"), ">= 0.9"),
        "me_fast_listener_vs_aiohttp_only_rps": (
            paired("me_fast_listener", "me_aiohttp_only"),
            ">= 0.95",
        ),
        # Not budget lines: where /verify stands against the machine's ceiling, and what a
        # check costs a site behind nginx.
        "verify_10k_vs_nginx_return_200_rps": (
            ratio(verify.requests_per_s, rps["nginx_return_200"]),
            "(ceiling)",
        ),
        "nginx_auth_request_vs_nginx_proxy_rps": (
            ratio(rps["nginx_auth_request"], rps["nginx_proxy"]),
            "(information)",
        ),
        "p99_during_logins_vs_busy_core": (
            ratio(r["verify_during_logins"].p99_ms, r["verify_beside_busy_core"].p99_ms),
            "(information)",
        ),
        "verify_one_token_vs_bare_rps": (
            ratio(rps["verify_one_token"], rps["bare"]),
            "(information)",
        ),
    }
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "duration_s": DURATION,
        "rounds": ROUNDS,
        "connections": CONNECTIONS,
        "runs": {
            name: asdict(run) for name, run in {**results, "verify_1m_distinct": million}.items()
        },
        "rss_kb": {"before": rss_before, "after_1m_distinct": rss_after},
        "budget": {
            name: {"ratio": value, "target": target} for name, (value, target) in budget.items()
        },
    }


def print_table(report: dict[str, object]) -> None:
    runs = report["runs"]
    if not isinstance(runs, dict):
        raise TypeError(runs)
    print(f"{'run':<26}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
    for name, run in runs.items():
        print(
            f"{name:<26}{run['requests_per_s']:>10}{run['p50_ms']:>10.2f}{run['p99_ms']:>10.2f}{run['non_2xx']:>9}"
        )
    budget = report["budget"]
    if not isinstance(budget, dict):
        raise TypeError(budget)
    print(f"\n{'budget line':<30}{'ratio':>8}  target")
    for name, line in budget.items():
        print(f"{name:<30}{line['ratio']!s:>8}  {line['target']}")


if __name__ == "__main__":
    sys.exit(main())
