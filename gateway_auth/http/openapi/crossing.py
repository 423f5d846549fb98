"""One sign-in across DOMAINS_FILE's domains in the OpenAPI document: the question one portal
asks another through the browser, and the answer it redeems."""

from __future__ import annotations

from gateway_auth.http.openapi.shapes import Schema, ref

_REQUEST = {
    "name": "request",
    "in": "query",
    "required": True,
    "schema": {"type": "string"},
    "description": "the asking domain's signed request (two minutes): which domain asks, the "
    "challenge of its verifier cookie, where to go afterwards, the domains asked already",
}
_PAGE_OR_PROBLEM = {"text/html": {}, "application/problem+json": {"schema": ref("Problem")}}


def paths() -> dict[str, dict[str, Schema]]:
    """Every operation of this area, by path and lower-case method."""
    return {
        "/refresh/sso": {
            "get": {
                "summary": "Another domain's portal asks whether this browser is signed in "
                "here (under /refresh, so the refresh cookie proves the session): 303 back to "
                "it with a single-use code (60 s, bound to that domain and its verifier) when "
                "a session here lives, else on to the next domain, or back with "
                "`error=login_required`",
                "tags": ["portal"],
                "parameters": [_REQUEST],
                "responses": {
                    "303": {"description": "See other: the next portal (Location)"},
                    "400": {
                        "description": "The request expired, is not genuine, or names no "
                        "other configured domain",
                        "content": _PAGE_OR_PROBLEM,
                    },
                    "421": {
                        "description": "A host no domain serves",
                        "content": _PAGE_OR_PROBLEM,
                    },
                },
            }
        },
        "/sso/callback": {
            "get": {
                "summary": "The answer, where the question began: a code is redeemed (once, "
                "with this browser's verifier cookie) for a session of this domain in the same "
                "session family, then on to `rd`; no code: the sign-in form",
                "tags": ["portal"],
                "parameters": [
                    _REQUEST,
                    {"name": "code", "in": "query", "schema": {"type": "string"}},
                    {"name": "error", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "303": {"description": "See other: `rd`, or the sign-in form (Location)"},
                    "400": {
                        "description": "The code expired, was used, is for another domain, or "
                        "this browser does not hold the verifier: a page offering to sign in",
                        "content": _PAGE_OR_PROBLEM,
                    },
                    "421": {
                        "description": "A host no domain serves",
                        "content": _PAGE_OR_PROBLEM,
                    },
                },
            }
        },
    }
