"""Render ``docs/api.md`` from the OpenAPI document: ``python docs/api_markdown.py > docs/api.md``.

``--json`` prints the document itself. ``tests/http/test_openapi.py`` runs this script and
fails when ``docs/api.md`` differs from what it prints.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from gateway_auth.http.openapi.document import ANY_METHOD, document

Schema = dict[str, Any]


def markdown(doc: Schema) -> str:
    """``docs/api.md``: every operation with its request body and answers, from ``doc``."""
    lines = [
        "# gateway-auth HTTP API",
        "",
        "Generated from `GET /openapi.json` by `python docs/api_markdown.py`; do not edit by "
        "hand. Paths are relative to `BASE_PATH`. Errors are `application/problem+json` "
        "(`type`, `title`, `status`, `detail`, and `errors` for 422).",
        "",
    ]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            verb = "ANY" if op.get(ANY_METHOD) else method.upper()
            lines += [f"## `{verb} {path}`", "", op["summary"] + ".", ""]
            if "description" in op:
                lines += [op["description"], ""]
            for parameter in op.get("parameters", []):
                lines.append(f"- {parameter['in']} parameter `{parameter['name']}`")
            body = op.get("requestBody")
            if body:
                types = ", ".join(f"`{t}`" for t in body["content"])
                schema = next(iter(body["content"].values()))["schema"]
                lines.append(f"- body ({types}): {_describe(schema, doc)}")
            lines.append("")
            lines += ["| status | meaning |", "|---|---|"]
            lines += [
                f"| {code} | {answer['description']} |" for code, answer in op["responses"].items()
            ]
            lines.append("")
    return "\n".join(lines)


def _describe(schema: Schema, doc: Schema) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = [f"`{name}`" + ("" if name in required else "?") for name in properties]
    return ", ".join(fields) or "none"


if __name__ == "__main__":
    if "--json" in sys.argv:
        sys.stdout.write(json.dumps(document(), indent=2) + "\n")
    else:
        sys.stdout.write(markdown(document()))
