"""Every gateway against its own ceiling: nginx, Caddy, Traefik and Envoy, each three ways.

- ``<gateway>_no_auth``: the gateway proxying to the upstream with no auth at all (a minimal
  configuration of its own, below): what the gateway itself costs.
- ``<gateway>_free_auth``: the shipped recipe (deploy/, as the gateway tests run it) whose auth
  server costs nothing: nginx's ``return 200`` answers the forward-auth request.
- ``<gateway>_gateway_auth``: the same recipe asking gateway-auth (BASE_PATH=/auth, the
  gateways trusted, one worker).

The upstream of all three is nginx's ``return 200``. The budget line is gateway-auth against
the free auth server, in alternating rounds: what a real auth server costs a site behind that
gateway, beyond what forward auth costs anyway.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml
from harness import Run, ensure, load, median_run

from tests.support.processes import free_port, spawned
from tests.support.recipes import envoy_binary, traefik_binary
from tests.support.recipes import gateway as recipe

GATEWAYS = ("nginx", "caddy", "traefik", "envoy")
READY_WITHIN = 30.0


def measure(
    wrk: str, work: Path, static: int, proxied: int, *, auth: int, cookie: str, rounds: int
) -> tuple[dict[str, Run], list[dict[str, Run]]]:
    """Every gateway's three runs: the no-auth run once, the recipe pair in alternating rounds;
    ``proxied`` is nginx's plain proxy to ``static`` (its no-auth run), ``auth`` gateway-auth."""
    results: dict[str, Run] = {}
    all_rounds: list[dict[str, Run]] = [{} for _ in range(rounds)]
    for kind in GATEWAYS:
        if kind == "caddy":
            ensure("caddy", "caddy")
        with ExitStack() as stack:
            plain = (
                proxied
                if kind == "nginx"
                else stack.enter_context(_no_auth(kind, work / f"{kind}-plain", static))
            )
            free = stack.enter_context(_recipe(kind, work / f"{kind}-free", static, static))
            checked = stack.enter_context(_recipe(kind, work / f"{kind}-checked", auth, static))
            for port in (plain, free, checked):
                _wait_for_200(port, cookie)
            results[f"{kind}_no_auth"] = load(wrk, f"{kind}_no_auth", plain, cookie, path="/")
            for one in all_rounds:
                one[f"{kind}_free_auth"] = load(wrk, f"{kind}_free_auth", free, cookie, path="/")
                one[f"{kind}_gateway_auth"] = load(
                    wrk, f"{kind}_gateway_auth", checked, cookie, path="/"
                )
    results |= {name: median_run([one[name] for one in all_rounds]) for name in all_rounds[0]}
    return results, all_rounds


@contextmanager
def _recipe(kind: str, directory: Path, auth: int, upstream: int) -> Iterator[int]:
    directory.mkdir()
    with recipe(kind, directory, auth, upstream) as port:
        yield port


@contextmanager
def _no_auth(kind: str, directory: Path, upstream: int) -> Iterator[int]:
    """``kind`` proxying every request to ``upstream``, and nothing else."""
    directory.mkdir()
    port = free_port()
    env = {**os.environ, "HOME": str(directory), "XDG_DATA_HOME": str(directory / "data")}
    if kind == "caddy":
        config = directory / "Caddyfile"
        config.write_text(
            f"{{\n\tadmin 127.0.0.1:{free_port()}\n\tauto_https off\n}}\n"
            f"http://127.0.0.1:{port} {{\n\treverse_proxy 127.0.0.1:{upstream}\n}}\n"
        )
        command = [ensure("caddy", "caddy"), "run", "--config", str(config)]
        command += ["--adapter", "caddyfile"]
    elif kind == "traefik":
        routes = directory / "dynamic.yml"
        routes.write_text(yaml.safe_dump(_traefik_routes(upstream)))
        static = {
            "entryPoints": {"web": {"address": f"127.0.0.1:{port}"}},
            "providers": {"file": {"filename": str(routes)}},
            "log": {"level": "WARN"},
        }
        config = directory / "traefik.yml"
        config.write_text(yaml.safe_dump(static))
        command = [traefik_binary(), f"--configFile={config}"]
    else:
        config = directory / "envoy.yaml"
        config.write_text(yaml.safe_dump(_envoy_proxy(port, upstream)))
        command = [envoy_binary(), "-c", str(config), "-l", "warning"]
        command += ["--disable-hot-restart", "--concurrency", "1"]
    log = directory / "gateway.log"
    with log.open("wb") as out, spawned(command, stdout=out, stderr=out, env=env):
        yield port


def _traefik_routes(upstream: int) -> dict[str, object]:
    return {
        "http": {
            "routers": {"app": {"rule": "PathPrefix(`/`)", "service": "app"}},
            "services": {
                "app": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{upstream}"}]}}
            },
        }
    }


def _envoy_proxy(port: int, upstream: int) -> dict[str, object]:
    def address(where: int) -> dict[str, object]:
        return {"socket_address": {"address": "127.0.0.1", "port_value": where}}

    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network"
        ".http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "plain",
        "route_config": {
            "virtual_hosts": [
                {"name": "all", "domains": ["*"], "routes": [_route_to("app")]},
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    return {
        "admin": {"address": address(free_port())},
        "static_resources": {
            "listeners": [
                {
                    "name": "plain",
                    "address": address(port),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "app",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "app",
                        "endpoints": [
                            {"lb_endpoints": [{"endpoint": {"address": address(upstream)}}]}
                        ],
                    },
                }
            ],
        },
    }


def _route_to(cluster: str) -> dict[str, object]:
    return {"match": {"prefix": "/"}, "route": {"cluster": cluster}}


def _wait_for_200(port: int, cookie: str) -> None:
    """Until ``/`` answers 200 with ``cookie`` (Traefik loads its routes after it listens)."""
    deadline = time.monotonic() + READY_WITHIN
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Cookie": cookie})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the gateway on port {port} never answered 200")
        time.sleep(0.2)
