"""Whether a request comes from a person looking at a page, or from a script or a program.

Browsers say so with Fetch Metadata (``Sec-Fetch-Mode: navigate`` for a page load or a form
submission); older ones and test tools only by asking for HTML. Scripts (``fetch``, XHR) and
programs get JSON, whatever they accept.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import hdrs


def wants_page(headers: Mapping[str, str]) -> bool:
    """A page load or a form submission whose answer a person will see."""
    if headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
        return False
    mode = headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in headers.get(hdrs.ACCEPT, "")


def browser_navigation(headers: Mapping[str, str], method: str) -> bool:
    """A page load a browser can follow a redirect for (GET or HEAD), not a script or an API."""
    return method in ("GET", "HEAD") and wants_page(headers)
