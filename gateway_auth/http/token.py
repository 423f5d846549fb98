"""``POST /token``: the OAuth 2 token endpoint for programs (RFC 6749 shapes throughout)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from gateway_auth.errors import FieldError, MalformedRequest, UnsupportedGrantType, ValidationFailed
from gateway_auth.http.appkeys import SESSIONS
from gateway_auth.http.bodies import read_body
from gateway_auth.http.callers import origin
from gateway_auth.http.views import json_response
from gateway_auth.sessions import IssuedSession


async def token(request: web.Request) -> web.Response:
    """Grant types ``password`` and ``refresh_token``; the response carries the tokens."""
    params = _parameters((await read_body(request, allow_form=True)).fields)
    grant_type = params.get("grant_type")
    sessions = request.app[SESSIONS]
    if grant_type == "password":
        _require(params, "username", "password")
        issued = await sessions.login(params["username"], params["password"], origin(request))
    elif grant_type == "refresh_token":
        _require(params, "refresh_token")
        issued = await sessions.refresh(params["refresh_token"], origin(request))
    elif grant_type is None:
        raise MalformedRequest("grant_type is required.")
    else:
        raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported.")
    response = json_response(_token_response(issued))
    response.headers["Pragma"] = "no-cache"  # RFC 6749 section 5.1, beside Cache-Control
    return response


def _parameters(fields: Mapping[str, object]) -> dict[str, str]:
    """RFC 6749 section 3.2: unknown parameters are ignored, empty ones count as omitted."""
    wrong = [FieldError(k, "must be a string") for k, v in fields.items() if not isinstance(v, str)]
    if wrong:
        raise ValidationFailed(wrong)
    return {key: value for key, value in fields.items() if isinstance(value, str) and value}


def _require(params: dict[str, str], *names: str) -> None:
    missing = [FieldError(name, "is required") for name in names if name not in params]
    if missing:
        raise ValidationFailed(missing)


def _token_response(issued: IssuedSession) -> dict[str, object]:
    return {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.access_expires_in,
        "refresh_token": issued.refresh_token,
        "scope": " ".join(issued.client.scopes),
    }
