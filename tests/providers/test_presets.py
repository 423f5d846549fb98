"""The presets' claim mapping, against answers shaped as each provider documents them: who
the person is (a stable subject, never a login or address), their address and whether the
provider vouches for it, their names, and their groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway_auth.providers.claims import github_profile, profile_of
from gateway_auth.providers.file import parse_providers
from gateway_auth.providers.provider import Provider, refusal


def preset(kind: str, **extra: str) -> Provider:
    lines = [f"  - id: {kind}", f"    type: {kind}", "    client_id: a", "    client_secret: b"]
    lines += [f"    {name}: {value}" for name, value in extra.items()]
    (provider,) = parse_providers("providers:\n" + "\n".join(lines) + "\n", "p.yaml", Path())
    return provider


# https://docs.github.com/en/rest/users/users#get-the-authenticated-user and /user/emails,
# /user/orgs, /user/teams
GITHUB_USER = {"login": "octocat", "id": 583231, "name": "The Octocat", "email": None}
GITHUB_EMAILS = [
    {"email": "octocat@old.example", "primary": False, "verified": True, "visibility": None},
    {"email": "octocat@github.com", "primary": True, "verified": True, "visibility": "public"},
]
GITHUB_ORGS = [{"login": "github", "id": 1}]
GITHUB_TEAMS = [{"slug": "justice-league", "organization": {"login": "github"}}]


def test_github_the_numeric_id_the_primary_verified_address_organisations_and_teams() -> None:
    profile = github_profile(GITHUB_USER, GITHUB_EMAILS, GITHUB_ORGS, GITHUB_TEAMS)

    assert profile.subject == "583231"
    assert profile.email == "octocat@github.com"
    assert profile.email_verified
    assert profile.first_name == "The Octocat"
    assert profile.groups == ("github", "github/justice-league")


def test_github_an_unverified_primary_address_is_not_vouched_for() -> None:
    emails = [{"email": "new@example.com", "primary": True, "verified": False}]

    profile = github_profile({**GITHUB_USER, "name": None}, emails, [], [])

    assert profile.email == "new@example.com"
    assert not profile.email_verified
    assert profile.first_name == "octocat"  # the login when there is no name
    gated = preset("github", allowed_email_domains="[example.com]")
    assert refusal(gated, profile) == "email_unverified"


# https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload
GOOGLE = {
    "iss": "https://accounts.google.com",
    "azp": "1234987819200.apps.googleusercontent.com",
    "aud": "1234987819200.apps.googleusercontent.com",
    "sub": "10769150350006150715113082367",
    "hd": "example.com",
    "email": "jsmith@example.com",
    "email_verified": True,
    "name": "Jane Smith",
    "given_name": "Jane",
    "family_name": "Smith",
    "iat": 1353601026,
    "exp": 1353604926,
}


def test_google_the_subject_the_verified_address_and_the_names() -> None:
    profile = profile_of(preset("google"), GOOGLE)

    assert profile.subject == "10769150350006150715113082367"
    assert profile.email == "jsmith@example.com"
    assert profile.email_verified
    assert (profile.first_name, profile.last_name) == ("Jane", "Smith")
    assert profile.groups == ()
    assert not profile_of(preset("google"), {**GOOGLE, "email_verified": False}).email_verified


# https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
ENTRA: dict[str, Any] = {
    "aud": "6cb04018-a3f5-46a7-b995-940c78f5aef3",
    "iss": "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0",
    "tid": "b9419818-09af-49c2-b0c3-653adc1f376e",
    "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
    "oid": "00000000-0000-0000-66f3-3332eca7ea81",
    "name": "Abe Lincoln",
    "preferred_username": "AbeLi@microsoft.com",
    "email": "AbeLi@microsoft.com",
    "groups": ["8d4b7a5c-0000-0000-0000-000000000001"],
}


def test_microsoft_the_address_counts_only_when_its_domain_owner_vouches_for_it() -> None:
    entra = preset("microsoft", tenant="organizations")

    plain = profile_of(entra, ENTRA)
    vouched = profile_of(entra, {**ENTRA, "xms_edov": True})

    assert plain.subject == ENTRA["sub"]
    assert plain.email == "AbeLi@microsoft.com"
    assert not plain.email_verified  # the email claim is whatever the tenant typed in
    assert vouched.email_verified
    assert plain.first_name == "Abe Lincoln"
    assert plain.groups == ("8d4b7a5c-0000-0000-0000-000000000001",)


# https://docs.gitlab.com/integration/openid_connect_provider/#shared-information
GITLAB = {
    "sub": "1",
    "name": "Administrator",
    "nickname": "root",
    "email": "admin@example.com",
    "email_verified": True,
    "groups_direct": ["gitlab-org", "gitlab-org/security"],
}


def test_gitlab_the_subject_the_address_and_the_direct_groups() -> None:
    profile = profile_of(preset("gitlab"), GITLAB)

    assert profile.subject == "1"
    assert profile.email == "admin@example.com"
    assert profile.email_verified
    assert profile.groups == ("gitlab-org", "gitlab-org/security")
    allowed = preset("gitlab", allowed_groups="[gitlab-org/security]")
    assert refusal(allowed, profile) is None
    assert refusal(allowed, profile_of(allowed, {**GITLAB, "groups_direct": []})) == "group"
