"""The original request's host and path as the upstream resolves them, for the access rules.

A rule written for ``/admin`` must see every spelling an upstream would serve as ``/admin``:
so the path is percent-decoded once, ``;parameters`` are cut from each segment (Tomcat and
Spring serve ``/admin;x`` as ``/admin``), and duplicate slashes are merged (nginx's
``merge_slashes``, and most frameworks). What upstreams disagree on is not guessed at: a dot
segment (``.`` or ``..``, however spelled: nginx and Caddy pass ``/health/../billing`` on as
it is, and aiohttp, Express or Starlette would route it below ``/health``, while Tomcat and
a client that cleans paths resolve it), an encoded ``/`` or ``\\``, a backslash, NUL or another
control character, an encoding that is not valid (``%zz``, invalid UTF-8) or that leaves
another encoding behind (``%2561``), and a fragment. Those paths get None, which the rules
deny; browsers and HTTP libraries never send them.

Paths are compared case by case unless the rules file says ``case_sensitive: false`` (for a
case-insensitive upstream: then both the rules' paths and the request's are folded, the dotless
i (U+0131) with ``i`` and the long s (U+017F) with ``s``, as Unicode's case mapping has it).
Some upstreams also serve ``/billing.``, ``/billing%20``, ``/billing::$DATA`` or ``/BILLIN~1``
(IIS and Windows drop a segment's trailing dots and spaces, and read NTFS streams and 8.3
short names) or ``/billing`` spelled with a fullwidth b (a framework that applies
Unicode compatibility normalization, NFKC) as ``/billing``; with ``refuse_lookalike_paths:
true`` such paths are ambiguous (``lookalike``).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_to_bytes

# %2F, %5C (a slash or backslash inside a segment), %00; and any other control character.
_AMBIGUOUS_ENCODING = re.compile(r"%(2[Ff]|5[Cc]|00)")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\#\ud800-\udfff]")
_SHORT_NAME = re.compile(r"~[0-9]")  # an 8.3 name's tail, as in PROGRA~1
_HOST_PORT = re.compile(r"(\[[^\]]*\]|[^:]*)(?::[0-9]*)?")


def upstream_path(raw: str, *, case_sensitive: bool = True) -> str | None:
    """``raw`` (a path, maybe with ``?query``) as an upstream resolves it; None when upstreams
    could disagree on what it names."""
    path = raw.partition("?")[0]
    if not path.startswith("/") or _CONTROL.search(path):
        return None
    if "%" in path:
        if _BAD_ESCAPE.search(path) or _AMBIGUOUS_ENCODING.search(path):
            return None
        try:
            path = unquote_to_bytes(path).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if _ENCODED.search(path) or _CONTROL.search(path):
            return None  # encoded twice, or a control character was encoded
    resolved = _resolve(path)
    if resolved is None or case_sensitive:
        return resolved
    return fold(resolved)


def lookalike(path: str) -> bool:
    """Whether some upstream would serve the resolved ``path`` as another path: a segment that
    ends in a dot or a space, an NTFS stream (``billing::$DATA``), an 8.3 short name
    (``BILLIN~1``: IIS and Windows), or a character that NFKC normalization changes."""
    if not path.isascii() and unicodedata.normalize("NFKC", path) != path:
        return True
    return (
        ":" in path
        or _SHORT_NAME.search(path) is not None
        or any(segment.endswith((".", " ")) for segment in path.split("/"))
    )


def fold(text: str) -> str:
    """``text`` with case folded for a case-insensitive upstream: by way of upper case, so that
    the dotless i and the long s meet ``i`` and ``s`` (lower-casing alone leaves them apart)."""
    return text.lower() if text.isascii() else text.upper().lower()


def upstream_host(host: str) -> str:
    """A host as rules name it: lower case, no port, no trailing dot."""
    match = _HOST_PORT.fullmatch(host)
    name = match.group(1) if match else host
    return name.lower().rstrip(".")


def _resolve(path: str) -> str | None:
    """Segments without ``;parameters``, empty segments merged; None for a dot segment."""
    names = []
    name = ""
    for segment in path.split("/")[1:]:
        name = segment.partition(";")[0]
        if name in (".", ".."):
            return None
        if name:
            names.append(name)
    # A path that ends in a slash names a directory: keep its slash.
    trailing = bool(names) and not name
    return "/" + "/".join(names) + ("/" if trailing else "")
