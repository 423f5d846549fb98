"""The one place domain errors become HTTP: RFC 9457 problem details, or RFC 6749 for /token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway_auth.errors import (
    AccessDenied,
    AmbiguousRequest,
    CeremonyExpired,
    ClientNotFound,
    ClientSuspended,
    CodesLocked,
    CrossingRefused,
    CrossSiteRequest,
    EmailTaken,
    EmailUnverified,
    ExternalFailure,
    ExternalSignInFailed,
    FactorExists,
    FaultyFraming,
    FormTokenInvalid,
    GatewayAuthError,
    GuestsClosed,
    IdentityNotFound,
    InsufficientScope,
    InvalidClient,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidScope,
    LastAdmin,
    LastWayIn,
    LinkExpired,
    LinkInvalid,
    LinkUsed,
    MalformedRequest,
    MultiFactorRequired,
    NotAGuest,
    NotAServiceClient,
    NotAUser,
    PasskeyExists,
    PasskeyNotFound,
    PasskeyRefused,
    PayloadTooLarge,
    ProviderNotFound,
    ReauthenticationRequired,
    RefreshTokenSuperseded,
    RegistrationClosed,
    RevocationStateStale,
    SecondFactorEnrolmentRequired,
    SecondFactorRequired,
    SecondFactorsOff,
    SecretsUnreadable,
    ServiceBusy,
    SessionNotFound,
    SignInExpired,
    StoreUnavailable,
    TooManyAttempts,
    Unauthenticated,
    UnknownHost,
    UnsupportedGrantType,
    UnsupportedMediaType,
    UnsupportedVersion,
    ValidationFailed,
    WrongCode,
    WrongPassword,
)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:gateway-auth:problem:"
WWW_AUTHENTICATE = 'Bearer realm="gateway-auth"'
BASIC_CHALLENGE = 'Basic realm="gateway-auth"'  # RFC 6749 5.2: clients may retry with Basic


@dataclass(frozen=True, slots=True)
class Kind:
    """How one domain error looks over HTTP."""

    status: int
    slug: str
    title: str
    oauth_error: str = "invalid_request"


KINDS: dict[type[GatewayAuthError], Kind] = {
    ValidationFailed: Kind(422, "validation-failed", "Invalid fields"),
    MalformedRequest: Kind(400, "malformed-request", "Malformed request"),
    UnsupportedMediaType: Kind(415, "unsupported-media-type", "Unsupported media type"),
    PayloadTooLarge: Kind(413, "payload-too-large", "Request body too large"),
    InvalidCredentials: Kind(401, "invalid-credentials", "Invalid credentials", "invalid_grant"),
    Unauthenticated: Kind(401, "unauthenticated", "Authentication required", "invalid_grant"),
    ClientSuspended: Kind(403, "client-suspended", "Account suspended", "invalid_grant"),
    InsufficientScope: Kind(403, "insufficient-scope", "Insufficient scope", "invalid_scope"),
    AccessDenied: Kind(403, "access-denied", "Access denied"),
    AmbiguousRequest: Kind(403, "ambiguous-request", "Ambiguous request"),
    InvalidClient: Kind(401, "invalid-client", "Client authentication failed", "invalid_client"),
    NotAServiceClient: Kind(409, "not-a-service-client", "Not a service client"),
    ClientNotFound: Kind(404, "not-found", "Not found"),
    RefreshTokenSuperseded: Kind(
        401, "refresh-token-superseded", "Refresh token superseded", "invalid_grant"
    ),
    InvalidRefreshToken: Kind(
        401, "invalid-refresh-token", "Invalid refresh token", "invalid_grant"
    ),
    WrongPassword: Kind(401, "wrong-password", "Wrong password"),
    RegistrationClosed: Kind(403, "registration-closed", "Registration closed"),
    CrossSiteRequest: Kind(403, "cross-site-request", "Cross-site request refused"),
    UnknownHost: Kind(421, "unknown-host", "Unknown host"),
    UnsupportedVersion: Kind(505, "http-version-not-supported", "HTTP version not supported"),
    FaultyFraming: Kind(400, "faulty-framing", "Faulty message framing"),
    CrossingRefused: Kind(400, "crossing-refused", "Sign-in not carried over"),
    FormTokenInvalid: Kind(403, "form-token-invalid", "Form expired"),
    EmailTaken: Kind(409, "email-taken", "Email already registered"),
    SessionNotFound: Kind(404, "not-found", "Not found"),
    LinkInvalid: Kind(400, "link-invalid", "Link not valid"),
    LinkExpired: Kind(400, "link-expired", "Link expired"),
    LinkUsed: Kind(400, "link-used", "Link already used"),
    EmailUnverified: Kind(403, "email-unverified", "Email address not verified"),
    GuestsClosed: Kind(403, "guests-closed", "Guest access closed"),
    ReauthenticationRequired: Kind(
        403, "reauthentication-required", "Re-authentication required", "insufficient_scope"
    ),
    NotAGuest: Kind(409, "not-a-guest", "Not a guest"),
    NotAUser: Kind(409, "not-a-user", "Not a user"),
    LastAdmin: Kind(409, "last-admin", "Last admin"),
    SecondFactorRequired: Kind(
        401, "second-factor-required", "Second factor required", "invalid_grant"
    ),
    WrongCode: Kind(401, "wrong-code", "Wrong code"),
    SignInExpired: Kind(401, "sign-in-expired", "Sign-in expired"),
    CeremonyExpired: Kind(401, "ceremony-expired", "Passkey request expired"),
    SecondFactorEnrolmentRequired: Kind(
        403, "second-factor-enrolment-required", "Second factor enrolment required"
    ),
    MultiFactorRequired: Kind(403, "second-factor-session-required", "Second factor required here"),
    PasskeyRefused: Kind(401, "passkey-refused", "Passkey refused"),
    PasskeyExists: Kind(409, "passkey-exists", "Passkey already registered"),
    PasskeyNotFound: Kind(404, "passkey-not-found", "Passkey not found"),
    CodesLocked: Kind(403, "codes-locked", "Codes locked"),
    SecondFactorsOff: Kind(404, "second-factors-off", "Second factors off"),
    FactorExists: Kind(409, "factor-exists", "Authenticator app already set up"),
    SecretsUnreadable: Kind(
        503, "secrets-unreadable", "Secrets unreadable", "temporarily_unavailable"
    ),
    InvalidScope: Kind(400, "invalid-scope", "Invalid scope", "invalid_scope"),
    UnsupportedGrantType: Kind(
        400, "unsupported-grant-type", "Unsupported grant type", "unsupported_grant_type"
    ),
    ServiceBusy: Kind(503, "busy", "Service busy", "temporarily_unavailable"),
    TooManyAttempts: Kind(429, "too-many-attempts", "Too many attempts", "temporarily_unavailable"),
    RevocationStateStale: Kind(
        503, "revocation-state-stale", "Revocation state stale", "temporarily_unavailable"
    ),
    StoreUnavailable: Kind(
        503, "store-unavailable", "Store unavailable", "temporarily_unavailable"
    ),
    ProviderNotFound: Kind(404, "provider-not-found", "No such identity provider"),
    IdentityNotFound: Kind(404, "identity-not-found", "No such linked identity"),
    LastWayIn: Kind(409, "last-way-in", "Last way to sign in"),
}
# A sign-in through another identity provider, by why it stopped.
EXTERNAL_KINDS: dict[ExternalFailure, Kind] = {
    "unreachable": Kind(502, "provider-unreachable", "Identity provider unreachable"),
    "cancelled": Kind(403, "provider-sign-in-cancelled", "Sign-in cancelled"),
    "provider_error": Kind(400, "provider-error", "Identity provider refused"),
    "state": Kind(400, "provider-state-mismatch", "Sign-in not started here"),
    "invalid_answer": Kind(400, "provider-answer-invalid", "Answer not verified"),
    "not_allowed": Kind(403, "provider-policy-refused", "Not allowed to sign in"),
    "no_account": Kind(403, "no-account", "No account"),
    "identity_taken": Kind(409, "identity-taken", "Identity linked elsewhere"),
    "suspended": Kind(403, "client-suspended", "Account suspended"),
}
_INTERNAL = Kind(500, "internal-error", "Internal server error", "server_error")


def kind_of(exc: GatewayAuthError) -> Kind:
    """The most specific mapping along the exception's class hierarchy."""
    if isinstance(exc, ExternalSignInFailed):
        return EXTERNAL_KINDS[exc.reason]
    for cls in type(exc).__mro__:
        if cls in KINDS:
            return KINDS[cls]
    return _INTERNAL


def problem(exc: GatewayAuthError) -> web.Response:
    """An application/problem+json response for a domain error."""
    kind = kind_of(exc)
    errors = [{"field": e.field, "message": e.message} for e in getattr(exc, "errors", ())]
    return problem_response(
        kind.status,
        slug=kind.slug,
        title=kind.title,
        detail=exc.message,
        errors=errors,
        headers=_headers(exc),
    )


def oauth_error(exc: GatewayAuthError) -> web.Response:
    """An RFC 6749 section 5.2 error response, for the token endpoint."""
    kind = kind_of(exc)
    description = exc.message
    if isinstance(exc, ValidationFailed):
        description = "; ".join(f"{e.field} {e.message}" for e in exc.errors)
    status = kind.status if kind.status in (413, 415, 429, 503) else 400
    headers = _headers(exc)
    error = kind.oauth_error
    if kind.oauth_error == "invalid_grant":
        status = 400  # RFC 6749: a bad grant is 400; 401 is for client authentication
    elif isinstance(exc, InsufficientScope):
        status, error = 403, "insufficient_scope"  # authenticated, not allowed (RFC 6750 3.1)
    elif kind.oauth_error == "invalid_client":
        status = 401
        headers["WWW-Authenticate"] = BASIC_CHALLENGE
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


def http_problem(exc: web.HTTPException) -> web.Response:
    """A problem+json rendering of aiohttp's own 4xx/5xx (404, 405 with Allow, ...)."""
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
    slug = exc.reason.lower().replace(" ", "-")
    detail = {404: "No such route.", 405: f"Allowed methods: {headers.get('Allow', '')}."}
    return problem_response(
        exc.status,
        slug=slug,
        title=exc.reason,
        detail=detail.get(exc.status, exc.reason),
        errors=[],
        headers=headers,
    )


def internal_error() -> web.Response:
    """The generic 500: what went wrong is in the log, never in the response."""
    return problem_response(
        500,
        slug=_INTERNAL.slug,
        title=_INTERNAL.title,
        detail="Something went wrong on our side.",
        errors=[],
        headers={},
    )


def problem_response(
    status: int,
    *,
    slug: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]],
    headers: dict[str, str],
) -> web.Response:
    """Build the problem document itself."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if status == 401:
        headers = {"WWW-Authenticate": WWW_AUTHENTICATE, **headers}
    return web.Response(
        text=_dumps(body),
        status=status,
        headers=headers,
        content_type=PROBLEM_JSON,
        charset="utf-8",
    )


def _headers(exc: GatewayAuthError) -> dict[str, str]:
    if isinstance(exc, ServiceBusy | TooManyAttempts):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, StoreUnavailable):
        return {"Retry-After": "5"}
    if isinstance(exc, RevocationStateStale):
        return {"Retry-After": "1"}
    return {}


def _dumps(body: object) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
