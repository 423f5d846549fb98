"""IDENTITY_PROVIDERS_FILE (YAML) to providers, or every problem with its line, as the rules
file is read (``config.yaml_file``).

```yaml
providers:
  - id: corp
    name: Corp SSO
    type: oidc                       # or github, google, microsoft, gitlab
    issuer: https://sso.corp.example/realms/main
    client_id: gateway-auth
    client_secret_file: /run/secrets/corp-oidc
    allowed_email_domains: [corp.example]
    groups_to_scopes: {billing-team: [billing:read]}
    create_accounts: true
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from gateway_auth.config.yaml_file import (
    Lines,
    Loc,
    Scope,
    YamlFileError,
    by_line,
    field_path,
    message,
    read_document,
    read_file,
    validated,
)
from gateway_auth.providers.presets import MULTI_TENANT, PRESETS
from gateway_auth.providers.provider import Claims, EmailTrust, Provider, ProviderType

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_DOMAIN = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_TENANT = re.compile(r"[A-Za-z0-9.-]{1,100}")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
MAX_SECRET = 4096


class ProvidersFileError(YamlFileError):
    """A providers file that cannot be used: every problem, each with its line."""


def _id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError("1-32 lower-case letters, digits or -, starting with a letter or digit")
    return value


def _https(value: str) -> str:
    parts = urlsplit(value)
    loopback = parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    if not (parts.scheme == "https" or loopback) or not parts.netloc:
        raise ValueError(f"{value!r}: an https:// URL (plain http only on localhost)")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r}: an issuer has no query or fragment")
    return value


def _domain(value: str) -> str:
    domain = value.lower().strip().rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"{value!r}: a domain such as example.com (no @, no wildcard)")
    return domain


def _text(value: str) -> str:
    if not value.strip() or len(value) > 200 or any(ord(c) < 32 for c in value):
        raise ValueError("1-200 characters on one line")
    return value.strip()


Id = Annotated[str, AfterValidator(_id)]
Url = Annotated[str, AfterValidator(_https)]
Domain = Annotated[str, AfterValidator(_domain)]
Text = Annotated[str, AfterValidator(_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ClaimsSpec(_Model):
    """Claim names other than the standard ones (an OpenID Connect provider's own)."""

    subject: Text = "sub"
    email: Text = "email"
    email_verified: Text | None = "email_verified"
    name: Text = "name"
    given_name: Text = "given_name"
    family_name: Text = "family_name"
    groups: Text | None = "groups"


class ProviderSpec(_Model):
    """One provider as written."""

    id: Id
    name: Text | None = None
    type: ProviderType
    issuer: Url | None = None
    tenant: Annotated[str, Field(pattern=_TENANT.pattern)] | None = None
    client_id: Text
    client_secret: str | None = Field(default=None, repr=False)
    client_secret_file: str | None = None
    scopes: list[Scope] | None = None
    allowed_email_domains: list[Domain] = Field(default_factory=list)
    allowed_groups: list[Text] = Field(default_factory=list)
    groups_to_scopes: dict[str, list[Scope]] = Field(default_factory=dict)
    create_accounts: bool = False
    email_verified: EmailTrust | None = None
    rp_initiated_logout: bool = False
    claims: ClaimsSpec | None = None

    @model_validator(mode="after")
    def _coherent(self) -> ProviderSpec:
        if (self.client_secret is None) == (self.client_secret_file is None):
            raise ValueError("give client_secret or client_secret_file (one of them)")
        if self.type == "oidc" and self.issuer is None:
            raise ValueError("issuer: required for type oidc (discovery starts there)")
        if self.type in ("github", "google") and self.issuer is not None:
            raise ValueError(f"issuer: {self.type} has its own; leave it out")
        if self.type == "microsoft" and self.tenant is None:
            raise ValueError("tenant: required for microsoft (a tenant id, or organizations)")
        if self.type != "microsoft" and self.tenant is not None:
            raise ValueError("tenant: only for microsoft")
        if self.claims is not None and self.type != "oidc":
            raise ValueError(f"claims: {self.type}'s claims are known; only oidc takes names")
        if self.rp_initiated_logout and self.type == "github":
            raise ValueError("rp_initiated_logout: GitHub has no end_session_endpoint")
        if self.scopes is not None and self.type != "github" and "openid" not in self.scopes:
            raise ValueError("scopes: an OpenID Connect provider needs openid among them")
        return self


class ProvidersSpec(_Model):
    """The whole file."""

    providers: list[ProviderSpec]


def load_providers(path: Path) -> tuple[Provider, ...]:
    """The providers file at ``path``; ProvidersFileError listing every problem."""
    return parse_providers(read_file(path, ProvidersFileError), str(path), path.parent)


def parse_providers(data: bytes | str, source: str, base: Path) -> tuple[Provider, ...]:
    """Providers from YAML ``data`` (``source`` names it in problems; a relative
    ``client_secret_file`` is read from ``base``)."""
    document = read_document(
        data, source, kind="providers file", needs="a providers list", error=ProvidersFileError
    )
    lines = document.lines
    spec = validated(
        ProvidersSpec, document, source, ProvidersFileError,
        lambda error: _problem(error, document.data, lines),
    )  # fmt: skip
    problems = list(document.problems)
    providers = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(spec.providers):
        line = lines.of(("providers", index))
        if entry.id in seen:
            problems.append(
                (lines.of(("providers", index, "id")), f"{_label(index, entry.id)}id: provider "
                 f"{seen[entry.id] + 1} has this id already (it is in each redirect URI)")
            )  # fmt: skip
        seen.setdefault(entry.id, index)
        secret = entry.client_secret
        if entry.client_secret_file is not None:
            secret, problem = _read_secret(base / entry.client_secret_file)
            if problem:
                where = lines.of(("providers", index, "client_secret_file"))
                problems.append((where, f"{_label(index, entry.id)}client_secret_file: {problem}"))
        providers.append(_provider(entry, secret or "", line))
    if problems:
        raise ProvidersFileError(by_line(problems, source))
    return tuple(providers)


def _provider(entry: ProviderSpec, secret: str, line: int) -> Provider:
    preset = PRESETS[entry.type]
    scopes = tuple(entry.scopes) if entry.scopes is not None else preset.scopes
    if entry.allowed_groups or entry.groups_to_scopes:
        scopes = tuple(dict.fromkeys((*scopes, *preset.group_scopes)))
    issuer = entry.issuer or preset.issuer
    if issuer is not None and entry.tenant is not None:
        issuer = issuer.replace("{tenant}", entry.tenant)
    claims = preset.claims if entry.claims is None else Claims(**entry.claims.model_dump())
    return Provider(
        id=entry.id,
        name=entry.name or preset.name,
        type=entry.type,
        client_id=entry.client_id,
        client_secret=secret,
        scopes=scopes,
        issuer=None if preset.endpoints is not None else issuer,
        endpoints=preset.endpoints,
        claims=claims,
        allowed_email_domains=tuple(entry.allowed_email_domains),
        allowed_groups=tuple(entry.allowed_groups),
        groups_to_scopes={group: tuple(s) for group, s in entry.groups_to_scopes.items()},
        create_accounts=entry.create_accounts,
        email_verified=entry.email_verified or preset.email_verified,
        rp_initiated_logout=entry.rp_initiated_logout,
        issuer_by_tenant=entry.tenant in MULTI_TENANT,
        line=line,
    )


def _read_secret(path: Path) -> tuple[str | None, str | None]:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        return None, f"{path} cannot be read ({exc.strerror})"
    except UnicodeDecodeError:
        return None, f"{path} is not UTF-8 text"
    if not text or len(text) > MAX_SECRET:
        return None, f"{path} is empty or longer than {MAX_SECRET} characters"
    return text, None


def _label(index: int, provider_id: object) -> str:
    return (
        f"provider {index + 1}"
        + (f" ({provider_id})" if isinstance(provider_id, str) else "")
        + ": "
    )


def _problem(error: Any, data: Any, lines: Lines) -> tuple[int, str]:
    loc: Loc = tuple(error["loc"])
    line, where = lines.of(loc), ""
    if len(loc) >= 2 and loc[0] == "providers" and isinstance(loc[1], int):
        entries = data.get("providers") if isinstance(data, dict) else None
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        where = _label(loc[1], entry.get("id") if isinstance(entry, dict) else None)
        loc = loc[2:]
    field = field_path(loc)
    text = message(error, mapping="id: ..., type: ..., client_id: ...", file="providers file")
    return line, f"{where}{field + ': ' if field else ''}{text}"
