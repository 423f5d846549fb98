"""Authenticator-app codes (RFC 6238 on pyotp): 30-second steps, six digits, one step of skew.

A code is accepted only for a time step later than the last one accepted (the store decides
that atomically), so a code seen over a shoulder cannot be used again, even within its minute.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
SKEW_STEPS = 1
SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends


def new_secret() -> str:
    """A random base32 secret (what authenticator apps take)."""
    return pyotp.random_base32(length=SECRET_BYTES * 8 // 5)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI the QR code carries."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no script, no external image: the CSP holds)."""
    code = segno.make(uri, error="m")
    return str(
        code.svg_inline(
            scale=4,
            border=2,
            dark="#111",
            light="#fff",
            omitsize=True,
            svgclass=None,
            lineclass=None,
        )
    )


def step_of(moment: datetime) -> int:
    """The RFC 6238 time step ``moment`` falls in."""
    return int(moment.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now, one before or one after) whose code ``code`` is; None if none.

    Every candidate is compared, in constant time, so the answer's timing tells nothing."""
    digits = "".join(code.split())
    if len(digits) != DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = step_of(now)
    found = None
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            found = step
    return found
