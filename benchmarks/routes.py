"""The routes that read and write the store, as their callers use them: a browser's ``/me``,
``/me/sessions`` and account page, its ``POST /refresh``, a service's client-credentials
``/token`` and its ``/introspect``.

``route_server`` starts gateway-auth on the embedded store (or another checkout's code, to
compare with) with what those calls need: a signed-in browser, sessions to refresh, and a
service client holding the ``introspect`` scope; ``load_route`` puts one of them under wrk.
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import CONNECTIONS, Run, gateway, gateway_environ, run_wrk

ROUTES = ("me", "me_sessions", "portal_page", "refresh", "token_client_credentials", "introspect")
# Sessions for POST /refresh to rotate: twice the connections, so every request finds one free.
REFRESH_SESSIONS = 2 * CONNECTIONS


@dataclass(frozen=True)
class Target:
    """A gateway-auth to put the routes under load, and what their requests carry."""

    port: int
    cookie: str  # the browser's access cookie (name=value)
    service_basic: str  # Authorization for the service client (id:secret, Basic)
    work: Path  # where files for wrk go


@contextmanager
def route_server(
    data_dir: Path, env: dict[str, str], *, tree: Path | None = None
) -> Iterator[Target]:
    """gateway-auth with ``env`` (and ``tree``'s code, when given), set up for every route;
    guests on, which is how POST /refresh gets new sessions quickly (no password to hash)."""
    env = {"GUESTS": "true", **env}
    with gateway(data_dir, env, tree=tree) as (port, cookie):
        client_id, secret = _service_client(data_dir, port, env, tree)
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        yield Target(port, cookie, f"Basic {basic}", data_dir.parent)


def load_route(wrk: str, name: str, route: str, target: Target) -> Run:
    """wrk against one of ROUTES on ``target``; the run is called ``name``."""
    headers: list[str] = []
    env: dict[str, str] = {}
    script, path = "report.lua", {"me": "/me", "me_sessions": "/me/sessions"}.get(route, "/")
    if route in ("me", "me_sessions", "portal_page"):
        headers.append(f"Cookie: {target.cookie}")
    if route == "portal_page":
        headers.append("Accept: text/html")  # a person's navigation: the account page
    elif route == "refresh":
        # A rotated refresh token is spent: every run starts from sessions of its own.
        script, path = "refresh.lua", "/refresh"
        sessions = target.work / f"sessions-{target.port}.txt"
        pairs = [_guest(target.port) for _ in range(REFRESH_SESSIONS)]
        sessions.write_text("".join(f"{access} {refresh}\n" for access, refresh in pairs))
        env["BENCH_SESSIONS"] = str(sessions)
    elif route in ("token_client_credentials", "introspect"):
        script = "post.lua"
        headers.append(f"Authorization: {target.service_basic}")
        env["BENCH_CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        if route == "introspect":
            path, env["BENCH_BODY"] = "/introspect", f"token={target.cookie.split('=', 1)[1]}"
        else:
            path, env["BENCH_BODY"] = "/token", "grant_type=client_credentials"
    url = f"http://127.0.0.1:{target.port}{path}"
    return run_wrk(wrk, name, url, script=script, headers=headers, env=env)


def _service_client(
    data_dir: Path, port: int, env: dict[str, str], tree: Path | None
) -> tuple[str, str]:
    """A service client with the introspect scope, made with the CLI on the same store."""
    command = [sys.executable, "-m", "gateway_auth", "clients", "create", "--kind", "service"]
    command += ["--email", "service@example.com", "--scope", "introspect"]
    done = subprocess.run(
        command,
        env=gateway_environ(data_dir, port, env, tree),
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    created = json.loads(done.stdout.strip().splitlines()[-1])
    return created["id"], created["clientSecret"]


def _guest(port: int) -> tuple[str, str]:
    """A new guest's session: its access and refresh cookies (name=value each)."""
    headers = _post(port, "/guests", {"cookies": True})
    cookies = [value.split(";")[0] for value in headers.get_all("Set-Cookie") or []]
    access = next(c for c in cookies if "_refresh=" not in c and "_device=" not in c)
    return access, next(c for c in cookies if "_refresh=" in c)


def _post(port: int, path: str, body: dict[str, object]) -> http.client.HTTPMessage:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers
