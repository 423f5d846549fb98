"""How sessions read on a page: a device name instead of a User-Agent (times in words are
``i18n.ago``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import lru_cache

from ua_parser import parse

from gateway_auth.i18n import DEFAULT, translations

MAX_SHOWN_AGENT = 60
MAX_PARSED_AGENT = 256


async def device_names(user_agents: Iterable[str], language: str = DEFAULT) -> dict[str, str]:
    """A name for each User-Agent; parsed in a thread, because ua-parser's pure-Python regexes
    take milliseconds each (and its first call loads them all)."""
    unique = list(dict.fromkeys(user_agents))
    names = await asyncio.to_thread(lambda: [device_name(agent, language) for agent in unique])
    return dict(zip(unique, names, strict=True))


@lru_cache(maxsize=1024)
def device_name(user_agent: str, language: str = DEFAULT) -> str:
    """``Chrome 156 on Linux``, ``Mobile Safari 17 on iPhone``; the raw string when unknown."""
    tr = translations(language)
    if not user_agent.strip():
        return tr.gettext("Unknown device")
    # The regexes cost time by length; the product names come first in every real agent.
    parsed = parse(user_agent[:MAX_PARSED_AGENT]).with_defaults()
    browser = parsed.user_agent.family
    if browser == "Other":
        return user_agent[:MAX_SHOWN_AGENT] + ("…" if len(user_agent) > MAX_SHOWN_AGENT else "")
    if parsed.user_agent.major:
        browser = f"{browser} {parsed.user_agent.major}"
    device = parsed.device.family if parsed.device.family != "Other" else parsed.os.family
    if device == "Other":
        return browser
    return tr.gettext("%(browser)s on %(device)s") % {"browser": browser, "device": device}
