"""``gateway-auth rules check`` and ``explain``, a server refusing a bad rules file at start-up,
and SIGHUP reloading the rules of a running server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gateway_auth.cli.main import main
from tests.support.processes import (
    RedisServer,
    launch_server,
    server_environment,
    server_output,
    start_server,
    stop_server,
    wait_until_healthy,
)
from tests.support.project import COMPANY_RULES
from tests.support.waiting import until

BAD = (
    "default_policy: deny\nrules:\n"
    "  - name: a\n    policy: maybe\n"
    "  - name: b\n    hosts: [x:1]\n    policy: deny\n"
)


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"GATEWAY_AUTH_DATA_DIR": str(tmp_path / "data")}


def test_check_says_what_the_file_holds(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "check", str(COMPANY_RULES)], environ) == 0
    assert capsys.readouterr().out == f"{COMPANY_RULES}: 7 rules, default policy deny\n"


def test_check_lists_every_problem_and_fails(
    tmp_path: Path, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(BAD)

    assert main(["rules", "check", str(bad)], environ) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}:4: rule 1 (a): policy: one of 'bypass', 'deny', 'authenticated' or 'two_factor'",
        f"{bad}:6: rule 2 (b): hosts[0]: 'x:1': write a host without its port (rules match "
        "every port)",
        f"gateway-auth: {bad}: 2 problem(s)",
    ]


@pytest.mark.parametrize(
    ("args", "last"),
    [
        (["https://app.example.com/billing/x", "--scopes", "billing"], "decides: scopes billing"),
        (["https://app.example.com/home"], "is about who asks, and nobody is signed in"),
        (["https://app.example.com/home", "--scopes", ""], "'staff-app' decides: authenticated"),
        (
            ["https://api.example.com/api/admin/x", "--method", "delete", "--ip", "10.20.0.9"],
            "'admin-api-changes-from-the-office' decides: scopes admin",
        ),
        (["https://www.example.com/"], "no rule matched: default policy deny"),
        (["https://app.example.com/a%2Fb"], "(403 ambiguous-request)"),
        (["https://app.example.com/health/../billing"], "(403 ambiguous-request)"),
    ],
)
def test_explain_shows_the_rule_that_decides(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str], args: list[str], last: str
) -> None:
    environ = {**environ, "GATEWAY_AUTH_RULES_FILE": str(COMPANY_RULES)}

    assert main(["rules", "explain", *args], environ) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"rules: {COMPANY_RULES}"
    assert last in out[-1], out


def test_explain_as_a_client_of_the_store(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["clients", "create", "--kind", "service", "--email", "ci@example.com"], environ)
    client = json.loads(capsys.readouterr().out)

    main(
        [
            "rules",
            "explain",
            "https://app.example.com/",
            "--client",
            client["id"],
            "--file",
            str(COMPANY_RULES),
        ],
        environ,
    )
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "no rule matched: default policy deny"  # staff-app is about people
    assert (
        main(
            [
                "rules",
                "explain",
                "https://app.example.com/",
                "--client",
                "nobody",
                "--file",
                str(COMPANY_RULES),
            ],
            environ,
        )
        == 1
    )


def test_explain_needs_rules_and_an_absolute_url(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "explain", "https://app.example.com/"], environ) == 2
    assert "set GATEWAY_AUTH_RULES_FILE or give --file" in capsys.readouterr().err
    assert main(["rules", "explain", "/billing", "--file", str(COMPANY_RULES)], environ) == 1
    assert "URL must be an absolute http(s) URL" in capsys.readouterr().err


def test_serve_refuses_a_bad_rules_file_listing_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(BAD)

    result = subprocess.run(
        [sys.executable, "-m", "gateway_auth", "serve"],
        cwd=tmp_path,
        env=server_environment(RULES_FILE=str(bad)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert f"GATEWAY_AUTH_RULES_FILE: {bad}:4: rule 1 (a): policy: one of" in result.stderr
    assert f"GATEWAY_AUTH_RULES_FILE: {bad}:6: rule 2 (b): hosts[0]" in result.stderr
    assert "Traceback" not in result.stderr


def verify(port: int, url: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/verify", headers={"X-Original-URL": url}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - http://127.0.0.1
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reloads_the_rules_of_a_running_server(
    tmp_path: Path, request: pytest.FixtureRequest, workers: int
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("default_policy: deny  \n")
    settings = {"RULES_FILE": str(rules), "WORKERS": str(workers)}
    if workers > 1:  # the supervisor passes SIGHUP on to each worker
        settings["REDIS_URL"] = request.getfixturevalue("redis_server").url
    port, process = start_server(tmp_path, **settings)
    try:
        wait_for_workers(process, workers)
        assert verify(port, "https://app.example.com/") == 403
        # Changed in place with the same size and time: the file watcher sees nothing.
        stat = rules.stat()
        with rules.open("r+") as file:
            file.write("default_policy: bypass")
        os.utime(rules, ns=(stat.st_atime_ns, stat.st_mtime_ns))

        process.send_signal(signal.SIGHUP)
        until(
            lambda: server_output(process).count('"reason": "SIGHUP"') >= workers,
            what="every worker reloading on SIGHUP",
        )
        # Every worker answers by the new rules (connections spread over them at random).
        assert {verify(port, "https://app.example.com/") for _ in range(20)} == {200}
        assert '"reason": "file changed"' not in server_output(process)
    finally:
        stop_server(process)


def test_a_sighup_while_workers_start_waits_for_them(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("default_policy: deny\n")
    port, process = launch_server(
        tmp_path, RULES_FILE=str(rules), WORKERS="2", REDIS_URL=redis_server.url
    )
    try:
        until(  # spawned, not yet serving
            lambda: '"workers_started"' in server_output(process),
            within=20,
            what="the workers started",
        )
        rules.write_text("default_policy: bypass\n")
        process.send_signal(signal.SIGHUP)

        wait_until_healthy(port, process)
        wait_for_workers(process, 2)
        assert {verify(port, "https://app.example.com/") for _ in range(20)} == {200}
        assert '"worker_exited"' not in server_output(process)
    finally:
        stop_server(process)


def wait_for_workers(process: subprocess.Popen[str], workers: int) -> None:
    """Until every worker listens (the first to listen answers /healthz alone)."""
    until(
        lambda: server_output(process).count('"event": "listening"') >= workers,
        within=20,
        what=f"{workers} workers listening",
    )
