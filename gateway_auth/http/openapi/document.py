"""The OpenAPI 3.1 description of every route, served at ``GET /openapi.json``.

Written as data beside the handlers rather than derived from them: the handlers validate by
hand, so a generator would have nothing to read. Three things keep the two honest:
``tests/http/api/test_openapi.py`` compares the operations here with the router's; every
answer the HTTP suite gets is checked against this document (``tests/support/conformance.py``:
a status it does not list, or a JSON body off its schema, fails the test that got it); and
schemathesis fuzzes a live server from it (``tests/test_fuzz.py``). ``docs/api.md`` is rendered
from this document (``docs/api_markdown.py``). Each area's operations are in a module of their
own here.
"""

from __future__ import annotations

from gateway_auth import __version__
from gateway_auth.http.openapi import account, admin, crossing, oauth, operations, providers
from gateway_auth.http.openapi.portal import portal_paths
from gateway_auth.http.openapi.schemas import SCHEMAS
from gateway_auth.http.openapi.shapes import ANY_METHOD, OAUTH_SCOPES, Schema

__all__ = ["ANY_METHOD", "document", "paths"]


def paths() -> dict[str, dict[str, Schema]]:
    """Every operation, by path and lower-case method (paths are relative to BASE_PATH)."""
    api: dict[str, dict[str, Schema]] = {}
    for area in (account, oauth, admin, operations, providers, crossing):
        api.update(area.paths())
    for path, operations_of in portal_paths().items():
        api.setdefault(path, {}).update(operations_of)
    for path, operations_of in api.items():
        if path not in _SITELESS:
            for operation in operations_of.values():
                operation["responses"].setdefault("421", _UNKNOWN_HOST)
    return api


# Programs' routes: any host will do (``http.sites``). Every other route, with DOMAINS_FILE,
# refuses a host no domain serves.
_SITELESS = frozenset(
    {
        "/verify", "/token", "/revoke", "/introspect", "/healthz", "/readyz", "/metrics",
        "/openapi.json", "/.well-known/jwks.json", "/.well-known/oauth-authorization-server",
        "/providers/{provider}/backchannel-logout",
    }
)  # fmt: skip
_UNKNOWN_HOST: Schema = {
    "description": "A host no domain of DOMAINS_FILE serves (a bearer-token call goes on)",
    "content": {
        "text/html": {},
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}},
    },
}


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
                        "clientCredentials": {"tokenUrl": "token", "scopes": OAUTH_SCOPES},
                        "password": {"tokenUrl": "token", "scopes": OAUTH_SCOPES},
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
