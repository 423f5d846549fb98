"""What a provider's discovery document and API pages must be before they are believed, with
the documents shaped as Microsoft and GitHub publish them. Those services cannot run here, so
their answers come through httpx's transport hook (``ProviderClient(transport=...)``), the
one place the client lets a test stand in for the network; the OpenID flows themselves are
tested against the real ``oidc-provider`` (test_client.py, tests/http/api)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from gateway_auth.errors import ExternalSignInFailed
from gateway_auth.providers.client import ProviderClient
from gateway_auth.providers.file import parse_providers
from gateway_auth.providers.provider import Provider

MICROSOFT = "https://login.microsoftonline.com"
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


def configured(kind: str, **extra: str) -> Provider:
    lines = [f"  - id: {kind}", f"    type: {kind}", "    client_id: a", "    client_secret: b"]
    lines += [f"    {name}: {value}" for name, value in extra.items()]
    (provider,) = parse_providers("providers:\n" + "\n".join(lines) + "\n", "p.yaml", Path())
    return provider


def answering(
    documents: dict[str, Any], asked: list[str] | None = None
) -> Callable[[httpx2.Request], httpx2.Response]:
    """A network that knows these URLs (a list answers as pages, each with its Link header)."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        url = str(request.url)
        if asked is not None:
            asked.append(url)
        found = documents.get(url)
        if found is None:
            return httpx2.Response(404, json={"error": "not_found"})
        if isinstance(found, tuple):
            body, link = found
            return httpx2.Response(200, json=body, headers={"Link": link} if link else {})
        return httpx2.Response(200, json=found)

    return answer


def microsoft_discovery(tenant: str, **changes: Any) -> dict[str, Any]:
    """https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration, as
    Entra ID answers for the multi-tenant ``common`` and ``organizations`` endpoints."""
    base = f"{MICROSOFT}/{tenant}"
    return {
        "issuer": f"{MICROSOFT}/{{tenantid}}/v2.0",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        **changes,
    }


def client_for(provider: Provider, documents: dict[str, Any], **kw: Any) -> ProviderClient:
    transport = httpx2.MockTransport(answering(documents, **kw))
    return ProviderClient(provider, lambda: datetime.now(UTC), transport=transport)


async def test_microsoft_multi_tenant_discovery_is_believed_and_names_each_tenant() -> None:
    provider = configured("microsoft", tenant="common")
    url = f"{MICROSOFT}/common/v2.0/.well-known/openid-configuration"
    client = client_for(provider, {url: microsoft_discovery("common")})

    metadata = await client.metadata()

    assert metadata["token_endpoint"] == f"{MICROSOFT}/common/oauth2/v2.0/token"
    assert await client.is_issuer(f"{MICROSOFT}/{TENANT}/v2.0")
    assert not await client.is_issuer(f"{MICROSOFT}/{TENANT}/v2.0/extra")
    assert not await client.is_issuer(f"https://evil.example/{TENANT}/v2.0")
    await client.close()


async def test_a_single_tenant_provider_does_not_take_the_template() -> None:
    provider = configured("microsoft", tenant=TENANT)
    url = f"{MICROSOFT}/{TENANT}/v2.0/.well-known/openid-configuration"
    client = client_for(provider, {url: microsoft_discovery(TENANT)})

    with pytest.raises(ExternalSignInFailed) as refused:
        await client.metadata()

    assert refused.value.reason == "unreachable"
    assert "discovery names issuer" in refused.value.detail
    await client.close()


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"token_endpoint": "http://login.example/token"}, "token_endpoint is not an https"),
        ({"jwks_uri": "http://login.example/keys"}, "jwks_uri is not an https"),
        ({"end_session_endpoint": "ftp://login.example/out"}, "end_session_endpoint is not"),
        ({"id_token_signing_alg_values_supported": ["HS256"]}, "no signing algorithm"),
        ({"id_token_signing_alg_values_supported": []}, "no signing algorithm"),
        ({"id_token_signing_alg_values_supported": ["none"]}, "no signing algorithm"),
    ],
)
async def test_discovery_without_tls_or_an_algorithm_we_accept_is_refused(
    changes: dict[str, Any], why: str
) -> None:
    provider = configured("microsoft", tenant=TENANT)
    url = f"{MICROSOFT}/{TENANT}/v2.0/.well-known/openid-configuration"
    document = microsoft_discovery(TENANT, issuer=f"{MICROSOFT}/{TENANT}/v2.0", **changes)
    client = client_for(provider, {url: document})

    with pytest.raises(ExternalSignInFailed) as refused:
        await client.metadata()

    assert refused.value.reason == "unreachable"
    assert why in refused.value.detail
    await client.close()


async def test_a_provider_that_failed_is_not_asked_again_at_once() -> None:
    provider = configured("microsoft", tenant=TENANT)
    asked: list[str] = []
    client = client_for(provider, {}, asked=asked)  # discovery answers 404

    for _ in range(3):
        with pytest.raises(ExternalSignInFailed):
            await client.metadata()

    assert len(asked) == 1
    await client.close()


async def test_github_organisations_and_teams_are_read_page_after_page() -> None:
    provider = configured("github", allowed_groups="[org-3]")
    orgs = "https://api.github.com/user/orgs"
    teams = "https://api.github.com/user/teams"
    documents: dict[str, Any] = {
        "https://github.com/login/oauth/access_token": {
            "access_token": "gho_x", "token_type": "bearer", "scope": "read:user,user:email",
        },
        "https://api.github.com/user": {"login": "octocat", "id": 583231, "name": "Octocat"},
        "https://api.github.com/user/emails": [
            {"email": "octocat@github.com", "primary": True, "verified": True},
        ],
        f"{orgs}?per_page=100": (
            [{"login": "org-1"}, {"login": "org-2"}],
            f'<{orgs}?per_page=100&page=2>; rel="next", <{orgs}?per_page=100&page=2>; rel="last"',
        ),
        f"{orgs}?per_page=100&page=2": ([{"login": "org-3"}], None),
        f"{teams}?per_page=100": (
            [{"slug": "core", "organization": {"login": "org-1"}}],
            '<https://evil.example/teams?page=2>; rel="next"',  # another host: not followed
        ),
    }  # fmt: skip
    asked: list[str] = []
    client = client_for(provider, documents, asked=asked)

    profile = await client.finish(
        "the-code", "https://portal.example.com/cb", verifier="v" * 43, nonce=""
    )

    assert profile.groups == ("org-1", "org-2", "org-3", "org-1/core")
    assert not any("evil.example" in url for url in asked)
    assert profile.subject == "583231"
    await client.close()
