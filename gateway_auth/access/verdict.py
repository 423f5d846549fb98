"""What ``/verify`` decides: an outcome (its status follows) and, on allow, the identity headers.

Values only: the decision (``decision.py``) and the token check (``verifier.py``) make them, the
HTTP wing (``http/verify/``) turns them into answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gateway_auth.tokens import AccessClaims

Outcome = Literal[
    "allow",
    "unauthenticated",
    "expired",
    "revoked",
    "suspended",
    "unverified",  # REQUIRE_VERIFIED_EMAIL, and a user whose address is not verified
    "forbidden_scope",
    "reauthenticate",  # a required scope is elevated and its elevation is not in force
    "enrol",  # SECOND_FACTOR=required, and a user's session without a second factor
    "second_factor",  # a two_factor rule, and a session proved by one factor
    "stale",
    "bypass",  # an access rule lets anyone through (identity headers empty)
    "denied",  # an access rule refuses
    "ambiguous",  # with access rules: the original request's host or path cannot be known
]
IDENTITY_HEADERS = (
    "X-Auth-User-Id",
    "X-Auth-Email",
    "X-Auth-Email-Verified",
    "X-Auth-Kind",
    "X-Auth-Scopes",
    "X-Auth-Session-Id",
    "X-Auth-AMR",
    "X-Auth-Provider",
    "X-Auth-Groups",
    "Remote-User",
    "Remote-Email",
    "Remote-Name",
    "Remote-Groups",
)
NO_SCOPES: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What ``/verify`` answers: an outcome (its status follows) and, on allow, the headers."""

    outcome: Outcome
    headers: Mapping[str, str] | None = None
    claims: AccessClaims | None = None  # whose genuine token this was (allowed or refused)
    # ``headers`` as HTTP/1.1 field lines, for the fast listener; None when a value could not
    # be sent as it is (a line break), so that listener leaves the answer to aiohttp.
    lines: bytes | None = None

    @property
    def status(self) -> int:
        """The HTTP status DESIGN gives this outcome."""
        return _STATUS[self.outcome]


_STATUS: dict[Outcome, int] = {
    "allow": 200,
    "unauthenticated": 401,
    "expired": 401,
    "revoked": 401,
    "suspended": 403,
    "unverified": 403,
    "forbidden_scope": 403,
    "reauthenticate": 403,
    "enrol": 403,
    "second_factor": 403,
    "stale": 503,
    "bypass": 200,
    "denied": 403,
    "ambiguous": 403,
}
NOT_CACHED = {"Cache-Control": "no-store"}  # an identity answer is never to be reused
UNAUTHENTICATED = Verdict("unauthenticated")
REVOKED = Verdict("revoked")
STALE = Verdict("stale")
DENIED = Verdict("denied")
AMBIGUOUS = Verdict("ambiguous")


def allow(headers: dict[str, str], claims: AccessClaims | None) -> Verdict:
    """An allowing verdict with ``headers`` also as HTTP/1.1 field lines (a bypass when no
    client is named)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    unsendable = any(c in value for value in headers.values() for c in "\r\n\x00")
    outcome: Outcome = "allow" if claims is not None else "bypass"
    return Verdict(outcome, headers, claims, None if unsendable else lines.encode())


# Let through by a rule, for anyone: every identity header present and empty, so a gateway
# copying them overwrites whatever a client sent.
BYPASS = allow(dict.fromkeys(IDENTITY_HEADERS, "") | NOT_CACHED, None)


def identity_headers(claims: AccessClaims) -> dict[str, str]:
    """Every identity header, empty when unknown, so a gateway copying them overwrites spoofs."""
    scopes, groups = ",".join(claims.scopes), ",".join(claims.groups)
    return {
        "X-Auth-User-Id": claims.client_id,
        "X-Auth-Email": claims.email,
        "X-Auth-Email-Verified": "true" if claims.email_verified else "false",
        "X-Auth-Kind": claims.kind,
        "X-Auth-Scopes": scopes,
        "X-Auth-Session-Id": claims.session_id,
        "X-Auth-AMR": ",".join(claims.amr),
        "X-Auth-Provider": claims.provider,
        "X-Auth-Groups": groups,
        "Remote-User": claims.client_id,
        "Remote-Email": claims.email,
        "Remote-Name": claims.name,
        "Remote-Groups": groups,  # Authelia's and Grafana's auth proxy header: the groups
    }
