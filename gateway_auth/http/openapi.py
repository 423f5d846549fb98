"""The OpenAPI 3.1 description of every route, served at ``GET /openapi.json``.

Written as data beside the handlers rather than derived from them: the handlers validate by
hand, so a generator would have nothing to read. Three things keep the two honest:
``tests/http/test_openapi.py`` compares the operations here with the router's; every answer
the HTTP suite gets is checked against this document (``tests/conformance.py``: a status it
does not list, or a JSON body off its schema, fails the test that got it); and schemathesis
fuzzes a live server from it (``tests/test_fuzz.py``). ``docs/api.md`` is rendered from this
document (``python -m gateway_auth.http.openapi``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from gateway_auth import __version__
from gateway_auth.admin import MAX_PAGE
from gateway_auth.http.openapi_portal import FORMS, form_content, portal_paths
from gateway_auth.validation import MAX_NAME_LENGTH, MAX_SCOPES, SCOPE_PATTERN
from gateway_auth.verify import IDENTITY_HEADERS

Schema = dict[str, Any]
ANY_METHOD = "x-any-method"  # /verify answers every method; the document lists it under get

_TIME = {"type": "string", "format": "date-time", "examples": ["2026-11-20T12:00:00.000Z"]}
_OPTIONAL_TEXT = {
    "type": ["string", "null"],
    "description": f"at most {MAX_NAME_LENGTH} characters once trimmed, no control characters; "
    "empty or null: none",
}
_EMAIL = {"type": "string", "format": "email", "maxLength": 254}
_PASSWORD = {"type": "string", "minLength": 8, "maxLength": 1024}
_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_SCOPE = {"type": "string", "pattern": f"^{SCOPE_PATTERN}$"}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: list[str], **properties: Schema) -> Schema:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


SCHEMAS: dict[str, Schema] = {
    "Client": _object(
        [
            "id",
            "email",
            "emailVerified",
            "kind",
            "scopes",
            "firstName",
            "lastName",
            "suspended",
            "suspendedAt",
            "suspendReason",
            "createdAt",
            "updatedAt",
        ],
        id=_ID,
        email=_EMAIL,
        emailVerified={
            "type": "boolean",
            "description": "the client followed a link mailed to this address since it was set",
        },
        kind={"enum": ["user", "service", "guest"]},
        scopes={"type": "array", "items": {"type": "string"}},
        firstName=_OPTIONAL_TEXT,
        lastName=_OPTIONAL_TEXT,
        suspended={"type": "boolean"},
        suspendedAt={"oneOf": [_TIME, {"type": "null"}]},
        suspendReason=_OPTIONAL_TEXT,
        createdAt=_TIME,
        updatedAt=_TIME,
    ),
    "Session": _object(
        [
            "id",
            "current",
            "createdAt",
            "lastUsedAt",
            "expiresAt",
            "absoluteExpiresAt",
            "userAgent",
            "ip",
        ],
        id=_ID,
        current={"type": "boolean", "description": "the session making this request"},
        createdAt=_TIME,
        lastUsedAt=_TIME,
        expiresAt=_TIME,
        absoluteExpiresAt=_TIME,
        userAgent={"type": "string"},
        ip={"type": "string"},
    ),
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details (application/problem+json).",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "examples": ["urn:gateway-auth:problem:email-taken"]},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "per-field problems (422 validation-failed)",
                "items": _object(
                    ["field", "message"], field={"type": "string"}, message={"type": "string"}
                ),
            },
        },
    },
    "OAuthError": _object(
        ["error", "error_description"],
        error={
            "enum": [
                "invalid_request",
                "invalid_client",
                "invalid_grant",
                "unsupported_grant_type",
                "invalid_scope",
                "insufficient_scope",
                "temporarily_unavailable",
                "server_error",
            ]
        },
        error_description={"type": "string"},
    ),
    "Token": _object(
        ["access_token", "token_type", "expires_in", "scope"],
        access_token={"type": "string"},
        token_type={"const": "Bearer"},
        expires_in={"type": "integer", "description": "seconds"},
        refresh_token={"type": "string", "description": "not for client_credentials"},
        scope={"type": "string", "description": "granted scopes, space-separated"},
        device_token={
            "type": "string",
            "description": "password grant: send it back as device_token on later password "
            "grants, and the account's lockout spares this program",
        },
    ),
    "TokenRequest": {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"enum": ["client_credentials", "refresh_token", "password"]},
            "scope": {
                "type": "string",
                "description": "space-separated scopes the token is narrowed to (default: all the "
                "client holds, or the grant's); asking for one not held is invalid_scope",
            },
            "client_id": {"type": "string", "description": "client_credentials, without Basic"},
            "client_secret": {"type": "string", "description": "client_credentials"},
            "refresh_token": {"type": "string", "description": "refresh_token grant"},
            "username": {"type": "string", "description": "password grant: the email address"},
            "password": {"type": "string", "description": "password grant"},
            "device_token": {"type": "string", "description": "password grant"},
        },
        "description": "RFC 6749: other parameters are ignored, and empty ones count as absent.",
    },
    "TokenParameter": {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": {"type": "string", "description": "an access or a refresh token"},
            "token_type_hint": {
                "type": "string",
                "description": "access_token or refresh_token: which to look for first",
            },
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
        },
    },
    "Introspection": {
        "type": "object",
        "required": ["active"],
        "properties": {
            "active": {"type": "boolean"},
            "token_type": {"enum": ["Bearer", "refresh_token"]},
            "scope": {"type": "string"},
            "client_id": _ID,
            "sub": _ID,
            "username": {"type": "string", "description": "the client's email address"},
            "kind": {"enum": ["user", "service", "guest"]},
            "sid": {"type": "string", "description": "the session (grant) the token belongs to"},
            "iss": {"type": "string"},
            "aud": {"type": "string"},
            "exp": {"type": "integer"},
            "iat": {"type": "integer"},
            "nbf": {"type": "integer"},
            "jti": {"type": "string"},
        },
        "description": 'RFC 7662; an inactive token is only `{"active": false}`.',
    },
    "ServerMetadata": {
        "type": "object",
        "required": ["issuer", "token_endpoint", "jwks_uri", "response_types_supported"],
        "properties": {
            name: {"type": "string"}
            for name in (
                "issuer",
                "token_endpoint",
                "jwks_uri",
                "revocation_endpoint",
                "introspection_endpoint",
                "service_documentation",
            )
        }
        | {
            name: {"type": "array", "items": {"type": "string"}}
            for name in (
                "grant_types_supported",
                "response_types_supported",
                "token_endpoint_auth_methods_supported",
                "revocation_endpoint_auth_methods_supported",
                "introspection_endpoint_auth_methods_supported",
                "access_token_signing_alg_values_supported",
            )
        },
        "description": "RFC 8414",
    },
    "Registration": _object(
        ["email", "password"],
        email=_EMAIL,
        password=_PASSWORD,
        firstName=_OPTIONAL_TEXT,
        lastName=_OPTIONAL_TEXT,
    ),
    "Credentials": _object(
        ["email", "password"],
        email={"type": "string"},
        password={"type": "string"},
        remember={
            "type": "boolean",
            "default": True,
            "description": "cookies that outlive the browser (false: until it closes)",
        },
    ),
    **FORMS,
    "ProfileChange": _object(
        [],
        firstName=_OPTIONAL_TEXT,
        lastName=_OPTIONAL_TEXT,
        email=_EMAIL,
        currentPassword={"type": "string", "description": "required to change the email"},
    ),
    "PasswordChange": _object(
        ["currentPassword", "newPassword"],
        currentPassword={"type": "string"},
        newPassword=_PASSWORD,
    ),
    "PasswordResetRequest": _object(["email"], email=_EMAIL),
    "PasswordResetAccepted": _object(
        ["status", "detail"], status={"const": "accepted"}, detail={"type": "string"}
    ),
    "PasswordReset": _object(
        ["token", "newPassword"],
        token={"type": "string", "maxLength": 128, "description": "from the mailed link"},
        newPassword=_PASSWORD,
    ),
    "EmailVerification": _object(
        ["token"], token={"type": "string", "maxLength": 128, "description": "from the link"}
    ),
    "GuestStart": _object(
        [],
        cookies={
            "type": "boolean",
            "default": False,
            "description": "the session as cookies (a browser) instead of tokens in the body",
        },
    ),
    "GuestSession": _object(
        ["client"],
        client=_ref("Client"),
        access_token={"type": "string"},
        token_type={"const": "Bearer"},
        expires_in={"type": "integer"},
        refresh_token={"type": "string"},
        expiresIn={"type": "integer", "description": "with cookies: the access cookie's life"},
    ),
    "Upgrade": _object(["email", "password"], email=_EMAIL, password=_PASSWORD),
    "Elevation": _object(["password"], password={"type": "string"}),
    "Elevated": _object(
        ["elevatedUntil", "scopes"],
        elevatedUntil={"oneOf": [_TIME, {"type": "null"}]},
        scopes={"type": "array", "items": {"type": "string"}, "description": "now in force"},
        access_token={"type": "string", "description": "bearer callers: the new token"},
        token_type={"const": "Bearer"},
        expires_in={"type": "integer"},
    ),
    "NewClient": _object(
        ["email"],
        email=_EMAIL,
        kind={"enum": ["user", "service", "guest"], "default": "user"},
        scopes={"type": "array", "items": _SCOPE, "default": [], "maxItems": MAX_SCOPES},
        password={**_PASSWORD, "description": "required unless kind is service"},
        firstName=_OPTIONAL_TEXT,
        lastName=_OPTIONAL_TEXT,
    ),
    "ClientChange": _object(
        [],
        firstName=_OPTIONAL_TEXT,
        lastName=_OPTIONAL_TEXT,
        email={**_EMAIL, "description": "no password asked; the new address gets a link"},
        scopes={
            "type": "array",
            "items": _SCOPE,
            "description": "replaces every scope; not with addScopes or removeScopes",
        },
        addScopes={"type": "array", "items": _SCOPE},
        removeScopes={
            "type": "array",
            "items": _SCOPE,
            "description": "a scope taken away ends the client's sessions at once",
        },
    ),
    "ClientSecret": _object(
        ["clientId", "clientSecret"],
        clientId=_ID,
        clientSecret={"type": "string", "description": "shown once", "pattern": "^gas_"},
    ),
    "Stats": _object(
        ["clients", "suspended", "activeSessions", "outboxBacklog"],
        clients=_object(
            ["user", "service", "guest"],
            user={"type": "integer"},
            service={"type": "integer"},
            guest={"type": "integer"},
        ),
        suspended={"type": "integer"},
        activeSessions={"type": "integer"},
        outboxBacklog={"type": "integer"},
    ),
}
SCHEMAS["CreatedService"] = {
    **SCHEMAS["Client"],
    "required": [*SCHEMAS["Client"]["required"], "clientSecret"],
    "properties": {
        **SCHEMAS["Client"]["properties"],
        "clientSecret": {"type": "string", "pattern": "^gas_", "description": "shown once"},
    },
}

_PROBLEM_STATUSES = {
    400: "Malformed request (not JSON, a duplicate key, NaN, not an object), or a mailed "
    "link's token that is not valid (`link-invalid`), expired (`link-expired`) or used "
    "(`link-used`)",
    401: "Authentication required or failed (`WWW-Authenticate: Bearer`)",
    403: "Refused: suspended, missing scope, registration closed, a cross-site request, "
    "(REQUIRE_VERIFIED_EMAIL) an unverified email address (`email-unverified`), or an elevated "
    "scope not in force (`reauthentication-required`)",
    404: "No such client or session",
    409: "Conflict (email taken, not a service client)",
    413: "Body larger than 64 KiB",
    415: "Body in a content type the route does not take",
    422: "Well-formed input that breaks the rules; `errors` names each field",
    429: "Too many attempts from this address, or on this account (`Retry-After`)",
    503: "A backend is unavailable or the hashing queue is full (`Retry-After`)",
}


def _problems(*statuses: int) -> dict[str, Schema]:
    return {
        str(status): {
            "description": _PROBLEM_STATUSES[status],
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        }
        for status in statuses
    }


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: Schema, *, form: str | None = None, required: bool = True) -> Schema:
    content = {"application/json": {"schema": schema}}
    if form:
        content |= form_content(form)
    return {"required": required, "content": content}


_NO_CONTENT = {"description": "Done"}
_COOKIE: list[dict[str, list[str]]] = [{"accessCookie": []}, {"bearer": []}]
_ADMIN: list[dict[str, list[str]]] = [
    {"accessCookie": [], "adminScope": []},
    {"bearer": [], "adminScope": []},
]
_CLIENT_ID = [{"name": "id", "in": "path", "required": True, "schema": _ID}]


_OAUTH_ERRORS = {
    400: "invalid_request, invalid_grant, invalid_scope, unsupported_grant_type",
    401: "invalid_client (`WWW-Authenticate: Basic`)",
    403: "insufficient_scope",
    413: "invalid_request: the body is too large",
    415: "invalid_request: not form-encoded or JSON",
    429: "temporarily_unavailable (`Retry-After`)",
    503: "temporarily_unavailable (`Retry-After`)",
}


_OAUTH_SCOPES = {
    "admin": "the /admin API",
    "introspect": "POST /introspect",
}  # the others are the installation's own


def _oauth_errors(statuses: tuple[int, ...]) -> dict[str, Schema]:
    """RFC 6749 section 5.2 error answers, as the OAuth endpoints give them."""
    return {
        str(status): {
            "description": _OAUTH_ERRORS[status],
            "content": {"application/json": {"schema": _ref("OAuthError")}},
        }
        for status in statuses
    }


def _oauth_body(name: str) -> Schema:
    """An OAuth request: form-encoded as RFC 6749 says, or the same fields as JSON."""
    schema = _ref(name)
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "application/json": {"schema": schema},
        },
    }


def _op(summary: str, responses: dict[str, Schema], **extra: Any) -> Schema:
    return {"summary": summary, "responses": responses, **extra}


def _elevation() -> Schema:
    """``POST /me/elevate`` and the portal's ``POST /elevate``: one operation, two paths."""
    return _op(
        "Step up: after a fresh password, the session's ELEVATED_SCOPES are in force "
        "for ELEVATION_TTL",
        {
            "200": _json(_ref("Elevated"), "In force; the caller's token is replaced"),
            "303": {"description": "Form posts: on to `rd`"},
            **_problems(400, 401, 403, 413, 415, 422, 429, 503),
        },
        requestBody=_body(_ref("Elevation"), form="ElevationForm"),
        security=_COOKIE,
        description="Refreshing never extends an elevation, and ending the session "
        "ends it. Access tokens carry `elev`: each elevated scope the client holds, "
        "with the Unix time its elevation ends (0: not elevated).",
    )


def paths() -> dict[str, dict[str, Schema]]:
    """Every operation, by path and lower-case method (paths are relative to BASE_PATH)."""
    client = _json(_ref("Client"), "The client")
    api: dict[str, dict[str, Schema]] = {
        "/verify": {
            "get": _op(
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
                    **_problems(401, 403, 503),
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
                security=_COOKIE,
                **{ANY_METHOD: True},
                description="Answers every HTTP method the same way (gateways forward the "
                "original one). A 401 to a page load carries `Location: LOGIN_URL?rd=<original "
                "URL>` (or the refresh hop's URL); a 403 or 503 to a page load is an HTML page. "
                "With RULES_FILE, the first access rule matching the original request (as a "
                "trusted proxy describes it) decides: 200 with empty identity headers for "
                "`bypass`, 403 `access-denied` for `deny`, and 403 `ambiguous-request` when the "
                "original host or path is not described or cannot be read without guessing.",
            ),
        },
        "/verify/{original}": {
            "get": _op(
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
                    **_problems(401, 403, 503),
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
                security=_COOKIE,
                **{ANY_METHOD: True},
                description="As `/verify`, for a gateway that appends the original path to "
                "the check URL: the query is the original request's, so `scope` and "
                "`redirect` are not read from it, and a browser's page load gets a 302 "
                "(Envoy passes a refusal to the client as it is).",
            ),
        },
        "/register": {
            "post": _op(
                "Create an account (when REGISTRATION=open); the form signs in at once",
                {
                    "201": client,
                    "303": {"description": "Form posts: signed in, on to `rd` or the home page"},
                    **_problems(400, 403, 409, 413, 415, 422, 429, 503),
                },
                requestBody=_body(_ref("Registration"), form="RegistrationForm"),
            )
        },
        "/login": {
            "get": _op(
                "The sign-in page",
                {
                    "200": {"description": "HTML", "content": {"text/html": {}}},
                    "303": {
                        "description": "A browser signed in already, or whose session the "
                        "refresh hop can renew, goes on to `rd`"
                    },
                },
                parameters=[{"name": "rd", "in": "query", "schema": {"type": "string"}}],
            ),
            "post": _op(
                "Sign in; the tokens arrive as cookies, never in the body",
                {
                    "200": _json(
                        _object(
                            ["client", "expiresIn"],
                            client=_ref("Client"),
                            expiresIn={"type": "integer"},
                        ),
                        "Signed in; Set-Cookie carries the access and refresh cookies, and a "
                        "device cookie that exempts this client from the account's lockout",
                    ),
                    "303": {"description": "Form posts: signed in, on to `rd` or the home page"},
                    **_problems(400, 401, 403, 413, 415, 422, 429, 503),
                },
                requestBody=_body(_ref("Credentials"), form="SignInForm"),
                description="A form that fails is answered with the sign-in page again (401, "
                "429), the email kept.",
            ),
        },
        "/refresh": {
            "post": _op(
                "Rotate the refresh cookie and renew the access cookie",
                {
                    "200": _json(_object(["expiresIn"], expiresIn={"type": "integer"}), "Renewed"),
                    **_problems(401, 503),
                },
                security=[{"refreshCookie": []}],
            )
        },
        "/logout": {
            "post": _op(
                "End the session everywhere",
                {
                    "204": _NO_CONTENT,
                    "303": {"description": "Form posts: to `rd`, else to the sign-in page"},
                    **_problems(403),
                },
                requestBody={"required": False, "content": form_content("SignOutForm")},
            )
        },
        "/token": {
            "post": _op(
                "OAuth 2 token endpoint: password, refresh_token, client_credentials",
                {
                    "200": _json(_ref("Token"), "Issued"),
                    **_oauth_errors((400, 401, 413, 415, 429, 503)),
                },
                requestBody=_oauth_body("TokenRequest"),
                security=[{}, {"clientBasic": []}],
                description="Programs should use client_credentials (service clients). The "
                "password grant is a first-party convenience for this installation's own "
                "programs (RFC 9700 advises against it elsewhere).",
            )
        },
        "/revoke": {
            "post": _op(
                "RFC 7009: end a token's session (its refresh token and access tokens) at "
                "every gateway",
                {
                    "200": {"description": "Revoked, or it was not a live token"},
                    **_oauth_errors((400, 401, 413, 415, 503)),
                },
                requestBody=_oauth_body("TokenParameter"),
                security=[{}, {"clientBasic": []}],
                description="Anyone holding a user's or guest's token may revoke it; a service "
                "client's token is revoked only with that client's credentials.",
            )
        },
        "/introspect": {
            "post": _op(
                "RFC 7662: whether a token is live now, and whose it is",
                {
                    "200": _json(_ref("Introspection"), "The answer"),
                    **_oauth_errors((400, 401, 403, 413, 415, 503)),
                },
                requestBody=_oauth_body("TokenParameter"),
                security=[{"clientBasic": []}, {"oauth2": ["introspect"]}],
                description="For clients holding the `introspect` scope (client credentials "
                "or a bearer token). Revocations, suspensions and deletions show at once.",
            )
        },
        "/.well-known/oauth-authorization-server": {
            "get": _op(
                "RFC 8414 authorization server metadata",
                {"200": _json(_ref("ServerMetadata"), "The metadata")},
                security=[],
            )
        },
        "/me": {
            "get": _op(
                "The signed-in client",
                {
                    "200": client,
                    "303": {"description": "A person navigating here: on to the account page"},
                    **_problems(401, 403, 503),
                },
                security=_COOKIE,
            ),
            "patch": _op(
                "Change names, or the email with currentPassword",
                {"200": client, **_problems(400, 401, 403, 409, 413, 415, 422, 429, 503)},
                requestBody=_body(_ref("ProfileChange")),
                security=_COOKIE,
            ),
            "delete": _op(
                "Delete the account; a client-data-deletion-request event follows",
                {"204": _NO_CONTENT, **_problems(401, 403, 409, 503)},
                description="409 `last-admin` for the only active client holding admin.",
                security=_COOKIE,
            ),
        },
        "/guests": {
            "post": _op(
                "Start as a guest (GUESTS=true): a new guest client, signed in at once",
                {
                    "201": _json(_ref("GuestSession"), "Started: tokens, or cookies"),
                    "303": {"description": "Form posts: signed in, on to `rd` or the home page"},
                    **_problems(400, 403, 413, 415, 422, 429, 503),
                },
                requestBody=_body(_ref("GuestStart"), form="GuestForm", required=False),
                description="A guest has the GUEST_SCOPES, no password (it keeps only its "
                "session) and the placeholder address `guest-<id>@guest.invalid`; it is "
                "deleted, with a deletion event, GUEST_TTL after it started.",
            )
        },
        "/me/elevate": {"post": _elevation()},
        "/elevate": {"post": _elevation()},
        "/me/upgrade": {
            "post": _op(
                "Turn the calling guest into a user with the same id",
                {
                    "200": _json(
                        {"oneOf": [_ref("Client"), _ref("GuestSession")]},
                        "Upgraded: the client (with cookies, a new access cookie), or with a "
                        "bearer token, the client and a new access token",
                    ),
                    **_problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
                },
                requestBody=_body(_ref("Upgrade")),
                security=_COOKIE,
            )
        },
        "/password-reset": {
            "post": _op(
                "Ask for a password-reset link; the same answer whether or not the address "
                "has an account",
                {
                    "202": _json(_ref("PasswordResetAccepted"), "Accepted"),
                    "200": {"description": "Form posts: the 'check your email' page"},
                    **_problems(400, 403, 413, 415, 422, 429),
                },
                requestBody=_body(_ref("PasswordResetRequest"), form="PasswordResetForm"),
                description="For a user who may sign in, a single-use token (30 minutes by "
                "default, PASSWORD_RESET_TTL) replaces any earlier one and a "
                "`password-reset-requested` event is published for the mailer, at most one a "
                "minute per account. Counted against the caller's address like a sign-in.",
            )
        },
        "/password-reset/confirm": {
            "post": _op(
                "Set a new password from a reset link: the token is used up and every session "
                "of the client ends everywhere",
                {
                    "204": _NO_CONTENT,
                    "303": {"description": "Form posts: to the sign-in page, cookies cleared"},
                    **_problems(400, 403, 413, 415, 422, 429, 503),
                },
                requestBody=_body(_ref("PasswordReset"), form="NewPasswordForm"),
            )
        },
        "/email-verification/confirm": {
            "post": _op(
                "Verify the client's email address from a verification link",
                {
                    "200": _json(
                        _object(["emailVerified"], emailVerified={"const": True}), "Verified"
                    ),
                    "303": {"description": "Form posts: to the home page, or to sign in"},
                    **_problems(400, 403, 413, 415, 422, 429, 503),
                },
                requestBody=_body(_ref("EmailVerification"), form="EmailVerificationForm"),
            )
        },
        "/me/email-verification": {
            "post": _op(
                "Mail the verification link again (at most one a minute; none once verified)",
                {
                    "202": _json(
                        _object(
                            ["sent", "emailVerified"],
                            sent={"type": "boolean"},
                            emailVerified={"type": "boolean"},
                        ),
                        "Accepted",
                    ),
                    **_problems(400, 401, 403, 413, 415, 422, 503),
                },
                security=_COOKIE,
            )
        },
        "/me/password": {
            "put": _op(
                "Change the password; every other session ends",
                {"204": _NO_CONTENT, **_problems(400, 401, 403, 413, 415, 422, 429, 503)},
                requestBody=_body(_ref("PasswordChange")),
                security=_COOKIE,
            )
        },
        "/me/sessions": {
            "get": _op(
                "The client's active sessions",
                {
                    "200": _json(
                        _object(["sessions"], sessions={"type": "array", "items": _ref("Session")}),
                        "Newest first",
                    ),
                    "303": {"description": "A person navigating here: on to the account page"},
                    **_problems(401, 403, 503),
                },
                security=_COOKIE,
            ),
            "delete": _op(
                "Sign out everywhere, this session included",
                {"204": _NO_CONTENT, **_problems(401, 403, 503)},
                security=_COOKIE,
            ),
        },
        "/me/sessions/{id}": {
            "delete": _op(
                "End one session",
                {"204": _NO_CONTENT, **_problems(401, 403, 404, 503)},
                parameters=_CLIENT_ID,
                security=_COOKIE,
            )
        },
        "/admin/clients": {
            "get": _op(
                "List clients in creation order, a page at a time",
                {
                    "200": _json(
                        _object(
                            ["clients", "nextCursor"],
                            clients={"type": "array", "items": _ref("Client")},
                            nextCursor={"type": ["string", "null"]},
                        ),
                        "One page",
                    ),
                    **_problems(401, 403, 422, 503),
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
                security=_ADMIN,
            ),
            "post": _op(
                "Create a client of any kind; a service client's secret is shown once",
                {
                    "201": _json(
                        {"oneOf": [_ref("Client"), _ref("CreatedService")]},
                        "Created; a service client comes with its secret, shown this once",
                    ),
                    **_problems(400, 401, 403, 409, 413, 415, 422, 503),
                },
                requestBody=_body(_ref("NewClient")),
                security=_ADMIN,
            ),
        },
        "/admin/clients/{id}": {
            "get": _op(
                "One client",
                {"200": client, **_problems(401, 403, 404, 503)},
                parameters=_CLIENT_ID,
                security=_ADMIN,
            ),
            "patch": _op(
                "Change a client's names, email address and scopes",
                {"200": client, **_problems(400, 401, 403, 404, 409, 413, 415, 422, 503)},
                parameters=_CLIENT_ID,
                requestBody=_body(_ref("ClientChange")),
                security=_ADMIN,
                description="409 `last-admin` when no other active client would hold admin.",
            ),
            "delete": _op(
                "Delete a client (idempotent); its deletion event follows",
                {"204": _NO_CONTENT, **_problems(401, 403, 404, 409, 503)},
                parameters=_CLIENT_ID,
                security=_ADMIN,
                description="409 `last-admin` for the only active client holding admin.",
            ),
        },
        "/admin/clients/{id}/suspension": {
            "put": _op(
                "Suspend: refused at every gateway at once",
                {"200": client, **_problems(400, 401, 403, 404, 409, 413, 415, 422, 503)},
                parameters=_CLIENT_ID,
                requestBody=_body(_object([], reason=_OPTIONAL_TEXT), required=False),
                security=_ADMIN,
            ),
            "delete": _op(
                "Lift a suspension",
                {"200": client, **_problems(401, 403, 404, 503)},
                parameters=_CLIENT_ID,
                security=_ADMIN,
            ),
        },
        "/admin/clients/{id}/lockout": {
            "get": _op(
                "Whether clients that never signed in are locked out of the account, and how "
                "long for",
                {
                    "200": _json(
                        _object(
                            ["locked", "retryAfter"],
                            locked={"type": "boolean"},
                            retryAfter={"type": ["integer", "null"], "minimum": 1},
                        ),
                        "The lockout",
                    ),
                    **_problems(401, 403, 404, 503),
                },
                parameters=_CLIENT_ID,
                security=_ADMIN,
            ),
            "delete": _op(
                "Lift the lockout: every client may try the password again now",
                {"204": _NO_CONTENT, **_problems(401, 403, 404, 503)},
                parameters=_CLIENT_ID,
                security=_ADMIN,
            ),
        },
        "/admin/clients/{id}/sessions": {
            "get": _op(
                "The client's active sessions",
                {
                    "200": _json(
                        _object(["sessions"], sessions={"type": "array", "items": _ref("Session")}),
                        "Newest first",
                    ),
                    **_problems(401, 403, 404, 503),
                },
                parameters=_CLIENT_ID,
                security=_ADMIN,
            ),
            "delete": _op(
                "End every session and token of a client",
                {"204": _NO_CONTENT, **_problems(401, 403, 404, 503)},
                parameters=_CLIENT_ID,
                security=_ADMIN,
            ),
        },
        "/admin/clients/{id}/sessions/{sessionId}": {
            "delete": _op(
                "End one session of the client at every gateway (idempotent)",
                {"204": _NO_CONTENT, **_problems(401, 403, 404, 503)},
                parameters=[
                    *_CLIENT_ID,
                    {"name": "sessionId", "in": "path", "required": True, "schema": _ID},
                ],
                security=_ADMIN,
            )
        },
        "/admin/clients/{id}/password-reset": {
            "post": _op(
                "Mail the user a password-reset link now; the user chooses the password",
                {
                    "202": _json(
                        _object(["linkExpiresAt"], linkExpiresAt=_TIME), "The link is queued"
                    ),
                    **_problems(401, 403, 404, 409, 503),
                },
                parameters=_CLIENT_ID,
                security=_ADMIN,
            )
        },
        "/admin/clients/{id}/secret": {
            "post": _op(
                "Rotate a service client's secret (shown once; the old one stops)",
                {
                    "200": _json(_ref("ClientSecret"), "The new secret"),
                    **_problems(401, 403, 404, 409, 503),
                },
                parameters=_CLIENT_ID,
                security=_ADMIN,
            )
        },
        "/admin/stats": {
            "get": _op(
                "Counts",
                {"200": _json(_ref("Stats"), "Counts"), **_problems(401, 403, 503)},
                security=_ADMIN,
            )
        },
        "/.well-known/jwks.json": {
            "get": _op(
                "Public keys for downstream verification (empty for HS256)",
                {"200": _json({"type": "object", "required": ["keys"]}, "RFC 7517 key set")},
            )
        },
        "/healthz": {
            "get": _op(
                "Liveness", {"200": _json(_object(["status"], status={"const": "ok"}), "Up")}
            )
        },
        "/readyz": {
            "get": _op(
                "Readiness: every backend answers",
                {
                    "200": _json({"type": "object"}, "Ready"),
                    "503": _json({"type": "object"}, "Not ready; `checks` names what failed"),
                },
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics (404 when a proxy relayed the request)",
                {
                    "200": {"description": "Prometheus text format", "content": {"text/plain": {}}},
                    **_problems(404),
                },
            )
        },
        "/openapi.json": {
            "get": _op("This document", {"200": _json({"type": "object"}, "OpenAPI 3.1")})
        },
    }
    for path, operations in portal_paths().items():
        api.setdefault(path, {}).update(operations)
    return api


def document(base_path: str = "") -> Schema:
    """The OpenAPI 3.1 document for an installation mounted at ``base_path``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gateway-auth",
            "version": __version__,
            "description": "API-gateway auth sidecar and forward-auth server. Errors are RFC "
            "9457 problem details; /token answers in RFC 6749's error shape.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": base_path or "/"}],
        "paths": paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "accessCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Host-gateway_auth",
                    "description": "the access cookie (its name follows COOKIE_NAME)",
                },
                "refreshCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Secure-gateway_auth_refresh",
                },
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "oauth2": {
                    "type": "oauth2",
                    "description": "tokens from /token; scopes are the installation's own",
                    "flows": {
                        "clientCredentials": {"tokenUrl": "token", "scopes": _OAUTH_SCOPES},
                        "password": {"tokenUrl": "token", "scopes": _OAUTH_SCOPES},
                    },
                },
                "clientBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "service clients: client id and secret",
                },
                "adminScope": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "the caller's client must hold the admin scope",
                },
            },
        },
    }


def markdown(doc: Schema) -> str:
    """``docs/api.md``: every operation with its request body and answers, from ``doc``."""
    lines = [
        "# gateway-auth HTTP API",
        "",
        "Generated from `GET /openapi.json` by `python -m gateway_auth.http.openapi`; do not "
        "edit by hand. Paths are relative to `BASE_PATH`. Errors are `application/problem+json` "
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
