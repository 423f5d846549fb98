"""The gateway-auth command: clients create/list in-process, and serve as a real process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway_auth.cli.data import hide_tokens
from gateway_auth.cli.main import main
from gateway_auth.config.settings import Settings
from gateway_auth.http.appkeys import SERVICES, SETTINGS
from gateway_auth.models import LinkedIdentity, TotpFactor
from gateway_auth.services import open_services
from tests.support.browser import AppClient, Browser
from tests.support.credentials import PASSWORD
from tests.support.processes import (
    require_binary,
    server_environment,
    server_output,
    spawned,
    start_server,
    stop_server,
)
from tests.support.project import ROOT
from tests.support.waiting import eventually


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """A data directory a server has already run on: its signing key is there, so commands
    print only their own messages (a first run would also report generating the key)."""
    data = tmp_path / "data"
    main(["clients", "list", "--json"], {"GATEWAY_AUTH_DATA_DIR": str(data)})
    return {"GATEWAY_AUTH_DATA_DIR": str(data), "GATEWAY_AUTH_BCRYPT_ROUNDS": "4"}


def _create(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, *args: str, password: str = PASSWORD
) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["clients", "create", "--password-stdin", *args], environ)


def test_clients_create_makes_an_admin_and_prints_it(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _create(
        environ,
        monkeypatch,
        "--email",
        "root@example.com",
        "--scope",
        "admin",
        "--scope",
        "reports:read",
        "--first-name",
        "Root",
    )

    assert status == 0
    created = json.loads(capsys.readouterr().out)
    assert created["email"] == "root@example.com"
    assert created["scopes"] == ["admin", "reports:read"]
    assert created["firstName"] == "Root"
    assert main(["clients", "list", "--json"], environ) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [c["id"] for c in listed] == [created["id"]]


def test_clients_list_prints_a_table(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(environ, monkeypatch, "--email", "root@example.com", "--scope", "admin")
    _create(environ, monkeypatch, "--email", "ada@example.com")
    capsys.readouterr()

    assert main(["clients", "list"], environ) == 0

    lines = capsys.readouterr().out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "ID",
        "EMAIL",
        "KIND",
        "SCOPES",
        "GROUPS",
        "SUSPENDED",
        "CREATED",
    ]
    assert re.split(r"\s{2,}", lines[1])[1:4] == ["root@example.com", "user", "admin"]
    assert re.split(r"\s{2,}", lines[2])[1:6] == ["ada@example.com", "user", "-", "-", "no"]


def test_clients_suspend_and_unsuspend_print_the_client(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(environ, monkeypatch, "--email", "eve@example.com")
    client_id = json.loads(capsys.readouterr().out)["id"]

    suspended = main(["clients", "suspend", client_id, "--reason", " chargeback "], environ)
    after_suspend = json.loads(capsys.readouterr().out)
    restored = main(["clients", "unsuspend", client_id], environ)
    after_unsuspend = json.loads(capsys.readouterr().out)

    assert (suspended, restored) == (0, 0)
    assert (after_suspend["suspended"], after_suspend["suspendReason"]) == (True, "chargeback")
    assert after_unsuspend["suspended"] is False


def test_clients_unlock_without_redis_says_where_to_lift_the_lockout(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(environ, monkeypatch, "--email", "eve@example.com")
    client_id = json.loads(capsys.readouterr().out)["id"]

    status = main(["clients", "unlock", client_id], environ)

    assert status == 1
    assert f"DELETE /admin/clients/{client_id}/lockout" in capsys.readouterr().err


def test_clients_create_service_prints_its_secret_once(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["clients", "create", "--kind", "service", "--email", "svc@example.com", "--scope", "x"],
        environ,
    )

    output = capsys.readouterr()
    created = json.loads(output.out)
    assert status == 0
    assert created["kind"] == "service"
    assert created["clientSecret"].startswith("gas_")
    assert "shown only this once" in output.err


def test_clients_delete_queues_one_event_that_events_list_shows(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(environ, monkeypatch, "--email", "eve@example.com")
    client_id = json.loads(capsys.readouterr().out)["id"]

    first = main(["clients", "delete", client_id], environ)
    first_err = capsys.readouterr().err
    again = main(["clients", "delete", client_id], environ)
    again_err = capsys.readouterr().err
    unknown = main(["clients", "delete", "nobody"], environ)
    unknown_err = capsys.readouterr().err
    listed = main(["events", "list"], environ)
    pending = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert (first, again, unknown, listed) == (0, 0, 1, 0)
    assert "waits in the outbox" in first_err
    assert "already deleted" in again_err
    assert unknown_err.strip() == "gateway-auth: No such client."
    assert [(e["clientId"], e["type"], e["attempts"]) for e in pending] == [
        (client_id, "client-data-deletion-request", 0)
    ]


def test_mail_events_are_listed_with_their_tokens_hidden_and_verify_email_marks_a_client(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(environ, monkeypatch, "--email", "eve@example.com")
    client_id = json.loads(capsys.readouterr().out)["id"]

    async def mail_a_link() -> None:
        async with open_services(Settings.from_env(environ), role="tool") as services:
            client = await services.store.get_client(client_id)
            assert client is not None
            assert await services.links.send_verification(client)

    asyncio.run(mail_a_link())
    listed = main(["events", "list"], environ)
    hidden = json.loads(capsys.readouterr().out)
    main(["events", "list", "--show-links"], environ)
    shown = json.loads(capsys.readouterr().out)
    verified = main(["clients", "verify-email", client_id], environ)
    after = json.loads(capsys.readouterr().out)
    unverified = main(["clients", "verify-email", client_id, "--unverified"], environ)
    undone = json.loads(capsys.readouterr().out)
    unknown = main(["clients", "verify-email", "nobody"], environ)

    assert (listed, verified, unverified, unknown) == (0, 0, 0, 1)
    assert (hidden["type"], hidden["clientId"], hidden["email"]) == (
        "email-verification-requested",
        client_id,
        "eve@example.com",
    )
    assert hidden["link"].endswith("/email-verification/confirm?token=(hidden: --show-links)")
    assert re.search(r"\?token=[A-Za-z0-9_-]{43}$", shown["link"])
    assert (after["emailVerified"], undone["emailVerified"]) == (True, False)
    assert capsys.readouterr().err.strip() == "gateway-auth: No such client."


def test_events_tail_needs_redis(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["events", "tail"], environ) == 2
    assert "GATEWAY_AUTH_REDIS_URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clients", "suspend", "nobody"], "gateway-auth: No such client."),
        (["clients", "unsuspend", "nobody"], "gateway-auth: No such client."),
        (
            ["clients", "suspend", "nobody", "--reason", "x" * 501],
            "gateway-auth: reason must be at most 500 characters",
        ),
        (
            ["clients", "suspend", "nobody", "--reason", "a\x00b"],
            "gateway-auth: reason must not contain control characters",
        ),
    ],
)
def test_clients_suspend_explains_what_is_wrong(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status = main(args, environ)

    assert status == 1
    assert capsys.readouterr().err.strip() == message


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (("--email", "not-an-email"), PASSWORD, "email must be an email address"),
        (("--email", "ada@example.com"), "short", "password must be at least 8 characters"),
        (("--email", "ada@example.com", "--scope", "a b"), PASSWORD, "scopes must be 1-64 letters"),
    ],
)
def test_clients_create_explains_bad_input(
    environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    password: str,
    message: str,
) -> None:
    assert _create(environ, monkeypatch, *args, password=password) == 1
    assert message in capsys.readouterr().err


def test_clients_create_refuses_a_taken_email(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(environ, monkeypatch, "--email", "ada@example.com")

    assert _create(environ, monkeypatch, "--email", "ADA@example.com") == 1
    assert "already registered" in capsys.readouterr().err


def test_without_a_terminal_the_password_must_come_from_stdin(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    assert main(["clients", "create", "--email", "ada@example.com"], environ) == 2
    assert "--password-stdin" in capsys.readouterr().err


def test_bad_configuration_lists_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["clients", "list"], {"GATEWAY_AUTH_PORT": "x", "GATEWAY_AUTH_WORKERS": "0"})

    assert status == 2
    err = capsys.readouterr().err
    assert "GATEWAY_AUTH_PORT" in err
    assert "GATEWAY_AUTH_WORKERS" in err


# --- the real server -------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port, process = start_server(tmp_path)
    yield port, process
    stop_server(process)


def _readme_block(name: str) -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {name}:start -->\n```sh\n(.*?)```\n<!-- {name}:end -->", readme, re.S)
    assert match, f"README has no {name} block"
    return match.group(1)


def _run_readme(name: str, port: int, cwd: Path) -> str:
    require_binary("curl")
    script = _readme_block(name).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    # The block runs where the server runs, not in a checkout: the same command, this Python's.
    script = script.replace(".venv/bin/gateway-auth", f"{sys.executable} -m gateway_auth")
    return _bash(script, cwd).stdout


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a pasted block as bash would, stopping at the first failing command."""
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=server_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_the_readme_walkthrough_works_as_pasted(
    server: tuple[int, subprocess.Popen[str]], tmp_path: Path
) -> None:
    port, _ = server

    out = _run_readme("walkthrough", port, tmp_path).splitlines()

    registered, logged_in, me, refreshed, logout, after, after_status = out
    assert json.loads(registered)["email"] == "ada@example.com"
    assert json.loads(logged_in)["expiresIn"] == 900
    assert json.loads(me)["firstName"] == "Ada"
    assert json.loads(refreshed) == {"expiresIn": 900}
    assert logout == "204"
    assert json.loads(after)["status"] == 401
    assert after_status == "401"
    assert (tmp_path / "data" / "gateway-auth.db").exists()  # DATA_DIR defaults to ./data

    token, me = _run_readme("programs", port, tmp_path).splitlines()
    assert json.loads(token)["scope"] == "reports"
    assert json.loads(me)["email"] == "reports@services.example"
    assert json.loads(me)["kind"] == "service"

    first_party = _run_readme("first-party", port, tmp_path).splitlines()
    assert json.loads(first_party[0])["email"] == "ada@example.com"
    assert json.loads(first_party[1])["token_type"] == "Bearer"

    token, verified = _run_readme("service-clients", port, tmp_path).splitlines()
    assert json.loads(token)["scope"] == "billing"
    assert verified == "200"

    live, revoked, dead = _run_readme("oauth-endpoints", port, tmp_path).splitlines()
    assert json.loads(live)["active"] is True
    assert json.loads(live)["username"] == "ada@example.com"
    assert revoked == "200"
    assert json.loads(dead) == {"active": False}
    assert list(tmp_path.glob("*cookies*")) == []  # the jar went to a temporary directory


def test_serve_stops_cleanly_on_sigterm(server: tuple[int, subprocess.Popen[str]]) -> None:
    _, process = server

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    output = server_output(process)

    assert process.returncode == 0
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert events[:4] == [
        "jwt_secret_generated",
        "encryption_key_generated",
        "started",
        "listening",
    ]


def test_serve_refuses_to_start_on_bad_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway_auth", "serve"],
        cwd=tmp_path,
        env=server_environment(JWT_ALGORITHM="EdDSA", PORT="99999"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "GATEWAY_AUTH_JWT_PRIVATE_KEY_FILE: required for EdDSA" in result.stderr
    assert "GATEWAY_AUTH_PORT='99999'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("data_dir", "message"),
    [("afile", "exists and is not a directory"), ("/proc/no-such-dir", "cannot be created")],
)
def test_serve_explains_an_unusable_data_dir(tmp_path: Path, data_dir: str, message: str) -> None:
    (tmp_path / "afile").touch()

    result = subprocess.run(
        [sys.executable, "-m", "gateway_auth", "serve"],
        cwd=tmp_path,
        env=server_environment(DATA_DIR=data_dir),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_corrupt_database_file_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "data" / "gateway-auth.db").write_bytes(b"this is not a database" * 100)

    status = main(["clients", "list"], {"GATEWAY_AUTH_DATA_DIR": str(tmp_path / "data")})

    assert status == 2
    assert "cannot use the database" in capsys.readouterr().err


@contextlib.contextmanager
def _create_with_a_terminal(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``clients create`` with a pseudo-terminal as stdin and stderr, and the pty's other end;
    the process is stopped and both ends closed on the way out, however the test went."""
    main_fd, terminal_fd = os.openpty()
    try:
        with spawned(
            [
                sys.executable,
                "-m",
                "gateway_auth",
                "clients",
                "create",
                "--email",
                "ada@example.com",
            ],
            cwd=tmp_path,
            env=server_environment(BCRYPT_ROUNDS="4"),
            stdin=terminal_fd,
            stdout=subprocess.PIPE,
            stderr=terminal_fd,
            start_new_session=True,  # no controlling terminal: getpass uses the pty on stdin
        ) as process:
            os.close(terminal_fd)
            terminal_fd = -1
            yield process, main_fd
    finally:
        for fd in (main_fd, terminal_fd):
            if fd >= 0:
                os.close(fd)


def _create_on_a_terminal(tmp_path: Path, *answers: str) -> tuple[int, str]:
    """Run ``clients create`` with a pseudo-terminal as stdin, typing ``answers`` at its prompts."""
    with _create_with_a_terminal(tmp_path) as (process, main_fd):
        seen = b""
        for answer in answers:
            while b"assword: " not in seen:
                seen += os.read(main_fd, 1024)
            seen = b""
            os.write(main_fd, answer.encode() + b"\n")
        output, _ = process.communicate(timeout=30)
    return process.returncode, output.decode()


def test_clients_create_asks_for_the_password_twice_on_a_terminal(tmp_path: Path) -> None:
    status, output = _create_on_a_terminal(tmp_path, PASSWORD, PASSWORD)

    assert status == 0
    assert json.loads(output)["email"] == "ada@example.com"


def test_clients_create_refuses_two_different_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, output = _create_on_a_terminal(tmp_path, PASSWORD, PASSWORD + "!")

    assert status == 1
    assert output == ""
    main(["clients", "list", "--json"], {"GATEWAY_AUTH_DATA_DIR": str(tmp_path / "data")})
    assert capsys.readouterr().out == ""  # nothing was created


@pytest.mark.parametrize("interrupt", ["ctrl-d", "ctrl-c"])
def test_ctrl_d_or_ctrl_c_at_the_password_prompt_cancels_cleanly(
    tmp_path: Path, interrupt: str
) -> None:
    with _create_with_a_terminal(tmp_path) as (process, main_fd):
        seen = b""
        while b"assword: " not in seen:
            seen += os.read(main_fd, 1024)
        if interrupt == "ctrl-d":
            os.write(main_fd, b"\x04")  # end of input at the prompt, as the terminal sends it
        else:
            process.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        output, _ = process.communicate(timeout=30)
        while True:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # the other side is closed: everything written has been read
                break
            if not chunk:
                break
            seen += chunk

    assert process.returncode == 130
    assert output == b""
    assert b"gateway-auth: interrupted; what was already written stays" in seen
    assert b"Traceback" not in seen


# Another process's change lands between the two listeners' answers to one poll.
@pytest.mark.no_parity
async def test_a_cli_suspension_reaches_a_running_embedded_server_within_a_second(
    http: AppClient, browser: Browser
) -> None:
    await browser.logged_in()
    client_id = (await browser.request("GET", "/verify")).headers["X-Auth-User-Id"]
    environ = {"GATEWAY_AUTH_DATA_DIR": str(http.app[SETTINGS].data_dir)}

    status = await asyncio.to_thread(main, ["clients", "suspend", client_id], environ)

    assert status == 0
    await eventually(lambda: verify_status_is(browser, 403), within=3, what="/verify answering 403")


def test_the_readme_move_commands_work_as_pasted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The block moves to MongoDB, which cannot run here; everything else runs as written, with
    # the import going into a second SQLite directory instead and without the final serve.
    port, process = start_server(tmp_path)
    try:
        _run_readme("walkthrough", port, tmp_path)
    finally:
        stop_server(process)
    gateway_auth = f"{sys.executable} -m gateway_auth"
    script = (
        _readme_block("move")
        .replace(
            "export GATEWAY_AUTH_MONGODB_URI='mongodb://localhost:27017'",
            "export GATEWAY_AUTH_DATA_DIR=moved",
        )
        .replace(".venv/bin/gateway-auth serve\n", "")
        .replace(".venv/bin/gateway-auth", gateway_auth)
    )
    assert "gateway_auth serve" not in script

    result = _bash(script, tmp_path)

    # The registration of the walk-through waits to mail its verification link: 1 pending event.
    assert "imported 1 client, 1 session, 1 pending event, 0 tombstones" in result.stderr
    moved = main(["clients", "list", "--json"], {"GATEWAY_AUTH_DATA_DIR": str(tmp_path / "moved")})
    assert moved == 0


def test_each_request_gets_one_access_line_with_its_route_and_request_id(
    server: tuple[int, subprocess.Popen[str]],
) -> None:
    port, process = server
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/clients/{'a' * 32}", headers={"X-Request-ID": "req-1"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 - http only
    assert refused.value.headers["X-Request-ID"] == "req-1"
    refused.value.close()

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    lines = [json.loads(line) for line in server_output(process).splitlines() if "{" in line]
    access = [line for line in lines if line.get("request_id") == "req-1"]

    assert [line["event"] for line in access] == ["request"]  # nothing else for an anonymous 401
    assert access[0]["route"] == "/admin/clients/{id}"
    assert access[0]["status"] == 401
    assert access[0]["request_id"] == "req-1"
    assert access[0]["duration_ms"] >= 0


def test_tail_hides_the_tokens_of_the_json_lines_it_prints() -> None:
    line = '{"type": "password-reset-requested", "link": "https://a.example/x?token=abc-_1"}'

    shown = hide_tokens(line)

    assert json.loads(shown)["link"] == "https://a.example/x?token=(hidden: --show-links)"


async def _cli(environ: dict[str, str], *args: str) -> int:
    return await asyncio.to_thread(main, list(args), environ)


# Another process's change lands between the two listeners' answers to one poll.
@pytest.mark.no_parity
async def test_operators_change_scopes_and_names_by_email_and_a_removed_scope_bites_at_once(
    http: AppClient, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    await browser.logged_in()
    environ = {"GATEWAY_AUTH_DATA_DIR": str(http.app[SETTINGS].data_dir)}

    added = await _cli(
        environ, "clients", "update", "ADA@example.com", "--add-scope", "billing",
        "--first-name", "Ada",
    )  # fmt: skip
    after_adding = json.loads(capsys.readouterr().out)
    await browser.login()  # a new session: its token carries the new scope
    allowed = await browser.request("GET", "/verify?scope=billing")
    removed = await _cli(
        environ, "clients", "update", "ada@example.com", "--remove-scope", "billing"
    )
    after_removing = json.loads(capsys.readouterr().out)
    both = await _cli(
        environ, "clients", "update", "ada@example.com", "--set-scopes", "a", "--add-scope", "b"
    )

    assert added == removed == 0
    assert after_adding["scopes"] == ["billing"]
    assert after_adding["firstName"] == "Ada"
    assert allowed.status == 200
    assert after_removing["scopes"] == []
    await eventually(lambda: verify_status_is(browser, 401), within=3, what="/verify answering 401")
    assert both == 2
    assert "--set-scopes replaces every scope" in capsys.readouterr().err


# Another process's change lands between the two listeners' answers to one poll.
@pytest.mark.no_parity
async def test_operators_list_and_end_sessions_and_start_a_reset_from_the_shell(
    http: AppClient, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    await browser.logged_in()
    environ = {"GATEWAY_AUTH_DATA_DIR": str(http.app[SETTINGS].data_dir)}

    listed = await _cli(environ, "clients", "sessions", "ada@example.com", "--json")
    sessions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ended = await _cli(environ, "clients", "end-session", "ada@example.com", sessions[0]["id"])
    ended_message = capsys.readouterr().err
    unknown = await _cli(environ, "clients", "end-session", "ada@example.com", "nope")
    unknown_message = capsys.readouterr().err
    reset = await _cli(environ, "clients", "reset-password", "ada@example.com")
    reset_message = capsys.readouterr().err
    pending = await http.app[SERVICES].store.pending_events(10)

    assert listed == ended == reset == 0
    assert len(sessions) == 1
    assert "ended 1 session" in ended_message
    await eventually(lambda: verify_status_is(browser, 401), within=3, what="/verify answering 401")
    assert unknown == 1
    assert unknown_message.strip() == "gateway-auth: No such session."
    assert "a reset link for ada@example.com is queued" in reset_message
    assert [p.event.type for p in pending][-1] == "password-reset-requested"


def test_the_last_admin_is_kept_and_unknown_emails_are_named(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(environ, monkeypatch, "--email", "root@example.com", "--scope", "admin")
    capsys.readouterr()

    suspend = main(["clients", "suspend", "root@example.com"], environ)
    suspend_err = capsys.readouterr().err
    delete = main(["clients", "delete", "root@example.com"], environ)
    delete_err = capsys.readouterr().err
    demote = main(["clients", "update", "root@example.com", "--set-scopes", ""], environ)
    demote_err = capsys.readouterr().err
    unknown = main(["clients", "show", "nobody@example.com"], environ)
    unknown_err = capsys.readouterr().err

    assert suspend == delete == demote == unknown == 1
    assert "last active client holding the admin scope" in suspend_err
    assert suspend_err == delete_err == demote_err
    assert unknown_err.strip() == "gateway-auth: No such client."


def test_shell_completion_scripts_complete_commands(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["completion", "bash"], {})
    script = capsys.readouterr().out
    env = {**server_environment(), "COMP_WORDS": "gateway-auth clients su", "COMP_CWORD": "2",
           "_GATEWAY_AUTH_COMPLETE": "bash_complete"}  # fmt: skip
    completed = subprocess.run(
        [sys.executable, "-m", "gateway_auth"], env=env, capture_output=True, text=True, check=False
    )

    assert status == 0
    assert "_GATEWAY_AUTH_COMPLETE=bash_complete" in script
    assert completed.stdout.split() == ["plain,suspend"]


def test_an_unreachable_redis_is_named_not_called_a_configuration_problem(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _create(environ, monkeypatch, "--email", "ada@example.com")
    capsys.readouterr()
    unreachable = {**environ, "GATEWAY_AUTH_REDIS_URL": "redis://127.0.0.1:1/0"}

    status = main(["clients", "suspend", "ada@example.com"], unreachable)
    err = capsys.readouterr().err

    assert status == 1
    assert "Redis could not be told" in err
    assert "check that Redis (GATEWAY_AUTH_REDIS_URL) can be reached" in err
    assert "invalid configuration" not in err
    assert "Traceback" not in err


async def verify_status_is(browser: Browser, status: int) -> bool:
    return (await browser.request("GET", "/verify")).status == status


async def test_operators_see_and_reset_second_factors_from_the_shell(
    http: AppClient, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    await browser.logged_in()
    ada = (await browser.request("GET", "/me")).json()["id"]
    store, now = http.app[SERVICES].store, http.app[SERVICES].clock()
    await store.put_totp(TotpFactor(ada, "v1.k.SEALED-SECRET", now, now, 1))
    await store.replace_recovery_codes(ada, ["h1", "h2"])
    environ = {"GATEWAY_AUTH_DATA_DIR": str(http.app[SETTINGS].data_dir)}

    shown = await _cli(environ, "clients", "show", "ada@example.com")
    before = json.loads(capsys.readouterr().out)
    reset = await _cli(environ, "clients", "reset-second-factor", "ada@example.com")
    reset_message = capsys.readouterr().err
    again = await _cli(environ, "clients", "reset-second-factor", "ada@example.com")
    again_message = capsys.readouterr().err
    await _cli(environ, "clients", "show", ada)
    after = json.loads(capsys.readouterr().out)

    assert shown == reset == again == 0
    assert before["secondFactors"] == {
        "authenticatorApp": True,
        "passkeys": [],
        "recoveryCodesLeft": 2,
    }
    assert "SEALED-SECRET" not in json.dumps(before)
    assert "removed its second factors" in reset_message
    assert "it had no second factor" in again_message
    assert after["secondFactors"] == {
        "authenticatorApp": False,
        "passkeys": [],
        "recoveryCodesLeft": 0,
    }


async def test_operators_see_and_unlink_identities_from_the_shell(
    http: AppClient, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    await browser.logged_in()
    ada = (await browser.request("GET", "/me")).json()["id"]
    store, now = http.app[SERVICES].store, http.app[SERVICES].clock()
    await store.link_identity(LinkedIdentity("github", "583231", ada, "ada@example.com", now))
    environ = {"GATEWAY_AUTH_DATA_DIR": str(http.app[SETTINGS].data_dir)}

    listed = await _cli(environ, "clients", "identities", "ada@example.com", "--json")
    shown = json.loads(capsys.readouterr().out)
    unlinked = await _cli(environ, "clients", "unlink", "ada@example.com", "github", "583231")
    said = capsys.readouterr().err
    missing = await _cli(environ, "clients", "unlink", "ada@example.com", "github", "583231")
    missing_said = capsys.readouterr().err

    assert listed == unlinked == 0
    assert shown["provider"] == "github"
    assert shown["subject"] == "583231"
    assert "unlinked github 583231" in said
    assert await store.identity("github", "583231") is None
    assert missing == 1
    assert "There is no such linked identity on this account." in missing_said
