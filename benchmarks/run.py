"""``make bench``: /verify beside its baselines, every figure a ratio measured in the same run.

Runs, one after another on this machine: the baselines (nginx answering ``return 200``, the
physical ceiling; the bare aiohttp handler; the naive design, a full PyJWT decode and one Redis
SISMEMBER per request), then gateway-auth's /verify on its fast listener: one token, 10,000
distinct tokens round-robin, no token, garbage tokens, while logins hash passwords, beside a
process that keeps the other core busy, on two workers, behind nginx ``auth_request``, and a
million requests over a million distinct tokens to watch memory; with three domains in a
DOMAINS_FILE beside one; and ``/me`` (an ordinary aiohttp route) with the fast listener off and on.
Prints a table and writes ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

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
    nginx_recipe,
    nginx_sites,
    redis_server,
    rss_of_port,
    server,
    servers,
)
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
        # The shipped deploy/nginx recipe in front of gateway-auth (BASE_PATH=/auth, as the
        # recipe expects), beside the same recipe whose auth answer costs nothing: nginx's own
        # return 200 answers its /auth/verify. Alternating rounds, as the budget's pairs.
        with (
            nginx_sites(work / "nginx") as (static, proxied),
            gateway(work / "recipe-auth", {**env, "BASE_PATH": "/auth"}) as (auth, auth_cookie),
            nginx_recipe(work / "recipe", auth, static) as checked,
            nginx_recipe(work / "recipe-free", static, static) as free,
        ):
            results["nginx_return_200"] = load(wrk, "nginx_return_200", static, cookie)
            results["nginx_proxy"] = load(wrk, "nginx_proxy", proxied, cookie)
            recipe_rounds = [
                {
                    "nginx_recipe": load(wrk, "nginx_recipe", checked, auth_cookie, path="/"),
                    "nginx_recipe_free_auth": load(
                        wrk, "nginx_recipe_free_auth", free, auth_cookie, path="/"
                    ),
                }
                for _ in range(ROUNDS)
            ]
            results |= {
                name: median_run([r[name] for r in recipe_rounds]) for name in recipe_rounds[0]
            }
            rounds = [{**a, **b} for a, b in zip(rounds, recipe_rounds, strict=True)]
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
        "nginx_recipe_vs_free_auth_rps": (
            paired("nginx_recipe", "nginx_recipe_free_auth"),
            "(information)",
        ),
        "nginx_recipe_vs_nginx_proxy_rps": (
            ratio(rps["nginx_recipe"], rps["nginx_proxy"]),
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
