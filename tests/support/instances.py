"""Real server processes reached over HTTP: a call, the CLI beside them, a signed-in cookie."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

from tests.support.credentials import PASSWORD
from tests.support.processes import server_environment
from tests.support.waiting import until


def call(
    port: int, method: str, path: str, body: object = None, cookie: str = ""
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def gateway_auth_cli(settings: dict[str, str], *args: str) -> None:
    """Run the CLI as another process on the servers' configuration."""
    subprocess.run(
        [sys.executable, "-m", "gateway_auth", *args],
        env=server_environment(**settings),
        check=True,
        capture_output=True,
        timeout=60,
    )


def login(port: int, email: str) -> str:
    call(port, "POST", "/register", {"email": email, "password": PASSWORD})
    status, headers, _ = call(port, "POST", "/login", {"email": email, "password": PASSWORD})
    assert status == 200
    return headers["Set-Cookie"].split(";")[0]


def statuses(port: int, cookie: str, count: int = 10) -> set[int]:
    return {call(port, "GET", "/verify", cookie=cookie)[0] for _ in range(count)}


def wait_until(port: int, cookie: str, expected: int, within: float) -> None:
    """Until every one of a few ``/verify`` answers on ``port`` is ``expected``."""
    until(
        lambda: statuses(port, cookie, 4) == {expected},
        within=within,
        what=f"/verify settling on {expected}",
    )
