"""Other identity providers in the OpenAPI document: the browser's round trip (start, link,
callback), unlinking on the account page, and the provider's back-channel logout."""

from __future__ import annotations

from gateway_auth.http.openapi.shapes import Schema, ref

_PROVIDER = [
    {
        "name": "provider",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "the provider's id in IDENTITY_PROVIDERS_FILE",
    }
]
_AWAY = {"description": "See other: to the provider, or on to the next page (Location)"}
_PAGE_OR_PROBLEM = {"text/html": {}, "application/problem+json": {"schema": ref("Problem")}}
_STATUSES = {
    400: "The provider's answer does not verify (no round trip of this browser's, a tampered "
    "or spent state, a reused code, another nonce or issuer), or a form no browser sends",
    403: "The person said no at the provider, its policy keeps them out, no account may be "
    "created, the account is suspended, or the form token was refused",
    404: "No such provider (or, unlinking, no such identity on the account)",
    409: "The identity is linked to another account (or, unlinking, the last way in)",
    502: "The provider did not answer as the standards say",
    413: "The form is too large",
    415: "Not a form (`application/x-www-form-urlencoded`)",
    422: "A field is missing",
}


def _browser(summary: str, *statuses: int, **extra: object) -> Schema:
    responses: dict[str, Schema] = {"303": _AWAY}
    for status in statuses:
        responses[str(status)] = {"description": _STATUSES[status], "content": _PAGE_OR_PROBLEM}
    return {"summary": summary, "responses": responses, "tags": ["portal"], **extra}


def paths() -> dict[str, dict[str, Schema]]:
    """Every operation of this area, by path and lower-case method."""
    rd = {"name": "rd", "in": "query", "schema": {"type": "string"}, "description": "return URL"}
    csrf = {
        "name": "csrf",
        "in": "query",
        "required": True,
        "schema": {"type": "string"},
        "description": "the account page's token for this provider's link (no other form's)",
    }
    logout_error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    }
    return {
        "/providers/{provider}/start": {
            "get": _browser(
                '"Sign in with …": off to the provider with PKCE, a nonce and a state bound '
                "to this browser by a ten-minute cookie (someone signed in goes on to `rd`)",
                404,
                502,
                parameters=[*_PROVIDER, rd],
            )
        },
        "/providers/{provider}/link": {
            "get": _browser(
                "A signed-in person links an account at the provider (the account page's link "
                "carries a token for this link only); without a sign-in or confirmation within "
                "ELEVATION_TTL, on to `/elevate` first (or, for an account with neither "
                "password nor second factor, a 403 page asking to sign in again)",
                403,
                404,
                502,
                parameters=[*_PROVIDER, csrf],
            )
        },
        "/providers/{provider}/callback": {
            "get": _browser(
                "The provider's answer: a session (on to `rd`), the second step, the sign-in "
                "page to prove an existing account with the same address, the account page "
                "after a link, or a page saying why not",
                400,
                403,
                404,
                409,
                502,
                parameters=_PROVIDER,
            )
        },
        "/providers/{provider}/backchannel-logout": {
            "post": {
                "summary": "OpenID Connect Back-Channel Logout 1.0: the provider's logout "
                "token ends the sessions it names at every gateway at once",
                "tags": ["portal"],
                "parameters": _PROVIDER,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["logout_token"],
                                "properties": {"logout_token": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "The sessions it names have ended"},
                    "400": {
                        "description": "The logout token does not verify, or was used before",
                        "content": {"application/json": {"schema": logout_error}},
                    },
                    "404": {
                        "description": "No such provider",
                        "content": {"application/json": {"schema": logout_error}},
                    },
                    "503": {
                        "description": "The store is unavailable; the provider may try again",
                        "content": {"application/problem+json": {"schema": ref("Problem")}},
                    },
                },
            }
        },
        "/account/identities/link": {
            "get": {
                "summary": "After proving an account that another provider led to: the page "
                "asking whether to link that provider's account (on to `rd` when no link "
                "waits for this account in this browser)",
                "tags": ["portal"],
                "parameters": [rd],
                "responses": {
                    "200": {"description": "The question", "content": {"text/html": {}}},
                    "303": _AWAY,
                },
            },
            "post": {
                **_browser(
                    "The answer: `link` links it (after a proof within ELEVATION_TTL, in the "
                    "browser the provider sent back), `skip` forgets it",
                    400,
                    403,
                    409,
                    413,
                    415,
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["csrf"],
                                "properties": {
                                    "csrf": {"type": "string"},
                                    "answer": {"type": "string", "enum": ["link", "skip"]},
                                    "rd": {"type": "string"},
                                },
                                "additionalProperties": False,
                            }
                        }
                    },
                },
            },
        },
        "/account/identities/unlink": {
            "post": {
                **_browser(
                    "Unlink one identity (never the account's last way to sign in)",
                    400,
                    403,
                    404,
                    409,
                    413,
                    415,
                    422,
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["csrf", "provider", "subject"],
                                "properties": {
                                    "csrf": {"type": "string"},
                                    "provider": {"type": "string"},
                                    "subject": {"type": "string"},
                                },
                                "additionalProperties": False,
                            }
                        }
                    },
                },
            }
        },
    }
