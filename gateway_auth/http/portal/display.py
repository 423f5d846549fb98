"""How sessions read on a page: a device name instead of a User-Agent, times in words."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from ua_parser import parse

MAX_SHOWN_AGENT = 60
MAX_PARSED_AGENT = 256


async def device_names(user_agents: Iterable[str]) -> dict[str, str]:
    """A name for each User-Agent; parsed in a thread, because ua-parser's pure-Python regexes
    take milliseconds each (and its first call loads them all)."""
    unique = list(dict.fromkeys(user_agents))
    names = await asyncio.to_thread(lambda: [device_name(agent) for agent in unique])
    return dict(zip(unique, names, strict=True))


@lru_cache(maxsize=1024)
def device_name(user_agent: str) -> str:
    """``Chrome 156 on Linux``, ``Mobile Safari 17 on iPhone``; the raw string when unknown."""
    if not user_agent.strip():
        return "Unknown device"
    # The regexes cost time by length; the product names come first in every real agent.
    parsed = parse(user_agent[:MAX_PARSED_AGENT]).with_defaults()
    browser = parsed.user_agent.family
    if browser == "Other":
        return user_agent[:MAX_SHOWN_AGENT] + ("…" if len(user_agent) > MAX_SHOWN_AGENT else "")
    if parsed.user_agent.major:
        browser = f"{browser} {parsed.user_agent.major}"
    device = parsed.device.family if parsed.device.family != "Other" else parsed.os.family
    return browser if device == "Other" else f"{browser} on {device}"


def ago(moment: datetime, now: datetime) -> str:
    """``just now``, ``5 minutes ago``, ``3 hours ago``, ``2 days ago``, or the date."""
    delta = max(now - moment, timedelta(0))
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("minute", 60), ("hour", 3600), ("day", 86400)):
        limit = {"minute": 3600, "hour": 86400, "day": 86400 * 30}[unit]
        if seconds < limit:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return f"on {day(moment)}"


def day(moment: datetime) -> str:
    """``30 Nov 2026``: unambiguous in every locale."""
    return f"{moment.day} {moment:%b %Y}"
