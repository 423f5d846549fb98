"""The deployment artefacts, checked with the real tools where they run here (promtool,
docker-compose, pip for the image's build stage) and parsed and cross-checked elsewhere.
nginx and Caddy run the recipes with real traffic in tests/gateways."""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_auth.access.verdict import IDENTITY_HEADERS
from gateway_auth.config.settings import Settings
from gateway_auth.errors import ConfigurationError
from tests.support.credentials import ENCRYPTION_KEY, JWT_SECRET, PEPPER
from tests.support.processes import free_port, require_binary, start_server, stop_server
from tests.support.project import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE_ENV = {
    "GATEWAY_AUTH_JWT_SECRET": JWT_SECRET,
    "GATEWAY_AUTH_ENCRYPTION_KEY": ENCRYPTION_KEY,
    "MONGO_PASSWORD": PEPPER,
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[Any]:
    return list(yaml.safe_load_all(path.read_text()))


def test_prometheus_config_and_alert_rules_pass_promtool() -> None:
    promtool = require_binary("promtool")

    for command in (
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "gateway-auth-alerts.yml"],
    ):
        done = subprocess.run(
            [promtool, *command],
            cwd=DEPLOY / "prometheus",
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_alerts_cover_5xx_mirror_and_backlog_with_series_that_exist() -> None:
    rules = load(DEPLOY / "prometheus" / "gateway-auth-alerts.yml")["groups"][0]["rules"]
    exported = set(
        re.findall(r'"(gateway_auth_\w+)"', (ROOT / "gateway_auth" / "metrics.py").read_text())
    )
    suffixes = ("_total", "_bucket", "_count", "_sum")

    names = {rule["alert"] for rule in rules}
    assert {"GatewayAuthHigh5xx", "GatewayAuthMirrorStale", "GatewayAuthOutboxBacklog"} <= names
    for rule in rules:
        for series in re.findall(r"gateway_auth_\w+", rule["expr"]):
            base = next((series.removesuffix(s) for s in suffixes if series.endswith(s)), series)
            assert base in exported, f"{rule['alert']} uses {series}, which is not exported"


def test_compose_file_is_valid_and_wired_as_documented() -> None:
    compose = load(ROOT / "docker-compose.yml")
    services = compose["services"]

    assert {"mongo", "redis", "gateway-auth", "app", "nginx", "traefik"} <= set(services)
    assert services["gateway-auth"]["depends_on"] == {
        "mongo": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["nginx"]["depends_on"]["gateway-auth"] == {"condition": "service_healthy"}
    assert services["traefik"]["profiles"] == ["traefik"]
    for name in ("mongo", "redis"):
        assert "healthcheck" in services[name]
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required == set(example)  # every secret compose needs is in .env.example
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    return [require_binary("docker-compose")]


def test_docker_compose_config_accepts_the_file_and_demands_the_secrets() -> None:
    command = [*_compose_command(), "-f", str(ROOT / "docker-compose.yml")]
    base = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}

    good = subprocess.run(
        [*command, "config", "-q"],
        env=base | COMPOSE_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    bad = subprocess.run(
        [*command, "config", "-q"],
        env=base,
        capture_output=True,
        text=True,
        check=False,
        cwd=DEPLOY,
    )

    assert good.returncode == 0, good.stderr
    assert bad.returncode != 0
    assert "set GATEWAY_AUTH_JWT_SECRET in .env" in bad.stderr or "set MONGO_PASSWORD" in bad.stderr


def test_env_example_holds_no_usable_secret_and_compose_refuses_it_as_copied() -> None:
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    base = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}

    command = [*_compose_command(), "-f", str(ROOT / "docker-compose.yml")]
    env_file = ["--env-file", str(ROOT / ".env.example")]

    def config(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *env_file, "config", "-q"],
            env=base | env,
            capture_output=True,
            text=True,
            check=False,
        )

    copied = config()
    password_set = config(MONGO_PASSWORD=PEPPER)

    assert values == {
        "GATEWAY_AUTH_JWT_SECRET": "",
        "GATEWAY_AUTH_ENCRYPTION_KEY": "",
        "MONGO_PASSWORD": "",
    }
    assert copied.returncode != 0
    assert "in .env" in copied.stderr
    assert password_set.returncode != 0
    assert "in .env (see .env.example)" in password_set.stderr  # a secret is still empty
    assert "openssl rand -base64 48" in (ROOT / ".env.example").read_text()
    assert "openssl rand -base64 32" in (ROOT / ".env.example").read_text()


def test_the_kubernetes_secret_example_cannot_start_a_server() -> None:
    secret = load(DEPLOY / "kubernetes" / "secret.example.yaml")["stringData"]
    (deployment,) = load_all(DEPLOY / "kubernetes" / "base" / "deployment.yaml")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    # The environment the Deployment builds from the Secret's keys.
    environ = {
        item["name"]: secret[item["valueFrom"]["secretKeyRef"]["key"]]
        for item in container["env"]
        if "valueFrom" in item
    }

    with pytest.raises(ConfigurationError, match="JWT_SECRET: required"):
        Settings.from_env(environ | {"GATEWAY_AUTH_MONGODB_URI": "mongodb://mongo:27017"})
    assert set(secret.values()) == {""}


def test_every_shipped_production_shape_closes_registration() -> None:
    compose = load(ROOT / "docker-compose.yml")
    deployment = load_all(DEPLOY / "kubernetes" / "base" / "deployment.yaml")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    k8s_env = {item["name"]: item.get("value") for item in container["env"]}

    assert compose["x-gateway-auth-env"]["GATEWAY_AUTH_REGISTRATION"] == "closed"
    assert k8s_env["GATEWAY_AUTH_REGISTRATION"] == "closed"
    assert "    GATEWAY_AUTH_REGISTRATION=closed \\" in (ROOT / "Dockerfile").read_text()


def test_the_dockerfile_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    froms = [line for line in lines if line.startswith("FROM ")]

    assert len(froms) == 2
    assert all("-slim" in line for line in froms)
    assert "USER 10001:10001" in lines
    assert 'VOLUME ["/data"]' in lines
    assert 'ENTRYPOINT ["gateway-auth"]' in lines
    assert 'CMD ["serve"]' in lines
    assert any("GATEWAY_AUTH_HOST=0.0.0.0" in line for line in lines)
    assert any(line.startswith("HEALTHCHECK") for line in lines)


def _healthcheck_command() -> str:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r'CMD \["python", "-c", (".*")\]', text.split("HEALTHCHECK", 1)[1])
    assert match
    code: str = json.loads(match.group(1))
    return code


def test_the_image_healthcheck_command_succeeds_on_a_running_server(tmp_path: Path) -> None:
    port, process = start_server(tmp_path)
    try:
        env = {**os.environ, "GATEWAY_AUTH_PORT": str(port)}
        done = subprocess.run(
            [sys.executable, "-c", _healthcheck_command()], env=env, check=False, timeout=10
        )
    finally:
        stop_server(process)
    assert done.returncode == 0
    stopped = subprocess.run(
        [sys.executable, "-c", _healthcheck_command()],
        env=env,
        capture_output=True,
        check=False,
        timeout=10,
    )
    assert stopped.returncode != 0


def test_the_image_build_context_is_enough_to_install(tmp_path: Path) -> None:
    # .dockerignore lets only these through; the build stage runs `pip install .` on them.
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert [line for line in ignore if line.startswith("!")] == [
        "!pyproject.toml",
        "!README.md",
        "!gateway_auth/",
    ]
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(ROOT / "pyproject.toml", context)
    shutil.copy(ROOT / "README.md", context)
    shutil.copytree(
        ROOT / "gateway_auth",
        context / "gateway_auth",
        ignore=shutil.ignore_patterns("__pycache__"),
    )

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(tmp_path / "wheel"),
            str(context),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert list((tmp_path / "wheel").glob("gateway_auth-*.whl"))


METHOD_OVERRIDE_HEADERS = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")


def test_traefik_recipes_copy_every_identity_header() -> None:
    dynamic = load(DEPLOY / "traefik" / "dynamic.yml")["http"]
    forward = dynamic["middlewares"]["gateway-auth"]["forwardAuth"]
    labels = load(DEPLOY / "traefik" / "docker-labels.yml")["services"]
    label_map = dict(label.split("=", 1) for label in labels["gateway-auth"]["labels"])

    assert forward["address"] == "http://gateway-auth:8000/auth/verify?redirect=true"
    assert forward["authResponseHeaders"] == list(IDENTITY_HEADERS)
    assert forward["trustForwardHeader"] is False
    assert dynamic["routers"]["app"]["middlewares"] == ["gateway-auth", "gateway-auth-methods"]
    app_labels = dict(label.split("=", 1) for label in labels["app"]["labels"])
    assert app_labels["traefik.http.routers.app.middlewares"] == (
        "gateway-auth@docker,gateway-auth-methods@docker"
    )
    stripped = dynamic["middlewares"]["gateway-auth-methods"]["headers"]["customRequestHeaders"]
    assert stripped == dict.fromkeys(METHOD_OVERRIDE_HEADERS, "")
    strip = "traefik.http.middlewares.gateway-auth-methods.headers.customrequestheaders."
    assert {name: label_map[strip + name] for name in METHOD_OVERRIDE_HEADERS} == stripped
    prefix = "traefik.http.middlewares.gateway-auth.forwardauth."
    assert label_map[prefix + "authResponseHeaders"].split(",") == list(IDENTITY_HEADERS)
    assert label_map[prefix + "address"] == forward["address"]
    assert label_map[prefix + "maxResponseBodySize"] == str(forward["maxResponseBodySize"])
    # Only gateway-auth's own prefix is routed to it (tests/gateways proves it with Traefik).
    assert dynamic["routers"]["gateway-auth"]["rule"] == "PathPrefix(`/auth/`)"
    router = "traefik.http.routers.gateway-auth.rule"
    assert label_map[router] == "Host(`app.example.com`) && PathPrefix(`/auth/`)"
    private = dynamic["routers"]["gateway-auth-private"]["rule"]
    assert label_map["traefik.http.routers.gateway-auth-private.rule"].endswith(private)
    allowed = ",".join(forward["authRequestHeaders"])
    assert label_map[prefix + "authRequestHeaders"] == allowed


def test_the_envoy_recipe_copies_every_identity_header_and_fails_closed() -> None:
    config = load(DEPLOY / "envoy" / "envoy.yaml")["static_resources"]
    manager = config["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    filters = {f["name"]: f.get("typed_config", {}) for f in manager["http_filters"]}
    authz = filters["envoy.filters.http.ext_authz"]
    upstream = authz["http_service"]["authorization_response"]["allowed_upstream_headers"]

    assert [p["exact"] for p in upstream["patterns"]] == [h.lower() for h in IDENTITY_HEADERS]
    assert authz["failure_mode_allow"] is False
    assert authz["http_service"]["path_prefix"] == "/auth/verify"
    # A client's copies go before the check, which only replaces what gateway-auth sends.
    names = [f["name"] for f in manager["http_filters"]]
    assert names.index("envoy.filters.http.header_mutation") < names.index(
        "envoy.filters.http.ext_authz"
    )
    allowed = {p["exact"] for p in authz["allowed_headers"]["patterns"]}
    assert not {"x-original-url", "x-forwarded-host", "x-forwarded-uri"} & allowed
    # The checks have connections of their own: slow portal requests cannot starve them.
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    portal = next(r for r in routes if r["match"].get("prefix") == "/auth/")
    assert authz["http_service"]["server_uri"]["cluster"] != portal["route"]["cluster"]
    assert portal["route"]["timeout"]


def test_compose_runs_traefik_on_the_shipped_static_configuration() -> None:
    traefik = load(ROOT / "docker-compose.yml")["services"]["traefik"]
    static = load(DEPLOY / "traefik" / "traefik.yml")

    assert "./deploy/traefik/traefik.yml:/etc/traefik/traefik.yml:ro" in traefik["volumes"]
    assert "./deploy/traefik/dynamic.yml:/etc/traefik/dynamic.yml:ro" in traefik["volumes"]
    assert static["providers"]["file"]["filename"] == "/etc/traefik/dynamic.yml"
    assert static["entryPoints"]["web"]["http"]["aliasHeadersStrategy"] == "delete"


def test_every_same_site_recipe_agrees_on_the_base_path() -> None:
    compose = load(ROOT / "docker-compose.yml")
    nginx = (DEPLOY / "nginx" / "gateway-auth.conf").read_text()
    caddy = (DEPLOY / "caddy" / "gateway-auth.caddy").read_text()

    assert compose["x-gateway-auth-env"]["GATEWAY_AUTH_BASE_PATH"] == "/auth"
    assert "proxy_pass http://gateway_auth/auth/verify;" in nginx
    assert "server gateway-auth:8000;" in (DEPLOY / "nginx" / "example.conf").read_text()
    assert "location /auth/ {" in nginx
    assert "handle /auth/* {" in caddy
    assert "uri /auth/verify?redirect=true" in caddy
    assert (
        "error_page 403 /auth/denied;"
        in (DEPLOY / "nginx" / "gateway-auth-protect.conf").read_text()
    )


def test_kubernetes_manifests_hold_the_deployment_service_secret_and_ingress() -> None:
    documents = [
        doc
        for name in (
            "base/deployment.yaml",
            "base/service.yaml",
            "ingress-nginx/app-ingress.yaml",
            "secret.example.yaml",
        )
        for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text())
    ]
    by_kind = {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}

    deployment = by_kind[("Deployment", "gateway-auth")]["spec"]["template"]["spec"]
    container = deployment["containers"][0]
    assert deployment["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    from_secret = {
        e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e
    }
    secret = by_kind[("Secret", "gateway-auth")]["stringData"]
    assert (
        from_secret == set(secret) == {"jwt-secret", "encryption-key", "mongodb-uri", "redis-url"}
    )
    assert ("Service", "gateway-auth") in by_kind
    annotations = by_kind[("Ingress", "app")]["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert annotations[prefix + "auth-url"].endswith(":8000/verify")
    assert "/login?rd=" in annotations[prefix + "auth-signin"]
    assert annotations[prefix + "auth-response-headers"].split(",") == list(IDENTITY_HEADERS)


@pytest.fixture
def demo_upstream() -> Iterator[int]:
    echo = runpy.run_path(str(DEPLOY / "demo" / "upstream.py"))["Echo"]
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port
    server.shutdown()
    server.server_close()


def test_the_demo_upstream_shows_the_identity_headers_it_receives(demo_upstream: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{demo_upstream}/page",
        headers={"X-Auth-Email": "ada@example.com", "Cookie": "secret"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - http only
        shown = json.loads(response.read())

    assert shown["path"] == "/page"
    assert shown["identity"] == {"X-Auth-Email": "ada@example.com"}
