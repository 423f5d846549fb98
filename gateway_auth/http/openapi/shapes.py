"""The OpenAPI document's shared parts: the JSON schemas of the API's bodies, and the small
builders each area's operations are written with."""

from __future__ import annotations

from typing import Any

from gateway_auth.http.openapi.portal import form_content
from gateway_auth.validation import MAX_NAME_LENGTH, SCOPE_PATTERN

Schema = dict[str, Any]
ANY_METHOD = "x-any-method"  # /verify answers every method; the document lists it under get

TIME = {"type": "string", "format": "date-time", "examples": ["2026-11-20T12:00:00.000Z"]}
OPTIONAL_TEXT = {
    "type": ["string", "null"],
    "description": f"at most {MAX_NAME_LENGTH} characters once trimmed, no control characters; "
    "empty or null: none",
}
EMAIL = {"type": "string", "format": "email", "maxLength": 254}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 1024}
ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
SCOPE = {"type": "string", "pattern": f"^{SCOPE_PATTERN}$"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def strict_object(required: list[str], **properties: Schema) -> Schema:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


PROBLEM_STATUSES = {
    400: "Malformed request (not JSON, a duplicate key, NaN, not an object), or a mailed "
    "link's token that is not valid (`link-invalid`), expired (`link-expired`) or used "
    "(`link-used`)",
    401: "Authentication required or failed (`WWW-Authenticate: Bearer`)",
    403: "Refused: suspended, missing scope, registration closed, a cross-site request, "
    "(REQUIRE_VERIFIED_EMAIL) an unverified email address (`email-unverified`), an elevated "
    "scope not in force (`reauthentication-required`), or a second factor still to add "
    "(`second-factor-enrolment-required`) or to prove (`second-factor-session-required`)",
    404: "No such client or session",
    409: "Conflict (email taken, not a service client)",
    413: "Body larger than 64 KiB",
    415: "Body in a content type the route does not take",
    422: "Well-formed input that breaks the rules; `errors` names each field",
    429: "Too many attempts from this address, or on this account (`Retry-After`)",
    503: "A backend is unavailable or the hashing queue is full (`Retry-After`)",
}


def problems(*statuses: int) -> dict[str, Schema]:
    return {
        str(status): {
            "description": PROBLEM_STATUSES[status],
            "content": {"application/problem+json": {"schema": ref("Problem")}},
        }
        for status in statuses
    }


def json_answer(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def request_body(schema: Schema, *, form: str | None = None, required: bool = True) -> Schema:
    content = {"application/json": {"schema": schema}}
    if form:
        content |= form_content(form)
    return {"required": required, "content": content}


NO_CONTENT = {"description": "Done"}
COOKIE: list[dict[str, list[str]]] = [{"accessCookie": []}, {"bearer": []}]
ADMIN: list[dict[str, list[str]]] = [
    {"accessCookie": [], "adminScope": []},
    {"bearer": [], "adminScope": []},
]
CLIENT_ID = [{"name": "id", "in": "path", "required": True, "schema": ID}]


OAUTH_ERRORS = {
    400: "invalid_request, invalid_grant, invalid_scope, unsupported_grant_type",
    401: "invalid_client (`WWW-Authenticate: Basic`)",
    403: "insufficient_scope",
    413: "invalid_request: the body is too large",
    415: "invalid_request: not form-encoded or JSON",
    429: "temporarily_unavailable (`Retry-After`)",
    503: "temporarily_unavailable (`Retry-After`)",
}


OAUTH_SCOPES = {
    "admin": "the /admin API",
    "introspect": "POST /introspect",
}  # the others are the installation's own


def oauth_errors(statuses: tuple[int, ...]) -> dict[str, Schema]:
    """RFC 6749 section 5.2 error answers, as the OAuth endpoints give them."""
    return {
        str(status): {
            "description": OAUTH_ERRORS[status],
            "content": {"application/json": {"schema": ref("OAuthError")}},
        }
        for status in statuses
    }


def oauth_body(name: str) -> Schema:
    """An OAuth request: form-encoded as RFC 6749 says, or the same fields as JSON."""
    schema = ref(name)
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "application/json": {"schema": schema},
        },
    }


def operation(summary: str, responses: dict[str, Schema], **extra: Any) -> Schema:
    return {"summary": summary, "responses": responses, **extra}


def elevation() -> Schema:
    """``POST /me/elevate`` and the portal's ``POST /elevate``: one operation, two paths."""
    return operation(
        "Step up: after a fresh password (or a code from the authenticator app), the "
        "session's ELEVATED_SCOPES are in force for ELEVATION_TTL",
        {
            "200": json_answer(ref("Elevated"), "In force; the caller's token is replaced"),
            "303": {"description": "Form posts: on to `rd`"},
            **problems(400, 401, 403, 413, 415, 422, 429, 503),
        },
        requestBody=request_body(ref("Elevation"), form="ElevationForm"),
        security=COOKIE,
        description="Refreshing never extends an elevation, and ending the session "
        "ends it. Access tokens carry `elev`: each elevated scope the client holds, "
        "with the Unix time its elevation ends (0: not elevated).",
    )
