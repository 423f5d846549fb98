"""Rules for client input (emails, passwords, names, scopes), shared by the API and the CLI."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence

from gateway_auth.emails import domain_problem, email_key
from gateway_auth.errors import FieldError, ValidationFailed
from gateway_auth.i18n import N_

__all__ = ["email_key"]  # the identity rules live in ``emails``; most callers import them here

# The limits people meet are written out in their messages (a catalogue's message is a literal):
# tests/test_i18n.py checks that each message names its limit.
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit minus the angle brackets
MAX_LOCAL_PART_LENGTH = 64
MAX_REASON_LENGTH = 500
MAX_NAME_LENGTH = 100
# Every scope rides in each access token, and a browser keeps a cookie only up to 4096 bytes:
# these caps leave room for the longest email, names and issuer beside them.
MAX_SCOPES = 32
MAX_SCOPES_LENGTH = 1024  # the scopes joined by spaces, as in the token's ``scope`` claim
MAX_GROUPS = 32  # groups ride in the token too (``groups``), within the claims' budget below
# The email, name, scope and groups claims together, as PyJWT writes them (JSON, non-ASCII
# escaped as \uXXXX): beside the fixed claims, the header, base64url and a signature (up to
# RS256 with a 3072-bit key), this keeps the access cookie under 4096 bytes even with long
# names in a non-Latin script, and leaves room for the sign-in's ``amr``, ``auth_time`` and
# ``idp`` (about 130 bytes after a second step through another identity provider).
MAX_IDENTITY_CLAIMS_BYTES = 2170

_EMAIL_FORBIDDEN = re.compile(r"[\s<>()\[\],;:\"\\]")
SCOPE_PATTERN = r"[A-Za-z0-9_.:/\-]{1,64}"  # no commas or spaces: both separate scopes
_SCOPE = re.compile(SCOPE_PATTERN)


def normalise_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B advises, so one password typed on two keyboards matches itself."""
    return unicodedata.normalize("NFKC", password)


def email_problem(email: str) -> str | None:
    """Why this email address is unacceptable, or None."""
    email = email.strip()
    if not email:
        return N_("is required")
    if len(email) > MAX_EMAIL_LENGTH:
        return N_("must be at most 254 characters")
    local, _, domain = email.rpartition("@")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        return N_("must have at most 64 characters before the @")
    malformed = (
        not local
        or not domain
        or "@" in local
        or _EMAIL_FORBIDDEN.search(email) is not None
        or _has_control(email)
        or domain.startswith(".")
        or domain.endswith(".")
        or ".." in domain
    )
    if malformed:
        return N_("must be an email address such as ada@example.com")
    return domain_problem(email)


def password_problem(password: str) -> str | None:
    """Why this new password is unacceptable, or None. Length is counted in characters."""
    length = len(normalise_password(password))
    if length < MIN_PASSWORD_LENGTH:
        return N_("must be at least 8 characters")
    if length > MAX_PASSWORD_LENGTH:
        return N_("must be at most 1024 characters")
    return None


def name_problem(name: str | None) -> str | None:
    """Why this first or last name is unacceptable, or None."""
    if name is None:
        return None
    if len(name.strip()) > MAX_NAME_LENGTH:
        return N_("must be at most 100 characters")
    if _has_control(name):
        return N_("must not contain control characters")
    return None


def reason_problem(reason: str | None) -> str | None:
    """Why this suspension reason is unacceptable, or None."""
    if reason is None:
        return None
    if len(reason) > MAX_REASON_LENGTH:
        return f"must be at most {MAX_REASON_LENGTH} characters"
    if _has_control(reason):
        return "must not contain control characters"
    return None


def clean_name(name: str | None) -> str | None:
    """Trimmed, with an empty name stored as no name."""
    return (name.strip() or None) if name is not None else None


def scope_problem(scope: str) -> str | None:
    """Why this scope name is unacceptable, or None."""
    if not _SCOPE.fullmatch(scope):
        return "must be 1-64 letters, digits or _ . : / - each"
    return None


def scopes_problem(scopes: Sequence[str]) -> str | None:
    """Why this set of scopes is unacceptable, or None."""
    unique = tuple(dict.fromkeys(scopes))
    if len(unique) > MAX_SCOPES:
        return f"at most {MAX_SCOPES} scopes, so that every access token fits a browser cookie"
    if len(" ".join(unique)) > MAX_SCOPES_LENGTH:
        return (
            f"at most {MAX_SCOPES_LENGTH} characters of scopes in all, so that every access "
            "token fits a browser cookie"
        )
    return next(filter(None, map(scope_problem, unique)), None)


def groups_problem(groups: Sequence[str]) -> str | None:
    """Why this set of groups is unacceptable, or None (named like scopes: no commas)."""
    unique = tuple(dict.fromkeys(groups))
    if len(unique) > MAX_GROUPS:
        return f"at most {MAX_GROUPS} groups, so that every access token fits a browser cookie"
    if any(not _SCOPE.fullmatch(group) for group in unique):
        return "must be 1-64 letters, digits or _ . : / - each"
    return None


def identity_claims_problem(
    email: str,
    first_name: str | None,
    last_name: str | None,
    scopes: Sequence[str],
    groups: Sequence[str] = (),
) -> str | None:
    """Why a client with this email, these names, scopes and groups would not fit a browser
    cookie."""
    name = " ".join(part.strip() for part in (first_name, last_name) if part and part.strip())
    claims: dict[str, object] = {"email": email.strip(), "name": name}
    claims["scope"] = " ".join(dict.fromkeys(scopes))
    if groups:
        claims["groups"] = list(dict.fromkeys(groups))
    if len(json.dumps(claims)) <= MAX_IDENTITY_CLAIMS_BYTES:
        return None
    return (
        f"with the email address, names, scopes and groups, makes more than "
        f"{MAX_IDENTITY_CLAIMS_BYTES} bytes of claims, and the access token would not fit a "
        "browser cookie; shorten them"
    )


def check(problems: dict[str, str | None]) -> None:
    """Raise ValidationFailed listing every field whose problem is not None."""
    errors = [FieldError(name, message) for name, message in problems.items() if message]
    if errors:
        raise ValidationFailed(errors)


def without_controls(text: str) -> str:
    """``text`` with line breaks and other control or format characters (bidirectional
    overrides among them) turned into spaces, and runs of spaces made one."""
    return " ".join("".join(" " if _is_control(ch) else ch for ch in text).split())


def _has_control(text: str) -> bool:
    return any(map(_is_control, text))


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
