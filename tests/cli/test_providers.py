"""IDENTITY_PROVIDERS_FILE in a running server: a bad file stops start-up with every problem
at its line, and SIGHUP reads the file again (a bad one keeps the providers in force)."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.processes import server_environment, server_output, start_server, stop_server
from tests.support.waiting import until

GITHUB = "providers:\n  - {id: github, type: github, client_id: a, client_secret: b}\n"
BOTH = GITHUB + "  - {id: google, type: google, client_id: c, client_secret: d}\n"


def sign_in_page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as page:
        return str(page.read().decode())


def test_a_bad_providers_file_stops_start_up_saying_where(tmp_path: Path) -> None:
    bad = tmp_path / "providers.yaml"
    bad.write_text("providers:\n  - id: gh\n    type: github\n    client_id: a\n")

    result = subprocess.run(
        [sys.executable, "-m", "gateway_auth", "serve"],
        cwd=tmp_path,
        env=server_environment(IDENTITY_PROVIDERS_FILE=str(bad)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert (
        f"GATEWAY_AUTH_IDENTITY_PROVIDERS_FILE: {bad}:2: provider 1 (gh): give client_secret"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_sighup_reads_the_providers_file_again(tmp_path: Path) -> None:
    providers = tmp_path / "providers.yaml"
    providers.write_text(GITHUB)
    port, process = start_server(tmp_path, IDENTITY_PROVIDERS_FILE=str(providers))
    try:
        assert "Sign in with GitHub" in sign_in_page(port)
        assert "Sign in with Google" not in sign_in_page(port)

        providers.write_text("providers:\n  - {id: github, type: github}\n")
        process.send_signal(signal.SIGHUP)
        until(
            lambda: '"identity_providers_invalid"' in server_output(process),
            what="the bad file noticed",
        )
        assert "Sign in with GitHub" in sign_in_page(port)  # kept

        providers.write_text(BOTH)
        process.send_signal(signal.SIGHUP)
        until(
            lambda: '"identity_providers_loaded"' in server_output(process),
            what="the providers loaded again",
        )
        assert "Sign in with Google" in sign_in_page(port)
    finally:
        stop_server(process)
