"""The account part of the OpenAPI document: registration, the session flow, guests,
step-up, mailed links and ``/me``."""

from __future__ import annotations

from gateway_auth.http.openapi.portal import form_content
from gateway_auth.http.openapi.shapes import (
    CLIENT_ID,
    COOKIE,
    NO_CONTENT,
    Schema,
    elevation,
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
        "/register": {
            "post": operation(
                "Create an account (when REGISTRATION=open); the form signs in at once",
                {
                    "201": client,
                    "303": {"description": "Form posts: signed in, on to `rd` or the home page"},
                    **problems(400, 403, 409, 413, 415, 422, 429, 503),
                },
                requestBody=request_body(ref("Registration"), form="RegistrationForm"),
            )
        },
        "/login": {
            "get": operation(
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
            "post": operation(
                "Sign in; the tokens arrive as cookies, never in the body",
                {
                    "200": json_answer(
                        strict_object(
                            ["client", "expiresIn"],
                            client=ref("Client"),
                            expiresIn={"type": "integer"},
                        ),
                        "Signed in; Set-Cookie carries the access and refresh cookies, and a "
                        "device cookie that exempts this client from the account's lockout",
                    ),
                    "303": {"description": "Form posts: signed in, on to `rd` or the home page"},
                    **problems(400, 401, 403, 413, 415, 422, 429, 503),
                },
                requestBody=request_body(ref("Credentials"), form="SignInForm"),
                description="A form that fails is answered with the sign-in page again (401, "
                "429), the email kept. An account with a second factor gets 401 "
                "`second-factor-required` (a form: 303 to /login/second-factor) and a cookie "
                "for the sign-in path holding the half-finished sign-in.",
            ),
        },
        "/login/second-factor": {
            "post": operation(
                "The sign-in's second step: a code (or, from the portal's page, a passkey) "
                "finishes the sign-in POST /login began in this client (its cookie); the tokens "
                "arrive as cookies",
                {
                    "200": json_answer(
                        strict_object(
                            ["client", "expiresIn"],
                            client=ref("Client"),
                            expiresIn={"type": "integer"},
                        ),
                        "Signed in; Set-Cookie carries the access, refresh and device cookies",
                    ),
                    "303": {
                        "description": "Form posts: signed in, on to `rd`; or back to the "
                        "sign-in page when the five minutes are over"
                    },
                    **problems(400, 401, 403, 413, 415, 422, 429, 503),
                },
                requestBody=request_body(ref("SecondFactorCode"), form="SecondFactorForm"),
                description="401 `wrong-code` for a wrong or reused code (counted like a wrong "
                "password), 401 `sign-in-expired` when no sign-in waits in this client. The "
                "portal's form may carry `ceremony` and `credential` (a passkey's answer) "
                "instead of `code`.",
            )
        },
        "/refresh": {
            "post": operation(
                "Rotate the refresh cookie and renew the access cookie",
                {
                    "200": json_answer(
                        strict_object(["expiresIn"], expiresIn={"type": "integer"}), "Renewed"
                    ),
                    **problems(401, 503),
                },
                security=[{"refreshCookie": []}],
            )
        },
        "/logout": {
            "post": operation(
                "End the session everywhere",
                {
                    "200": {
                        "description": "Form posts of a session that came through an identity "
                        "provider asking for RP-initiated logout: a page that goes on to the "
                        "provider's end_session_endpoint",
                        "content": {"text/html": {}},
                    },
                    "204": NO_CONTENT,
                    "303": {"description": "Form posts: to `rd`, else to the sign-in page"},
                    **problems(403),
                },
                requestBody={"required": False, "content": form_content("SignOutForm")},
            )
        },
        "/me": {
            "get": operation(
                "The signed-in client",
                {
                    "200": client,
                    "303": {"description": "A person navigating here: on to the account page"},
                    **problems(401, 403, 503),
                },
                security=COOKIE,
            ),
            "patch": operation(
                "Change names, or the email with currentPassword",
                {"200": client, **problems(400, 401, 403, 409, 413, 415, 422, 429, 503)},
                requestBody=request_body(ref("ProfileChange")),
                security=COOKIE,
            ),
            "delete": operation(
                "Delete the account; a client-data-deletion-request event follows",
                {"204": NO_CONTENT, **problems(401, 403, 409, 503)},
                description="409 `last-admin` for the only active client holding admin.",
                security=COOKIE,
            ),
        },
        "/guests": {
            "post": operation(
                "Start as a guest (GUESTS=true): a new guest client, signed in at once",
                {
                    "201": json_answer(ref("GuestSession"), "Started: tokens, or cookies"),
                    "303": {"description": "Form posts: signed in, on to `rd` or the home page"},
                    **problems(400, 403, 413, 415, 422, 429, 503),
                },
                requestBody=request_body(ref("GuestStart"), form="GuestForm", required=False),
                description="A guest has the GUEST_SCOPES, no password (it keeps only its "
                "session) and the placeholder address `guest-<id>@guest.invalid`; it is "
                "deleted, with a deletion event, GUEST_TTL after it started.",
            )
        },
        "/me/elevate": {"post": elevation()},
        "/elevate": {"post": elevation()},
        "/me/upgrade": {
            "post": operation(
                "Turn the calling guest into a user with the same id",
                {
                    "200": json_answer(
                        {"oneOf": [ref("Client"), ref("GuestSession")]},
                        "Upgraded: the client (with cookies, a new access cookie), or with a "
                        "bearer token, the client and a new access token",
                    ),
                    **problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
                },
                requestBody=request_body(ref("Upgrade")),
                security=COOKIE,
            )
        },
        "/password-reset": {
            "post": operation(
                "Ask for a password-reset link; the same answer whether or not the address "
                "has an account",
                {
                    "202": json_answer(ref("PasswordResetAccepted"), "Accepted"),
                    "200": {"description": "Form posts: the 'check your email' page"},
                    **problems(400, 403, 413, 415, 422, 429),
                },
                requestBody=request_body(ref("PasswordResetRequest"), form="PasswordResetForm"),
                description="For a user who may sign in, a single-use token (30 minutes by "
                "default, PASSWORD_RESET_TTL) replaces any earlier one and a "
                "`password-reset-requested` event is published for the mailer, at most one a "
                "minute per account. Counted against the caller's address like a sign-in.",
            )
        },
        "/password-reset/confirm": {
            "post": operation(
                "Set a new password from a reset link: the token is used up and every session "
                "of the client ends everywhere",
                {
                    "204": NO_CONTENT,
                    "303": {"description": "Form posts: to the sign-in page, cookies cleared"},
                    **problems(400, 403, 413, 415, 422, 429, 503),
                },
                requestBody=request_body(ref("PasswordReset"), form="NewPasswordForm"),
            )
        },
        "/email-verification/confirm": {
            "post": operation(
                "Verify the client's email address from a verification link",
                {
                    "200": json_answer(
                        strict_object(["emailVerified"], emailVerified={"const": True}), "Verified"
                    ),
                    "303": {"description": "Form posts: to the home page, or to sign in"},
                    **problems(400, 403, 413, 415, 422, 429, 503),
                },
                requestBody=request_body(ref("EmailVerification"), form="EmailVerificationForm"),
            )
        },
        "/me/email-verification": {
            "post": operation(
                "Mail the verification link again (at most one a minute; none once verified)",
                {
                    "202": json_answer(
                        strict_object(
                            ["sent", "emailVerified"],
                            sent={"type": "boolean"},
                            emailVerified={"type": "boolean"},
                        ),
                        "Accepted",
                    ),
                    **problems(400, 401, 403, 413, 415, 422, 503),
                },
                security=COOKIE,
            )
        },
        "/me/password": {
            "put": operation(
                "Change the password; every other session ends",
                {"204": NO_CONTENT, **problems(400, 401, 403, 413, 415, 422, 429, 503)},
                requestBody=request_body(ref("PasswordChange")),
                security=COOKIE,
            )
        },
        "/me/sessions": {
            "get": operation(
                "The client's active sessions",
                {
                    "200": json_answer(
                        strict_object(
                            ["sessions"], sessions={"type": "array", "items": ref("Session")}
                        ),
                        "Newest first",
                    ),
                    "303": {"description": "A person navigating here: on to the account page"},
                    **problems(401, 403, 503),
                },
                security=COOKIE,
            ),
            "delete": operation(
                "Sign out everywhere, this session included",
                {"204": NO_CONTENT, **problems(401, 403, 503)},
                security=COOKIE,
            ),
        },
        "/me/sessions/{id}": {
            "delete": operation(
                "End one session",
                {"204": NO_CONTENT, **problems(401, 403, 404, 503)},
                parameters=CLIENT_ID,
                security=COOKIE,
            )
        },
    }
