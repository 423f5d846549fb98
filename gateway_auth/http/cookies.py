"""How a token travels: read from the ``Authorization`` header or the cookies, and the session
cookies set and cleared (every name and attribute decided here, once).

The readers are plain functions of the headers (no application state), shared by the /verify
hot path, the origin check and the handlers. Header names are looked up in lower case:
aiohttp's headers ignore case, and the fast listener's are a plain dict of lower-cased names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import hdrs, web
from multidict import CIMultiDictProxy

from gateway_auth.config.settings import Settings
from gateway_auth.crossing.service import REQUEST_LIFETIME
from gateway_auth.providers.flow import LINK_LIFETIME, ROUND_TRIP
from gateway_auth.signin.issued import IssuedAccess, IssuedSession
from gateway_auth.signin.pending import LIFETIME as PENDING_LIFETIME
from gateway_auth.signin.regulation import DEVICE_TOKEN_LIFETIME

DEVICE_COOKIE_SECONDS = int(DEVICE_TOKEN_LIFETIME.total_seconds())
PENDING_COOKIE_SECONDS = int(PENDING_LIFETIME.total_seconds())
TRIP_COOKIE_SECONDS = int(ROUND_TRIP.total_seconds())
LINK_COOKIE_SECONDS = int(LINK_LIFETIME.total_seconds())
CROSSING_COOKIE_SECONDS = int(REQUEST_LIFETIME.total_seconds())


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """Names and attributes of the access and refresh cookies."""

    access_name: str
    refresh_name: str
    device_name: str
    pending_name: str  # a sign-in waiting for its second factor
    refresh_path: str
    pending_path: str
    domain: str | None
    secure: bool
    samesite: str
    trip_name: str = "gateway_auth_idp"  # a round trip to another identity provider
    link_name: str = "gateway_auth_link"  # an identity waiting for its account's proof
    providers_path: str = "/providers"
    link_path: str = "/"  # the sign-in pages, each provider's callback, the link's own page
    crossing_name: str = "gateway_auth_sso"  # the verifier of a sign-in asked of another domain

    @classmethod
    def from_settings(cls, settings: Settings, domain: str | None) -> CookiePolicy:
        """The policy the COOKIE_* settings describe, for the cookie ``domain`` (None:
        host-only) of one of the domains served (``config.domains``)."""
        return cls(
            access_name=settings.cookie_name,
            refresh_name=settings.refresh_cookie_name,
            device_name=settings.device_cookie_name,
            pending_name=_pending_name(settings),
            refresh_path=f"{settings.base_path}/refresh",
            pending_path=f"{settings.base_path}/login",
            domain=domain,
            secure=settings.cookie_secure,
            samesite=settings.cookie_samesite,
            trip_name=_pending_name(settings, "_idp"),
            link_name=_pending_name(settings, "_link"),
            providers_path=f"{settings.base_path}/providers",
            link_path=settings.base_path or "/",
            crossing_name=_host_only_name(settings, "_sso"),
        )

    def set(self, response: web.StreamResponse, issued: IssuedSession | IssuedAccess) -> None:
        """Set both cookies for a fresh or refreshed session.

        Both live as long as the session may (or, without "Keep me signed in", until the
        browser closes), the access cookie too: the token inside expires within minutes, and
        an expired one is what tells ``/verify`` to send the browser to the refresh hop.
        """
        lifetime = issued.refresh_expires_in if issued.session.persistent else None
        # The access cookie's path is "/" whatever BASE_PATH is: the gateway forwards it from
        # requests to every protected service, and /verify reads it there.
        self._set(response, self.access_name, issued.access_token, "/", lifetime)
        if isinstance(issued, IssuedSession):  # an access token alone leaves the refresh cookie
            self._set(
                response, self.refresh_name, issued.refresh_token, self.refresh_path, lifetime
            )
            if issued.device_token:
                self.set_device(response, issued.device_token)

    def set_device(self, response: web.StreamResponse, device_token: str) -> None:
        """The device cookie (``regulation``): host-only, kept a year (its token's lifetime),
        and left alone by logout, because it vouches for the browser rather than a session."""
        response.set_cookie(
            self.device_name,
            device_token,
            path="/",
            max_age=DEVICE_COOKIE_SECONDS,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )

    def set_pending(self, response: web.StreamResponse, token: str) -> None:
        """The half-finished sign-in: host-only, only for the sign-in path, five minutes."""
        response.set_cookie(
            self.pending_name,
            token,
            path=self.pending_path,
            max_age=PENDING_COOKIE_SECONDS,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )

    def clear_pending(self, response: web.StreamResponse) -> None:
        """The sign-in is finished (or abandoned): its cookie goes."""
        response.set_cookie(
            self.pending_name,
            "",
            path=self.pending_path,
            max_age=0,
            expires="Thu, 01 Jan 1970 00:00:00 GMT",
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )

    def pending(self, request: web.Request) -> str | None:
        """The half-finished sign-in's token this browser holds, if any."""
        return request.cookies.get(self.pending_name) or None

    def set_trip(self, response: web.StreamResponse, token: str) -> None:
        """A round trip to an identity provider: host-only, only for the providers' paths,
        ten minutes; SameSite=Lax whatever COOKIE_SAMESITE says, since the provider's
        redirect back is a navigation from another site, which Strict cookies miss."""
        self._short(
            response, self.trip_name, token, self.providers_path, TRIP_COOKIE_SECONDS,
            samesite="Lax",
        )  # fmt: skip

    def clear_trip(self, response: web.StreamResponse) -> None:
        """The round trip is over."""
        self._short(response, self.trip_name, "", self.providers_path, 0, samesite="Lax")

    def trip(self, request: web.Request) -> str | None:
        """The round trip's token this browser holds, if any."""
        return request.cookies.get(self.trip_name) or None

    def set_link(self, response: web.StreamResponse, token: str) -> None:
        """An identity waiting for its account to be proved, in whatever way it signs in
        (password, passkey, another provider): for the portal's paths only."""
        self._short(
            response, self.link_name, token, self.link_path, LINK_COOKIE_SECONDS,
            samesite=self.samesite,
        )  # fmt: skip

    def clear_link(self, response: web.StreamResponse) -> None:
        """The link is made (or not to be)."""
        self._short(response, self.link_name, "", self.link_path, 0, samesite=self.samesite)

    def link(self, request: web.Request) -> str | None:
        """The pending link's token this browser holds, if any."""
        return request.cookies.get(self.link_name) or None

    def set_crossing(self, response: web.StreamResponse, verifier: str) -> None:
        """The verifier of a sign-in asked of another domain (``crossing/``): ``__Host-`` (no
        sibling subdomain can plant one), two minutes; SameSite=Lax whatever COOKIE_SAMESITE
        says, since the way back from the other domain is a cross-site navigation."""
        self._short(
            response, self.crossing_name, verifier, "/", CROSSING_COOKIE_SECONDS, samesite="Lax"
        )

    def clear_crossing(self, response: web.StreamResponse) -> None:
        """The crossing is over, whichever way it went."""
        self._short(response, self.crossing_name, "", "/", 0, samesite="Lax")

    def crossing(self, request: web.Request) -> str | None:
        """The crossing's verifier this browser holds, if any."""
        return request.cookies.get(self.crossing_name) or None

    def _short(
        self,
        response: web.StreamResponse,
        name: str,
        value: str,
        path: str,
        max_age: int,
        *,
        samesite: str,
    ) -> None:
        response.set_cookie(
            name,
            value,
            path=path,
            max_age=max_age,
            expires=None if max_age else "Thu, 01 Jan 1970 00:00:00 GMT",
            secure=self.secure,
            httponly=True,
            samesite=samesite,
        )

    def clear(self, response: web.StreamResponse) -> None:
        """Expire both cookies with the attributes they were set with, so browsers match them."""
        for name, path in ((self.access_name, "/"), (self.refresh_name, self.refresh_path)):
            self._set(response, name, "", path, 0)
            response.cookies[name]["expires"] = "Thu, 01 Jan 1970 00:00:00 GMT"

    def _set(
        self, response: web.StreamResponse, name: str, value: str, path: str, max_age: int | None
    ) -> None:
        response.set_cookie(
            name,
            value,
            path=path,
            domain=self.domain,
            max_age=max_age,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )


def _host_only_name(settings: Settings, suffix: str) -> str:
    """``__Host-`` when secure: host-only, ``Path=/``, never planted from a sibling."""
    name = settings.cookie_name.removeprefix("__Host-").removeprefix("__Secure-")
    return ("__Host-" if settings.cookie_secure else "") + name + suffix


def _pending_name(settings: Settings, suffix: str = "_signin") -> str:
    """``__Secure-`` (its path is not ``/``, so ``__Host-`` cannot be), host-only."""
    name = settings.cookie_name.removeprefix("__Host-").removeprefix("__Secure-")
    return ("__Secure-" if settings.cookie_secure else "") + name + suffix


def token_in(headers: Mapping[str, str], cookie_name: str) -> str | None:
    """``access_token`` from bare headers, reading only the one cookie (the /verify hot path).

    A request that says ``Bearer`` is judged by that token alone, even an empty one: falling
    back to the cookie would let a header that only looks like a bearer call (and so skips
    the origin check) act with the browser's cookie.
    """
    if "authorization" in headers and (bearer := bearer_token(headers)) is not None:
        return bearer or None
    cookies = headers.get("cookie")
    if not cookies:
        return None
    prefix = cookie_name + "="
    for pair in cookies.split(";"):
        pair = pair.strip()  # noqa: PLW2901 - the trimmed pair is all that is used
        if pair.startswith(prefix):
            return pair[len(prefix) :] or None
    return None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header (``""`` when it holds none), or None
    when the request does not use the Bearer scheme at all."""
    authorization = headers.get("authorization")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def cookie_values(headers: CIMultiDictProxy[str], name: str) -> list[str]:
    """Every value sent for the cookie ``name``, in order: a sibling subdomain may have
    planted a second cookie of the same name beside the browser's own."""
    prefix = name + "="
    values: list[str] = []
    for header in headers.getall(hdrs.COOKIE, ()):
        values += [
            pair.strip()[len(prefix) :]
            for pair in header.split(";")
            if pair.strip().startswith(prefix)
        ]
    return [value for value in values if value]
