"""Liveness, readiness and the JWKS."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway_auth.logging import JsonFormatter
from tests.support.browser import AppClient, Browser
from tests.support.credentials import PASSWORD


async def test_healthz_and_readyz(browser: Browser) -> None:
    health = await browser.request("GET", "/healthz")
    ready = await browser.request("GET", "/readyz")
    head = await browser.request("HEAD", "/healthz")

    assert (health.status, health.json()) == (200, {"status": "ok"})
    assert (ready.status, ready.json()) == (
        200,
        {"status": "ready", "checks": {"store": "ok", "revocations": "ok"}},
    )
    assert head.status == 200


async def test_jwks_is_empty_for_hs256(browser: Browser) -> None:
    response = await browser.request("GET", "/.well-known/jwks.json")

    assert response.json() == {"keys": []}
    assert response.headers["Cache-Control"] == "public, max-age=300"


async def test_a_downstream_service_verifies_tokens_with_the_jwks(
    make_browser: Callable[..., Awaitable[Browser]], tmp_path: Path
) -> None:
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    browser = await make_browser(JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=str(key_file))
    await browser.register()
    token = (
        await browser.request(
            "POST",
            "/token",
            data={"grant_type": "password", "username": "ada@example.com", "password": PASSWORD},
        )
    ).json()["access_token"]

    jwks = jwt.PyJWKSet.from_dict((await browser.request("GET", "/.well-known/jwks.json")).json())
    key = next(k for k in jwks.keys if k.key_id == jwt.get_unverified_header(token)["kid"])
    claims = jwt.decode(
        token, key, algorithms=["EdDSA"], audience="gateway-auth", options={"verify_exp": False}
    )

    assert claims["email"] == "ada@example.com"


@pytest.mark.parametrize(
    ("env", "warned"),
    [
        ({"HOST": "0.0.0.0"}, True),  # noqa: S104 - the setting under test
        ({"HOST": "192.0.2.10"}, True),
        ({"HOST": "127.0.0.1"}, False),
        ({"HOST": "localhost"}, False),
        ({"HOST": "::1"}, False),
        ({"HOST": "0.0.0.0", "REGISTRATION": "closed"}, False),  # noqa: S104
    ],
)
async def test_open_registration_beyond_loopback_is_a_warning_at_start(
    make_client: Callable[..., Awaitable[AppClient]],
    caplog: pytest.LogCaptureFixture,
    env: dict[str, str],
    warned: bool,
) -> None:
    caplog.set_level(logging.WARNING)

    await make_client(**env)

    records = [r for r in caplog.records if r.getMessage() == "registration_open"]
    assert bool(records) is warned
    if warned:
        line = json.loads(JsonFormatter().format(records[0]))
        assert line["level"] == "warning"
        assert "anyone who can reach this server" in line["who_can_get_in"]
        assert "GATEWAY_AUTH_REGISTRATION=closed" in line["advice"]
