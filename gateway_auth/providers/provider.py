"""A provider as configured, what it says about a person, and whether its policy admits them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ProviderType = Literal["oidc", "github", "google", "microsoft", "gitlab"]
PROVIDER_TYPES: tuple[ProviderType, ...] = ("oidc", "github", "google", "microsoft", "gitlab")
EmailTrust = Literal["claim", "always", "never"]


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a provider without OpenID Connect discovery (GitHub) answers."""

    authorization: str
    token: str
    userinfo: str
    emails: str | None = None  # GitHub: the addresses, with which is primary and verified
    organisations: str | None = None  # GitHub: the organisations the person belongs to
    teams: str | None = None  # GitHub: the teams, each with its organisation


@dataclass(frozen=True, slots=True)
class Claims:
    """Which claims (of the ID token, then userinfo) say what."""

    subject: str = "sub"
    email: str = "email"
    email_verified: str | None = "email_verified"
    name: str = "name"
    given_name: str = "given_name"
    family_name: str = "family_name"
    groups: str | None = "groups"


@dataclass(frozen=True, slots=True)
class Provider:
    """One entry of the providers file, with its preset's data filled in."""

    id: str
    name: str
    type: ProviderType
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    issuer: str | None = None  # OpenID Connect: discovery at issuer/.well-known/...
    endpoints: Endpoints | None = None  # OAuth without discovery (GitHub)
    claims: Claims = field(default_factory=Claims)
    allowed_email_domains: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    groups_to_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    create_accounts: bool = False
    email_verified: EmailTrust = "claim"
    rp_initiated_logout: bool = False
    # Microsoft's multi-tenant endpoints issue tokens whose issuer names the person's tenant.
    issuer_by_tenant: bool = False
    line: int = 0

    @property
    def managed_scopes(self) -> frozenset[str]:
        """The scopes this provider sets on the accounts that sign in through it."""
        return frozenset(scope for scopes in self.groups_to_scopes.values() for scope in scopes)

    @property
    def admits_by_policy(self) -> bool:
        """Whether it names who may come in (a domain or group list), so that it may create
        accounts even where registration is closed."""
        return bool(self.allowed_email_domains or self.allowed_groups)

    def scopes_for(self, groups: tuple[str, ...]) -> tuple[str, ...]:
        """The scopes its groups map to, in the file's order."""
        held = set(groups)
        found = (
            s for group, scopes in self.groups_to_scopes.items() if group in held for s in scopes
        )
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class Profile:
    """What a provider vouched for at one sign-in."""

    subject: str
    email: str
    email_verified: bool
    first_name: str | None = None
    last_name: str | None = None
    groups: tuple[str, ...] = ()
    provider_sid: str | None = None  # the provider's session (``sid``), for back-channel logout
    id_token: str | None = field(default=None, repr=False)  # for RP-initiated logout's hint


Refusal = Literal["email_missing", "email_unverified", "domain", "group"]


def refusal(provider: Provider, profile: Profile) -> Refusal | None:
    """Why the provider's policy keeps this person out; None when it admits them. Every
    sign-in through it is checked, not only the first."""
    if not profile.email:
        return "email_missing"
    if provider.allowed_email_domains:
        if not profile.email_verified:
            return "email_unverified"  # an unproved address proves no domain
        domain = profile.email.rpartition("@")[2].lower()
        if domain not in provider.allowed_email_domains:
            return "domain"
    if provider.allowed_groups and not set(profile.groups) & set(provider.allowed_groups):
        return "group"
    return None
