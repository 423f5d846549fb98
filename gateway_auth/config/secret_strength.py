"""Refusing secrets that were pasted from an example or typed by hand.

A signing secret copied from documentation lets anyone who read the same page forge tokens with
any scope, so start-up refuses it. The rules are deliberately coarse: a generated secret
(``openssl rand -base64 48``) passes every one of them, and whatever a person makes up or an
example carries fails at least one.
"""

from __future__ import annotations

import base64
import itertools
import math
import re
from collections import Counter

# Words placeholders are made of. Each is six letters or more, so the chance that a random
# base64 secret contains one by accident is below one in ten million.
PLACEHOLDER_WORDS = (
    "replace",
    "change",
    "placeholder",
    "example",
    "secret",
    "password",
    "passwd",
    "insecure",
    "default",
    "sample",
    "dummy",
    "openssl",
    "random",
)
MIN_DISTINCT_CHARACTERS = 8  # fewer for short secrets: 16 random hex digits show about 10
MIN_ESTIMATED_BITS = 36  # 16 random hex digits (64 real bits) are estimated at about 50
_REPEATED = re.compile(r"(.{1,16}?)\1+", re.DOTALL)


def weakness(secret: str) -> str | None:
    """Why ``secret`` is unfit to sign tokens or pepper passwords, or None when it is fine."""
    lowered = secret.lower()
    word = next((w for w in PLACEHOLDER_WORDS if w in lowered), None)
    if word is not None:
        return f"looks like a placeholder (it contains {word!r})"
    distinct = min(MIN_DISTINCT_CHARACTERS, len(secret) // 3)
    if len(set(secret)) < distinct or _REPEATED.fullmatch(secret):
        return "is too regular to be random"
    if _estimated_bits(secret) < MIN_ESTIMATED_BITS or _mostly_sequential(secret):
        return "has too little randomness"
    return None


def _estimated_bits(secret: str) -> float:
    """Length times the per-character entropy of the secret's own character frequencies."""
    counts = Counter(secret)
    total = len(secret)
    per_character = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_character * total


def _mostly_sequential(secret: str) -> bool:
    """``abcdef…``, ``0123…``, ``zyxw…``: neighbours one code point apart, most of the way."""
    steps = [abs(ord(b) - ord(a)) for a, b in itertools.pairwise(secret)]
    return bool(steps) and steps.count(1) > len(steps) / 2


ENCRYPTION_KEY_BYTES = 32


def encryption_key_problem(text: str) -> str | None:
    """What is wrong with an ENCRYPTION_KEY value, or None: it must be 32 random bytes in
    base64 (standard or URL-safe), as ``openssl rand -base64 32`` prints."""
    key = decode_key(text)
    if key is None or len(key) != ENCRYPTION_KEY_BYTES:
        return "must be 32 bytes in base64; generate one with: openssl rand -base64 32"
    if len(set(key)) < 16:
        return "looks hand-made (too few distinct bytes); generate one with openssl rand"
    return None


def decode_key(text: str) -> bytes | None:
    """Base64 in either alphabet, padded or not; None for anything else."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except ValueError:
        return None
