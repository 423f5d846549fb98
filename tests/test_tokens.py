"""Access tokens decode exactly as pinned down, and every deviation is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway_auth.config.keys import KeyRing, SigningKey, hmac_key
from gateway_auth.config.settings import Settings
from gateway_auth.errors import Unauthenticated
from gateway_auth.tokens import (
    AccessTokens,
    new_refresh_token,
    new_session_id,
    refresh_token_hash,
    refresh_token_session,
)
from tests.support.clock import present
from tests.support.credentials import HMAC_SECRET
from tests.support.records import TOKEN_CLIENT

NOW = present()


def _tokens(ring: KeyRing | None = None) -> AccessTokens:
    ring = ring or KeyRing("HS256", hmac_key(HMAC_SECRET))
    return AccessTokens(
        ring, issuer="gateway-auth", audience="gateway-auth", ttl=timedelta(minutes=15)
    )


def _claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "gateway-auth",
        "aud": "gateway-auth",
        "sub": "c1",
        "sid": "s1",
        "jti": "j1",
        "iat": int(NOW.timestamp()),
        "nbf": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 900,
        "kind": "user",
        "scope": "admin",
        "email": "ada@example.com",
        "ver": 1,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(
    claims: dict[str, Any], *, key: Any = HMAC_SECRET, alg: str = "HS256", **header: Any
) -> str:
    header = {"kid": hmac_key(HMAC_SECRET).kid, "typ": "at+jwt", **header}
    return jwt.encode(
        claims, key, algorithm=alg, headers={k: v for k, v in header.items() if v is not None}
    )


def test_issued_tokens_carry_every_claim_and_decode() -> None:
    tokens = _tokens()
    token, expires_in = tokens.issue(TOKEN_CLIENT, "s1", NOW, not_after=NOW + timedelta(days=30))

    header = jwt.get_unverified_header(token)
    claims = tokens.decode(token, NOW)

    assert expires_in == 900
    assert header == {"alg": "HS256", "kid": hmac_key(HMAC_SECRET).kid, "typ": "at+jwt"}
    assert (claims.client_id, claims.session_id, claims.kind) == ("c1", "s1", "user")
    assert claims.scopes == ("admin", "reports:read")
    assert claims.email == "ada@example.com"
    payload = jwt.decode(
        token,
        HMAC_SECRET,
        algorithms=["HS256"],
        audience="gateway-auth",
        options={"verify_exp": False},
    )
    assert set(payload) == {
        "iss",
        "aud",
        "sub",
        "client_id",
        "sid",
        "jti",
        "iat",
        "nbf",
        "exp",
        "kind",
        "scope",
        "email",
        "email_verified",
        "ver",
    }
    assert payload["client_id"] == payload["sub"]  # RFC 9068: each client is its own OAuth client
    assert payload["email_verified"] is False
    assert claims.email_verified is False


def test_a_token_never_outlives_its_session() -> None:
    token, expires_in = _tokens().issue(
        TOKEN_CLIENT, "s1", NOW, not_after=NOW + timedelta(minutes=5)
    )

    assert expires_in == 300
    assert _tokens().decode(token, NOW).expires_at == int(NOW.timestamp()) + 300


@pytest.mark.parametrize(
    "claim",
    ["iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "kind", "scope", "email", "ver"],
)
def test_every_claim_is_required(claim: str) -> None:
    token = _sign(_claims(**{claim: None}))

    with pytest.raises(Unauthenticated):
        _tokens().decode(token, NOW)


@pytest.mark.parametrize(
    ("claims", "header"),
    [
        (_claims(iss="someone-else"), {}),
        (_claims(aud="another-service"), {}),
        (_claims(aud=["gateway-auth", "other"]), {}),
        (_claims(ver=2), {}),
        (_claims(kind="admin"), {}),
        (_claims(sub=42), {}),
        (_claims(exp=True), {}),
        (_claims(scope=["admin"]), {}),
        (_claims(), {"typ": "JWT"}),
        (_claims(), {"typ": None}),
        (_claims(), {"kid": None}),
        (_claims(), {"kid": "unknown"}),
    ],
)
def test_tokens_that_deviate_are_refused(claims: dict[str, Any], header: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated):
        _tokens().decode(_sign(claims, **header), NOW)


def test_alg_none_is_refused() -> None:
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "none", "typ": "at+jwt", "kid": hmac_key(HMAC_SECRET).kid}).encode()
    ).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(_claims()).encode()).rstrip(b"=")

    with pytest.raises(Unauthenticated):
        _tokens().decode(f"{header.decode()}.{body.decode()}.", NOW)


def test_a_public_key_cannot_be_used_as_an_hmac_secret() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    public = private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = SigningKey("ed", "EdDSA", private, public)
    # PyJWT refuses to HMAC with a PEM key, so the forgery is built by hand.
    forged = _hmac_forgery(pem)

    with pytest.raises(Unauthenticated):
        _tokens(KeyRing("EdDSA", key)).decode(forged, NOW)


def _hmac_forgery(secret: bytes) -> str:
    """An HS256 token keyed with the public key's bytes, as an attacker would build it."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(json.dumps({"alg": "HS256", "kid": "ed", "typ": "at+jwt"}).encode())
    signing_input += "." + b64(json.dumps(_claims()).encode())
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_a_tampered_signature_is_refused() -> None:
    token = _sign(_claims())
    payload = base64.urlsafe_b64encode(json.dumps(_claims(scope="admin root")).encode())
    tampered = ".".join([token.split(".")[0], payload.rstrip(b"=").decode(), token.split(".")[2]])

    with pytest.raises(Unauthenticated):
        _tokens().decode(tampered, NOW)


@pytest.mark.parametrize("garbage", ["", "a", "a.b", "a.b.c", "....", "ey.ey.ey", "\x00"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(Unauthenticated):
        _tokens().decode(garbage, NOW)


def test_expiry_and_not_before_allow_30_seconds_of_leeway() -> None:
    tokens = _tokens()
    token = _sign(_claims())
    early = _sign(_claims(nbf=int(NOW.timestamp()) + 25, iat=int(NOW.timestamp()) + 25))
    future = _sign(_claims(nbf=int(NOW.timestamp()) + 60))

    tokens.decode(token, NOW + timedelta(seconds=900 + 29))
    tokens.decode(early, NOW)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.decode(token, NOW + timedelta(seconds=900 + 30))
    with pytest.raises(Unauthenticated):
        tokens.decode(future, NOW)
    assert tokens.decode(token, NOW + timedelta(days=1), allow_expired=True).session_id == "s1"


def test_a_token_verified_before_is_checked_again_for_time_and_key() -> None:
    tokens = _tokens()
    early = _sign(_claims(nbf=int(NOW.timestamp()) + 25, iat=int(NOW.timestamp()) + 25))
    assert tokens.decode(early, NOW).session_id == "s1"  # remembered from here on

    with pytest.raises(Unauthenticated):
        tokens.decode(early, NOW - timedelta(minutes=5))  # not valid yet, then
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.decode(early, NOW + timedelta(seconds=25 + 900 + 30))
    tokens.keys = KeyRing("HS256", hmac_key(b"n" * 32))  # its key retired
    with pytest.raises(Unauthenticated):
        tokens.decode(early, NOW)


def test_previous_keys_still_verify_tokens_they_signed() -> None:
    old = hmac_key(b"o" * 32)
    token = jwt.encode(
        _claims(), b"o" * 32, algorithm="HS256", headers={"kid": old.kid, "typ": "at+jwt"}
    )
    rotated = KeyRing("HS256", hmac_key(HMAC_SECRET), (hmac_key(b"o" * 32, signing=False),))

    assert _tokens(rotated).decode(token, NOW).client_id == "c1"
    with pytest.raises(Unauthenticated):
        _tokens().decode(token, NOW)


def test_refresh_tokens_are_session_bound_and_stored_hashed() -> None:
    session_id = new_session_id()
    token, stored = new_refresh_token(session_id)

    assert token.startswith(session_id + ".")
    assert len(token.split(".")[1]) == 43
    assert stored == refresh_token_hash(token) != token
    assert refresh_token_session(token) == session_id
    assert new_refresh_token(session_id)[0] != token


@pytest.mark.parametrize(
    "token",
    ["", "abc", "0" * 32, "0" * 32 + ".short", "Z" * 32 + "." + "A" * 43, "0" * 32 + ".A" * 44],
)
def test_malformed_refresh_tokens_name_no_session(token: str) -> None:
    assert refresh_token_session(token) is None


def test_the_verified_email_claim_is_a_boolean_and_may_be_absent() -> None:
    tokens = _tokens()
    verified, _ = tokens.issue(
        replace(TOKEN_CLIENT, email_verified=True), "s1", NOW, not_after=NOW + timedelta(days=30)
    )
    assert tokens.decode(verified, NOW).email_verified is True
    payload = jwt.decode(
        verified,
        HMAC_SECRET,
        algorithms=["HS256"],
        audience="gateway-auth",
        options={"verify_exp": False},
    )
    header = {"kid": hmac_key(HMAC_SECRET).kid, "typ": "at+jwt"}
    for value, expected in (("true", None), (1, None), (None, False)):
        claims = {k: v for k, v in payload.items() if k != "email_verified"}
        if value is not None:
            claims["email_verified"] = value
        token = jwt.encode(claims, HMAC_SECRET, algorithm="HS256", headers=header)
        if expected is None:  # a string or number is no boolean: the token is refused
            with pytest.raises(Unauthenticated):
                tokens.decode(token, NOW)
        else:  # issued before the claim existed: unverified
            assert tokens.decode(token, NOW).email_verified is expected


@pytest.mark.parametrize(
    ("environ", "accepted", "refused"),
    [
        # No JWT_ISSUER: the issuer follows PUBLIC_URL, and tokens from before keep working.
        (
            {"GATEWAY_AUTH_PUBLIC_URL": "https://auth.example.com"},
            ["https://auth.example.com", "gateway-auth"],
            ["https://evil.example.com"],
        ),
        # An issuer set on purpose is the only one.
        (
            {
                "GATEWAY_AUTH_PUBLIC_URL": "https://auth.example.com",
                "GATEWAY_AUTH_JWT_ISSUER": "https://id.example.com",
            },
            ["https://id.example.com"],
            ["gateway-auth", "https://auth.example.com"],
        ),
    ],
)
def test_the_default_issuer_follows_the_public_url_without_ending_sessions(
    environ: dict[str, str], accepted: list[str], refused: list[str]
) -> None:
    settings = Settings.from_env(environ)
    tokens = AccessTokens(
        KeyRing("HS256", hmac_key(HMAC_SECRET)),
        issuer=settings.issuer,
        accepted_issuers=settings.accepted_issuers,
        audience=settings.jwt_audience,
        ttl=settings.access_token_ttl,
    )
    token, _ = tokens.issue(TOKEN_CLIENT, "s1", NOW, not_after=NOW + timedelta(days=1))

    assert jwt.decode(token, options={"verify_signature": False})["iss"] == accepted[0]
    for issuer in accepted:
        assert tokens.decode(_sign(_claims(iss=issuer)), NOW).client_id == "c1"
    for issuer in refused:
        with pytest.raises(Unauthenticated):
            tokens.decode(_sign(_claims(iss=issuer)), NOW)


def test_groups_ride_in_the_token_only_when_the_client_has_some() -> None:
    tokens = _tokens()
    grouped, _ = tokens.issue(
        replace(TOKEN_CLIENT, groups=("ops", "sre")), "s1", NOW, not_after=NOW + timedelta(days=1)
    )
    plain, _ = tokens.issue(
        replace(TOKEN_CLIENT, groups=()), "s1", NOW, not_after=NOW + timedelta(days=1)
    )

    assert jwt.decode(grouped, options={"verify_signature": False})["groups"] == ["ops", "sre"]
    assert tokens.decode(grouped, NOW).groups == ("ops", "sre")
    assert "groups" not in jwt.decode(plain, options={"verify_signature": False})
    assert tokens.decode(plain, NOW).groups == ()
    for wrong in ("ops", [1], {"ops": True}):
        with pytest.raises(Unauthenticated):
            tokens.decode(_sign(_claims(groups=wrong)), NOW)
