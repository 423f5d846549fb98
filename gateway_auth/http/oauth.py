"""``/revoke`` (RFC 7009), ``/introspect`` (RFC 7662) and
``/.well-known/oauth-authorization-server`` (RFC 8414)."""

from __future__ import annotations

from aiohttp import hdrs, web

from gateway_auth.errors import InsufficientScope, InvalidClient, Unauthenticated, ValidationFailed
from gateway_auth.http.appkeys import SERVICES, SETTINGS
from gateway_auth.http.bodies import read_body
from gateway_auth.http.callers import origin
from gateway_auth.http.token import client_credentials, parameters, require
from gateway_auth.http.views import json_response, not_cached
from gateway_auth.models import Client
from gateway_auth.signin.oauth import INTROSPECT_SCOPE, metadata


async def revoke(request: web.Request) -> web.Response:
    """``POST /revoke`` with ``token`` (and ``token_type_hint``): 200 whether or not the token
    was live, as RFC 7009 asks, so the answer tells a scanner nothing."""
    params = parameters((await read_body(request, allow_form=True)).fields)
    require(params, "token")
    caller = await _authenticated_client(request, params, required=False)
    await request.app[SERVICES].oauth.revoke(params["token"], params.get("token_type_hint"), caller)
    return not_cached(web.Response(status=200))


async def introspect(request: web.Request) -> web.Response:
    """``POST /introspect`` with ``token``: for callers holding the ``introspect`` scope, by
    client credentials (Basic or form) or a bearer access token."""
    params = parameters((await read_body(request, allow_form=True)).fields)
    authorization = request.headers.get(hdrs.AUTHORIZATION, "")
    if authorization[:7].lower() == "bearer ":
        try:
            identity = await request.app[SERVICES].sessions.authenticate(authorization[7:].strip())
        except Unauthenticated:
            raise InvalidClient("The bearer token is not valid.") from None
        held = identity.scopes  # what this token may do, not all the client holds
    else:
        found = await _authenticated_client(request, params, required=True)
        held = found.scopes if found is not None else ()
    if INTROSPECT_SCOPE not in held:
        raise InsufficientScope("Introspection needs the introspect scope.")
    require(params, "token")
    answer = await request.app[SERVICES].oauth.introspect(
        params["token"], params.get("token_type_hint")
    )
    return not_cached(json_response(answer))


async def server_metadata(request: web.Request) -> web.Response:
    """``GET /.well-known/oauth-authorization-server``: cacheable, like the JWKS."""
    settings = request.app[SETTINGS]
    body = metadata(
        issuer=settings.issuer, base_url=settings.links_base, algorithm=settings.jwt_algorithm
    )
    response = json_response(body)
    response.headers[hdrs.CACHE_CONTROL] = "public, max-age=300"
    return response


async def _authenticated_client(
    request: web.Request, params: dict[str, str], *, required: bool
) -> Client | None:
    """The service client whose credentials come with the request (Basic or form), checked as
    at ``/token``; None when none come (a public client) and ``required`` is false."""
    authorization = request.headers.get(hdrs.AUTHORIZATION)
    # A public client may name itself with client_id alone (RFC 6749 3.2.1): no credentials.
    if authorization is None and "client_secret" not in params:
        if required:
            raise InvalidClient(
                "Client credentials are required: HTTP Basic, or client_id and client_secret."
            )
        return None
    try:
        client_id, secret = client_credentials(authorization, params)
    except ValidationFailed:
        raise InvalidClient from None
    return await request.app[SERVICES].sessions.authenticate_client(
        client_id, secret, origin(request)
    )
