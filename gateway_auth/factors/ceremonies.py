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

from gateway_auth.clock import Clock
from gateway_auth.errors import CeremonyExpired
from gateway_auth.tokens import ShortTokens

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
        self._tokens = ShortTokens(
            key, clock, typ=_TYPE, audience=_AUDIENCE, lifetime=LIFETIME,
            claims=("pur", "chl", "hld"),
        )  # fmt: skip

    def issue(self, purpose: Purpose, holder: str) -> tuple[Ceremony, str]:
        """A new ceremony with a fresh 32-byte challenge, and its token."""
        ceremony = Ceremony(purpose, secrets.token_bytes(32), holder)
        token = self._tokens.issue({"pur": purpose, "chl": _b64(ceremony.challenge), "hld": holder})
        return ceremony, token

    def read(self, token: str | None, purpose: Purpose, holder: str) -> Ceremony:
        """The ceremony ``token`` stands for; CeremonyExpired when there is none, it is forged,
        for another purpose or holder, or its five minutes are over (the injected clock)."""
        claims = self._tokens.read(token)
        if claims is None or claims["pur"] != purpose or purpose not in get_args(Purpose):
            raise CeremonyExpired
        held, challenge = claims["hld"], claims["chl"]
        if not isinstance(held, str) or not hmac.compare_digest(held, holder):
            raise CeremonyExpired
        if not isinstance(challenge, str):
            raise CeremonyExpired
        try:
            raw = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))
        except ValueError:
            raise CeremonyExpired from None
        return Ceremony(purpose, raw, holder, claims["jti"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
