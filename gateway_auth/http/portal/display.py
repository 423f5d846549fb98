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
NAMED_KEPT = 4_096
_NAMED: dict[tuple[str, str], str] = {}  # (agent, language) -> name, filled on the loop only


async def device_names(user_agents: Iterable[str], language: str = DEFAULT) -> dict[str, str]:
    """A name for each User-Agent; parsed in a thread, because ua-parser's pure-Python regexes
    take milliseconds each (and its first call loads them all). Names given before are
    remembered here, so a page of known devices costs no trip to the thread."""
    named = {agent: _NAMED.get((agent, language)) for agent in dict.fromkeys(user_agents)}
    unknown = [agent for agent, name in named.items() if name is None]
    if unknown:
        names = await asyncio.to_thread(lambda: [device_name(a, language) for a in unknown])
        if len(_NAMED) + len(unknown) > NAMED_KEPT:
            _NAMED.clear()
        for agent, name in zip(unknown, names, strict=True):
            named[agent] = _NAMED[agent, language] = name
    return {agent: name or "" for agent, name in named.items()}


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
