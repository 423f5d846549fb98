"""The operations part of the OpenAPI document: ``/verify`` for the gateways, the public
keys, health, metrics and the document itself."""

from __future__ import annotations

from gateway_auth.access.verdict import IDENTITY_HEADERS
from gateway_auth.http.openapi.shapes import (
    ANY_METHOD,
    COOKIE,
    Schema,
    json_answer,
    operation,
    problems,
    strict_object,
)


def paths() -> dict[str, dict[str, Schema]]:
    """Every operation of this area, by path and lower-case method."""
    return {
        "/verify": {
            "get": operation(
                "Forward-auth check for nginx auth_request, Traefik, Caddy, ingress-nginx",
                {
                    "200": {
                        "description": "Allowed; the identity travels in X-Auth-* headers",
                        "headers": {
                            name: {"schema": {"type": "string"}} for name in IDENTITY_HEADERS
                        },
                    },
                    "302": {
                        "description": "With `redirect=true`, a browser's page load goes to "
                        "LOGIN_URL?rd=<original URL>, or to the refresh hop when only its "
                        "access token expired"
                    },
                    **problems(401, 403, 503),
                },
                parameters=[
                    {
                        "name": "scope",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "required scope(s); repeat or comma-separate",
                    },
                    {
                        "name": "redirect",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "`true`, `1` or `yes` (any case): a browser's page load "
                        "is redirected to sign in; any other value is not",
                    },
                ],
                security=COOKIE,
                **{ANY_METHOD: True},
                description="Answers every HTTP method the same way (gateways forward the "
                "original one). A 401 to a page load carries `Location: LOGIN_URL?rd=<original "
                "URL>` (or the refresh hop's URL); a 403 or 503 to a page load is an HTML page. "
                "With RULES_FILE, the first access rule matching the original request (as a "
                "trusted proxy describes it) decides: 200 with empty identity headers for "
                "`bypass`, 403 `access-denied` for `deny`, 403 `second-factor-session-required` "
                "for `two_factor` and a session proved by one factor (a page load with "
                "`redirect=true`: 302 to /elevate), and 403 `ambiguous-request` when the "
                "original host or path is not described or cannot be read without guessing. With "
                "SECOND_FACTOR=required, a user's session without a second factor gets 403 "
                "`second-factor-enrolment-required` (a page load with `redirect=true`: 302 to "
                "the two-step page).",
            ),
        },
        "/verify/{original}": {
            "get": operation(
                "Forward-auth check in Envoy's ext_authz shape (`path_prefix: /verify`)",
                {
                    "200": {
                        "description": "Allowed; the identity travels in X-Auth-* headers",
                        "headers": {
                            name: {"schema": {"type": "string"}} for name in IDENTITY_HEADERS
                        },
                    },
                    "302": {
                        "description": "A browser's page load goes to LOGIN_URL?rd=<original "
                        "URL>, or to the refresh hop when only its access token expired"
                    },
                    **problems(401, 403, 503),
                },
                parameters=[
                    {
                        "name": "original",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "the original request's path and query, as Envoy "
                        "appends them; with the Host header (from TRUSTED_PROXIES) it makes "
                        "the URL a browser returns to",
                    }
                ],
                security=COOKIE,
                **{ANY_METHOD: True},
                description="As `/verify`, for a gateway that appends the original path to "
                "the check URL: the query is the original request's, so `scope` and "
                "`redirect` are not read from it, and a browser's page load gets a 302 "
                "(Envoy passes a refusal to the client as it is).",
            ),
        },
        "/.well-known/jwks.json": {
            "get": operation(
                "Public keys for downstream verification (empty for HS256)",
                {"200": json_answer({"type": "object", "required": ["keys"]}, "RFC 7517 key set")},
            )
        },
        "/healthz": {
            "get": operation(
                "Liveness",
                {"200": json_answer(strict_object(["status"], status={"const": "ok"}), "Up")},
            )
        },
        "/readyz": {
            "get": operation(
                "Readiness: every backend answers",
                {
                    "200": json_answer({"type": "object"}, "Ready"),
                    "503": json_answer({"type": "object"}, "Not ready; `checks` names what failed"),
                },
            )
        },
        "/metrics": {
            "get": operation(
                "Prometheus metrics (404 when a proxy relayed the request)",
                {
                    "200": {"description": "Prometheus text format", "content": {"text/plain": {}}},
                    **problems(404),
                },
            )
        },
        "/openapi.json": {
            "get": operation(
                "This document", {"200": json_answer({"type": "object"}, "OpenAPI 3.1")}
            )
        },
    }
