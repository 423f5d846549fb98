"""The first minutes: what ``serve`` says at a terminal, and how short commands speak."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway_auth.cli.main import main
from tests.support.credentials import PASSWORD
from tests.support.processes import (
    free_port,
    server_environment,
    spawned,
    start_server,
    stop_server,
)


def _serve_on_a_terminal(tmp_path: Path, **settings: str) -> str:
    """Start ``serve`` with a pseudo-terminal as its stderr; what it wrote up to "Ctrl-C"."""
    main_fd, terminal_fd = os.openpty()
    seen = b""
    try:
        with spawned(
            [sys.executable, "-m", "gateway_auth", "serve"],
            cwd=tmp_path,
            env=server_environment(PORT=str(free_port()), BCRYPT_ROUNDS="4", **settings),
            stdin=subprocess.DEVNULL,
            stdout=terminal_fd,
            stderr=terminal_fd,
        ):
            os.close(terminal_fd)
            terminal_fd = -1
            deadline = time.monotonic() + 30
            while b"Ctrl-C" not in seen and time.monotonic() < deadline:
                ready, _, _ = select.select([main_fd], [], [], 1)
                if ready:
                    seen += os.read(main_fd, 4096)
    finally:
        for fd in (main_fd, terminal_fd):
            if fd >= 0:
                os.close(fd)
    return seen.decode().replace("\r\n", "\n")


def test_serve_at_a_terminal_ends_with_the_sign_in_page_and_the_first_admin_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _serve_on_a_terminal(tmp_path)

    assert "gateway-auth is ready." in first
    assert "Sign-in page:  http://localhost:" in first
    assert "/login\n" in first
    command = "gateway-auth clients create --email you@example.com --scope admin"
    assert f"First admin:   {command}" in first
    # The generated secret is the embedded default doing its job: information, not a warning.
    assert "INFO    jwt_secret_generated" in first
    assert "WARNING" not in first
    assert "{" not in first  # text lines for people, no JSON

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    environ = {"GATEWAY_AUTH_DATA_DIR": str(tmp_path / "data"), "GATEWAY_AUTH_BCRYPT_ROUNDS": "4"}
    created = main(
        [
            "clients",
            "create",
            "--password-stdin",
            "--email",
            "root@example.com",
            "--scope",
            "admin",
        ],
        environ,
    )
    assert created == 0

    again = _serve_on_a_terminal(tmp_path, MAIL_DIR="data/mail")
    assert "Sign-in page:" in again
    assert "First admin:" not in again  # there is one now
    assert "Mails:         written to data/mail/ (reset and verification links)" in again
    assert "Mails:" not in first


def test_a_short_command_warns_in_one_sentence_once_never_in_json(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)  # open to others, as an operator's mkdir may leave it
    environ = {"GATEWAY_AUTH_DATA_DIR": str(data)}

    status = main(["clients", "list"], environ)

    err = capfd.readouterr().err
    assert status == 0
    assert err.splitlines() == [
        f"gateway-auth: warning: the data directory {data} can be read by other users (it "
        f"holds password hashes and the signing secret): chmod 700 {data}"
    ]


def test_a_bad_scope_is_explained_in_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    environ = {"GATEWAY_AUTH_DATA_DIR": str(tmp_path / "data"), "GATEWAY_AUTH_BCRYPT_ROUNDS": "4"}

    status = main(
        ["clients", "create", "--password-stdin", "--email", "a@example.com", "--scope", "a b"],
        environ,
    )

    assert status == 1
    assert capfd.readouterr().err.splitlines() == [
        "gateway-auth: scopes must be 1-64 letters, digits or _ . : / - each"
    ]


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({"HOST": "0.0.0.0"}, True),  # reachable by others, links say localhost: say so  # noqa: S104
        ({"HOST": "0.0.0.0", "PUBLIC_URL": "http://auth.test:8080"}, False),  # noqa: S104
        ({}, False),  # loopback: the person at this machine opens the links here
    ],
)
def test_serve_warns_when_mailed_links_would_name_its_own_listener(
    tmp_path: Path, settings: dict[str, str], warned: bool
) -> None:
    port, process = start_server(tmp_path, **settings)
    output = stop_server(process)

    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    warnings = [line for line in lines if line["event"] == "mail_links_not_public"]
    assert bool(warnings) is warned
    if warned:
        assert warnings[0]["level"] == "warning"
        assert warnings[0]["links"] == f"http://localhost:{port}"  # what mails would say
        assert "set GATEWAY_AUTH_PUBLIC_URL" in warnings[0]["advice"]
