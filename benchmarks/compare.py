"""``python benchmarks/compare.py REV``: ``/verify`` as the code at REV (any git revision) serves
it, beside this working tree's, in alternating rounds on one machine.

Before a change to the hot path is kept, its cost is measured against the code before it: both
servers run at once on the same Redis, the same tokens and the same wrk runs, one round each in
turn, so a noisy machine meets both alike; each figure is the median over the rounds, and each
ratio (this tree / REV) the median of the rounds' ratios. REV is checked out in a temporary git
worktree and run on this environment's dependencies. Writes ``benchmarks/results/compare.json``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from harness import (
    DURATION,
    HERE,
    ROOT,
    ROUNDS,
    SECRET,
    Run,
    ensure_wrk,
    gateway,
    load,
    median_run,
    redis_server,
)
from run import FORWARDED, fifty_rules
from tokens import mint

DISTINCT = 10_000
RUNS = ("verify_10k_tokens", "verify_one_token", "no_token", "verify_10k_rules50")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.exit("usage: python benchmarks/compare.py REV  (a git revision to compare with)")
    revision = argv[1]
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        before = work / "before"
        git = ["git", "-C", str(ROOT)]
        subprocess.run(
            [*git, "worktree", "add", "--quiet", "--detach", str(before), revision], check=True
        )
        try:
            rounds = _measure(wrk, work, before)
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(before)], check=False)
    report = _report(revision, rounds)
    out = HERE / "results" / "compare.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


def _measure(wrk: str, work: Path, before: Path) -> list[dict[str, Run]]:
    distinct = mint(DISTINCT, work / "distinct.txt", SECRET)
    rules = str(fifty_rules(work))
    with redis_server(work) as redis_url:
        env = {"REDIS_URL": redis_url, "JWT_SECRET": SECRET, "ACCESS_TOKEN_TTL": "2h"}
        with (
            gateway(work / "old", env, tree=before) as (old, old_cookie),
            gateway(work / "new", env) as (new, new_cookie),
            gateway(work / "old-ruled", {**env, "RULES_FILE": rules}, tree=before) as (old_r, _),
            gateway(work / "new-ruled", {**env, "RULES_FILE": rules}) as (new_r, _),
        ):
            trees = {"before": (old, old_cookie, old_r), "after": (new, new_cookie, new_r)}
            rounds = []
            for _ in range(ROUNDS):
                one: dict[str, Run] = {}
                for tree, (port, cookie, ruled) in trees.items():
                    one |= {
                        f"{tree}:verify_10k_tokens": load(wrk, tree, port, "", tokens=distinct),
                        f"{tree}:verify_one_token": load(wrk, tree, port, cookie),
                        f"{tree}:no_token": load(wrk, tree, port, ""),
                        f"{tree}:verify_10k_rules50": load(
                            wrk, tree, ruled, "", tokens=distinct, headers=FORWARDED
                        ),
                    }
                rounds.append(one)
    return rounds


def _report(revision: str, rounds: list[dict[str, Run]]) -> dict[str, object]:
    def median(name: str) -> Run:
        return median_run([one[name] for one in rounds])

    def paired(name: str, figure: str) -> float:
        values = [
            getattr(one[f"after:{name}"], figure) / getattr(one[f"before:{name}"], figure)
            for one in rounds
        ]
        return round(statistics.median(values), 3)

    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "before": revision,
        "after": "working tree",
        "duration_s": DURATION,
        "rounds": ROUNDS,
        "runs": {
            name: {
                tree: {
                    "requests_per_s": median(f"{tree}:{name}").requests_per_s,
                    "p99_ms": median(f"{tree}:{name}").p99_ms,
                }
                for tree in ("before", "after")
            }
            | {
                "after_vs_before_rps": paired(name, "requests_per_s"),
                "after_vs_before_p99": paired(name, "p99_ms"),
            }
            for name in RUNS
        },
        "each_round_rps": [
            {name: round(run.requests_per_s) for name, run in one.items()} for one in rounds
        ],
    }


def _print(report: dict[str, object]) -> None:
    runs = report["runs"]
    if not isinstance(runs, dict):
        raise TypeError(runs)
    print(f"before: {report['before']}   after: the working tree   ({report['rounds']} rounds)")
    print(f"{'run':<22}{'req/s before':>14}{'req/s after':>13}{'ratio':>8}{'p99 ratio':>11}")
    for name, run in runs.items():
        print(
            f"{name:<22}{run['before']['requests_per_s']:>14}{run['after']['requests_per_s']:>13}"
            f"{run['after_vs_before_rps']:>8}{run['after_vs_before_p99']:>11}"
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
