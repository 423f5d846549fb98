"""The original request's host and path as the upstream resolves them, for the access rules.

A rule written for ``/admin`` must see every spelling an upstream would serve as ``/admin``:
so the path is percent-decoded once, ``;parameters`` are cut from each segment (Tomcat and
Spring serve ``/admin;x`` and ``/admin/..;/x`` as if they were not there), duplicate slashes
are merged (nginx's ``merge_slashes``, and most frameworks), and dot segments are resolved
(RFC 3986 5.2.4, never above the root). What upstreams disagree on is not guessed at: an
encoded ``/`` or ``\\``, a backslash, NUL or another control character, an encoding that is
not valid (``%zz``, invalid UTF-8) or that leaves another encoding behind (``%2561``), and a
fragment. Those paths get None, which the rules deny.

Paths are compared case by case unless the rules file says ``case_sensitive: false`` (for a
case-insensitive upstream: then both the rules' paths and the request's are lower-cased).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

# %2F, %5C (a slash or backslash inside a segment), %00; and any other control character.
_AMBIGUOUS_ENCODING = re.compile(r"%(2[Ff]|5[Cc]|00)")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\#\ud800-\udfff]")
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
    return resolved if case_sensitive else resolved.lower()


def upstream_host(host: str) -> str:
    """A host as rules name it: lower case, no port, no trailing dot."""
    match = _HOST_PORT.fullmatch(host)
    name = match.group(1) if match else host
    return name.lower().rstrip(".")


def _resolve(path: str) -> str:
    """Segments without ``;parameters``, empty segments merged, dot segments resolved."""
    stack: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        name = segment.partition(";")[0]
        if name in ("", "."):
            continue
        if name == "..":
            if stack:
                stack.pop()
        else:
            stack.append(name)
    last = segments[-1].partition(";")[0] if segments else ""
    # A path that ends in a slash or a dot segment names a directory: keep its slash.
    trailing = bool(stack) and last in ("", ".", "..")
    return "/" + "/".join(stack) + ("/" if trailing else "")
