"""Schemathesis against /openapi.json on a real server: no input it generates reaches a 5xx,
and every answer matches the schema the document gives it.

``make test`` runs a short pass; ``make fuzz`` a long one (GATEWAY_AUTH_TEST_FUZZ_EXAMPLES, and
the stateful phase that chains operations through their links).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.credentials import PASSWORD
from tests.support.processes import server_environment, start_server, stop_server

EXAMPLES = int(os.environ.get("GATEWAY_AUTH_TEST_FUZZ_EXAMPLES", "15"))
LONG = EXAMPLES > 100
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Operations that would end the fuzzer's own sign-in; the suites test each of them directly.
SPARED = ("DELETE /me", "DELETE /me/sessions", "POST /logout")
ADMIN = ("--email", "root@example.com", "--scope", "admin")


def _admin_token(port: int, settings: dict[str, str]) -> str:
    subprocess.run(
        [sys.executable, "-m", "gateway_auth", "clients", "create", "--password-stdin", *ADMIN],
        input=PASSWORD + "\n",
        env=server_environment(**settings),
        check=True,
        capture_output=True,
        text=True,
    )
    body = urllib.parse.urlencode(
        {"grant_type": "password", "username": "root@example.com", "password": PASSWORD}
    ).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/token", data=body, timeout=10) as r:
        return str(json.load(r)["access_token"])


@pytest.mark.timeout(3600 if LONG else 300)
def test_no_generated_request_reaches_a_server_error_or_breaks_the_schema(
    tmp_path: Path,
) -> None:
    settings = {
        "DATA_DIR": str(tmp_path / "data"),
        "BCRYPT_ROUNDS": "4",
        "RATE_LIMIT_PER_IP": "100000/minute",  # the fuzzer is one address sending thousands
    }
    port, process = start_server(tmp_path, **settings)
    try:
        token = _admin_token(port, settings)
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"http://127.0.0.1:{port}/openapi.json",
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,"
                "content_type_conformance",
                "--max-examples",
                str(EXAMPLES),
                "--header",
                f"Authorization: Bearer {token}",
                "--phases",
                "examples,coverage,fuzzing" + (",stateful" if LONG else ""),
                "--no-color",
                *(arg for name in SPARED for arg in ("--exclude-name", name)),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    finally:
        output = stop_server(process)

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Traceback" not in output, output[-4000:]
    assert '"level": "error"' not in output, output[-4000:]
