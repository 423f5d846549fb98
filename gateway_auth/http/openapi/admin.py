"""The operators' part of the OpenAPI document: ``/admin/clients`` and ``/admin/stats``."""

from __future__ import annotations

from gateway_auth.accounts.admin import MAX_PAGE
from gateway_auth.http.openapi.shapes import (
    ADMIN,
    CLIENT_ID,
    ID,
    NO_CONTENT,
    OPTIONAL_TEXT,
    TIME,
    Schema,
    json_answer,
    operation,
    problems,
    ref,
    request_body,
    strict_object,
)


def paths() -> dict[str, dict[str, Schema]]:
    """Every operation of this area, by path and lower-case method."""
    client = json_answer(ref("Client"), "The client")
    return {
        "/admin/clients": {
            "get": operation(
                "List clients in creation order, a page at a time",
                {
                    "200": json_answer(
                        strict_object(
                            ["clients", "nextCursor"],
                            clients={"type": "array", "items": ref("Client")},
                            nextCursor={"type": ["string", "null"]},
                        ),
                        "One page",
                    ),
                    **problems(401, 403, 422, 503),
                },
                parameters=[
                    {
                        "name": "email",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "prefix of the normalised email",
                    },
                    {"name": "suspended", "in": "query", "schema": {"type": "boolean"}},
                    {
                        "name": "kind",
                        "in": "query",
                        "schema": {"enum": ["user", "service", "guest"]},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
                security=ADMIN,
            ),
            "post": operation(
                "Create a client of any kind; a service client's secret is shown once",
                {
                    "201": json_answer(
                        {"oneOf": [ref("Client"), ref("CreatedService")]},
                        "Created; a service client comes with its secret, shown this once",
                    ),
                    **problems(400, 401, 403, 409, 413, 415, 422, 503),
                },
                requestBody=request_body(ref("NewClient")),
                security=ADMIN,
            ),
        },
        "/admin/clients/{id}": {
            "get": operation(
                "One client",
                {"200": client, **problems(401, 403, 404, 503)},
                parameters=CLIENT_ID,
                security=ADMIN,
            ),
            "patch": operation(
                "Change a client's names, email address, scopes and groups",
                {"200": client, **problems(400, 401, 403, 404, 409, 413, 415, 422, 503)},
                parameters=CLIENT_ID,
                requestBody=request_body(ref("ClientChange")),
                security=ADMIN,
                description="409 `last-admin` when no other active client would hold admin.",
            ),
            "delete": operation(
                "Delete a client (idempotent); its deletion event follows",
                {"204": NO_CONTENT, **problems(401, 403, 404, 409, 503)},
                parameters=CLIENT_ID,
                security=ADMIN,
                description="409 `last-admin` for the only active client holding admin.",
            ),
        },
        "/admin/clients/{id}/suspension": {
            "put": operation(
                "Suspend: refused at every gateway at once",
                {"200": client, **problems(400, 401, 403, 404, 409, 413, 415, 422, 503)},
                parameters=CLIENT_ID,
                requestBody=request_body(strict_object([], reason=OPTIONAL_TEXT), required=False),
                security=ADMIN,
            ),
            "delete": operation(
                "Lift a suspension",
                {"200": client, **problems(401, 403, 404, 503)},
                parameters=CLIENT_ID,
                security=ADMIN,
            ),
        },
        "/admin/clients/{id}/lockout": {
            "get": operation(
                "Whether clients that never signed in are locked out of the account, and how "
                "long for",
                {
                    "200": json_answer(
                        strict_object(
                            ["locked", "retryAfter"],
                            locked={"type": "boolean"},
                            retryAfter={"type": ["integer", "null"], "minimum": 1},
                        ),
                        "The lockout",
                    ),
                    **problems(401, 403, 404, 503),
                },
                parameters=CLIENT_ID,
                security=ADMIN,
            ),
            "delete": operation(
                "Lift the lockout: every client may try the password again now",
                {"204": NO_CONTENT, **problems(401, 403, 404, 503)},
                parameters=CLIENT_ID,
                security=ADMIN,
            ),
        },
        "/admin/clients/{id}/second-factors": {
            "get": operation(
                "What protects the client besides its password (never a secret)",
                {
                    "200": json_answer(ref("SecondFactors"), "The second factors"),
                    **problems(401, 403, 404, 503),
                },
                parameters=CLIENT_ID,
                security=ADMIN,
            ),
            "delete": operation(
                "Remove the authenticator app and recovery codes (a lost phone): the password "
                "alone signs in again",
                {"204": NO_CONTENT, **problems(401, 403, 404, 503)},
                parameters=CLIENT_ID,
                security=ADMIN,
            ),
        },
        "/admin/clients/{id}/identities": {
            "get": operation(
                "The client's accounts at other identity providers, linked",
                {
                    "200": json_answer(
                        strict_object(
                            ["identities"],
                            identities={"type": "array", "items": ref("LinkedIdentity")},
                        ),
                        "The linked identities, oldest first",
                    ),
                    **problems(401, 403, 404, 503),
                },
                parameters=CLIENT_ID,
                security=ADMIN,
            ),
        },
        "/admin/clients/{id}/identities/{provider}/{subject}": {
            "delete": operation(
                "Unlink one identity (the person is told; a mailed password reset stays a way in)",
                {"204": NO_CONTENT, **problems(401, 403, 404, 503)},
                parameters=[
                    *CLIENT_ID,
                    {
                        "name": "provider",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "subject",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                security=ADMIN,
            ),
        },
        "/admin/clients/{id}/sessions": {
            "get": operation(
                "The client's active sessions",
                {
                    "200": json_answer(
                        strict_object(
                            ["sessions"], sessions={"type": "array", "items": ref("Session")}
                        ),
                        "Newest first",
                    ),
                    **problems(401, 403, 404, 503),
                },
                parameters=CLIENT_ID,
                security=ADMIN,
            ),
            "delete": operation(
                "End every session and token of a client",
                {"204": NO_CONTENT, **problems(401, 403, 404, 503)},
                parameters=CLIENT_ID,
                security=ADMIN,
            ),
        },
        "/admin/clients/{id}/sessions/{sessionId}": {
            "delete": operation(
                "End one session of the client at every gateway (idempotent)",
                {"204": NO_CONTENT, **problems(401, 403, 404, 503)},
                parameters=[
                    *CLIENT_ID,
                    {"name": "sessionId", "in": "path", "required": True, "schema": ID},
                ],
                security=ADMIN,
            )
        },
        "/admin/clients/{id}/password-reset": {
            "post": operation(
                "Mail the user a password-reset link now; the user chooses the password",
                {
                    "202": json_answer(
                        strict_object(["linkExpiresAt"], linkExpiresAt=TIME), "The link is queued"
                    ),
                    **problems(401, 403, 404, 409, 503),
                },
                parameters=CLIENT_ID,
                security=ADMIN,
            )
        },
        "/admin/clients/{id}/secret": {
            "post": operation(
                "Rotate a service client's secret (shown once; the old one stops)",
                {
                    "200": json_answer(ref("ClientSecret"), "The new secret"),
                    **problems(401, 403, 404, 409, 503),
                },
                parameters=CLIENT_ID,
                security=ADMIN,
            )
        },
        "/admin/stats": {
            "get": operation(
                "Counts",
                {"200": json_answer(ref("Stats"), "Counts"), **problems(401, 403, 503)},
                security=ADMIN,
            )
        },
    }
