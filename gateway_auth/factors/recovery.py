"""Recovery codes: ten single-use codes shown once, kept only as salted SHA-256 hashes.

Each has 60 random bits (twelve base32 letters and digits, in groups of four for reading
aloud), so a hash cannot be reversed by trying codes, and the client id salts it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

COUNT = 10
_ALPHABET_LENGTH = 12
_GROUP = 4


def new_codes() -> list[str]:
    """Ten fresh codes, such as ``k7qm-2xhp-w4na``."""
    return [_format(_random_code()) for _ in range(COUNT)]


def code_hash(client_id: str, code: str) -> str:
    """What is stored for a code: any spelling of it (case, spaces, dashes) hashes alike."""
    normalised = "".join(ch for ch in code.lower() if ch.isalnum())
    digest = hashlib.sha256(f"gateway-auth recovery:{client_id}:{normalised}".encode())
    return digest.hexdigest()


def looks_like_a_code(text: str) -> bool:
    """Whether ``text`` has a recovery code's shape (a TOTP code is six digits)."""
    normalised = "".join(ch for ch in text.lower() if ch.isalnum())
    return len(normalised) == _ALPHABET_LENGTH


def _random_code() -> str:
    return base64.b32encode(secrets.token_bytes(8)).decode().lower()[:_ALPHABET_LENGTH]


def _format(code: str) -> str:
    return "-".join(code[i : i + _GROUP] for i in range(0, len(code), _GROUP))
