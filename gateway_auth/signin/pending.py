"""A sign-in halfway through: the password was right, the second factor is still to come.

Nothing of it is stored: it travels as a short token (HS256 with a key derived from the signing
key, so every instance reads it) in a cookie only the sign-in path sees, which binds it to the
browser that gave the password. It opens no session and carries no scope; it lasts five
minutes, names the password it followed (a changed password retires it), is spent by the one
second step that succeeds, and only the second factor turns it into a session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from gateway_auth.clock import Clock
from gateway_auth.errors import SignInExpired
from gateway_auth.tokens import ShortTokens

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
    # When another identity provider was the first factor: which, and its session id.
    provider: str | None = None
    provider_sid: str | None = None


class PendingSignIns:
    """Issues and reads the tokens of half-finished sign-ins."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        self._tokens = ShortTokens(
            key, clock, typ=_TYPE, audience=_AUDIENCE, lifetime=LIFETIME,
            claims=("sub", "amr", "rem", "pwe"),
        )  # fmt: skip

    def issue(self, pending: PendingSignIn) -> str:
        """A token for ``pending``, valid for LIFETIME."""
        claims: dict[str, object] = {
            "sub": pending.client_id,
            "amr": list(pending.amr),
            "rem": pending.persistent,
            "pwe": pending.password_epoch,
        }
        if pending.provider:
            claims["idp"], claims["psid"] = pending.provider, pending.provider_sid
        return self._tokens.issue(claims)

    def read(self, token: str | None) -> PendingSignIn:
        """The sign-in ``token`` stands for; SignInExpired when there is none, it is forged,
        or its five minutes are over (checked against the injected clock)."""
        claims = self._tokens.read(token)
        if claims is None:
            raise SignInExpired
        amr, remember, client_id = claims["amr"], claims["rem"], claims["sub"]
        valid = (
            isinstance(amr, list)
            and all(isinstance(method, str) for method in amr)
            and isinstance(remember, bool)
            and isinstance(client_id, str)
            and isinstance(claims["pwe"], str)
            and isinstance(claims.get("idp", ""), str)
            and isinstance(claims.get("psid", ""), str | None)
        )
        if not valid:
            raise SignInExpired
        return PendingSignIn(
            client_id,
            tuple(amr),
            remember,
            claims["pwe"],
            claims["jti"],
            claims.get("idp") or None,
            claims.get("psid") or None,
        )
