"""Forms nobody can forge: the origin of every cookie-authenticated state change is checked,
and every HTML form carries a signed double-submit token (OWASP's CSRF cheat sheet).

Two independent defences, because each alone has a gap: ``Origin``/``Referer`` are missing from
some browsers and stripped by some privacy tools, and a token alone does nothing for JSON calls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import hdrs, web

from gateway_auth.config.settings import Settings
from gateway_auth.errors import CrossSiteRequest, FormTokenInvalid
from gateway_auth.http.cookies import bearer_token
from gateway_auth.http.sites import Sites, normalised_origin
from gateway_auth.http.verify.answers import VERIFY_ROUTES

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# /verify answers about someone else's request (a gateway asks with the original method and
# headers), and /token serves programs: neither acts on a browser's cookies by itself.
# OAuth's endpoints, and a provider's back-channel logout: programs, never a browser's cookie.
NOT_BROWSER_ROUTES = VERIFY_ROUTES | {
    "token",
    "revoke",
    "introspect",
    "provider_backchannel_logout",
}
FORM_FIELD = "csrf"
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")
_TOKEN = re.compile(r"[0-9a-f]{64}")  # ASCII only: compare_digest refuses other text


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """Which origins may make a cookie-authenticated state change: the request's own (as the
    browser saw it through a trusted proxy), and its domain's portal and ALLOWED_ORIGINS."""

    sites: Sites

    def refusal(self, request: web.Request) -> CrossSiteRequest | None:
        """Why this request must be refused, or None.

        An ``Origin`` decides when present (``null`` never passes); else a ``Referer``; else a
        browser's ``Sec-Fetch-Site: cross-site``/``same-site`` is foreign. A request with none
        of them is a program, or a browser hiding its origin, which the form token still stops.
        Bearer-token calls carry their credential explicitly, so a forged one is impossible.
        """
        if _exempt(request):
            return None
        headers = request.headers
        claimed = headers.get(hdrs.ORIGIN)
        if claimed is None and headers.get(hdrs.REFERER):
            claimed = headers[hdrs.REFERER]
        if claimed is not None:
            origin = normalised_origin(claimed)
            allowed = origin is not None and (
                origin in self.sites.of_or_primary(request).origins or origin == self.own(request)
            )
            return None if allowed else CrossSiteRequest()
        if headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
            return CrossSiteRequest()
        return None

    def own(self, request: web.Request) -> str | None:
        """This request's origin as the browser addressed it."""
        return self.sites.own_origin(request)


def _exempt(request: web.Request) -> bool:
    """Safe methods, the routes no browser's cookie acts through, and bearer-token calls (a
    request that says Bearer is authenticated by that token alone, never by a cookie)."""
    return (
        request.method not in UNSAFE_METHODS
        or request.match_info.route.name in NOT_BROWSER_ROUTES
        or bool(bearer_token(request.headers))
    )


class FormTokens:
    """Signed double-submit tokens: a random nonce in a host-only cookie, and in each form the
    nonce's HMAC under a key derived from the signing key.

    A ``__Host-`` cookie cannot be planted by a sibling subdomain, and without the key nobody
    can make the form value that matches a nonce, so a forged form cannot carry both.
    """

    def __init__(self, key: bytes, cookie_name: str, *, secure: bool) -> None:
        self._key = key
        self.cookie_name = cookie_name
        self._secure = secure

    @classmethod
    def from_settings(cls, settings: Settings, key: bytes) -> FormTokens:
        """Tokens keyed by ``key``, in a cookie named after ``COOKIE_NAME``."""
        base = settings.cookie_name.removeprefix("__Host-").removeprefix("__Secure-")
        name = f"__Host-{base}_csrf" if settings.cookie_secure else f"{base}_csrf"
        return cls(key, name, secure=settings.cookie_secure)

    def nonce(self, request: web.Request) -> tuple[str, bool]:
        """The browser's nonce, or a new one; True when it is new and must be set."""
        current = request.cookies.get(self.cookie_name, "")
        if _NONCE.fullmatch(current):
            return current, False
        return secrets.token_urlsafe(32), True

    def sign(self, nonce: str) -> str:
        """The form value that goes with ``nonce``."""
        digest = hmac.new(self._key, f"csrf:{nonce}".encode(), hashlib.sha256).digest()
        return digest.hex()

    def sign_for(self, nonce: str, action: str) -> str:
        """A token good for one ``action`` only: what a link's query carries, since a URL
        travels further than a form (history, logs) and must not open every other form."""
        digest = hmac.new(self._key, f"csrf:{action}:{nonce}".encode(), hashlib.sha256)
        return digest.hexdigest()

    def check_for(self, request: web.Request, given: str, action: str) -> None:
        """FormTokenInvalid unless ``given`` is this browser's token for ``action``."""
        nonce = request.cookies.get(self.cookie_name, "")
        if (
            not _NONCE.fullmatch(nonce)
            or not _TOKEN.fullmatch(given)
            or not hmac.compare_digest(self.sign_for(nonce, action), given)
        ):
            raise FormTokenInvalid

    def binding(self, nonce: str) -> str:
        """What ties a short token handed to this browser (a round trip to another identity
        provider, a link waiting for proof) to it: the ``__Host-`` nonce's HMAC, which a
        sibling subdomain can neither plant nor compute, so such a cookie planted from there
        is worthless."""
        digest = hmac.new(self._key, f"binding:{nonce}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def remember(self, response: web.StreamResponse, nonce: str) -> None:
        """Set the nonce cookie: host-only, path ``/``, for the browser session."""
        response.set_cookie(
            self.cookie_name, nonce, path="/", secure=self._secure, httponly=True, samesite="Lax"
        )

    def check(self, request: web.Request, fields: Mapping[str, object]) -> dict[str, object]:
        """The form's fields without the token, once the token matches the cookie's nonce."""
        nonce = request.cookies.get(self.cookie_name, "")
        given = fields.get(FORM_FIELD)
        if (
            not _NONCE.fullmatch(nonce)
            or not isinstance(given, str)
            or not _TOKEN.fullmatch(given)
            or not hmac.compare_digest(self.sign(nonce), given)
        ):
            raise FormTokenInvalid
        return {name: value for name, value in fields.items() if name != FORM_FIELD}
