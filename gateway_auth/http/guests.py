"""Guests: ``POST /guests`` starts one, signed in at once; ``POST /me/upgrade`` makes it a user.

A program gets its tokens in the body (as ``/token`` gives them); a browser (the portal's
form, or JSON with ``"cookies": true``) gets the session's cookies instead.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from gateway_auth.errors import FieldError, ValidationFailed
from gateway_auth.http.appkeys import PAGES, SERVICES
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import (
    access_token,
    authenticate,
    cookie_policy,
    origin,
    return_domains,
    return_ports,
)
from gateway_auth.http.portal.browsing import signed_in_to
from gateway_auth.http.redirects import safe_return_url
from gateway_auth.http.views import client_view, json_response
from gateway_auth.signin.issued import IssuedAccess, IssuedSession

_NO_STORE = {hdrs.CACHE_CONTROL: "no-store"}


async def start_guest(request: web.Request) -> web.Response:
    """``POST /guests``: a new guest client, signed in (201 with tokens, or cookies)."""
    body = await read_body(request, allow_form=True, optional=True)
    form: dict[str, str | None] | None = None
    if body.is_form:
        form = string_fields(
            request.app[PAGES].tokens.check(request, body.fields), optional=("rd",)
        )
    cookies = body.fields.get("cookies", False)
    if not body.is_form and not isinstance(cookies, bool):
        raise ValidationFailed([FieldError("cookies", "must be true or false")])
    if not body.is_form:
        string_fields({k: v for k, v in body.fields.items() if k != "cookies"})  # nothing else
    accounts = request.app[SERVICES].accounts
    caller = origin(request)
    client = await accounts.create_guest(caller)
    issued = await request.app[SERVICES].sessions.start(
        client, caller, persistent=True, not_after=accounts.guest_expiry(client), amr=()
    )
    if form is not None:
        return_to = safe_return_url(
            form.get("rd"),
            return_domains(request),
            fallback="",
            https_ports=return_ports(request),
        )
        return await signed_in_to(request, issued, return_to)
    if cookies:
        response = json_response(
            {"client": client_view(client), "expiresIn": issued.access_expires_in}, status=201
        )
        cookie_policy(request).set(response, issued)
        return response
    return _with_tokens(client_view(client), issued, status=201)


async def upgrade(request: web.Request) -> web.Response:
    """``POST /me/upgrade {email, password}``: the guest becomes a user with the same id."""
    identity = await authenticate(request)
    body = await read_body(request)
    fields = string_fields(body.fields, required=("email", "password"))
    client = await request.app[SERVICES].accounts.upgrade_guest(
        identity, fields["email"] or "", fields["password"] or "", origin(request)
    )
    # The session's next token says "user"; this caller gets one at once.
    reissued = await request.app[SERVICES].sessions.reissue(client, access_token(request))
    if reissued is None:
        return json_response(client_view(client))
    if _bearer(request):
        return _with_tokens(client_view(client), reissued)
    response = json_response(client_view(client))
    cookie_policy(request).set(response, reissued)
    return response


def _bearer(request: web.Request) -> bool:
    scheme = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")[0]
    return scheme.lower() == "bearer"


def _with_tokens(
    client: dict[str, object], issued: IssuedSession | IssuedAccess, *, status: int = 200
) -> web.Response:
    body: dict[str, object] = {
        "client": client,
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.access_expires_in,
    }
    if isinstance(issued, IssuedSession):
        body["refresh_token"] = issued.refresh_token
    response = json_response(body, status=status)
    response.headers.update(_NO_STORE)
    return response
