"""Recovery codes: ten single-use codes shown once, kept only as keyed hashes.

Each has 60 random bits (twelve base32 letters and digits, in groups of four for reading
aloud); the service keeps HMAC-SHA256 of the client id and the code under a key derived from
ENCRYPTION_KEY, so a copy of the database or an export alone cannot be searched for codes.
"""

from __future__ import annotations

import base64
import secrets

COUNT = 10
_ALPHABET_LENGTH = 12
_GROUP = 4


def new_codes() -> list[str]:
    """Ten fresh codes, such as ``k7qm-2xhp-w4na``."""
    return [_format(_random_code()) for _ in range(COUNT)]


def hashed_form(client_id: str, code: str) -> str:
    """What is hashed for a code: any spelling of it (case, spaces, dashes) alike."""
    normalised = "".join(ch for ch in code.lower() if ch.isalnum())
    return f"{client_id}:{normalised}"


def looks_like_a_code(text: str) -> bool:
    """Whether ``text`` has a recovery code's shape (a TOTP code is six digits)."""
    normalised = "".join(ch for ch in text.lower() if ch.isalnum())
    return len(normalised) == _ALPHABET_LENGTH


def _random_code() -> str:
    return base64.b32encode(secrets.token_bytes(8)).decode().lower()[:_ALPHABET_LENGTH]


def _format(code: str) -> str:
    return "-".join(code[i : i + _GROUP] for i in range(0, len(code), _GROUP))
