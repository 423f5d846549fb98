"""Who is calling: the access token they present, their identity, and where they come from."""

from __future__ import annotations

from aiohttp import hdrs, web

from gateway_auth.errors import Unauthenticated
from gateway_auth.http.appkeys import COOKIES, SESSIONS, SETTINGS
from gateway_auth.http.forwarded import client_ip
from gateway_auth.sessions import Identity, Origin


def access_token(request: web.Request) -> str | None:
    """A bearer token from ``Authorization`` first, else the access cookie."""
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(request.app[COOKIES].access_name) or None


async def authenticate(request: web.Request) -> Identity:
    """The caller's identity; every authenticated route goes through here."""
    token = access_token(request)
    if token is None:
        raise Unauthenticated
    return await request.app[SESSIONS].authenticate(token)


def origin(request: web.Request) -> Origin:
    """The caller's IP (through trusted proxies) and user agent, for the session record."""
    trusted = request.app[SETTINGS].trusted_proxies
    ip = client_ip(request.remote, request.headers.getall("X-Forwarded-For", ()), trusted)
    return Origin(ip=ip, user_agent=request.headers.get(hdrs.USER_AGENT, ""))
