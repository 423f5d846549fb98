"""Registration and the browser session flow as a JSON API: login, refresh, logout.

The same paths take the portal's HTML forms too; those are handed to ``http/portal.py``, which
checks their form token and answers with pages and redirects instead of JSON.
"""

from __future__ import annotations

from aiohttp import web

from gateway_auth.accounts import NewClient
from gateway_auth.errors import (
    FieldError,
    InvalidRefreshToken,
    RefreshTokenSuperseded,
    ValidationFailed,
)
from gateway_auth.http import portal
from gateway_auth.http.appkeys import ACCOUNTS, COOKIES, SESSIONS
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import access_token, origin, refresh_cookie
from gateway_auth.http.problems import problem
from gateway_auth.http.views import client_view, json_response


async def register(request: web.Request) -> web.Response:
    """``POST /register``: create a user account (no scopes, no session)."""
    body = await read_body(request, allow_form=True)
    if body.is_form:
        return await portal.register(request, body)
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
        ),
        origin(request),
    )
    return json_response(client_view(client), status=201)


async def login(request: web.Request) -> web.Response:
    """``POST /login``: cookies carry the tokens, never the body; ``remember`` (default true)
    chooses cookies that outlive the browser."""
    body = await read_body(request, allow_form=True)
    if body.is_form:
        return await portal.sign_in(request, body)
    remember = body.fields.get("remember", True)
    if not isinstance(remember, bool):
        raise ValidationFailed([FieldError("remember", "must be true or false")])
    fields = string_fields(
        {k: v for k, v in body.fields.items() if k != "remember"}, required=("email", "password")
    )
    issued = await request.app[SESSIONS].login(
        fields["email"] or "", fields["password"] or "", origin(request), persistent=remember
    )
    response = json_response(
        {"client": client_view(issued.client), "expiresIn": issued.access_expires_in}
    )
    request.app[COOKIES].set(response, issued)
    return response


async def refresh(request: web.Request) -> web.Response:
    """``POST /refresh``: rotate the refresh cookie and renew the access cookie."""
    cookies = request.app[COOKIES]
    token = refresh_cookie(request) or ""
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
    """``POST /logout``: revoke the session and clear the cookies; always 204 (a form: 303)."""
    if request.body_exists:
        body = await read_body(request, allow_form=True)
        if body.is_form:
            return await portal.sign_out(request, body)
    token = access_token(request)
    if token is not None:
        await request.app[SESSIONS].logout(token)
    response = web.Response(status=204)
    request.app[COOKIES].clear(response)
    return response
