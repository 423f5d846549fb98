"""Passwords and secrets the tests sign in and sign with."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyotp

PASSWORD = "correct horse battery staple"
# Signing secrets as `openssl rand -base64 32` makes them: start-up refuses anything weaker.
JWT_SECRET = "7seTkoTj_pU64USdnDTkrzwkTQdbgrtpTKt5wqi_fuo"
OTHER_JWT_SECRET = "OHOOBKS3Tar4bDD-Q-sKteYjzdcC6tQHpvLDiG7AN7E"
PEPPER = "e5uxttIYFpG7tipeIW0VoKGif4M-pzoJ"
ENCRYPTION_KEY = "q8J0f3m1Yx9b2T6kLw4NvP7sRz0aE5uH1cD8gK3jMiA="  # openssl rand -base64 32
HMAC_SECRET = b"s" * 32  # an HS256 key for the token tests


def wrong_code(app: pyotp.TOTP, now: datetime) -> str:
    """Six digits that are surely not a code ``app`` shows around ``now`` (the step before,
    this one and the next), so a test's wrong code is never right by chance."""
    valid = {app.at(now + timedelta(seconds=offset)) for offset in (-30, 0, 30)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)
