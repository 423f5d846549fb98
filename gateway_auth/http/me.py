"""``/me``: the authenticated client's own account and sessions."""

from __future__ import annotations

from aiohttp import web

from gateway_auth.http.appkeys import PAGES, SERVICES
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import authenticate, cookie_policy, origin
from gateway_auth.http.navigation import wants_page
from gateway_auth.http.portal.browsing import see_other
from gateway_auth.http.views import PROFILE_FIELDS, client_view, json_response, session_view


async def get_me(request: web.Request) -> web.Response:
    """``GET /me``: the caller's client record; a person navigating here gets the account page."""
    if wants_page(request.headers):
        return see_other(request.app[PAGES].urls.home)
    identity = await authenticate(request)
    return json_response(client_view(identity.client))


async def patch_me(request: web.Request) -> web.Response:
    """``PATCH /me``: change names, or the email with ``currentPassword``; nothing else."""
    identity = await authenticate(request)
    body = await read_body(request)
    fields = string_fields(
        body.fields,
        optional=(*PROFILE_FIELDS, "currentPassword"),
        nullable=("firstName", "lastName"),
    )
    values = {PROFILE_FIELDS[k]: v for k, v in fields.items() if k in PROFILE_FIELDS}
    client = await request.app[SERVICES].accounts.update_profile(
        identity, values, origin(request), current_password=fields.get("currentPassword")
    )
    return json_response(client_view(client))


async def delete_me(request: web.Request) -> web.Response:
    """``DELETE /me``: delete the account; a deletion event is queued for downstream services."""
    identity = await authenticate(request)
    await request.app[SERVICES].accounts.delete_self(identity)
    return _no_content(request, clear_cookies=True)


async def put_password(request: web.Request) -> web.Response:
    """``PUT /me/password``: change the password; every other session ends."""
    identity = await authenticate(request)
    body = await read_body(request)
    fields = string_fields(body.fields, required=("currentPassword", "newPassword"))
    await request.app[SERVICES].accounts.change_password(
        identity, fields["currentPassword"] or "", fields["newPassword"] or "", origin(request)
    )
    return _no_content(request)


async def send_verification(request: web.Request) -> web.Response:
    """``POST /me/email-verification``: mail the verification link again; 202 whether or not a
    mail was due (at most one a minute; none once the address is verified)."""
    identity = await authenticate(request)
    string_fields((await read_body(request, optional=True)).fields)  # no fields at all
    sent = await request.app[SERVICES].links.send_verification(
        identity.client, origin(request).locale
    )
    verified = identity.client.email_verified
    return json_response({"sent": sent, "emailVerified": verified}, status=202)


async def list_sessions(request: web.Request) -> web.Response:
    """``GET /me/sessions``: the caller's active sessions (for a person: the account page)."""
    if wants_page(request.headers):
        return see_other(request.app[PAGES].urls.sessions)
    identity = await authenticate(request)
    sessions = await request.app[SERVICES].sessions.active(identity)
    return json_response({"sessions": [session_view(s, identity.session_id) for s in sessions]})


async def delete_session(request: web.Request) -> web.Response:
    """``DELETE /me/sessions/{id}``: end one of the caller's sessions (404 for anyone else's)."""
    identity = await authenticate(request)
    session_id = request.match_info["id"]
    await request.app[SERVICES].sessions.revoke(identity, session_id)
    return _no_content(request, clear_cookies=session_id == identity.session_id)


async def delete_sessions(request: web.Request) -> web.Response:
    """``DELETE /me/sessions``: end every session of the caller, this one included."""
    identity = await authenticate(request)
    await request.app[SERVICES].sessions.revoke_all(identity)
    return _no_content(request, clear_cookies=True)


def _no_content(request: web.Request, *, clear_cookies: bool = False) -> web.Response:
    response = web.Response(status=204)
    if clear_cookies:
        cookie_policy(request).clear(response)
    return response
