"""WebAuthn ceremonies in flight: the challenge a page handed the browser, kept by nobody.

The page carries it as a short token (HS256 with a key derived from the signing key, so every
instance reads it) next to the options: what the ceremony is for, the challenge, whom it is for
(the account and session, or the half-finished sign-in), and five minutes of life. Its id is
spent by the one answer that succeeds, so a challenge signs once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

import jwt

from gateway_auth.clock import Clock
from gateway_auth.errors import CeremonyExpired

LIFETIME = timedelta(minutes=5)
Purpose = Literal["register", "sign-in", "second-factor", "confirm"]
_TYPE = "gateway-auth-webauthn"
_AUDIENCE = "gateway-auth:webauthn"


@dataclass(frozen=True, slots=True)
class Ceremony:
    """One ceremony: ``holder`` names who may finish it (see ``holder_of``)."""

    purpose: Purpose
    challenge: bytes
    holder: str
    token_id: str = ""  # set when read: what finishing the ceremony spends


def holder_of(*parts: str) -> str:
    """A short, one-way name for who may finish a ceremony (an account and session, or a
    half-finished sign-in's token id)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class Ceremonies:
    """Issues and reads the tokens of WebAuthn ceremonies."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        self._key = key
        self._clock = clock
        self._jwt = jwt.PyJWT({"require": ["exp", "iat", "aud", "pur", "chl", "hld", "jti"]})

    def issue(self, purpose: Purpose, holder: str) -> tuple[Ceremony, str]:
        """A new ceremony with a fresh 32-byte challenge, and its token."""
        now = int(self._clock().timestamp())
        ceremony = Ceremony(purpose, secrets.token_bytes(32), holder)
        claims = {
            "aud": _AUDIENCE,
            "pur": purpose,
            "chl": _b64(ceremony.challenge),
            "hld": holder,
            "iat": now,
            "exp": now + int(LIFETIME.total_seconds()),
            "jti": secrets.token_hex(8),
        }
        token = self._jwt.encode(claims, self._key, algorithm="HS256", headers={"typ": _TYPE})
        return ceremony, token

    def read(self, token: str | None, purpose: Purpose, holder: str) -> Ceremony:
        """The ceremony ``token`` stands for; CeremonyExpired when there is none, it is forged,
        for another purpose or holder, or its five minutes are over (the injected clock)."""
        if not token:
            raise CeremonyExpired
        try:
            if jwt.get_unverified_header(token).get("typ") != _TYPE:
                raise CeremonyExpired
            claims = self._jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=_AUDIENCE,
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise CeremonyExpired from None
        valid = (
            type(claims["exp"]) is int
            and self._clock().timestamp() < claims["exp"]
            and claims["pur"] == purpose
            and purpose in get_args(Purpose)
            and isinstance(claims["hld"], str)
            and hmac.compare_digest(claims["hld"], holder)
            and isinstance(claims["chl"], str)
            and isinstance(claims["jti"], str)
        )
        if not valid:
            raise CeremonyExpired
        try:
            challenge = base64.urlsafe_b64decode(claims["chl"] + "=" * (-len(claims["chl"]) % 4))
        except ValueError:
            raise CeremonyExpired from None
        return Ceremony(purpose, challenge, holder, claims["jti"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
