"""The forms ``REDIS_URL`` takes: redis-py's own, and one naming Redis Sentinels.

Kept apart from the driver so that settings can check a URL at start-up without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """``redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]
    [?sentinel_password=…]``: the password in the user info is the primary's; sentinels that
    require one of their own get ``sentinel_password``."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None
    sentinel_password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelTarget:
        """The sentinels and the service a URL names; ValueError saying what is wrong."""
        parts = urlsplit(url)
        if parts.scheme != SENTINEL_SCHEME:
            raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
        userinfo, _, hosts = parts.netloc.rpartition("@")
        username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
        sentinels = tuple(_host_port(host) for host in hosts.split(","))
        path = [segment for segment in parts.path.split("/") if segment]
        if not 1 <= len(path) <= 2:
            raise ValueError("name the service (the sentinels' master name) after the hosts")
        if len(path) == 2 and not path[1].isdigit():
            raise ValueError("the database after the service must be a number")
        query = dict(parse_qsl(parts.query))
        if query.keys() - {"sentinel_password"}:
            raise ValueError("the only query parameter is sentinel_password")
        return cls(
            sentinels,
            unquote(path[0]),
            int(path[1]) if len(path) == 2 else 0,
            unquote(username) or None,
            unquote(password) or None,
            query.get("sentinel_password") or None,
        )


def _host_port(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port (each sentinel's address and port)")
    return host.strip("[]"), int(port)
