"""Registration and the browser session flow: login, refresh, logout."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from gateway_auth.accounts import NewClient
from gateway_auth.errors import InvalidCredentials, InvalidRefreshToken, RefreshTokenSuperseded
from gateway_auth.http.appkeys import ACCOUNTS, COOKIES, SESSIONS, SETTINGS
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import access_token, origin, return_domains
from gateway_auth.http.problems import problem
from gateway_auth.http.views import client_view, json_response
from gateway_auth.redirects import safe_return_url


async def register(request: web.Request) -> web.Response:
    """``POST /register``: create a user account (no scopes, no session)."""
    body = await read_body(request)
    names = ("firstName", "lastName")
    fields = string_fields(
        body.fields, required=("email", "password"), optional=names, nullable=names
    )
    client = await request.app[ACCOUNTS].register(
        NewClient(
            email=fields["email"] or "",
            password=fields["password"] or "",
            first_name=fields.get("firstName"),
            last_name=fields.get("lastName"),
        )
    )
    return json_response(client_view(client), status=201)


async def login(request: web.Request) -> web.Response:
    """``POST /login``: JSON or form; cookies carry the tokens, never the body."""
    body = await read_body(request, allow_form=True)
    fields = string_fields(body.fields, required=("email", "password"), optional=("rd",))
    settings = request.app[SETTINGS]
    return_to = fields.get("rd")
    try:
        issued = await request.app[SESSIONS].login(
            fields["email"] or "", fields["password"] or "", origin(request)
        )
    except InvalidCredentials:
        if body.is_form and _prefers_html(request):
            query = {"error": "invalid", **({"rd": return_to} if return_to else {})}
            return _see_other(f"{settings.base_path}/login?{urlencode(query)}")
        raise
    if body.is_form and return_to is not None:
        location = safe_return_url(return_to, return_domains(request))
        response = _see_other(location)
    else:
        response = json_response(
            {"client": client_view(issued.client), "expiresIn": issued.access_expires_in}
        )
    request.app[COOKIES].set(response, issued)
    return response


async def refresh(request: web.Request) -> web.Response:
    """``POST /refresh``: rotate the refresh cookie and renew the access cookie."""
    cookies = request.app[COOKIES]
    token = request.cookies.get(cookies.refresh_name, "")
    try:
        issued = await request.app[SESSIONS].refresh(token, origin(request))
    except RefreshTokenSuperseded as exc:
        # The concurrent winner has just set new cookies; clearing them here would log out.
        return problem(exc)
    except InvalidRefreshToken as exc:
        response = problem(exc)
        cookies.clear(response)
        return response
    response = json_response({"expiresIn": issued.access_expires_in})
    cookies.set(response, issued)
    return response


async def logout(request: web.Request) -> web.Response:
    """``POST /logout``: revoke the session and clear the cookies; always 204."""
    token = access_token(request)
    if token is not None:
        await request.app[SESSIONS].logout(token)
    response = web.Response(status=204)
    request.app[COOKIES].clear(response)
    return response


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _prefers_html(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and request.headers.get("X-Requested-With") is None
