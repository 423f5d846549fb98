"""Email identity: which addresses are the same account, and which only look the same.

``email_key`` is the account's identity for lookup and uniqueness: Unicode compatibility
normalisation and case folding (NFKC_Casefold: fullwidth letters are the ASCII ones), with
the domain through IDNA's UTS #46 mapping to its ASCII form (``bücher.example`` and
``xn--bcher-kva.example`` are one domain). ``email_skeleton`` is UTS #39's confusable skeleton
of that key, from ICU: two addresses with one skeleton look alike (a Cyrillic a for a Latin
``a``, ``rn`` for ``m``), and a second one is refused, so a downstream service that shows or
trusts ``X-Auth-Email`` cannot be fooled by a look-alike account.
"""

from __future__ import annotations

import contextlib
import unicodedata

import icu  # type: ignore[import-untyped]  # PyICU ships no type information
import idna

from gateway_auth.i18n import N_

_SPOOF_CHECKER = icu.SpoofChecker()


def email_key(email: str) -> str:
    """The form used for uniqueness and lookup; total (never raises), for lookups of any input.

    Only the local part is case-folded: the domain's case is IDNA's business, and folding it
    first would turn ``faß.de`` into another domain, ``fass.de``.
    """
    local, at, domain = _normalised(email).rpartition("@")
    if not at:
        return _folded(domain)
    return f"{_folded(local)}@{_ascii_domain(domain) or _folded(domain)}"


def email_skeleton(email: str) -> str:
    """UTS #39's skeleton of the address as it is shown (its domain in Unicode: an IDN
    homograph looks alike only as letters, never as ``xn--``), lower-cased afterwards, so that
    a capital ``I`` is compared as the ``l`` it looks like: equal for addresses that look
    alike."""
    local, at, domain = _normalised(email).rpartition("@")
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is not None:
        with contextlib.suppress(idna.IDNAError, UnicodeError, ValueError):
            domain = idna.decode(ascii_domain)
    shown = f"{local}@{domain}" if at else domain
    return str(_SPOOF_CHECKER.getSkeleton(0, shown)).lower()


def domain_problem(email: str) -> str | None:
    """Why the domain of this (otherwise well-formed) address is not a valid domain name, or
    why the address could pass for another one."""
    normalised = _normalised(email)
    if _ascii_domain(normalised.rpartition("@")[2]) is None:
        return N_("must have a valid domain name after the @")
    if _stray_latin_mark(normalised):
        return N_("must not put a combining mark on a Latin letter that has no such accented form")
    return None


def _stray_latin_mark(text: str) -> bool:
    """A combining mark left on a Latin letter after NFKC (``d`` with an acute, a strike-through,
    an underline): no address needs one, and the skeleton drops it, so ``ad\u0301min`` would
    pass for ``admin``. Other scripts, whose words need their marks, are left alone."""
    previous = ""
    for char in text:
        if unicodedata.category(char).startswith("M") and (
            previous.isascii() or unicodedata.name(previous, "").startswith("LATIN")
        ):
            return True
        if not unicodedata.category(char).startswith("M"):
            previous = char
    return False


def _normalised(email: str) -> str:
    # Stripped after NFKC, which can turn a character into a space (U+00A8 is " \u0308").
    return unicodedata.normalize("NFKC", email).strip()


def _folded(text: str) -> str:
    """NFKC_Casefold: case-fold, then NFKC again (folding can leave text unnormalised)."""
    return unicodedata.normalize("NFKC", text.casefold()).strip()


def _ascii_domain(domain: str) -> str | None:
    """The domain's ASCII (A-label) form after UTS #46 mapping, or None when it is invalid."""
    try:
        return idna.encode(domain, uts46=True, std3_rules=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
