"""Whether a request comes from a person looking at a page, or from a script or a program.

Browsers say so with Fetch Metadata (``Sec-Fetch-Mode: navigate`` for a page load or a form
submission); older ones and test tools only by asking for HTML. Scripts (``fetch``, XHR) and
programs get JSON, whatever they accept. Header names are looked up in lower case (the fast
listener's headers are a plain dict of lower-cased names).
"""

from __future__ import annotations

from collections.abc import Mapping

# The methods of a page load a browser can follow a redirect for.
NAVIGATION_METHODS = frozenset({"GET", "HEAD"})


def wants_page(headers: Mapping[str, str]) -> bool:
    """A page load or a form submission whose answer a person will see."""
    if headers.get("x-requested-with", "").lower() == "xmlhttprequest":
        return False
    mode = headers.get("sec-fetch-mode")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in headers.get("accept", "")
