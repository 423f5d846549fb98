"""A round trip to a provider and back, and a link still to be proved: short tokens the server
hands the browser in a cookie and reads back (``tokens.ShortTokens``), nothing stored.

The round trip's token holds the ``state`` (also in the URL: the two must match), the OpenID
Connect ``nonce``, the PKCE verifier, the provider (a response for another provider is a
mix-up), where to go afterwards, and, when a signed-in person links an identity, their session.
It is spent at the callback, so a code or state is good for one return only. Both tokens name
the browser they were handed to (``FormTokens.binding``): planted in another, they are refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from gateway_auth.clock import Clock
from gateway_auth.tokens import ShortTokens

ROUND_TRIP = timedelta(minutes=10)  # time to sign in at the provider, consent included
LINK_LIFETIME = timedelta(minutes=10)  # time to prove the existing account
Purpose = Literal["sign-in", "link"]
TRIP_CLAIMS = ("prv", "st", "nn", "cv", "pur", "brw", "rd", "sid")
LINK_CLAIMS = ("prv", "sub", "em", "cid", "brw", "rd")


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One trip to a provider."""

    provider: str
    state: str
    nonce: str
    verifier: str
    purpose: Purpose
    browser: str
    return_to: str = ""
    session_id: str = ""  # a link's: the session that asked for it
    token_id: str = ""  # set when read: what spending it marks


@dataclass(frozen=True, slots=True)
class PendingLink:
    """An identity whose address is an existing account's: linked once that account is
    proved in the same browser, to that account only."""

    provider: str
    subject: str
    email: str
    client_id: str
    browser: str
    return_to: str = ""
    token_id: str = ""


class Flows:
    """Issues and reads round trips and pending links."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        self._trips = ShortTokens(
            key, clock, typ="gateway-auth-idp-trip", audience="gateway-auth:idp-trip",
            lifetime=ROUND_TRIP, claims=TRIP_CLAIMS,
        )  # fmt: skip
        self._links = ShortTokens(
            key, clock, typ="gateway-auth-idp-link", audience="gateway-auth:idp-link",
            lifetime=LINK_LIFETIME, claims=LINK_CLAIMS,
        )  # fmt: skip

    @staticmethod
    def new_trip(
        provider: str, purpose: Purpose, browser: str, return_to: str, session_id: str
    ) -> RoundTrip:
        """A round trip with fresh secrets (256 bits each; the verifier as RFC 7636 asks)."""
        return RoundTrip(
            provider=provider,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),
            purpose=purpose,
            browser=browser,
            return_to=return_to,
            session_id=session_id,
        )

    def issue_trip(self, trip: RoundTrip) -> str:
        """The cookie's value for ``trip``."""
        return self._trips.issue(
            {
                "prv": trip.provider,
                "st": trip.state,
                "nn": trip.nonce,
                "cv": trip.verifier,
                "pur": trip.purpose,
                "brw": trip.browser,
                "rd": trip.return_to,
                "sid": trip.session_id,
            }
        )

    def read_trip(self, token: str | None) -> RoundTrip | None:
        """The round trip of a genuine, unexpired token; None otherwise."""
        claims = self._trips.read(token)
        if claims is None or not all(isinstance(claims[name], str) for name in TRIP_CLAIMS):
            return None
        if claims["pur"] not in ("sign-in", "link"):
            return None
        return RoundTrip(
            claims["prv"], claims["st"], claims["nn"], claims["cv"], claims["pur"],
            claims["brw"], claims["rd"], claims["sid"], claims["jti"],
        )  # fmt: skip

    def issue_link(self, link: PendingLink) -> str:
        """The cookie's value for ``link``."""
        return self._links.issue(
            {
                "prv": link.provider,
                "sub": link.subject,
                "em": link.email,
                "cid": link.client_id,
                "brw": link.browser,
                "rd": link.return_to,
            }
        )

    def read_link(self, token: str | None) -> PendingLink | None:
        """The pending link of a genuine, unexpired token; None otherwise."""
        claims = self._links.read(token)
        if claims is None or not all(isinstance(claims[name], str) for name in LINK_CLAIMS):
            return None
        return PendingLink(
            claims["prv"], claims["sub"], claims["em"], claims["cid"], claims["brw"],
            claims["rd"], claims["jti"],
        )  # fmt: skip
