"""Passwords and secrets the tests sign in and sign with."""

from __future__ import annotations

PASSWORD = "correct horse battery staple"
# Signing secrets as `openssl rand -base64 32` makes them: start-up refuses anything weaker.
JWT_SECRET = "7seTkoTj_pU64USdnDTkrzwkTQdbgrtpTKt5wqi_fuo"
OTHER_JWT_SECRET = "OHOOBKS3Tar4bDD-Q-sKteYjzdcC6tQHpvLDiG7AN7E"
PEPPER = "e5uxttIYFpG7tipeIW0VoKGif4M-pzoJ"
HMAC_SECRET = b"s" * 32  # an HS256 key for the token tests
