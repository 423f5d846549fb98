"""Test helpers: an injected clock and a browser that keeps cookies the way browsers do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES, SETTINGS
from gateway_auth.stores.base import Suspension
from tests import conformance

PASSWORD = "correct horse battery staple"
# Signing secrets as `openssl rand -base64 32` makes them: start-up refuses anything weaker.
JWT_SECRET = "7seTkoTj_pU64USdnDTkrzwkTQdbgrtpTKt5wqi_fuo"
OTHER_JWT_SECRET = "OHOOBKS3Tar4bDD-Q-sKteYjzdcC6tQHpvLDiG7AN7E"
PEPPER = "e5uxttIYFpG7tipeIW0VoKGif4M-pzoJ"
# Text that must never reach a caller: bcrypt hashes, tracebacks, driver and library messages.
LEAKS = ("$2b$", "$2a$", "Traceback", "sqlite", "pymongo", "E11000", 'File "', "Error:")

AppClient = TestClient[Any, Any]


# What a browser sends when a person loads a page or submits a form.
PAGE_LOAD = {
    "Accept": "text/html,application/xhtml+xml",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}
_FORM_TOKEN = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def require_binary(name: str) -> str:
    """The path of a tool a test needs: skipped without it on a laptop, a failure under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def present() -> datetime:
    """The real present, to the second: where fixed moments in tests start from.

    Never a calendar date: libraries (the MongoDB emulation's TTL indexes, cookie jars) compare
    times with the wall clock, so a fixed date turns into a time bomb.
    """
    return datetime.now(UTC).replace(microsecond=0)


class FakeClock:
    """A clock that starts at the real present and then only moves when a test moves it."""

    def __init__(self) -> None:
        self.now = present()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Browser:
    """Keeps cookies by name and path as a browser does, and checks every answer for leaks."""

    http: AppClient
    cookies: dict[str, Morsel[str]] = field(default_factory=dict)
    last_set_cookies: list[Morsel[str]] = field(default_factory=list)

    async def request(self, method: str, path: str, **kwargs: Any) -> Response:
        headers = dict(kwargs.pop("headers", {}))
        sendable = [m for m in self.cookies.values() if path.startswith(m["path"] or "/")]
        if sendable:
            headers["Cookie"] = "; ".join(f"{m.key}={m.value}" for m in sendable)
        async with self.http.request(
            method, path, headers=headers, allow_redirects=False, **kwargs
        ) as raw:
            response = await Response.read(raw)
        # Every answer must be one the OpenAPI document describes (tests/conformance.py).
        undocumented = conformance.problems(
            self.http.app[SETTINGS].base_path,
            method,
            str(path),
            response.status,
            response.headers.get("Content-Type", ""),
            response.text,
        )
        assert not undocumented, undocumented
        self.last_set_cookies = response.set_cookies
        for morsel in response.set_cookies:
            if morsel["max-age"] == "0":
                self.cookies.pop(morsel.key, None)
            else:
                self.cookies[morsel.key] = morsel
        return response

    async def register(
        self, email: str = "ada@example.com", password: str = PASSWORD, **extra: Any
    ) -> Response:
        return await self.request(
            "POST", "/register", json={"email": email, "password": password, **extra}
        )

    async def login(self, email: str = "ada@example.com", password: str = PASSWORD) -> Response:
        return await self.request("POST", "/login", json={"email": email, "password": password})

    async def logged_in(self, email: str = "ada@example.com") -> Browser:
        """Register ``email`` with the test password and log in, as most tests begin."""
        await self.register(email=email)
        response = await self.login(email)
        assert response.status == 200, response.text
        return self

    async def page(self, path: str, **headers: str) -> Response:
        """Load a page the way a person does."""
        return await self.request("GET", path, headers={**PAGE_LOAD, **headers})

    @property
    def origin(self) -> str:
        """The origin this browser's pages come from."""
        return str(self.http.make_url("/")).rstrip("/")

    async def submit(
        self, page: Response, action: str, fields: dict[str, str], **headers: str
    ) -> Response:
        """Submit a form of ``page`` as the browser would: its token, this origin, no JS."""
        match = _FORM_TOKEN.search(page.text)
        assert match, f"no form token on the page: {page.text[:300]}"
        sent = {**PAGE_LOAD, "Origin": self.origin, "Sec-Fetch-Site": "same-origin", **headers}
        return await self.request("POST", action, data={"csrf": match[1], **fields}, headers=sent)

    async def signed_in_by_form(
        self, email: str = "ada@example.com", *, remember: bool = False
    ) -> Response:
        """Sign in through the sign-in page's form; the answer (a 303 on success)."""
        page = await self.page("/login")
        fields = {"email": email, "password": PASSWORD} | ({"remember": "on"} if remember else {})
        return await self.submit(page, "/login", fields)

    def access_cookie(self) -> str:
        return next(
            m.value for m in self.cookies.values() if not m.key.endswith(("_refresh", "_csrf"))
        )

    def refresh_cookie(self) -> str:
        return next(m.value for m in self.cookies.values() if m.key.endswith("_refresh"))


async def store_suspends(http: AppClient, client_id: str) -> None:
    """Set the suspended flag in the store only, as another instance's write would land."""
    await http.app[SERVICES].store.set_suspended(
        client_id, Suspension(True, http.app[SERVICES].clock())
    )


async def admin(http: AppClient, browser: Browser) -> Browser:
    """Log ``browser`` in as root@example.com, holding the admin and billing scopes."""
    new = NewClient("root@example.com", PASSWORD, "Ada", "Lovelace")
    await http.app[SERVICES].accounts.create(new, kind="user", scopes=["admin", "billing"])
    response = await browser.login("root@example.com")
    assert response.status == 200
    return browser


async def registrations_from_many_addresses(browser: Browser, count: int) -> list[Response]:
    """``count`` registrations at once, each from its own address (the test client is a
    trusted proxy), so the per-address limits stay out of the way."""
    return await asyncio.gather(
        *(
            browser.request(
                "POST",
                "/register",
                json={"email": f"user{i}@example.com", "password": PASSWORD},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            for i in range(count)
        )
    )


@dataclass
class Response:
    """What a test looks at: status, headers, text, parsed JSON and the Set-Cookie morsels."""

    status: int
    headers: Any
    text: str
    set_cookies: list[Morsel[str]]

    @classmethod
    async def read(cls, raw: ClientResponse) -> Response:
        text = await raw.text()
        for leak in LEAKS:
            assert leak not in text, f"response leaks {leak!r}: {text[:300]}"
        morsels: list[Morsel[str]] = []
        for header in raw.headers.getall("Set-Cookie", []):
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            morsels.extend(parsed.values())
        return cls(raw.status, raw.headers, text, morsels)

    def json(self) -> Any:
        return json.loads(self.text)

    def cookie(self, name: str) -> Morsel[str]:
        return next(m for m in self.set_cookies if m.key == name)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


class RedisServer:
    """A real redis-server of the test session's own, on a free port, that tests may kill."""

    def __init__(self, directory: Path, *extra: str) -> None:
        self.binary = require_binary("redis-server")
        self.port = free_port()
        self.directory = directory
        self.extra = extra  # more redis-server arguments, e.g. --replicaof
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class SentinelCluster:
    """A real primary, a replica and three sentinels (``redis-server --sentinel``), all on free
    ports, with failover tuned to take a few seconds rather than the default half minute."""

    SERVICE = "gateway-auth"

    def __init__(self, directory: Path) -> None:
        for name in ("primary", "replica", "sentinels"):
            (directory / name).mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.primary = RedisServer(directory / "primary")
        self.replica = RedisServer(directory / "replica", "--replicaof", "127.0.0.1", "0")
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def start(self) -> None:
        self.primary.start()
        self.replica.extra = ("--replicaof", "127.0.0.1", str(self.primary.port))
        self.replica.start()
        for n, port in enumerate(self.sentinel_ports):
            config = self.directory / "sentinels" / f"sentinel-{n}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {config.parent}\n"
                f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
                f"sentinel failover-timeout {self.SERVICE} 3000\n"
            )
            self.sentinels.append(
                subprocess.Popen(
                    [self.primary.binary, str(config), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for_port(port)
        self.wait(lambda: self._ask("SENTINEL", "REPLICAS", self.SERVICE) != [], "a replica")
        self.wait(lambda: len(self._ask("SENTINEL", "SENTINELS", self.SERVICE)) == 2, "quorum")

    def primary_port(self) -> int:
        """The port the sentinels currently name as the primary."""
        return int(self._ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.SERVICE)[1])

    def wait(self, condition: Callable[[], bool], what: str, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"the sentinels did not see {what} within {within} s")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in self.sentinels:
            process.kill()
            process.wait()
        self.replica.stop()
        self.primary.stop()

    def _ask(self, *command: str) -> Any:
        client = redis_sync.Redis(port=self.sentinel_ports[0], socket_timeout=2)
        try:
            return client.execute_command(*command)  # type: ignore[no-untyped-call]
        finally:
            client.close()


def server_environment(**settings: str) -> dict[str, str]:
    """This process's environment without its GATEWAY_AUTH_* variables, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_AUTH_")}
    return env | {f"GATEWAY_AUTH_{k}": v for k, v in settings.items()}


def start_server(cwd: Path, **settings: str) -> tuple[int, subprocess.Popen[str]]:
    """A real ``gateway-auth serve`` process on a free port, once it answers /healthz."""
    port, process = launch_server(cwd, **settings)
    wait_until_healthy(port, process)
    return port, process


def launch_server(cwd: Path, **settings: str) -> tuple[int, subprocess.Popen[str]]:
    """A real ``gateway-auth serve`` process on a free port, just started."""
    port = free_port()
    # Output goes to a file: a pipe nobody reads fills up and blocks the server's logging.
    with (cwd / f"server-{port}.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway_auth", "serve"],
            cwd=cwd,
            env=server_environment(PORT=str(port), BCRYPT_ROUNDS="4")
            | server_environment(**settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its workers too are stopped with it (stop_server)
        )
    _SERVER_LOGS[process.pid] = cwd / f"server-{port}.log"
    return port, process


def wait_until_healthy(port: int, process: subprocess.Popen[str]) -> None:
    """Until the server on ``port`` answers /healthz; fails the test if it exits or hangs."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {stop_server(process)}")
            time.sleep(0.1)


def stop_server(process: subprocess.Popen[str]) -> str:
    """Kill the server and every worker it spawned, if they still run; everything it printed.

    Killing the supervisor alone would orphan its WORKERS, which would run on after the test.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return server_output(process)


def server_output(process: subprocess.Popen[str]) -> str:
    """Everything a server started by ``start_server`` printed so far."""
    return _SERVER_LOGS[process.pid].read_text()


_SERVER_LOGS: dict[int, Path] = {}
