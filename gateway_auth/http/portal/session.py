"""A browser session's renewal and end: the refresh hop, ``POST /refresh``, the sign-out page
and ``POST /logout`` (JSON or the portal's form, its body read once; the cookies cleared by
``CookiePolicy`` either way)."""

from __future__ import annotations

from aiohttp import web

from gateway_auth.errors import InvalidRefreshToken, RefreshTokenSuperseded
from gateway_auth.http.appkeys import ORIGINS, PAGES, SERVICES
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import (
    access_token,
    cookie_policy,
    origin,
    portal_origin,
    refresh_cookie,
    return_url,
)
from gateway_auth.http.portal.browsing import see_other, token_verdict
from gateway_auth.http.portal.pages import PortalUrls
from gateway_auth.http.problems import problem
from gateway_auth.http.views import json_response
from gateway_auth.i18n import N_


async def refresh_hop(request: web.Request) -> web.Response:
    """``GET /refresh?rd=``: where ``/verify`` sends a browser whose access token expired.

    It rotates the refresh cookie and sends the browser straight back, so a session lasts as
    long as its refresh token without any script; with no live session, to the sign-in page.
    """
    urls = _urls(request)
    return_to = return_url(request, request.query.get("rd"), fallback=urls.home)
    sign_in = urls.login_saying("session_ended", return_to)
    token = refresh_cookie(request)
    if token is None:
        # Nothing of this browser's to renew (or a cookie this path did not receive, as under
        # /auth/%72efresh): never clear cookies that were not even presented.
        return see_other(sign_in)
    cookies = cookie_policy(request)
    try:
        issued = await request.app[SERVICES].sessions.refresh_browser(token, origin(request))
    except InvalidRefreshToken:
        response = see_other(sign_in)
        cookies.clear(response)
        return response
    response = see_other(return_to)
    cookies.set(response, issued)
    return response


async def refresh(request: web.Request) -> web.Response:
    """``POST /refresh``: rotate the refresh cookie and renew the access cookie."""
    cookies = cookie_policy(request)
    token = refresh_cookie(request) or ""
    try:
        issued = await request.app[SERVICES].sessions.refresh(token, origin(request))
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


async def logout_page(request: web.Request) -> web.Response:
    """``GET /logout``: a confirmation, so a link (``…/logout?rd=…``) signs nobody out alone."""
    urls = _urls(request)
    return_to = return_url(request, request.query.get("rd"), fallback="")
    claims = token_verdict(request).claims  # absent when no session is left to end
    return request.app[PAGES].render(
        request,
        "logout.html",
        title=N_("Sign out"),
        email=claims.email if claims else None,
        rd=return_to,
        cancel=return_to or urls.home,
    )


async def logout(request: web.Request) -> web.Response:
    """``POST /logout``: the session ends everywhere and the cookies are cleared; 204, or for
    the sign-out form, 303 to its return URL or the sign-in page."""
    body = await read_body(request, allow_form=True) if request.body_exists else None
    form = None
    if body is not None and body.is_form:
        fields = request.app[PAGES].tokens.check(request, body.fields)
        form = string_fields(fields, optional=("rd",))
    token = access_token(request)
    ended = await request.app[SERVICES].sessions.logout(token) if token is not None else None
    if form is None:
        response = web.Response(status=204)
    elif provider_logout := await _at_provider(request, ended.provider if ended else None):
        response = provider_logout
    else:
        signed_out = _urls(request).login_saying("signed_out")
        response = see_other(return_url(request, form.get("rd"), fallback=signed_out))
    cookie_policy(request).clear(response)
    return response


async def _at_provider(request: web.Request, provider_id: str | None) -> web.Response | None:
    """For a session that came through an identity provider asking for RP-initiated logout:
    the page that takes the browser on to the provider's end_session_endpoint (a page, not a
    redirect, since browsers hold a form's redirects to CSP's form-action), back to the
    sign-in page afterwards; None otherwise."""
    base = portal_origin(request) or request.app[ORIGINS].own(request) or ""
    back = f"{base.rstrip('/')}{_urls(request).login}"
    url = await request.app[SERVICES].external.end_session_url(provider_id, back)
    if url is None:
        return None
    name = next(p.name for p in request.app[SERVICES].external.providers if p.id == provider_id)
    return request.app[PAGES].render(
        request, "provider_logout.html", title=N_("Signed out"), provider=name, url=url
    )


def _urls(request: web.Request) -> PortalUrls:
    return request.app[PAGES].urls
