"""Who is calling: the access token they present, their identity, and where they come from."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import hdrs, web

from gateway_auth.errors import Unauthenticated
from gateway_auth.http.appkeys import COOKIES, SESSIONS, SETTINGS
from gateway_auth.http.forwarded import client_ip, is_trusted
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


def return_domains(request: web.Request) -> tuple[str, ...]:
    """Where a return URL may point: the configured domains and the host this request came to.

    The browser chose that host itself, so sending it back there is never an open redirect;
    it lets a login page on the same host as the protected app work with no configuration.
    """
    settings = request.app[SETTINGS]
    host = request.host
    if is_trusted(request.remote, settings.trusted_proxies):
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip()
    name = urlsplit(f"//{host}").hostname if host else None
    return (*settings.allowed_redirect_domains, *([name] if name else []))
