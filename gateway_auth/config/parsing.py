"""Reading configuration values: each converter explains, in words, what it expected."""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from limits import parse_many

from gateway_auth.addresses import ip_network

Algorithm = Literal["HS256", "EdDSA", "ES256", "RS256", "PS256"]
SameSite = Literal["Lax", "Strict", "None"]
PREFIX = "GATEWAY_AUTH_"
# Variables under this prefix belong to the test suite, not to the server.
TEST_PREFIX = PREFIX + "TEST_"
T = TypeVar("T")

_DURATION = re.compile(r"(\d+)(s|m|h|d|w)")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 6265 token
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
_BASE_PATH = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+")
_CHANNEL = re.compile(r"[A-Za-z0-9._:-]{1,200}")


@dataclass(frozen=True, slots=True)
class Secret:
    """A configuration value that must never appear in a repr, a log line or a traceback."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('**********')"

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it."""
        return self.value


class Reader:
    """Reads variables, converting each and collecting problems instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []
        self.known: set[str] = set()

    def raw(self, name: str) -> str | None:
        self.known.add(PREFIX + name)
        value = self.environ.get(PREFIX + name, "").strip()
        return value or None  # an empty variable means "use the default", as compose files expect

    def parse(self, name: str, default: T, convert: Callable[[str], T]) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return convert(value)
        except ValueError as exc:
            self.problems.append(f"{PREFIX}{name}={value!r}: {exc}")
            return default

    def secret(self, name: str) -> Secret | None:
        value = self.raw(name)
        return None if value is None else Secret(value)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        def convert(text: str) -> int:
            if not re.fullmatch(r"[0-9]+", text) or not low <= int(text) <= high:
                raise ValueError(f"must be a whole number from {low} to {high}")
            return int(text)

        return self.parse(name, default, convert)

    def boolean(self, name: str, default: bool) -> bool:
        return self.parse(name, default, boolean)

    def duration(self, name: str, default: timedelta) -> timedelta:
        return self.parse(name, default, parse_duration)

    def unknown_variables(self) -> list[str]:
        unknown = sorted(
            key
            for key in self.environ
            if key.startswith(PREFIX) and not key.startswith(TEST_PREFIX) and key not in self.known
        )
        problems = []
        for key in unknown:
            close = difflib.get_close_matches(key, sorted(self.known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{key}: not a gateway-auth setting{hint}")
        return problems


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``14d``, ``1h30m``: whole numbers with units s, m, h, d, w."""
    compact = text.replace(" ", "").lower()
    if not compact or _DURATION.sub("", compact):
        raise ValueError("must be a duration such as 30s, 15m, 12h or 14d")
    seconds = sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION.findall(compact))
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return timedelta(seconds=seconds)


def boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def text(text: str) -> str:
    return text


def choice(text: str, choices: Mapping[str, T]) -> T:
    try:
        return choices[text.lower()]
    except KeyError:
        raise ValueError(f"must be one of {', '.join(str(v) for v in choices.values())}") from None


def algorithm(text: str) -> Algorithm:
    return choice(
        text,
        {"hs256": "HS256", "eddsa": "EdDSA", "es256": "ES256", "rs256": "RS256", "ps256": "PS256"},
    )


def samesite(text: str) -> SameSite:
    return choice(text, {"lax": "Lax", "strict": "Strict", "none": "None"})


def registration(text: str) -> Literal["open", "closed"]:
    return choice(text, {"open": "open", "closed": "closed"})


def log_format(text: str) -> Literal["json", "text"]:
    return choice(text, {"json": "json", "text": "text"})


def hostname(text: str) -> str:
    host = text.lower().lstrip(".").rstrip(".")
    if not _HOSTNAME.fullmatch(host):
        raise ValueError("must be a host name such as example.com")
    return host


def scope_list(text: str) -> tuple[str, ...]:
    from gateway_auth.validation import scopes_problem  # noqa: PLC0415 - no cycle at import

    scopes = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    problem = scopes_problem(scopes)
    if problem:
        raise ValueError(problem)
    return scopes


def domain_list(text: str) -> tuple[str, ...]:
    return tuple(hostname(part.strip()) for part in text.split(",") if part.strip())


def origin(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL such as https://auth.example.com")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not carry user info, a query or a fragment")
    if parts.path not in ("", "/"):
        raise ValueError("must be an origin without a path; put a path prefix in BASE_PATH")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def origin_list(text: str) -> tuple[str, ...]:
    return tuple(origin(part.strip()) for part in text.split(",") if part.strip())


def display_text(text: str) -> str:
    if len(text) > 60 or not text.isprintable():
        raise ValueError("must be at most 60 printable characters")
    return text


def logo_url(text: str) -> str:
    parts = urlsplit(login_url(text))  # the same two shapes a sign-in URL may take
    if parts.username or parts.password or not text.isprintable() or '"' in text:
        raise ValueError("must be a plain URL without user info or quotes")
    return text


LOGO_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
MAX_LOGO_BYTES = 256 * 1024


def logo_file(text: str) -> Path:
    path = readable_file(text)
    size = path.stat().st_size
    if size > MAX_LOGO_BYTES:
        raise ValueError(f"is {size} bytes; a logo may have at most {MAX_LOGO_BYTES}")
    if logo_type(path.read_bytes()) is None:
        raise ValueError("must be a PNG, JPEG, GIF, WebP or SVG image")
    return path


def logo_type(data: bytes) -> str | None:
    """The media type of a logo image, recognised by its first bytes."""
    for magic, media_type in LOGO_TYPES.items():
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in head:
        return "image/svg+xml"
    return None


def base_path(text: str) -> str:
    path = text.rstrip("/")
    if path and not _BASE_PATH.fullmatch(path):
        raise ValueError("must be empty or a path such as /auth")
    return path


def login_url(text: str) -> str:
    parts = urlsplit(text)
    absolute = parts.scheme in ("http", "https") and bool(parts.hostname)
    if not (absolute or (text.startswith("/") and not text.startswith("//"))):
        raise ValueError("must be an absolute http(s) URL or a path starting with /")
    return text


def cookie(text: str) -> str:
    if not _COOKIE_NAME.fullmatch(text):
        raise ValueError("must be a cookie name (letters, digits and !#$%&'*+-.^_`|~)")
    return text


def networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def channel(text: str) -> str:
    if not _CHANNEL.fullmatch(text):
        raise ValueError("must be a channel name of letters, digits and . _ : -")
    return text


def readable_file(text: str) -> Path:
    path = Path(text)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror})") from None
    return path


def limits(text: str) -> str:
    """Rate limits in the `limits` library's notation, e.g. ``20/minute;200/hour``."""
    try:
        items = parse_many(text)
    except ValueError:
        items = []
    if not items:
        raise ValueError(
            "must be rate limits such as 20/minute;200/hour (an amount per second, minute, "
            "hour or day; several separated by ';')"
        )
    return text.strip()


def second_factor(text: str) -> Literal["off", "optional", "required"]:
    return choice(text, {"off": "off", "optional": "optional", "required": "required"})


def color(text: str) -> str:
    """A brand colour as ``#rrggbb`` (lower case), the form every browser and CSS reads."""
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", text.strip()):
        raise ValueError("must be a colour written #rrggbb, e.g. #0b5cad")
    return text.strip().lower()


def directory(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise ValueError("must be a directory that exists")
    return path


def scope_labels(text: str) -> tuple[tuple[str, str], ...]:
    """``{"billing": "Billing and invoices", …}``: what people read for each scope."""
    from gateway_auth.validation import scope_problem  # noqa: PLC0415 - no cycle at import

    try:
        labels = json.loads(text)
    except ValueError:
        labels = None
    if not isinstance(labels, dict):  # a ValueError, as every setting's problem is
        raise ValueError('must be a JSON object, e.g. {"billing": "Billing"}')  # noqa: TRY004
    for scope, label in labels.items():
        if problem := scope_problem(scope):
            raise ValueError(f"{scope!r}: {problem}")
        if not isinstance(label, str) or not label.strip() or len(label) > 60:
            raise ValueError(f"{scope!r}: the label must be 1-60 printable characters")
        if not label.isprintable():
            raise ValueError(f"{scope!r}: the label must be 1-60 printable characters")
    return tuple((scope, label.strip()) for scope, label in labels.items())
