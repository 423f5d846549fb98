"""Every answer the HTTP suite gets is checked against /openapi.json: its status must be one the
operation documents, and a JSON body must match the documented schema. So the hand-written
document cannot drift from the code without a test failing."""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema

from gateway_auth.http.openapi.document import ANY_METHOD, document

_JSON_TYPES = ("application/json", "application/problem+json")


@functools.cache
def _document(base_path: str) -> dict[str, Any]:
    return document(base_path)


@functools.cache
def _routes(base_path: str) -> list[tuple[re.Pattern[str], str]]:
    """Each documented path as a pattern of the request path (BASE_PATH included)."""
    routes = []
    for template in _document(base_path)["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(base_path + template))
        routes.append((re.compile(pattern), template))
    # Literal paths before templated ones: /admin/clients/{id} must not swallow /admin/stats.
    return sorted(routes, key=lambda route: "{" in route[1])


@functools.cache
def _validator(base_path: str, pointer: str) -> jsonschema.Draft202012Validator:
    # The schema is the whole document with a $ref to the part: its #/components refs resolve.
    schema = {**_document(base_path), "$ref": pointer}
    return jsonschema.Draft202012Validator(schema, format_checker=None)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def problems(
    base_path: str, method: str, url: str, status: int, content_type: str, text: str
) -> list[str]:
    """What in this answer the document does not describe; empty when it conforms.

    A 500 is not checked: no document promises one, and the tests that cause one on purpose
    check the handler that answers it (any other test fails on its own status first)."""
    if status == 500:
        return []
    raw = urlsplit(url).path
    # Envoy's shape: the original path follows /verify (only as spelt; see test_access).
    path = f"{base_path}/verify" if raw.startswith(f"{base_path}/verify/") else unquote(raw)
    template = next((t for pattern, t in _routes(base_path) if pattern.fullmatch(path)), None)
    if template is None:
        return [] if status in (404, 405) else [f"{path} is not in the document"]
    verb = _operation(base_path, template, method)
    if verb is None:
        return [] if status == 405 else [f"{method} {template} is not in the document"]
    responses = _document(base_path)["paths"][template][verb]["responses"]
    key = str(status) if str(status) in responses else "default"
    if key not in responses:
        return [f"{method} {template} answered {status}, which the document does not list"]
    pointer = f"#/paths/{_escape(template)}/{verb}/responses/{key}/content"
    return _body_problems(
        base_path, f"{method} {template} {status}", pointer, responses[key], content_type, text
    )


def _body_problems(
    base_path: str, where: str, pointer: str, response: Any, content_type: str, text: str
) -> list[str]:
    """A JSON body against the schema of its media type in ``response``."""
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media not in _JSON_TYPES or not text:
        return []
    if media not in response.get("content", {}):
        return [f"{where}: {media} is not documented"]
    validator = _validator(base_path, f"{pointer}/{_escape(media)}/schema")
    return [
        f"{where}: {'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}"
        for e in validator.iter_errors(json.loads(text))
    ]


def _operation(base_path: str, template: str, method: str) -> str | None:
    """The document's method for this request: its own, GET for HEAD, or /verify's any."""
    operations = _document(base_path)["paths"][template]
    verb = method.lower()
    if verb not in operations and verb == "head":
        verb = "get"
    if verb not in operations:
        verb = next((v for v, op in operations.items() if op.get(ANY_METHOD)), verb)
    return verb if verb in operations else None
