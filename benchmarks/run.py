"""``make bench``: gateway-auth beside its baselines, every figure a ratio measured in the same run.

Runs, one after another on this machine: the baselines (nginx answering ``return 200``, the
physical ceiling; the bare aiohttp handler; the naive design, a full PyJWT decode and one Redis
SISMEMBER per request), then gateway-auth's /verify on its fast listener: one token, 10,000
distinct tokens round-robin, no token, garbage tokens, while logins hash passwords, beside a
process that keeps the other core busy, with fifty rules, with three domains in a DOMAINS_FILE
beside one, and a million requests over a million distinct tokens to watch memory; ``/me`` (an
ordinary aiohttp route) with the fast listener off and on; every gateway with its shipped recipe
against a free auth server (``gateways.py``); the store-backed routes on the embedded store
against the bare handler, and against the code at ``BENCH_BEFORE`` when set (``routes.py``); and
one and two workers beside one and two bare processes. Pairs are measured in alternating rounds.
Prints a table and writes ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import gateways
from harness import (
    CONNECTIONS,
    DURATION,
    HERE,
    ROUNDS,
    SECRET,
    Run,
    ensure_wrk,
    gateway,
    load,
    load_beside_busy_core,
    load_with_logins,
    median_run,
    nginx_sites,
    redis_server,
    rss_of_port,
    server,
    servers,
)
from routes import ROUTES, load_route, route_server
from tokens import garbage, mint

# A cookie of the length a real access token has, for the baselines, which do not read it.
SAMPLE_COOKIE = "gateway_auth=" + "x" * 485
DISTINCT = 10_000
FORWARDED = (
    "X-Original-URL: http://app.example.com/app/orders/42?tab=items\r\n"
    "X-Original-Method: GET\r\n"
    "X-Forwarded-For: 192.0.2.10\r\n"
)
MILLION = int(os.environ.get("BENCH_MILLION", "1000000"))
GATEWAY_ROUNDS = int(os.environ.get("BENCH_GATEWAY_ROUNDS", "3"))
# gateway-auth behind a gateway: the recipes' base path, the gateway trusted (loopback here).
BEHIND_GATEWAYS = {"BASE_PATH": "/auth", "TRUSTED_PROXIES": "127.0.0.1/32"}


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
            gateway(work / "domains", {**env, "DOMAINS_FILE": str(three_domains(work))}) as (
                domained,
                _,
            ),
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
                    "verify_10k_three_domains": load(
                        wrk,
                        "verify_10k_three_domains",
                        domained,
                        "",
                        tokens=distinct,
                        headers=FORWARDED,
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
        # Every gateway with its shipped recipe (gateways.py), in front of nginx's return 200:
        # with no auth, with a free auth server, and with gateway-auth.
        with (
            nginx_sites(work / "nginx") as (static, proxied),
            gateway(work / "recipe-auth", {**env, **BEHIND_GATEWAYS}) as (auth, auth_cookie),
        ):
            results["nginx_return_200"] = load(wrk, "nginx_return_200", static, cookie)
            found, gateway_rounds = gateways.measure(
                wrk, work, static, proxied, auth=auth, cookie=auth_cookie, rounds=GATEWAY_ROUNDS
            )
            results |= found
        with embedded_routes(wrk, work) as (routes_found, route_rounds):
            results |= routes_found
        # Two workers beside one, and two bare aiohttp processes beside one, in alternating
        # rounds: the scaling of each is its two-process figure over its one-process figure.
        with (
            server([sys.executable, str(HERE / "bare.py"), "{port}"]) as bare_one,
            servers([sys.executable, str(HERE / "bare.py"), "{port}"], 2) as bare_two,
            gateway(work / "redis1", env) as (one, _),
            gateway(work / "redis2", {**env, "WORKERS": "2"}) as (two, _),
        ):
            worker_rounds = [
                {
                    "bare_1_worker": load(wrk, "bare_1_worker", bare_one, SAMPLE_COOKIE),
                    "bare_2_workers": load(wrk, "bare_2_workers", bare_two, SAMPLE_COOKIE),
                    "verify_redis_1_worker": load(
                        wrk, "verify_redis_1_worker", one, "", tokens=distinct
                    ),
                    "verify_redis_2_workers": load(
                        wrk, "verify_redis_2_workers", two, "", tokens=distinct
                    ),
                }
                for _ in range(ROUNDS)
            ]
            results |= {
                name: median_run([r[name] for r in worker_rounds]) for name in worker_rounds[0]
            }
        with gateway(work / "embedded", {}) as (port, cookie):
            results["verify_embedded"] = load(wrk, "verify_embedded", port, cookie)
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
    report = summarise(
        results,
        rounds,
        million,
        rss_before,
        rss_after,
        extra={"gateways": gateway_rounds, "routes": route_rounds, "workers": worker_rounds},
    )
    out = HERE / "results" / "latest.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwritten to {out.relative_to(HERE.parent)}")
    return 0


@contextmanager
def embedded_routes(wrk: str, work: Path) -> Iterator[tuple[dict[str, Run], list[dict[str, Run]]]]:
    """The store-backed routes (routes.py) on the embedded store, beside the bare handler in
    alternating rounds; with BENCH_BEFORE=REV, the same routes as the code at REV serves them
    too, in the same rounds (the ``*_vs_before`` lines)."""
    revision = os.environ.get("BENCH_BEFORE")
    with ExitStack() as stack:
        bare = stack.enter_context(server([sys.executable, str(HERE / "bare.py"), "{port}"]))
        trees = {"": stack.enter_context(route_server(work / "routes", {}))}
        if revision:
            before = stack.enter_context(worktree(revision, work / "before"))
            trees["before:"] = stack.enter_context(
                route_server(work / "routes-before", {}, tree=before)
            )
        rounds = []
        for _ in range(ROUNDS):
            one = {"bare_for_routes": load(wrk, "bare_for_routes", bare, SAMPLE_COOKIE)}
            for prefix, target in trees.items():
                for route in ROUTES:
                    one[prefix + route] = load_route(wrk, prefix + route, route, target)
            rounds.append(one)
        yield {name: median_run([r[name] for r in rounds]) for name in rounds[0]}, rounds


@contextmanager
def worktree(revision: str, path: Path) -> Iterator[Path]:
    """The code at ``revision``, checked out at ``path`` for as long as it is needed."""
    git = ["git", "-C", str(HERE.parent)]
    subprocess.run(
        [*git, "worktree", "add", "--quiet", "--detach", str(path), revision], check=True
    )
    try:
        yield path
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=False)


def three_domains(directory: Path) -> Path:
    """A domains file of three: the loopback portal the harness signs in at, the domain of
    the app the benchmark's request is for, and one more."""
    path = directory / "domains.yaml"
    path.write_text(
        "domains:\n"
        "  - public_url: http://127.0.0.1\n"
        "  - public_url: https://auth.example.com\n"
        "    cookie_domain: example.com\n"
        "  - public_url: https://auth.example.net\n"
        "    cookie_domain: example.net\n"
    )
    return path


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


def summarise(
    results: dict[str, Run],
    rounds: list[dict[str, Run]],
    million: Run,
    rss_before: int,
    rss_after: int,
    *,
    extra: dict[str, list[dict[str, Run]]],
) -> dict[str, object]:
    r = results
    ratio = lambda a, b: round(a / b, 3) if b else None  # noqa: E731

    def paired(
        subject: str,
        baseline: str,
        figure: str = "requests_per_s",
        of: list[dict[str, Run]] = rounds,
    ) -> float | None:
        """The median over the rounds of subject / baseline, each round's pair side by side."""
        values = [
            getattr(one[subject], figure) / getattr(one[baseline], figure)
            for one in of
            if subject in one and getattr(one[baseline], figure)
        ]
        return round(statistics.median(values), 3) if values else None

    def scaling(one: dict[str, Run]) -> float:
        verify = (
            one["verify_redis_2_workers"].requests_per_s
            / one["verify_redis_1_worker"].requests_per_s
        )
        return verify / (one["bare_2_workers"].requests_per_s / one["bare_1_worker"].requests_per_s)

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
            round(statistics.median(scaling(one) for one in extra["workers"]), 3),
            ">= 0.9",
        ),
        "rss_after_1m_distinct_vs_before": (ratio(rss_after, rss_before), "0.9 .. 1.1"),
        "rules50_vs_no_rules_rps": (paired("verify_10k_rules50", "verify_10k_forwarded"), ">= 0.9"),
        "three_domains_vs_one_rps": (
            paired("verify_10k_three_domains", "verify_10k_forwarded"),
            ">= 0.95",
        ),
        "three_domains_vs_one_p99": (
            paired("verify_10k_three_domains", "verify_10k_forwarded", "p99_ms"),
            "<= 1.1",
        ),
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
        "p99_during_logins_vs_busy_core": (
            ratio(r["verify_during_logins"].p99_ms, r["verify_beside_busy_core"].p99_ms),
            "(information)",
        ),
        "verify_one_token_vs_bare_rps": (
            ratio(rps["verify_one_token"], rps["bare"]),
            "(information)",
        ),
    }
    routes = extra["routes"]
    budget["me_vs_bare_rps"] = (paired("me", "bare_for_routes", of=routes), ">= 0.5")
    for route in ROUTES:
        if route != "me":
            budget[f"{route}_vs_bare_rps"] = (
                paired(route, "bare_for_routes", of=routes),
                "(information)",
            )
        if f"before:{route}" in routes[0]:
            budget[f"{route}_vs_before_rps"] = (paired(route, f"before:{route}", of=routes), ">= 5")
            budget[f"{route}_vs_before_p99"] = (
                paired(route, f"before:{route}", "p99_ms", of=routes),
                "<= 1.0",
            )
    for kind in gateways.GATEWAYS:
        subject, free = f"{kind}_gateway_auth", f"{kind}_free_auth"
        of = extra["gateways"]
        budget[f"{kind}_vs_free_auth_rps"] = (paired(subject, free, of=of), ">= 0.9")
        budget[f"{kind}_vs_free_auth_p99"] = (
            paired(subject, free, "p99_ms", of=of),
            "(information)",
        )
        budget[f"{kind}_free_auth_vs_no_auth_rps"] = (
            ratio(rps[free], rps[f"{kind}_no_auth"]),
            "(information)",
        )
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
    print(f"{'run':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
    for name, run in runs.items():
        print(
            f"{name:<34}{run['requests_per_s']:>10}{run['p50_ms']:>10.2f}{run['p99_ms']:>10.2f}{run['non_2xx']:>9}"
        )
    budget = report["budget"]
    if not isinstance(budget, dict):
        raise TypeError(budget)
    print(f"\n{'budget line':<42}{'ratio':>8}  target")
    for name, line in budget.items():
        print(f"{name:<42}{line['ratio']!s:>8}  {line['target']}")


if __name__ == "__main__":
    sys.exit(main())
