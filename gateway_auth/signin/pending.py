"""A sign-in halfway through: the password was right, the second factor is still to come.

Nothing of it is stored: it travels as a short token (HS256 with a key derived from the signing
key, so every instance reads it) in a cookie only the sign-in path sees, which binds it to the
browser that gave the password. It opens no session and carries no scope; it lasts five
minutes, names the password it followed (a changed password retires it), is spent by the one
second step that succeeds, and only the second factor turns it into a session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import jwt

from gateway_auth.clock import Clock
from gateway_auth.errors import SignInExpired

LIFETIME = timedelta(minutes=5)
_TYPE = "gateway-auth-second-factor"
_AUDIENCE = "gateway-auth:second-factor"


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """Who proved the first factor, how, and what they asked for."""

    client_id: str
    amr: tuple[str, ...]
    persistent: bool
    password_epoch: str  # ``regulation.password_epoch`` of the password that was right
    token_id: str = ""  # set when read: what spending the token marks


class PendingSignIns:
    """Issues and reads the tokens of half-finished sign-ins."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        self._key = key
        self._clock = clock
        self._jwt = jwt.PyJWT({"require": ["sub", "exp", "iat", "aud", "amr", "rem", "pwe", "jti"]})

    def issue(self, pending: PendingSignIn) -> str:
        """A token for ``pending``, valid for LIFETIME."""
        now = int(self._clock().timestamp())
        claims = {
            "sub": pending.client_id,
            "aud": _AUDIENCE,
            "amr": list(pending.amr),
            "rem": pending.persistent,
            "pwe": pending.password_epoch,
            "iat": now,
            "exp": now + int(LIFETIME.total_seconds()),
            "jti": secrets.token_hex(8),
        }
        return self._jwt.encode(claims, self._key, algorithm="HS256", headers={"typ": _TYPE})

    def read(self, token: str | None) -> PendingSignIn:
        """The sign-in ``token`` stands for; SignInExpired when there is none, it is forged,
        or its five minutes are over (checked against the injected clock)."""
        if not token:
            raise SignInExpired
        try:
            if jwt.get_unverified_header(token).get("typ") != _TYPE:
                raise SignInExpired
            claims = self._jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=_AUDIENCE,
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise SignInExpired from None
        now = self._clock().timestamp()
        amr, remember, client_id = claims["amr"], claims["rem"], claims["sub"]
        valid = (
            type(claims["exp"]) is int
            and now < claims["exp"]
            and isinstance(amr, list)
            and all(isinstance(method, str) for method in amr)
            and isinstance(remember, bool)
            and isinstance(client_id, str)
            and isinstance(claims["pwe"], str)
            and isinstance(claims["jti"], str)
        )
        if not valid:
            raise SignInExpired
        return PendingSignIn(client_id, tuple(amr), remember, claims["pwe"], claims["jti"])
