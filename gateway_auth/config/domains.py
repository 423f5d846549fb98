"""The domains one deployment serves (``DOMAINS_FILE``), each with its own portal and cookies.

Without the file there is one domain, described by today's variables (``PUBLIC_URL``,
``COOKIE_DOMAIN``, ``ALLOWED_REDIRECT_DOMAINS``, ``ALLOWED_ORIGINS``, ``LOGIN_URL``), and it
serves whatever host a request names, as before. With the file, the request's host selects
its entry, and a host no entry serves is refused:

```yaml
domains:
  - public_url: https://auth.example.com     # the portal on this domain (an origin)
    cookie_domain: example.com               # the session cookies' Domain (none: host-only)
    default_redirect: https://app.example.com/
    allowed_redirect_domains: [example.com]  # default: the cookie domain and the portal's host
    allowed_origins: [https://admin.example.com]
  - public_url: https://auth.example.net
    cookie_domain: example.net
```

A browser signed in on one domain is signed in on the others without a prompt (``crossing/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gateway_auth.config import parsing as values
from gateway_auth.config.yaml_file import (
    Lines,
    Loc,
    YamlFileError,
    by_line,
    field_path,
    message,
    read_document,
    read_file,
    validated,
)

MAX_DOMAINS = 20  # each is a hop in the one sign-in across them


@dataclass(frozen=True, slots=True)
class Domain:
    """One domain: where its portal answers and what its cookies and checks allow."""

    public_url: str | None  # the portal's origin here (None: PUBLIC_URL unset, one domain)
    cookie_domain: str | None
    redirect_domains: tuple[str, ...]  # where a return URL (``rd``) may point
    origins: tuple[str, ...]  # besides the portal's own and the request's, for the CSRF check
    login_url: str
    default_redirect: str | None = None  # after a sign-in that names no ``rd``

    @property
    def name(self) -> str:
        """The portal's host: how the one-time codes between domains name this one."""
        if self.public_url is None:
            return ""
        return urlsplit(self.public_url).hostname or ""

    def serves(self, host: str) -> bool:
        """Whether requests for ``host`` (lower case, no port) belong to this domain: its
        portal's host, or a host at or below its cookie domain or a return domain."""
        if host == self.name:
            return True
        return any(
            host == domain or host.endswith("." + domain)
            for domain in (*filter(None, (self.cookie_domain,)), *self.redirect_domains)
        )


@dataclass(frozen=True, slots=True)
class Domains:
    """Every domain, in the file's order; the first is the primary (mailed links, issuer)."""

    entries: tuple[Domain, ...]
    listed: bool = False  # from DOMAINS_FILE: a host must be served by an entry

    @property
    def primary(self) -> Domain:
        """The first entry."""
        return self.entries[0]

    def of_host(self, host: str | None) -> Domain | None:
        """The domain serving ``host`` (a Host header's value, port and all); None when the
        file lists none that does. Without the file, the one domain serves every host."""
        if not self.listed:
            return self.entries[0]
        if not host:
            return None
        name = (urlsplit(f"//{host}").hostname or "").rstrip(".") if _plain(host) else ""
        return next((entry for entry in self.entries if entry.serves(name)), None)

    def by_name(self, name: str) -> Domain | None:
        """The entry whose portal's host is ``name`` (only with the file)."""
        if not self.listed:
            return None
        return next((entry for entry in self.entries if entry.name == name), None)


ONE_DOMAIN = Domains((Domain(None, None, (), (), "/login"),))  # the defaults' domain


def _plain(host: str) -> bool:
    try:
        urlsplit(f"//{host}").port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        return False
    return True


class DomainsFileError(YamlFileError):
    """A domains file that cannot be used: every problem, each with its line."""


def _checked(convert: Any) -> Any:
    def check(value: str) -> str:
        try:
            return str(convert(value))
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None

    return AfterValidator(check)


Origin = Annotated[str, _checked(values.origin)]
Host = Annotated[str, _checked(values.hostname)]
Url = Annotated[str, _checked(values.login_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DomainSpec(_Model):
    """One entry as written."""

    public_url: Origin
    cookie_domain: Host | None = None
    default_redirect: Url | None = None
    allowed_redirect_domains: list[Host] | None = None
    allowed_origins: list[Origin] = Field(default_factory=list)


class DomainsSpec(_Model):
    """The whole file."""

    domains: Annotated[list[DomainSpec], Field(min_length=1, max_length=MAX_DOMAINS)]


def load_domains(path: Path, base_path: str) -> Domains:
    """The domains file at ``path``; DomainsFileError listing every problem."""
    return parse_domains(read_file(path, DomainsFileError), str(path), base_path)


def parse_domains(data: bytes | str, source: str, base_path: str) -> Domains:
    """Domains from YAML ``data`` (``source`` names it in problems)."""
    document = read_document(
        data, source, kind="domains file", needs="a domains list", error=DomainsFileError
    )
    lines = document.lines
    spec = validated(
        DomainsSpec, document, source, DomainsFileError, lambda error: _problem(error, lines)
    )
    problems = list(document.problems)
    entries = tuple(_domain(entry, base_path) for entry in spec.domains)
    problems += _overlaps(entries, lines)
    if problems:
        raise DomainsFileError(by_line(problems, source))
    return Domains(entries, listed=True)


def _domain(entry: DomainSpec, base_path: str) -> Domain:
    host = urlsplit(entry.public_url).hostname or ""
    redirect_domains = entry.allowed_redirect_domains
    if redirect_domains is None:
        redirect_domains = list(dict.fromkeys(filter(None, (entry.cookie_domain, host))))
    return Domain(
        public_url=entry.public_url,
        cookie_domain=entry.cookie_domain,
        redirect_domains=tuple(redirect_domains),
        origins=tuple(entry.allowed_origins),
        login_url=f"{entry.public_url}{base_path}/login",
        default_redirect=entry.default_redirect,
    )


def _overlaps(entries: tuple[Domain, ...], lines: Lines) -> list[tuple[int, str]]:
    """Two entries may not share a host: a browser would send one domain's cookies (of the
    same name) to the other's portal, and the host would have two entries."""
    problems = []
    for index, entry in enumerate(entries):
        for other_index, other in enumerate(entries[:index]):
            clash = next((host for host in _reach(entry) if other.serves(host)), None)
            clash = clash or next((host for host in _reach(other) if entry.serves(host)), None)
            if clash is not None:
                problems.append(
                    (lines.of(("domains", index)), f"domain {index + 1}: {clash} is also"
                     f" served by domain {other_index + 1}; each host belongs to one domain")
                )  # fmt: skip
    return problems


def _reach(entry: Domain) -> tuple[str, ...]:
    return (entry.name, *filter(None, (entry.cookie_domain,)), *entry.redirect_domains)


def _problem(error: Any, lines: Lines) -> tuple[int, str]:
    loc: Loc = tuple(error["loc"])
    line, where = lines.of(loc), ""
    if len(loc) >= 2 and loc[0] == "domains" and isinstance(loc[1], int):
        where, loc = f"domain {loc[1] + 1}: ", loc[2:]
    field = field_path(loc)
    text = message(error, mapping="public_url: ..., cookie_domain: ...", file="domains file")
    return line, f"{where}{field + ': ' if field else ''}{text}"
