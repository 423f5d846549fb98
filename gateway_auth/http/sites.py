"""Which of the deployment's domains a browser's request belongs to (``config.domains``), and
what follows from it: the cookies it gets, the origins its forms may come from.

The host is the one the browser addressed: ``X-Forwarded-Host`` from a trusted proxy, else
``Host``. With DOMAINS_FILE a host no entry serves is refused (421) before any handler runs,
on every route a browser uses; programs' routes (``/verify``, OAuth, health, metrics) and
bearer-token calls need no domain, so an internal address keeps working for them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from gateway_auth.access.forwarded import MalformedForwarding, TrustedPeers, forwarded_host
from gateway_auth.config.domains import Domain
from gateway_auth.config.settings import Settings
from gateway_auth.errors import UnknownHost
from gateway_auth.http.cookies import CookiePolicy, bearer_token
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Routes whose callers are programs (or the gateway), never a browser on one of our domains.
SITELESS_ROUTES = frozenset(
    {
        "verify",
        "verify_envoy",
        "token",
        "revoke",
        "introspect",
        "provider_backchannel_logout",
        "jwks",
        "healthz",
        "readyz",
        "metrics",
        "openapi",
        "oauth_metadata",
    }
)


def normalised_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case with the scheme's default port dropped, or None
    for anything that is not an http(s) origin (``null`` included)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    shown_port = "" if port is None or str(port) == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown_port}"


@dataclass(frozen=True, slots=True)
class Site:
    """One domain as the HTTP edge uses it."""

    domain: Domain
    cookies: CookiePolicy
    origins: frozenset[str]  # its portal's and ALLOWED_ORIGINS', normalised

    @property
    def portal(self) -> str:
        """The portal's origin here ("" without PUBLIC_URL: the request's own)."""
        return self.domain.public_url or ""


class Sites:
    """Every domain's site, and which one a request is for."""

    def __init__(self, settings: Settings, trusted: TrustedPeers) -> None:
        self.trusted = trusted
        self.domains = settings.domains
        self.all = tuple(_site(settings, domain) for domain in settings.domains.entries)
        self.primary = self.all[0]
        self._by_domain = {id(site.domain): site for site in self.all}

    def host(self, request: web.Request) -> str | None:
        """The host (and port) the browser addressed; None when a trusted proxy's
        ``X-Forwarded-Host`` is malformed."""
        host = request.headers.get(hdrs.HOST)
        if request.remote in self.trusted:
            try:
                host = forwarded_host(request.headers.get("X-Forwarded-Host")) or host
            except MalformedForwarding:
                return None
        return host

    def own_origin(self, request: web.Request) -> str | None:
        """This request's origin as the browser addressed it."""
        scheme, host = request.scheme, self.host(request)
        if request.remote in self.trusted:
            scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip()
        return normalised_origin(f"{scheme}://{host}") if host else None

    def of(self, request: web.Request) -> Site:
        """The site of the request's host; UnknownHost (logged, naming the host) when
        DOMAINS_FILE lists none that serves it."""
        host = self.host(request)
        domain = self.domains.of_host(host)
        if domain is None:
            log_event(log, "unknown_host", level=logging.WARNING, host=(host or "")[:255])
            raise UnknownHost
        return self._by_domain[id(domain)]

    def of_or_primary(self, request: web.Request) -> Site:
        """The request's site, or the primary one for a host no entry serves (for what is
        harmless anywhere: clearing a cookie, rendering the page that refuses the host)."""
        domain = self.domains.of_host(self.host(request))
        return self.primary if domain is None else self._by_domain[id(domain)]

    def named(self, name: str) -> Site | None:
        """The site whose portal's host is ``name`` (only with DOMAINS_FILE)."""
        domain = self.domains.by_name(name)
        return None if domain is None else self._by_domain[id(domain)]

    def check(self, request: web.Request) -> None:
        """UnknownHost when a browser's request names a host no domain serves."""
        if not self.domains.listed:
            return
        if request.match_info.route.name in SITELESS_ROUTES or bearer_token(request.headers):
            return
        self.of(request)


def _site(settings: Settings, domain: Domain) -> Site:
    origins = (domain.public_url, *domain.origins)
    return Site(
        domain,
        CookiePolicy.from_settings(settings, domain.cookie_domain),
        frozenset(filter(None, map(normalised_origin, filter(None, origins)))),
    )
