"""The session cookies: every name and attribute decided here, once, for setting and clearing."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway_auth.regulation import DEVICE_TOKEN_LIFETIME
from gateway_auth.sessions import IssuedAccess, IssuedSession
from gateway_auth.settings import Settings

DEVICE_COOKIE_SECONDS = int(DEVICE_TOKEN_LIFETIME.total_seconds())


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """Names and attributes of the access and refresh cookies."""

    access_name: str
    refresh_name: str
    device_name: str
    refresh_path: str
    domain: str | None
    secure: bool
    samesite: str

    @classmethod
    def from_settings(cls, settings: Settings) -> CookiePolicy:
        """The policy the COOKIE_* settings describe."""
        return cls(
            access_name=settings.cookie_name,
            refresh_name=settings.refresh_cookie_name,
            device_name=settings.device_cookie_name,
            refresh_path=f"{settings.base_path}/refresh",
            domain=settings.cookie_domain,
            secure=settings.cookie_secure,
            samesite=settings.cookie_samesite,
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
