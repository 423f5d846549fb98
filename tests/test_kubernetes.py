"""deploy/kubernetes: every manifest validated offline, as kubeconform -strict would, against
Kubernetes' own schemas (kubernetes-validate) and the published CRDs' schemas (tests/schemas,
taken from Gateway API, Envoy Gateway and Istio at the commits tests/schemas/index.json names).

Not checked here: the CRDs' CEL rules (x-kubernetes-validations) and a live cluster's admission.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, validate

from gateway_auth.access.verdict import IDENTITY_HEADERS
from tests.support.project import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
SCHEMAS = ROOT / "tests" / "schemas"
KUBERNETES_VERSION = "1.34"
CLUSTER_SCOPED = frozenset({"Namespace"})
FILES = sorted(
    path.relative_to(KUBERNETES)
    for path in KUBERNETES.rglob("*.yaml")
    if path.name not in ("kustomization.yaml", "istio-mesh-config.yaml")
)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to others, as the API
    server prunes (and kubeconform -strict refuses) unknown fields."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if (
            "properties" in closed
            and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def _crd_schemas() -> dict[str, Any]:
    index = json.loads((SCHEMAS / "index.json").read_text())
    schemas = {}
    for key, entry in index.items():
        schema = json.loads((SCHEMAS / entry["file"]).read_text())
        # Every object has these at its root, whether or not the CRD's schema lists them.
        schema["properties"] = {**_ROOT_FIELDS, **schema.get("properties", {})}
        schemas[key] = _closed(schema)
    return schemas


_ROOT_FIELDS = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}


CRDS = _crd_schemas()


def problems(doc: dict[str, Any]) -> list[str]:
    """Everything wrong with one manifest; empty when it is valid."""
    key = f"{doc.get('apiVersion')}/{doc.get('kind')}"
    if key in CRDS:
        validator = jsonschema.Draft7Validator(CRDS[key])
        found = [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
        name = doc.get("metadata", {}).get("name", "")
        if not isinstance(name, str) or not name:
            found.append("metadata.name: required")
        return found
    try:
        validate(doc, KUBERNETES_VERSION, strict=True)
    except ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    except SchemaNotFoundError:
        return [f"{key}: no schema (neither Kubernetes {KUBERNETES_VERSION}'s nor a CRD's here)"]
    return []


def kustomize(directory: Path) -> Iterator[dict[str, Any]]:
    """What ``kubectl apply -k`` applies for the kustomization's fields this base uses
    (resources, namespace, labels, images); anything else fails the test, so the base cannot
    grow a field this check does not understand."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - {"apiVersion", "kind", "namespace", "labels", "resources", "images"}
    assert not unknown, f"kustomization fields this check does not apply: {unknown}"
    images = {image["name"]: image for image in spec.get("images", [])}
    labels: dict[str, str] = {}
    for entry in spec.get("labels", []):
        labels |= entry["pairs"]
    for resource in spec["resources"]:
        for original in documents(directory / resource):
            doc = copy.deepcopy(original)
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = spec["namespace"]
            doc["metadata"].setdefault("labels", {}).update(labels)
            for container in _containers(doc):
                image = images.get(container["image"])
                if image is not None:
                    container["image"] = f"{image['newName']}:{image['newTag']}"
            yield doc


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = doc.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


@pytest.mark.parametrize("name", FILES, ids=str)
def test_every_manifest_is_valid_against_the_published_schemas(name: Path) -> None:
    for doc in documents(KUBERNETES / name):
        assert problems(doc) == [], f"{name}: {doc['kind']} {doc['metadata'].get('name')}"


def test_the_check_refuses_what_a_cluster_would() -> None:
    (policy,) = [d for d in documents(KUBERNETES / "gateway-api/envoy-gateway.yaml")
                 if d["kind"] == "SecurityPolicy"]  # fmt: skip
    typo = copy.deepcopy(policy)
    typo["spec"]["extAuth"]["htp"] = typo["spec"]["extAuth"].pop("http")
    (deployment,) = documents(KUBERNETES / "base/deployment.yaml")
    wrong = copy.deepcopy(deployment)
    wrong["spec"]["replicas"] = "two"

    assert any("htp" in problem for problem in problems(typo))
    assert problems(wrong)
    assert problems({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_the_kustomize_base_renders_valid_objects_with_the_image_and_secrets_parameterised() -> (
    None
):
    rendered = list(kustomize(KUBERNETES / "base"))
    (deployment,) = [d for d in rendered if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    secrets = {
        env["name"]: env["valueFrom"]["secretKeyRef"]
        for env in container["env"]
        if "valueFrom" in env
    }

    assert {d["kind"] for d in rendered} == {"Namespace", "Deployment", "Service"}
    for doc in rendered:
        assert problems(doc) == [], doc["kind"]
    assert container["image"] == "registry.example.com/gateway-auth:0.1.0"
    assert secrets == {
        "GATEWAY_AUTH_MONGODB_URI": {"name": "gateway-auth", "key": "mongodb-uri"},
        "GATEWAY_AUTH_REDIS_URL": {"name": "gateway-auth", "key": "redis-url"},
        "GATEWAY_AUTH_JWT_SECRET": {"name": "gateway-auth", "key": "jwt-secret"},
        "GATEWAY_AUTH_ENCRYPTION_KEY": {"name": "gateway-auth", "key": "encryption-key"},
    }
    (secret,) = documents(KUBERNETES / "secret.example.yaml")
    assert set(secret["stringData"]) == {"mongodb-uri", "redis-url", "jwt-secret", "encryption-key"}
    assert {d["metadata"].get("namespace") for d in rendered} == {None, "gateway-auth"}


def test_envoy_gateway_asks_verify_and_copies_the_ten_identity_headers() -> None:
    docs = {d["kind"]: d for d in documents(KUBERNETES / "gateway-api/envoy-gateway.yaml")}
    ext_auth = docs["SecurityPolicy"]["spec"]["extAuth"]

    assert ext_auth["failOpen"] is False
    assert ext_auth["http"]["path"] == "/verify"
    assert ext_auth["http"]["backendRefs"][0] | {"port": 8000} == {
        "name": "gateway-auth",
        "namespace": "gateway-auth",
        "port": 8000,
    }
    assert ext_auth["http"]["headersToBackend"] == list(IDENTITY_HEADERS)
    assert {"cookie", "accept", "x-forwarded-proto"} <= set(ext_auth["headersToExtAuth"])
    grant = docs["ReferenceGrant"]["spec"]
    assert grant["from"][0]["kind"] == "SecurityPolicy"
    assert grant["to"][0]["name"] == "gateway-auth"


def test_istio_checks_every_app_request_through_the_gateway_auth_provider() -> None:
    docs = {d["kind"]: d for d in documents(KUBERNETES / "gateway-api/istio.yaml")}
    mesh = yaml.safe_load((KUBERNETES / "gateway-api/istio-mesh-config.yaml").read_text())
    (provider,) = mesh["meshConfig"]["extensionProviders"]
    http = provider["envoyExtAuthzHttp"]
    policy = docs["AuthorizationPolicy"]["spec"]

    assert policy["action"] == "CUSTOM"
    assert policy["provider"]["name"] == provider["name"] == "gateway-auth"
    assert http["service"] == "gateway-auth.gateway-auth.svc.cluster.local"
    assert http["pathPrefix"] == "/verify"
    assert http["failOpen"] is False
    assert http["headersToUpstreamOnAllow"] == [h.lower() for h in IDENTITY_HEADERS]
    assert {"location", "set-cookie"} <= set(http["headersToDownstreamOnDeny"])
    assert {"authorization", "cookie"} <= set(http["includeRequestHeadersInCheck"])
    # The fields Istio's EnvoyExternalAuthorizationHttpProvider has (mesh config is no CRD).
    assert set(http) <= {
        "service", "port", "timeout", "pathPrefix", "failOpen", "statusOnError",
        "includeRequestHeadersInCheck", "includeAdditionalHeadersInCheck",
        "includeRequestBodyInCheck", "headersToUpstreamOnAllow", "headersToDownstreamOnDeny",
        "headersToDownstreamOnAllow",
    }  # fmt: skip


def test_the_ingress_nginx_recipe_says_it_was_retired() -> None:
    for path in (KUBERNETES / "ingress-nginx").glob("*.yaml"):
        assert "retired in March 2026" in path.read_text(), path.name
