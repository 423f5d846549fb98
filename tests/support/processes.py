"""Processes the tests start: each on a port of its own, each stopped (and its pipes closed)
however the test ends.

``free_port`` picks ports below the range the kernel takes outgoing connections' ports from,
so a connection opened between choosing a port and binding it cannot take it; a server of the
test's own process listens on a socket bound before it starts (``listening_socket``).
The benchmark harness (``benchmarks/run.py``) starts redis-server and nginx with the same
helpers.
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync

from tests.support.tls import TlsFiles, redis_tls_arguments
from tests.support.waiting import until

_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=4096)
NGINX_MAIN = """
{user}
worker_processes {workers};
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log {level};
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{include}
}}
"""


def require_binary(name: str) -> str:
    """The path of a tool a test needs: skipped without it on a laptop, a failure under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port nobody listens on right now, never one handed out before in this process,
    and outside the kernel's range for outgoing connections' own ports."""
    low = _ephemeral_low()
    for _ in range(1000):
        port = random.randrange(max(1024, low - 16_384), low)  # noqa: S311 - not a secret
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.append(port)
        return port
    raise RuntimeError("no free port found")


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def listening_socket() -> socket.socket:
    """A socket on loopback, bound to a port the kernel chose and listening: a server of this
    process starts on it with no window in which another could take its port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def port_of(sock: socket.socket) -> int:
    """The port a socket from ``listening_socket`` listens on."""
    port: int = sock.getsockname()[1]
    return port


def accepts(port: int) -> bool:
    """Whether something accepts connections on ``port`` now."""
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


def wait_for_port(port: int, within: float = 10.0) -> None:
    """Until something accepts connections on ``port``."""
    until(lambda: accepts(port), within=within, what=f"something listening on port {port}")


@contextlib.contextmanager
def spawned(command: list[str], **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """``subprocess.Popen(command, **popen)``, stopped on the way out whatever happened."""
    process: subprocess.Popen[Any] = subprocess.Popen(command, **popen)
    try:
        yield process
    finally:
        stop(process, group=bool(popen.get("start_new_session")))


def stop(process: subprocess.Popen[Any], *, group: bool = False) -> None:
    """Kill ``process`` (and its process group when it leads one) if it still runs, reap it,
    and close the pipes this process holds to it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def redis_command(binary: str, port: int, directory: Path, *extra: str) -> list[str]:
    """redis-server on loopback, keeping nothing on disk."""
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        *extra,
    ]


def nginx_main(directory: Path, include: str, *, workers: int = 1, level: str = "warn") -> str:
    """nginx's main configuration for a process of the tests' own in ``directory``, with
    ``include`` (server blocks, or an ``include`` of them) inside its ``http`` block."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    return NGINX_MAIN.format(
        user=user, workers=workers, dir=directory, level=level, include=include
    )


class RedisServer:
    """A real redis-server of the test session's own, on a free port, that tests may kill."""

    def __init__(self, directory: Path, *extra: str, tls: TlsFiles | None = None) -> None:
        self.binary = require_binary("redis-server")
        self.port = free_port()
        self.directory = directory
        self.extra = extra  # more redis-server arguments, e.g. --replicaof
        self.tls = tls  # TLS only, on ``port``
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.tls is not None:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls.ca}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        tls = () if self.tls is None else redis_tls_arguments(self.tls, self.port)
        self.process = subprocess.Popen(
            redis_command(self.binary, self.port, self.directory, *self.extra, *tls),
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
    ports, with failover tuned to take a few seconds rather than the default half minute. With
    ``tls``, every one of them speaks TLS only (the sentinels to the servers too)."""

    SERVICE = "gateway-auth"

    def __init__(self, directory: Path, *, tls: TlsFiles | None = None) -> None:
        for name in ("primary", "replica", "sentinels"):
            (directory / name).mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.tls = tls
        self.primary = RedisServer(directory / "primary", tls=tls)
        self.replica = RedisServer(directory / "replica", "--replicaof", "127.0.0.1", "0", tls=tls)
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        if self.tls is not None:
            return f"rediss+sentinel://{hosts}/{self.SERVICE}/0?ssl_ca_certs={self.tls.ca}"
        return f"redis+sentinel://{hosts}/{self.SERVICE}/0"

    def start(self) -> None:
        self.primary.start()
        self.replica.extra = ("--replicaof", "127.0.0.1", str(self.primary.port))
        self.replica.start()
        for n, port in enumerate(self.sentinel_ports):
            config = self.directory / "sentinels" / f"sentinel-{n}.conf"
            tls = self.tls
            listen = (
                f"port {port}\n"
                if tls is None
                else f"port 0\ntls-port {port}\ntls-cert-file {tls.certificate}\n"
                f"tls-key-file {tls.key}\ntls-ca-cert-file {tls.ca}\ntls-auth-clients no\n"
                "tls-replication yes\n"
            )
            config.write_text(
                f"{listen}bind 127.0.0.1\ndir {config.parent}\n"
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
        until(condition, within=within, what=f"the sentinels seeing {what}")

    def stop(self) -> None:
        for process in self.sentinels:
            process.kill()
            process.wait()
        self.replica.stop()
        self.primary.stop()

    def _ask(self, *command: str) -> Any:
        client = redis_sync.Redis(
            port=self.sentinel_ports[0],
            socket_timeout=2,
            ssl=self.tls is not None,
            ssl_ca_certs=None if self.tls is None else str(self.tls.ca),
        )
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
    """Until the server on ``port`` answers /healthz; fails the test, with everything the server
    printed, if it exits or does not answer in time."""

    def answers_or_exited() -> bool:
        if process.poll() is not None:
            return True
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return True
        except OSError:
            return False

    with contextlib.suppress(pytest.fail.Exception):  # said below, with the server's output
        until(answers_or_exited, within=20, what=f"gateway-auth answering on port {port}")
    if process.poll() is not None or not accepts(port):
        pytest.fail(f"server did not start: {stop_server(process)}")


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
