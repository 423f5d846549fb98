"""Access tokens (JWTs) and refresh tokens (opaque, stored only as hashes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from gateway_auth.config.keys import KeyRing
from gateway_auth.errors import Unauthenticated
from gateway_auth.i18n import N_
from gateway_auth.models import CLIENT_KINDS, Client, ClientKind

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ("iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "kind", "scope", "email")
TOKEN_VERSION = 1
CLIENT_SECRET_PREFIX = "gas_"
_REFRESH_TOKEN = re.compile(r"([0-9a-f]{32})\.[A-Za-z0-9_-]{43}")
MAX_ACCESS_TOKEN_LENGTH = 8192
DECODED_CACHE_SIZE = 4_096
_HEADER_NAMES = frozenset({"alg", "kid", "typ"})
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# A base64url segment whose length leaves 2 or 3 characters in its last group ends in a
# character with 4 or 2 unused low bits; decoders ignore them, so only zero bits are canonical.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says about its bearer."""

    client_id: str
    session_id: str
    token_id: str
    kind: ClientKind
    scopes: tuple[str, ...]
    email: str
    expires_at: int
    name: str = ""
    email_verified: bool = False
    # Step-up: each elevated scope the client holds, with when its elevation ends (0: not
    # elevated). ``scopes`` lists those in force when the token was issued.
    elevations: tuple[tuple[str, int], ...] = ()
    issued_at: int = 0
    # How the sign-in was proved (RFC 8176) and when (OpenID Connect's auth_time); empty and 0
    # in tokens of service clients and of sessions opened before second factors.
    amr: tuple[str, ...] = ()
    auth_time: int = 0
    # The identity provider the session was signed in through (``idp``); empty for our own.
    provider: str = ""
    groups: tuple[str, ...] = ()  # the client's groups (``groups``), set by operators

    def scopes_at(self, now: float) -> tuple[str, ...]:
        """The token's scopes still in force at ``now``: an elevated one only while its
        elevation lasts."""
        if not self.elevations:
            return self.scopes
        ends = dict(self.elevations)
        return tuple(s for s in self.scopes if s not in ends or ends[s] > now)


class AccessTokens:
    """Issues and verifies access JWTs exactly as the design pins them down."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        ttl: timedelta,
        elevated_scopes: frozenset[str] = frozenset(),
        accepted_issuers: tuple[str, ...] = (),
    ) -> None:
        self.keys = keys
        self.elevated_scopes = elevated_scopes
        self.issuer = issuer
        self._accepted_issuers = accepted_issuers or (issuer,)
        self.audience = audience
        self.ttl_seconds = int(ttl.total_seconds())
        # exp, nbf and iat are checked against the injected clock below, not PyJWT's wall clock.
        self._jwt = jwt.PyJWT(
            {
                "require": [*REQUIRED_CLAIMS, "ver"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "strict_aud": True,
                "enforce_minimum_key_length": True,
            }
        )
        # Tokens verified before, with their nbf: a signature check costs a route that reads
        # the store about as much as its reads. Times are checked on every use, and the cache
        # is dropped when the key ring is replaced (a key retired must stop verifying).
        self._decoded: dict[str, tuple[AccessClaims, int]] = {}
        self._decoded_with = keys

    def issue(
        self,
        client: Client,
        session_id: str,
        now: datetime,
        *,
        not_after: datetime,
        elevated_until: datetime | None = None,
        granted: tuple[str, ...] | None = None,
        amr: tuple[str, ...] = (),
        auth_time: datetime | None = None,
        provider: str | None = None,
    ) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds, never outliving ``not_after``.

        Of the client's scopes, the ELEVATED_SCOPES are in ``scope`` only while the session is
        elevated, and ``elev`` says until when each is (0: not now), so that ``/verify`` can
        tell "re-authenticate" from "not allowed" and stop honouring one when it ends, however
        long the token still lives. Service clients have no password to step up with: their
        scopes are all in force. ``granted`` narrows the scopes to a grant's (OAuth's
        ``scope``); ``client_id`` is RFC 9068's (each client is its own OAuth client); ``amr``
        and ``auth_time`` say how and when the session's sign-in was proved, ``provider``
        (``idp``) through which identity provider, when another one."""
        issued_at = int(now.timestamp())
        expires_at = min(issued_at + self.ttl_seconds, int(not_after.timestamp()))
        scopes, elevations = self.in_force(client, elevated_until, now, granted)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": client.id,
            "client_id": client.id,
            "sid": session_id,
            "jti": uuid.uuid4().hex,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires_at,
            "kind": client.kind,
            "scope": " ".join(scopes),
            "email": client.email,
            "email_verified": client.email_verified,
            "ver": TOKEN_VERSION,
        }
        if elevations:
            claims["elev"] = elevations
        if amr:
            claims["amr"] = list(amr)
        if auth_time is not None:
            claims["auth_time"] = int(auth_time.timestamp())
        if provider:
            claims["idp"] = provider
        if client.groups:  # optional: most clients have none, and every byte is in the cookie
            claims["groups"] = list(client.groups)
        name = display_name(client)
        if name:  # optional: gateways pass it on as Remote-Name
            claims["name"] = name
        key = self.keys.current
        header = {"kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
        token = self._jwt.encode(claims, key.sign_with, algorithm=key.algorithm, headers=header)  # type: ignore[arg-type]
        if key.algorithm == "ES256":
            token = _low_s(token)
        return token, expires_at - issued_at

    def in_force(
        self,
        client: Client,
        elevated_until: datetime | None,
        now: datetime,
        granted: tuple[str, ...] | None = None,
    ) -> tuple[tuple[str, ...], dict[str, int]]:
        """The client's scopes (those of the grant, when it names some) in force at ``now`` for
        a session elevated until then, and each elevated scope among them with the Unix time
        its elevation ends (0: not elevated)."""
        held = client.scopes if granted is None else tuple(s for s in client.scopes if s in granted)
        if not self.elevated_scopes or client.kind == "service":
            return held, {}
        until = int(elevated_until.timestamp()) if elevated_until else 0
        until = until if until > int(now.timestamp()) else 0
        elevations = {s: until for s in held if s in self.elevated_scopes}
        return tuple(s for s in held if s not in elevations or until), elevations

    def decode(self, token: str, now: datetime, *, allow_expired: bool = False) -> AccessClaims:
        """Verify signature, header and claims; Unauthenticated on any flaw."""
        if self._decoded_with is not self.keys:
            self._decoded, self._decoded_with = {}, self.keys
        known = self._decoded.get(token)
        claims, not_before = known if known is not None else self._verified(token)
        moment = now.timestamp()
        if not_before > moment + LEEWAY_SECONDS or claims.issued_at > moment + LEEWAY_SECONDS:
            raise Unauthenticated
        if not allow_expired and claims.expires_at <= moment - LEEWAY_SECONDS:
            raise Unauthenticated(N_("The access token has expired."))
        if known is None:
            if len(self._decoded) >= DECODED_CACHE_SIZE:
                del self._decoded[next(iter(self._decoded))]  # the oldest entry
            self._decoded[token] = (claims, not_before)
        return claims

    def _verified(self, token: str) -> tuple[AccessClaims, int]:
        """The claims and nbf of a token whose spelling, header and signature are ours."""
        if not is_canonical_jws(token) or (self.keys.algorithm == "ES256" and not _is_low_s(token)):
            raise Unauthenticated
        try:
            header = jwt.get_unverified_header(token)
            # Exactly the header we issue: no jku/x5u/jwk/x5c to fetch keys from, no crit.
            if header.keys() != _HEADER_NAMES or header["typ"] != ACCESS_TOKEN_TYPE:
                raise Unauthenticated
            key = self.keys.find(header["kid"])
            if key is None:
                raise Unauthenticated
            payload = self._jwt.decode(
                token,
                key.verify_with,
                algorithms=[self.keys.algorithm],
                audience=self.audience,
                issuer=self._accepted_issuers,
            )
            claims = _claims(payload)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise Unauthenticated from None
        return claims, payload["nbf"]


def is_canonical_jws(token: str) -> bool:
    """True only for the one spelling we issue: three unpadded base64url segments with zero
    unused bits. PyJWT also accepts padding and ignored bits, which would give one token many
    spellings (each a new cache entry, and a way past a deny list of raw tokens)."""
    if len(token) > MAX_ACCESS_TOKEN_LENGTH or _COMPACT_JWS.fullmatch(token) is None:
        return False
    for segment in token.split("."):
        tail = len(segment) % 4
        if tail == 1 or (tail and segment[-1] not in _CANONICAL_LAST[tail]):
            return False
    return True


# ECDSA verifies (r, s) and (r, n - s) alike: a token holder could flip s for a second spelling
# of the same token. Only the low form is issued and accepted (as Bitcoin's BIP 62 does).
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _low_s(token: str) -> str:
    head, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "==")
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    if s > _P256_ORDER // 2:
        s = _P256_ORDER - s
    flipped = base64.urlsafe_b64encode(r + s.to_bytes(32, "big")).rstrip(b"=").decode()
    return f"{head}.{flipped}"


def _is_low_s(token: str) -> bool:
    raw = base64.urlsafe_b64decode(token.rsplit(".", 1)[1] + "==")
    return len(raw) == 64 and int.from_bytes(raw[32:], "big") <= _P256_ORDER // 2


def _claims(payload: dict[str, Any]) -> AccessClaims:
    strings = ("sub", "sid", "jti", "kind", "scope", "email")
    numbers = ("iat", "nbf", "exp")
    if payload.get("ver") != TOKEN_VERSION or payload["kind"] not in CLIENT_KINDS:
        raise ValueError("unsupported token")
    if not all(isinstance(payload[name], str) for name in strings):
        raise TypeError("claim types")
    if not all(type(payload[name]) is int for name in numbers):  # bool is an int subclass
        raise TypeError("claim types")
    if not isinstance(payload.get("name", ""), str):
        raise TypeError("claim types")
    # Optional: tokens issued by a release before email verification lack it (unverified).
    if type(payload.get("email_verified", False)) is not bool:
        raise TypeError("claim types")
    amr, groups = payload.get("amr", []), payload.get("groups", [])
    for names in (amr, groups):
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise TypeError("claim types")
    if type(payload.get("auth_time", 0)) is not int:
        raise TypeError("claim types")
    if not isinstance(payload.get("idp", ""), str):
        raise TypeError("claim types")
    elev = payload.get("elev", {})
    if not isinstance(elev, dict) or not all(
        isinstance(k, str) and type(v) is int for k, v in elev.items()
    ):
        raise TypeError("claim types")
    return AccessClaims(
        client_id=payload["sub"],
        session_id=payload["sid"],
        token_id=payload["jti"],
        kind=payload["kind"],
        scopes=tuple(payload["scope"].split()),
        email=payload["email"],
        expires_at=payload["exp"],
        name=payload.get("name", ""),
        email_verified=payload.get("email_verified", False),
        elevations=tuple(elev.items()),
        issued_at=payload["iat"],
        amr=tuple(amr),
        auth_time=payload.get("auth_time", 0),
        provider=payload.get("idp", ""),
        groups=tuple(groups),
    )


class ShortTokens:
    """Short-lived HS256 tokens the server hands itself and reads back (a sign-in halfway, a
    WebAuthn challenge): nothing stored, a type of their own, an audience, an ``exp`` checked
    against the injected clock, and a ``jti`` that spending makes single-use."""

    def __init__(
        self, key: bytes, clock: Callable[[], datetime], *, typ: str, audience: str,
        lifetime: timedelta, claims: tuple[str, ...],
    ) -> None:  # fmt: skip
        self._key = key
        self._clock = clock
        self._typ = typ
        self._audience = audience
        self._lifetime = int(lifetime.total_seconds())
        self._jwt = jwt.PyJWT({"require": ["exp", "iat", "aud", "jti", *claims]})

    def issue(self, claims: dict[str, Any]) -> str:
        """A token carrying ``claims``, for the lifetime."""
        now = int(self._clock().timestamp())
        payload = {
            **claims,
            "aud": self._audience,
            "iat": now,
            "exp": now + self._lifetime,
            "jti": secrets.token_hex(8),
        }
        return self._jwt.encode(payload, self._key, algorithm="HS256", headers={"typ": self._typ})

    def read(self, token: str | None) -> dict[str, Any] | None:
        """The claims of a genuine token of this kind still in its lifetime; None otherwise."""
        if not token:
            return None
        try:
            if jwt.get_unverified_header(token).get("typ") != self._typ:
                return None
            claims: dict[str, Any] = self._jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=self._audience,
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None
        alive = type(claims["exp"]) is int and self._clock().timestamp() < claims["exp"]
        return claims if alive and isinstance(claims["jti"], str) else None


def display_name(client: Client) -> str:
    """First and last name joined, or empty when neither is known."""
    return " ".join(part for part in (client.first_name, client.last_name) if part)


def new_session_id() -> str:
    """An opaque, unguessable session id (128 random bits, hex)."""
    return secrets.token_hex(16)


def new_refresh_token(session_id: str) -> tuple[str, str]:
    """A refresh token ``<session id>.<32 random bytes base64url>`` and the hash to store."""
    token = f"{session_id}.{secrets.token_urlsafe(32)}"
    return token, refresh_token_hash(token)


def refresh_token_hash(token: str) -> str:
    """SHA-256 of the whole token; enough for 256-bit random secrets (no salt or stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def refresh_token_session(token: str) -> str | None:
    """The session id inside a well-formed refresh token, or None."""
    match = _REFRESH_TOKEN.fullmatch(token)
    return match.group(1) if match else None


def new_client_secret() -> tuple[str, str]:
    """A service client's secret (shown once) and the hash to store.

    256 random bits need no stretching, so checking one at ``/token`` costs a SHA-256, not a
    bcrypt round; the ``gas_`` prefix lets secret scanners recognise a leaked one.
    """
    secret = f"{CLIENT_SECRET_PREFIX}{secrets.token_urlsafe(32)}"
    return secret, client_secret_hash(secret)


def client_secret_hash(secret: str) -> str:
    """SHA-256 of the secret, as stored."""
    return hashlib.sha256(secret.encode(errors="surrogatepass")).hexdigest()


def client_secret_matches(secret: str, stored_hash: str | None) -> bool:
    """Compare in constant time; a client without a stored hash never matches."""
    return hmac.compare_digest(client_secret_hash(secret), stored_hash or "")
