"""The OAuth part of the OpenAPI document: ``/token``, ``/revoke``, ``/introspect`` and the
server metadata (RFC 6749, 7009, 7662, 8414)."""

from __future__ import annotations

from gateway_auth.http.openapi.shapes import (
    Schema,
    json_answer,
    oauth_body,
    oauth_errors,
    operation,
    ref,
)


def paths() -> dict[str, dict[str, Schema]]:
    """Every operation of this area, by path and lower-case method."""
    return {
        "/token": {
            "post": operation(
                "OAuth 2 token endpoint: password, refresh_token, client_credentials",
                {
                    "200": json_answer(ref("Token"), "Issued"),
                    **oauth_errors((400, 401, 413, 415, 429, 503)),
                },
                requestBody=oauth_body("TokenRequest"),
                security=[{}, {"clientBasic": []}],
                description="Programs should use client_credentials (service clients). The "
                "password grant is a first-party convenience for this installation's own "
                "programs (RFC 9700 advises against it elsewhere).",
            )
        },
        "/revoke": {
            "post": operation(
                "RFC 7009: end a token's session (its refresh token and access tokens) at "
                "every gateway",
                {
                    "200": {"description": "Revoked, or it was not a live token"},
                    **oauth_errors((400, 401, 413, 415, 503)),
                },
                requestBody=oauth_body("TokenParameter"),
                security=[{}, {"clientBasic": []}],
                description="Anyone holding a user's or guest's token may revoke it; a service "
                "client's token is revoked only with that client's credentials.",
            )
        },
        "/introspect": {
            "post": operation(
                "RFC 7662: whether a token is live now, and whose it is",
                {
                    "200": json_answer(ref("Introspection"), "The answer"),
                    **oauth_errors((400, 401, 403, 413, 415, 503)),
                },
                requestBody=oauth_body("TokenParameter"),
                security=[{"clientBasic": []}, {"oauth2": ["introspect"]}],
                description="For clients holding the `introspect` scope (client credentials "
                "or a bearer token). Revocations, suspensions and deletions show at once.",
            )
        },
        "/.well-known/oauth-authorization-server": {
            "get": operation(
                "RFC 8414 authorization server metadata",
                {"200": json_answer(ref("ServerMetadata"), "The metadata")},
                security=[],
            )
        },
    }
