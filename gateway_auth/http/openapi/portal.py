"""The portal's part of the OpenAPI document: pages (``text/html``) and the urlencoded forms
they post, each with its form token. Merged into ``http/openapi.py``'s paths."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_TEXT = {"type": "string"}
_TOKEN = {"type": "string", "description": "the page's anti-CSRF form token"}
_RETURN = {"type": "string", "description": "where to go afterwards (re-validated)"}
_REMEMBER = {"type": "string", "enum": ["on", ""], "description": "Keep me signed in"}
_CEREMONY = {"type": "string", "description": "the passkey challenge's token, from the page"}
_CREDENTIAL = {
    "type": "string",
    "description": "the browser's answer: JSON of PublicKeyCredential.toJSON()",
}


def _form(required: list[str], **properties: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["csrf", *required],
        "properties": {"csrf": _TOKEN, **properties},
        "additionalProperties": False,
    }


FORMS: dict[str, Schema] = {
    "SignInForm": _form(
        ["email", "password"], email=_TEXT, password=_TEXT, rd=_RETURN, remember=_REMEMBER
    ),
    "RegistrationForm": _form(
        ["email", "password", "passwordConfirmation"],
        email=_TEXT,
        password=_TEXT,
        passwordConfirmation=_TEXT,
        firstName=_TEXT,
        lastName=_TEXT,
        rd=_RETURN,
        remember=_REMEMBER,
    ),
    "SignOutForm": _form([], rd=_RETURN),
    "PasswordResetForm": _form(["email"], email=_TEXT),
    "GuestForm": _form([], rd=_RETURN),
    "ElevationForm": _form(
        [], password=_TEXT, code=_TEXT, rd=_RETURN, ceremony=_CEREMONY, credential=_CREDENTIAL
    ),
    "SecondFactorForm": _form(
        [], code=_TEXT, rd=_RETURN, ceremony=_CEREMONY, credential=_CREDENTIAL
    ),
    "PasskeySignInForm": _form(
        ["ceremony", "credential"],
        ceremony=_CEREMONY,
        credential=_CREDENTIAL,
        rd=_RETURN,
        remember=_REMEMBER,
    ),
    "NewPasswordForm": _form(
        ["token", "newPassword", "newPasswordConfirmation"],
        token=_TEXT,
        newPassword=_TEXT,
        newPasswordConfirmation=_TEXT,
    ),
    "EmailVerificationForm": _form(["token"], token=_TEXT),
}
_LINK_TOKEN = [
    {"name": "token", "in": "query", "schema": _TEXT, "description": "from the mailed link"}
]
_PAGE = {"description": "The page", "content": {"text/html": {}}}
_AWAY = {"description": "See other: on to the next page (Location)"}
_RD = [{"name": "rd", "in": "query", "schema": {"type": "string"}, "description": "return URL"}]


def form_content(name: str) -> Schema:
    """The urlencoded content entry of a request body for one of ``FORMS``."""
    return {"application/x-www-form-urlencoded": {"schema": _ref(name)}}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _page(summary: str, *statuses: int, **extra: Any) -> Schema:
    responses: dict[str, Schema] = {"200": _PAGE, "303": _AWAY}
    for status in statuses:
        responses[str(status)] = {"description": _REFUSALS[status], "content": {"text/html": {}}}
    return {"summary": summary, "responses": responses, "tags": ["portal"], **extra}


def _account_form(
    summary: str, *fields: str, conflict: bool = False, missing: bool = False, **extra: Any
) -> Schema:
    schema = _form(list(fields), **dict.fromkeys(fields, _TEXT))
    body = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}
    operation = _page(summary, requestBody=body, **extra)
    refusals = {
        **_REFUSALS,
        **({409: _CONFLICT} if conflict else {}),
        **({404: _MISSING} if missing else {}),
    }
    # A browser gets the form again; anything else that posts here, a problem document.
    for status, description in refusals.items():
        operation["responses"][str(status)] = {
            "description": description,
            "content": {"text/html": {}, "application/problem+json": {"schema": _ref("Problem")}},
        }
    return operation


_CONFLICT = (
    "The two-step page again: the app is set up already, or not yet; or a passkey was not "
    "added (refused, expired, registered already)"
)
_MISSING = "The two-step page again: the account has no such passkey"
_REFUSALS = {
    400: "Not a form post a browser would send (a problem document)",
    401: "The form again: a wrong current password or code",
    403: "The form token or origin was refused, registration is closed, or the account is "
    "suspended (or not allowed)",
    422: "The form again, each problem beside its field",
    413: "The form is too large",
    415: "Not a form (`application/x-www-form-urlencoded`)",
    429: "The form again: too many wrong passwords (`Retry-After`)",
}


def portal_paths() -> dict[str, dict[str, Schema]]:
    """The pages and form actions, by path and method (relative to BASE_PATH)."""
    session_id = [{"name": "id", "in": "path", "required": True, "schema": _TEXT}]
    return {
        "/": {"get": _page("The account's profile: who you are, your name; a guest saves it", 403)},
        "/account/security": {
            "get": _page("Sign-in and security: address, password, second factors, providers", 403)
        },
        "/account/sessions": {"get": _page("Where the account is signed in", 403)},
        "/account/delete": {
            "get": _page("What deleting the account means, and the form that does it", 403),
            "post": _account_form(
                "Delete the account (`understood`; after a recent sign-in or /elevate)",
                conflict=True,
            ),
        },
        "/account/save": {
            "post": _account_form(
                "A guest saves its account: it becomes a user with this email and password",
                "email",
                "password",
                "passwordConfirmation",
                conflict=True,
            )
        },
        "/register": {"get": _page("The registration page", 403, parameters=_RD)},
        "/refresh": {
            "get": _page(
                "The refresh hop: renews an expired access cookie from the refresh cookie and "
                "goes back to `rd`; to the sign-in page when no session is left",
                parameters=_RD,
            )
        },
        "/logout": {"get": _page("The sign-out confirmation", parameters=_RD)},
        "/denied": {"get": _page("What nginx shows for a 403 from /verify", 403)},
        "/password-reset": {"get": _page("The 'forgot your password' page")},
        "/elevate": {
            "get": _page("Confirm the password to put elevated scopes in force", parameters=_RD)
        },
        "/password-reset/confirm": {
            "get": _page(
                "Where a reset link leads: the new-password form (nothing is used yet)",
                parameters=_LINK_TOKEN,
            )
        },
        "/email-verification/confirm": {
            "get": _page(
                "Where a verification link leads: a button that verifies (mail scanners that "
                "fetch the link verify nothing)",
                parameters=_LINK_TOKEN,
            )
        },
        "/account/email-verification": {"post": _account_form("Send the verification link again")},
        "/account/profile": {
            "post": _account_form("Save first and last name", "firstName", "lastName")
        },
        "/account/email": {"post": _account_form("Change the email", "email", "emailPassword")},
        "/account/password": {
            "post": _account_form(
                "Change the password", "currentPassword", "newPassword", "newPasswordConfirmation"
            )
        },
        "/account/sessions/end-others": {"post": _account_form("Sign out everywhere else")},
        "/login/second-factor": {
            "get": _page(
                "The sign-in's second step: a code from the authenticator app or a recovery "
                "code (without a sign-in waiting in this browser: back to the sign-in page)",
                parameters=_RD,
            )
        },
        "/account/two-factor": {"get": _page("Two-step sign-in: the authenticator app", 403)},
        "/account/two-factor/totp": {
            "post": _account_form(
                "After the password, start setting up an authenticator app: the page shows its "
                "QR code and key, and its form carries the set-up's ticket",
                "setupPassword",
                conflict=True,
            )
        },
        "/account/two-factor/totp/confirm": {
            "post": _account_form(
                "Turn two-step sign-in on with the app's first code; the recovery codes are "
                "shown once on the page that answers; the account's other sessions end",
                "code",
                "ticket",
                conflict=True,
            )
        },
        "/account/two-factor/totp/remove": {
            "post": _account_form(
                "Remove the authenticator app and recovery codes", "removePassword"
            )
        },
        "/account/two-factor/recovery-codes": {
            "post": _account_form(
                "Replace the recovery codes (shown once on the page that answers)",
                "codesPassword",
                conflict=True,
            )
        },
        "/login/passkey": {
            "post": {
                **_page(
                    "Sign in with a passkey alone (one that verifies its user): on to `rd` with "
                    "the cookies, or the sign-in page again saying why (401, 429)",
                    requestBody={"required": True, "content": form_content("PasskeySignInForm")},
                ),
                "responses": {
                    "303": _AWAY,
                    **{
                        str(status): {
                            "description": description,
                            "content": {"text/html": {}, "application/problem+json": {}},
                        }
                        for status, description in _REFUSALS.items()
                        if status != 422
                    },
                },
            }
        },
        "/account/two-factor/passkeys": {
            "post": _account_form(
                "After the password, the page that creates a passkey on this device: it "
                "carries the WebAuthn options and the challenge's token (five minutes)",
                "passkeyPassword",
                conflict=True,
            )
        },
        "/account/two-factor/passkeys/confirm": {
            "post": _account_form(
                "Keep the passkey the browser just made (`credential`, the JSON of "
                "PublicKeyCredential.toJSON()); for the first second factor the recovery codes "
                "are shown once and the account's other sessions end",
                "ceremony",
                "credential",
                "name",
                conflict=True,
            )
        },
        "/account/two-factor/passkeys/{id}/rename": {
            "post": {
                **_account_form("Rename one passkey", missing=True, parameters=session_id),
                "requestBody": _named_field_body("name-{id}", "the new name"),
            }
        },
        "/account/two-factor/passkeys/{id}/remove": {
            "post": {
                **_account_form(
                    "After the password, remove one passkey (with the last second factor, the "
                    "recovery codes go too)",
                    missing=True,
                    parameters=session_id,
                ),
                "requestBody": _named_field_body("password-{id}", "the account's password"),
            }
        },
        "/account/sessions/{id}/end": {
            "post": _account_form("Sign out one session", parameters=session_id)
        },
    }


def _named_field_body(field: str, description: str) -> Schema:
    """A form whose one field is named after the path's id (each passkey's form on the page
    has its own, so their labels stay apart)."""
    schema = _form([], **{field: {"type": "string", "description": description}})
    schema["additionalProperties"] = {"type": "string"}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}
