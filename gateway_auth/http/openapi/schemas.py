"""The JSON schemas of the API's bodies and answers (``components.schemas``), the portal's forms
among them."""

from __future__ import annotations

from gateway_auth.http.openapi.portal import FORMS
from gateway_auth.http.openapi.shapes import (
    EMAIL,
    ID,
    OPTIONAL_TEXT,
    PASSWORD,
    SCOPE,
    TIME,
    Schema,
    ref,
    strict_object,
)
from gateway_auth.validation import MAX_GROUPS, MAX_SCOPES

SCHEMAS: dict[str, Schema] = {
    "Client": strict_object(
        [
            "id",
            "email",
            "emailVerified",
            "kind",
            "scopes",
            "groups",
            "firstName",
            "lastName",
            "suspended",
            "suspendedAt",
            "suspendReason",
            "createdAt",
            "updatedAt",
        ],
        id=ID,
        email=EMAIL,
        emailVerified={
            "type": "boolean",
            "description": "the client followed a link mailed to this address since it was set",
        },
        kind={"enum": ["user", "service", "guest"]},
        scopes={"type": "array", "items": {"type": "string"}},
        groups={
            "type": "array",
            "items": {"type": "string"},
            "description": "set by operators; /verify sends them as X-Auth-Groups",
        },
        firstName=OPTIONAL_TEXT,
        lastName=OPTIONAL_TEXT,
        suspended={"type": "boolean"},
        suspendedAt={"oneOf": [TIME, {"type": "null"}]},
        suspendReason=OPTIONAL_TEXT,
        createdAt=TIME,
        updatedAt=TIME,
    ),
    "Session": strict_object(
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
        id=ID,
        current={"type": "boolean", "description": "the session making this request"},
        createdAt=TIME,
        lastUsedAt=TIME,
        expiresAt=TIME,
        absoluteExpiresAt=TIME,
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
                "items": strict_object(
                    ["field", "message"], field={"type": "string"}, message={"type": "string"}
                ),
            },
        },
    },
    "OAuthError": strict_object(
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
    "Token": strict_object(
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
            "client_id": ID,
            "sub": ID,
            "username": {"type": "string", "description": "the client's email address"},
            "kind": {"enum": ["user", "service", "guest"]},
            "sid": {"type": "string", "description": "the session (grant) the token belongs to"},
            "amr": {
                "type": "array",
                "items": {"enum": ["pwd", "otp", "hwk", "swk", "user", "mfa", "fed"]},
                "description": "how the session's sign-in was proved (RFC 8176; fed: by "
                "another identity provider)",
            },
            "auth_time": {"type": "integer", "description": "when it was proved (Unix time)"},
            "idp": {
                "type": "string",
                "description": "the identity provider the session was signed in through",
            },
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
    "Registration": strict_object(
        ["email", "password"],
        email=EMAIL,
        password=PASSWORD,
        firstName=OPTIONAL_TEXT,
        lastName=OPTIONAL_TEXT,
    ),
    "Credentials": strict_object(
        ["email", "password"],
        email={"type": "string"},
        password={"type": "string"},
        remember={
            "type": "boolean",
            "default": True,
            "description": "cookies that outlive the browser (false: until it closes)",
        },
    ),
    "SecondFactors": strict_object(
        ["authenticatorApp", "passkeys", "recoveryCodesLeft"],
        authenticatorApp={"type": "boolean", "description": "set up and confirmed"},
        passkeys={
            "type": "array",
            "description": "WebAuthn credentials: names and dates, never a key",
            "items": strict_object(
                ["name", "createdAt", "lastUsedAt", "synced"],
                name={"type": "string"},
                createdAt={"type": "string", "format": "date-time"},
                lastUsedAt={"type": ["string", "null"], "format": "date-time"},
                synced={"type": "boolean", "description": "may live on several devices"},
            ),
        },
        recoveryCodesLeft={"type": "integer", "minimum": 0},
    ),
    "LinkedIdentity": strict_object(
        ["provider", "subject", "email", "createdAt", "lastUsedAt"],
        provider={"type": "string", "description": "the provider's id in the providers file"},
        subject={"type": "string", "description": "the provider's id for the person (sub)"},
        email={"type": "string", "description": "the address the provider gave, last time"},
        createdAt={"type": "string", "format": "date-time"},
        lastUsedAt={"type": ["string", "null"], "format": "date-time"},
    ),
    "SecondFactorCode": strict_object(
        ["code"],
        code={
            "type": "string",
            "description": "six digits from the authenticator app, or a recovery code",
        },
    ),
    **FORMS,
    "ProfileChange": strict_object(
        [],
        firstName=OPTIONAL_TEXT,
        lastName=OPTIONAL_TEXT,
        email=EMAIL,
        currentPassword={"type": "string", "description": "required to change the email"},
    ),
    "PasswordChange": strict_object(
        ["currentPassword", "newPassword"],
        currentPassword={"type": "string"},
        newPassword=PASSWORD,
    ),
    "PasswordResetRequest": strict_object(["email"], email=EMAIL),
    "PasswordResetAccepted": strict_object(
        ["status", "detail"], status={"const": "accepted"}, detail={"type": "string"}
    ),
    "PasswordReset": strict_object(
        ["token", "newPassword"],
        token={"type": "string", "maxLength": 128, "description": "from the mailed link"},
        newPassword=PASSWORD,
    ),
    "EmailVerification": strict_object(
        ["token"], token={"type": "string", "maxLength": 128, "description": "from the link"}
    ),
    "GuestStart": strict_object(
        [],
        cookies={
            "type": "boolean",
            "default": False,
            "description": "the session as cookies (a browser) instead of tokens in the body",
        },
    ),
    "GuestSession": strict_object(
        ["client"],
        client=ref("Client"),
        access_token={"type": "string"},
        token_type={"const": "Bearer"},
        expires_in={"type": "integer"},
        refresh_token={"type": "string"},
        expiresIn={"type": "integer", "description": "with cookies: the access cookie's life"},
    ),
    "Upgrade": strict_object(["email", "password"], email=EMAIL, password=PASSWORD),
    "Elevation": {
        **strict_object(
            [],
            password={"type": "string"},
            code={
                "type": "string",
                "description": "from the authenticator app, or a recovery code",
            },
        ),
        "description": "Exactly one: the password, or (for an account with an authenticator "
        "app, whose password alone is then refused with 401 `second-factor-required`) a code.",
    },
    "Elevated": strict_object(
        ["elevatedUntil", "scopes"],
        elevatedUntil={"oneOf": [TIME, {"type": "null"}]},
        scopes={"type": "array", "items": {"type": "string"}, "description": "now in force"},
        access_token={"type": "string", "description": "bearer callers: the new token"},
        token_type={"const": "Bearer"},
        expires_in={"type": "integer"},
    ),
    "NewClient": strict_object(
        ["email"],
        email=EMAIL,
        kind={"enum": ["user", "service", "guest"], "default": "user"},
        scopes={"type": "array", "items": SCOPE, "default": [], "maxItems": MAX_SCOPES},
        groups={"type": "array", "items": SCOPE, "default": [], "maxItems": MAX_GROUPS},
        password={**PASSWORD, "description": "required unless kind is service"},
        firstName=OPTIONAL_TEXT,
        lastName=OPTIONAL_TEXT,
    ),
    "ClientChange": strict_object(
        [],
        firstName=OPTIONAL_TEXT,
        lastName=OPTIONAL_TEXT,
        email={**EMAIL, "description": "no password asked; the new address gets a link"},
        scopes={
            "type": "array",
            "items": SCOPE,
            "description": "replaces every scope; not with addScopes or removeScopes",
        },
        addScopes={"type": "array", "items": SCOPE},
        removeScopes={
            "type": "array",
            "items": SCOPE,
            "description": "a scope taken away ends the client's sessions at once",
        },
        groups={
            "type": "array",
            "items": SCOPE,
            "description": "replaces every group; not with addGroups or removeGroups",
        },
        addGroups={"type": "array", "items": SCOPE},
        removeGroups={
            "type": "array",
            "items": SCOPE,
            "description": "a group taken away ends the client's sessions at once",
        },
    ),
    "ClientSecret": strict_object(
        ["clientId", "clientSecret"],
        clientId=ID,
        clientSecret={"type": "string", "description": "shown once", "pattern": "^gas_"},
    ),
    "Stats": strict_object(
        ["clients", "suspended", "activeSessions", "outboxBacklog"],
        clients=strict_object(
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
