"""The ID token checks against a real provider's discovery and keys (``oidc-provider``): only
its own signature with its own keys (no ``none``, no HS256 keyed with its public key), its
issuer, our audience, the sign-in's nonce, a life that has not ended; and a key it rotated
in since, fetched once when a token names it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway_auth.errors import ExternalSignInFailed
from gateway_auth.providers.client import ProviderClient
from gateway_auth.providers.provider import Provider
from tests.support.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    OpenIdProvider,
    registered_client,
    running_provider,
)

NONCE = "the-nonce-of-this-sign-in"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    clients = [registered_client(["https://portal.example.com/providers/corp/callback"])]
    with running_provider(tmp_path_factory.mktemp("oidc"), clients) as running:
        yield running


@pytest.fixture
async def client(provider: OpenIdProvider) -> AsyncIterator[ProviderClient]:
    configured = Provider(
        id="corp",
        name="Corp SSO",
        type="oidc",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scopes=("openid",),
        issuer=provider.issuer,
    )
    talking = ProviderClient(configured, lambda: datetime.now(UTC))
    yield talking
    await talking.close()


def id_token(provider: OpenIdProvider, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "sub": "alice",
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": NONCE,
        **changes,
    }
    return provider.sign({k: v for k, v in claims.items() if v is not None})


async def test_a_genuine_id_token_gives_its_claims(
    client: ProviderClient, provider: OpenIdProvider
) -> None:
    claims = await client.id_token_claims(id_token(provider, email="a@corp.example"), NONCE)

    assert claims["sub"] == "alice"
    assert claims["email"] == "a@corp.example"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"iss": "https://evil.example"}, "another issuer"),
        ({"aud": "another-client"}, "another audience"),
        ({"aud": [CLIENT_ID, "another-client"]}, "several audiences without azp"),
        ({"aud": [CLIENT_ID, "b"], "azp": "b"}, "authorised for another party"),
        ({"nonce": "another-sign-in"}, "another nonce"),
        ({"nonce": None}, "no nonce"),
        ({"exp": 1_000_000}, "expired"),
        ({"iat": None}, "no iat"),
        ({"sub": None}, "no subject"),
    ],
)
async def test_an_id_token_that_does_not_hold_is_refused(
    client: ProviderClient, provider: OpenIdProvider, changes: dict[str, Any], why: str
) -> None:
    with pytest.raises(ExternalSignInFailed) as refused:
        await client.id_token_claims(id_token(provider, **changes), NONCE)

    assert refused.value.reason == "invalid_answer", why


async def test_an_id_token_with_no_signature_or_one_keyed_with_the_public_key_is_refused(
    client: ProviderClient, provider: OpenIdProvider
) -> None:
    genuine = id_token(provider)
    _header, payload, _ = genuine.split(".")
    unsigned = f"{_b64(json.dumps({'alg': 'none'}))}.{payload}."
    hs_header = _b64(json.dumps({"alg": "HS256", "kid": provider.key.kid}))
    public = json.dumps(provider.key.as_dict(private=False)).encode()
    mac = hmac.new(public, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest()
    typed_as_logout = provider.sign(json.loads(_unb64(payload)), typ="logout+jwt")

    for token in (unsigned, f"{hs_header}.{payload}.{_b64(mac)}", typed_as_logout):
        with pytest.raises(ExternalSignInFailed):
            await client.id_token_claims(token, NONCE)


async def test_a_key_rotated_in_since_is_fetched_once(
    client: ProviderClient, provider: OpenIdProvider
) -> None:
    before = id_token(provider)
    assert (await client.id_token_claims(before, NONCE))["sub"] == "alice"

    provider.rotate()
    after = id_token(provider)

    assert (await client.id_token_claims(after, NONCE))["sub"] == "alice"
    with pytest.raises(ExternalSignInFailed):
        await client.id_token_claims(before, NONCE)  # the old key is gone from its JWKS


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
