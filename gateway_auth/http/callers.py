"""Who is calling: the access token they present, their identity, and where they come from."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import hdrs, web

from gateway_auth.access.forwarded import client_ip
from gateway_auth.errors import Unauthenticated
from gateway_auth.http.appkeys import COOKIES, SERVICES, SETTINGS, SITES
from gateway_auth.http.cookies import CookiePolicy, cookie_values, token_in
from gateway_auth.http.redirects import https_only, safe_return_url
from gateway_auth.i18n import ranked
from gateway_auth.models import Identity, Origin
from gateway_auth.tokens import refresh_token_session


def access_token(request: web.Request) -> str | None:
    """A bearer token from ``Authorization`` first, else the access cookie."""
    return token_in(request.headers, request.app[COOKIES].access_name)


def refresh_cookie(request: web.Request) -> str | None:
    """The refresh token of the session the access cookie names.

    A sibling subdomain can plant a refresh cookie (``__Secure-`` allows a Domain) but not the
    ``__Host-`` access cookie, so a refresh token is only used beside an access token of its
    own session, expired or not: nobody is signed in to someone else's session that way.
    """
    access = access_token(request)
    session_id = request.app[SERVICES].sessions.session_of(access) if access else None
    if session_id is None:
        return None
    sent = cookie_values(request.headers, request.app[COOKIES].refresh_name)
    return next((token for token in sent if refresh_token_session(token) == session_id), None)


async def authenticate(request: web.Request) -> Identity:
    """The caller's identity; every authenticated route goes through here."""
    token = access_token(request)
    if token is None:
        raise Unauthenticated
    return await request.app[SERVICES].sessions.authenticate(token)


def origin(request: web.Request) -> Origin:
    """The caller's IP (through trusted proxies), user agent and device token: where a session
    or a password attempt comes from."""
    trusted = request.app[SETTINGS].trusted_proxies
    ip = client_ip(request.remote, request.headers.getall("X-Forwarded-For", ()), trusted)
    return Origin(
        ip=ip,
        user_agent=request.headers.get(hdrs.USER_AGENT, ""),
        devices=tuple(cookie_values(request.headers, request.app[COOKIES].device_name)),
        locale=preferred_locale(request.headers.get(hdrs.ACCEPT_LANGUAGE, "")),
    )


def preferred_locale(accept_language: str) -> str | None:
    """The language a mail should be written in: the browser's most wanted one, as a BCP 47
    tag (a mailer may have it even where the portal has no catalogue); None for none."""
    return next(iter(ranked(accept_language)), None)


def cookie_policy(request: web.Request) -> CookiePolicy:
    """The cookies of the request's domain (``http.sites``): what sets and clears them."""
    return request.app[SITES].of_or_primary(request).cookies


def portal_origin(request: web.Request) -> str:
    """The origin of the portal on the request's domain (its ``public_url``, PUBLIC_URL), or
    "" when none is configured (links then stay on the host the browser used)."""
    return request.app[SITES].of_or_primary(request).portal


def return_domains(request: web.Request) -> tuple[str, ...]:
    """Where a return URL may point: the request's domain's and the host this request came to.

    The browser chose that host itself, so sending it back there is never an open redirect;
    it lets a login page on the same host as the protected app work with no configuration.
    """
    sites = request.app[SITES]
    host = sites.host(request)
    try:
        name = urlsplit(f"//{host}").hostname if host else None
    except ValueError:  # "Host: [x": no host to send anyone back to
        name = None
    domains = sites.of_or_primary(request).domain.redirect_domains
    return (*domains, *([name] if name else []))


def return_ports(request: web.Request) -> frozenset[int] | None:
    """The ports (https only) return URLs may use when every configured origin is https."""
    return https_only(request.app[SITES].of_or_primary(request).origins)


def return_url(request: web.Request, candidate: str | None, fallback: str = "") -> str:
    """``candidate`` (an ``rd``) when it is a safe place to send this request's browser back
    to, else ``fallback``: never an open redirect."""
    return safe_return_url(
        candidate, return_domains(request), fallback=fallback, https_ports=return_ports(request)
    )
