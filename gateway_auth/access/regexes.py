"""Regular expressions from a rules file, run by RE2: matching time grows with the path's length
only, whatever the pattern (Python's ``re`` backtracks: ``/(a+)+c`` or a glob with several
``**`` against a long path would hold the event loop for seconds). It is also the dialect
Envoy, Traefik and Caddy use for their own path patterns, so one pattern means the same in
the gateway and here; it has no lookarounds or backreferences.
"""

from __future__ import annotations

from typing import Protocol

import re2  # type: ignore[import-untyped]  # google-re2 ships no type hints


class Pattern(Protocol):
    """A compiled pattern (the part of RE2's that the rules use)."""

    def fullmatch(self, text: str) -> object | None:
        """A match when the whole ``text`` matches, else None."""


def compile_regex(text: str, *, case_sensitive: bool = True) -> Pattern:
    """``text`` compiled; ValueError saying what RE2 cannot read."""
    options = re2.Options()
    options.log_errors = False  # the error is raised to the caller, not printed on stderr
    options.case_sensitive = case_sensitive
    try:
        pattern: Pattern = re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "cannot be read"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(str(reason)) from None
    return pattern
