"""The OpenAPI document: valid 3.1, and exactly the router's operations."""

from __future__ import annotations

import json
import subprocess
import sys

from openapi_spec_validator import validate

from gateway_auth.http.app import routes
from gateway_auth.http.openapi.document import ANY_METHOD, document
from tests.support.browser import Browser
from tests.support.project import DOCS


async def test_the_document_is_valid_openapi_3_1_and_served(browser: Browser) -> None:
    response = await browser.request("GET", "/openapi.json")

    assert response.status == 200
    served = response.json()
    validate(served)
    assert served["openapi"] == "3.1.0"
    assert served["servers"] == [{"url": "/"}]


def test_the_router_and_the_document_list_exactly_the_same_operations() -> None:
    routed = set()
    for route in routes(""):
        method = route.method.lower()
        # aiohttp's pattern syntax ({original:.*}) is OpenAPI's plain {original}
        path = route.path.replace(":[\\s\\S]*}", "}")
        routed.add((path, "get" if method == "*" else method))
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}

    assert routed == documented
    paths = document()["paths"].items()
    any_method = [path for path, ops in paths if ops.get("get", {}).get(ANY_METHOD)]
    assert any_method == ["/verify", "/verify/{original}"]
    assert [r.path for r in routes("") if r.method == "*"] == [
        "/verify",
        "/verify/{original:[\\s\\S]*}",
    ]


def test_every_reference_resolves_and_every_schema_is_used() -> None:
    doc = document()
    text = str(doc["paths"]) + str(doc["components"]["schemas"])
    for name in doc["components"]["schemas"]:
        assert f"#/components/schemas/{name}" in text, name


def test_base_path_is_the_server_url() -> None:
    assert document("/auth")["servers"] == [{"url": "/auth"}]


def test_docs_api_md_is_what_its_script_renders_from_the_document() -> None:
    rendered = subprocess.run(
        [sys.executable, str(DOCS / "api_markdown.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    assert (DOCS / "api.md").read_text() == rendered, (
        "docs/api.md is stale: run .venv/bin/python docs/api_markdown.py > docs/api.md"
    )


def test_the_render_script_prints_the_document_as_json_too() -> None:
    printed = subprocess.run(
        [sys.executable, str(DOCS / "api_markdown.py"), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    assert json.loads(printed) == document()
