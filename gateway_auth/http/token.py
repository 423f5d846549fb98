"""``POST /token``: the OAuth 2 token endpoint for programs (RFC 6749 shapes throughout)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import unquote_plus

from aiohttp import hdrs, web

from gateway_auth.errors import (
    FieldError,
    InvalidClient,
    MalformedRequest,
    UnsupportedGrantType,
    ValidationFailed,
)
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.http.bodies import read_body
from gateway_auth.http.callers import origin
from gateway_auth.http.views import json_response, not_cached
from gateway_auth.signin.issued import IssuedSession


async def token(request: web.Request) -> web.Response:
    """Grant types ``client_credentials``, ``refresh_token`` and ``password``, each with an
    optional ``scope`` that narrows the token to some of the client's scopes."""
    params = parameters((await read_body(request, allow_form=True)).fields)
    grant_type = params.get("grant_type")
    sessions = request.app[SERVICES].sessions
    if grant_type == "client_credentials":
        client_id, secret = client_credentials(request.headers.get(hdrs.AUTHORIZATION), params)
        service = await sessions.client_credentials(
            client_id, secret, origin(request), scope=params.get("scope")
        )
        return not_cached(
            json_response(
                {
                    "access_token": service.access_token,
                    "token_type": "Bearer",
                    "expires_in": service.expires_in,
                    "scope": " ".join(service.scopes),
                }
            )
        )
    if grant_type == "password":
        require(params, "username", "password")
        # A program proves it signed in before with the device_token it was given then (the
        # account's lockout spares it), as a browser does with the device cookie.
        caller = origin(request)
        if "device_token" in params:
            caller = replace(caller, devices=(params["device_token"], *caller.devices))
        issued = await sessions.login(
            params["username"], params["password"], caller, scope=params.get("scope")
        )
    elif grant_type == "refresh_token":
        require(params, "refresh_token")
        issued = await sessions.refresh(
            params["refresh_token"], origin(request), scope=params.get("scope")
        )
    elif grant_type is None:
        raise MalformedRequest("grant_type is required.")
    else:
        raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported.")
    return not_cached(json_response(_token_response(issued)))


def client_credentials(authorization: str | None, params: dict[str, str]) -> tuple[str, str]:
    """HTTP Basic (RFC 6749 2.3.1: each part form-urlencoded) or form fields, not both."""
    in_form = "client_id" in params or "client_secret" in params
    if authorization is None:
        if "client_id" not in params or "client_secret" not in params:
            raise InvalidClient(
                "Client credentials are required: HTTP Basic, or client_id and client_secret."
            )
        return params["client_id"], params["client_secret"]
    if in_form:
        raise MalformedRequest("Send the client credentials once: in Basic or in the form.")
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("Client credentials must use HTTP Basic.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidClient("The Basic credentials are not valid base64 UTF-8.") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidClient
    return unquote_plus(client_id), unquote_plus(secret)


def parameters(fields: Mapping[str, object]) -> dict[str, str]:
    """RFC 6749 section 3.2: unknown parameters are ignored, empty ones count as omitted."""
    wrong = [FieldError(k, "must be a string") for k, v in fields.items() if not isinstance(v, str)]
    if wrong:
        raise ValidationFailed(wrong)
    return {key: value for key, value in fields.items() if isinstance(value, str) and value}


def require(params: dict[str, str], *names: str) -> None:
    missing = [FieldError(name, "is required") for name in names if name not in params]
    if missing:
        raise ValidationFailed(missing)


def _token_response(issued: IssuedSession) -> dict[str, object]:
    response: dict[str, object] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.access_expires_in,
        "refresh_token": issued.refresh_token,
        "scope": " ".join(issued.scopes),
    }
    if issued.device_token:  # after a password grant: send it back as device_token next time
        response["device_token"] = issued.device_token
    return response
