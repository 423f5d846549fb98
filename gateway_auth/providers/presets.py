"""The presets: GitHub, Google, Microsoft and GitLab as data (endpoints or issuer, default
scopes, claim names), as each documents them. A providers-file entry of one of these types
needs only its client id and secret."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway_auth.providers.provider import Claims, EmailTrust, Endpoints, ProviderType

OIDC_SCOPES = ("openid", "email", "profile")


@dataclass(frozen=True, slots=True)
class Preset:
    """What a type of provider brings before the file says anything."""

    name: str
    scopes: tuple[str, ...]
    issuer: str | None = None  # "{tenant}": Microsoft's tenant; GitLab's may be self-hosted
    endpoints: Endpoints | None = None
    claims: Claims = field(default_factory=Claims)
    email_verified: EmailTrust = "claim"
    group_scopes: tuple[str, ...] = ()  # added to scopes when groups are asked for


PRESETS: dict[ProviderType, Preset] = {
    "oidc": Preset("OpenID Connect", OIDC_SCOPES),
    # https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
    "github": Preset(
        "GitHub",
        ("read:user", "user:email"),
        endpoints=Endpoints(
            authorization="https://github.com/login/oauth/authorize",
            token="https://github.com/login/oauth/access_token",  # noqa: S106 - a URL
            userinfo="https://api.github.com/user",
            emails="https://api.github.com/user/emails",
            organisations="https://api.github.com/user/orgs",
            teams="https://api.github.com/user/teams",
        ),
        claims=Claims(subject="id", email_verified=None, groups=None),
        group_scopes=("read:org",),
    ),
    # https://developers.google.com/identity/openid-connect/openid-connect
    "google": Preset(
        "Google", OIDC_SCOPES, issuer="https://accounts.google.com", claims=Claims(groups=None)
    ),
    # https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference: ``email``
    # is not proved unless the optional claim xms_edov says its domain's owner vouches for it.
    "microsoft": Preset(
        "Microsoft",
        OIDC_SCOPES,
        issuer="https://login.microsoftonline.com/{tenant}/v2.0",
        claims=Claims(email_verified="xms_edov", groups="groups"),
    ),
    # https://docs.gitlab.com/integration/openid_connect_provider/
    "gitlab": Preset(
        "GitLab",
        OIDC_SCOPES,
        issuer="https://gitlab.com",
        claims=Claims(groups="groups_direct"),
    ),
}
MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
