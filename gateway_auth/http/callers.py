"""Who is calling: the access token they present, their identity, and where they come from."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from gateway_auth.errors import Unauthenticated
from gateway_auth.http.appkeys import COOKIES, SESSIONS, SETTINGS, TRUSTED_PEERS
from gateway_auth.http.forwarded import MalformedForwarding, client_ip, forwarded_host
from gateway_auth.sessions import Identity, Origin


def access_token(request: web.Request) -> str | None:
    """A bearer token from ``Authorization`` first, else the access cookie."""
    return token_in(request.headers, request.app[COOKIES].access_name)


def token_in(headers: Mapping[str, str], cookie_name: str) -> str | None:
    """``access_token`` from bare headers, reading only the one cookie (the /verify hot path)."""
    authorization = headers.get(hdrs.AUTHORIZATION)
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    cookies = headers.get(hdrs.COOKIE)
    if not cookies:
        return None
    prefix = cookie_name + "="
    for pair in cookies.split(";"):
        pair = pair.strip()  # noqa: PLW2901 - the trimmed pair is all that is used
        if pair.startswith(prefix):
            return pair[len(prefix) :] or None
    return None


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
    host: str | None = request.host
    if request.remote in request.app[TRUSTED_PEERS]:
        try:
            host = forwarded_host(request.headers.get("X-Forwarded-Host")) or host
        except MalformedForwarding:
            host = None
    name = urlsplit(f"//{host}").hostname if host else None
    return (*request.app[SETTINGS].allowed_redirect_domains, *([name] if name else []))
