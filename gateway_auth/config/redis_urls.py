"""The forms ``REDIS_URL`` takes: redis-py's own, and one naming Redis Sentinels (with TLS or
without).

Kept apart from the driver so that settings can check a URL at start-up without importing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEME = "redis+sentinel"
TLS_SENTINEL_SCHEME = "rediss+sentinel"
SENTINEL_SCHEMES = (SENTINEL_SCHEME, TLS_SENTINEL_SCHEME)
# redis-py's names for its TLS settings, as a rediss:// URL's query gives them to it.
TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
TLS_CHOICES = {
    "ssl_cert_reqs": ("required", "optional", "none"),
    "ssl_check_hostname": ("true", "false"),
}


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """``redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]
    [?sentinel_password=…]``: the password in the user info is the primary's; sentinels that
    require one of their own get ``sentinel_password``. ``rediss+sentinel://`` speaks TLS to
    the sentinels and to the primary alike, with redis-py's ``ssl_*`` settings in the query
    (``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_cert_reqs``,
    ``ssl_check_hostname``), as ``rediss://`` takes them."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None
    sentinel_password: str | None = None
    tls: tuple[tuple[str, str], ...] | None = None  # None: plain TCP; else the ssl_* settings

    @classmethod
    def parse(cls, url: str) -> SentinelTarget:
        """The sentinels and the service a URL names; ValueError saying what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in SENTINEL_SCHEMES:
            raise ValueError(f"not a {SENTINEL_SCHEME}:// or {TLS_SENTINEL_SCHEME}:// URL")
        userinfo, _, hosts = parts.netloc.rpartition("@")
        username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
        sentinels = tuple(_host_port(host) for host in hosts.split(","))
        path = [segment for segment in parts.path.split("/") if segment]
        if not 1 <= len(path) <= 2:
            raise ValueError("name the service (the sentinels' master name) after the hosts")
        if len(path) == 2 and not path[1].isdigit():
            raise ValueError("the database after the service must be a number")
        query = dict(parse_qsl(parts.query))
        tls = parts.scheme == TLS_SENTINEL_SCHEME
        allowed = {"sentinel_password", *(tls_settings() if tls else ())}
        if query.keys() - allowed:
            if not tls:
                raise ValueError("the only query parameter is sentinel_password (TLS settings"
                                 f" need {TLS_SENTINEL_SCHEME}://)")  # fmt: skip
            raise ValueError(f"the query parameters are {', '.join(sorted(allowed))}")
        settings = tls_problems_checked({k: v for k, v in query.items() if k.startswith("ssl_")})
        return cls(
            sentinels,
            unquote(path[0]),
            int(path[1]) if len(path) == 2 else 0,
            unquote(username) or None,
            unquote(password) or None,
            query.get("sentinel_password") or None,
            tuple(sorted(settings.items())) if tls else None,
        )


def tls_settings() -> tuple[str, ...]:
    """The ``ssl_*`` query parameters a URL with TLS may give."""
    return (*TLS_FILES, *TLS_CHOICES)


def tls_problems_checked(settings: dict[str, str]) -> dict[str, str]:
    """``settings`` (``ssl_*`` query values), once each names a readable file or an allowed
    value; ValueError naming the first that does not (a rediss:// URL's too)."""
    for name, value in settings.items():
        if name in TLS_FILES and not os.access(value, os.R_OK):
            raise ValueError(f"{name}: {value!r} is not a file this process can read")
        if name in TLS_CHOICES and value not in TLS_CHOICES[name]:
            raise ValueError(f"{name} is one of {', '.join(TLS_CHOICES[name])}")
    return settings


def _host_port(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port (each sentinel's address and port)")
    return host.strip("[]"), int(port)
