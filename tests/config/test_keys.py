"""Key loading: the generated HS256 secret, PEM keys for EdDSA/ES256, previous keys and JWKS."""

from __future__ import annotations

import base64
import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gateway_auth.config.datadir import ensure_data_dir, write_private_file
from gateway_auth.config.keys import (
    ENCRYPTION_KEY_FILE,
    SECRET_FILE,
    _thumbprint,
    load_encryption_key,
    load_key_ring,
)
from gateway_auth.config.settings import Settings
from gateway_auth.errors import ConfigurationError
from gateway_auth.models import Client
from gateway_auth.tokens import AccessTokens
from tests.support.credentials import ENCRYPTION_KEY, JWT_SECRET, OTHER_JWT_SECRET, PEPPER


def _pem(key: object, *, private: bool = True) -> bytes:
    if private:
        return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _settings(tmp_path: Path, **env: str) -> Settings:
    environ = {"GATEWAY_AUTH_DATA_DIR": str(ensure_data_dir(tmp_path / "data"))}
    environ.update({f"GATEWAY_AUTH_{k}": v for k, v in env.items()})
    return Settings.from_env(environ)


def test_first_embedded_run_generates_a_private_secret_and_says_so_once_as_information(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    with caplog.at_level(logging.INFO):
        first = load_key_ring(settings)
        second = load_key_ring(settings)

    secret_file = settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_bytes()) == 43  # 32 random bytes, base64url
    assert [(r.getMessage(), r.levelname) for r in caplog.records] == [
        ("jwt_secret_generated", "INFO")
    ]
    assert first.current == second.current
    assert first.jwks() == {"keys": []}


def test_a_configured_secret_is_used_and_nothing_is_generated(tmp_path: Path) -> None:
    settings = _settings(tmp_path, JWT_SECRET=JWT_SECRET)

    ring = load_key_ring(settings)

    assert ring.current.sign_with == JWT_SECRET.encode()
    assert not (settings.data_dir / SECRET_FILE).exists()


def test_the_first_writer_wins_a_generation_race(tmp_path: Path) -> None:
    target = tmp_path / "secret"

    assert write_private_file(target, b"first")
    assert not write_private_file(target, b"second")
    assert target.read_bytes() == b"first"
    assert list(tmp_path.iterdir()) == [target]  # no temporary files left behind


def test_the_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037 appendix A.3: the Ed25519 example key and its JWK thumbprint.
    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    public = ed25519.Ed25519PublicKey.from_public_bytes(x)

    assert _thumbprint(public) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize(
    ("algorithm", "key", "members"),
    [
        ("EdDSA", ed25519.Ed25519PrivateKey.generate(), {"kty": "OKP", "crv": "Ed25519"}),
        ("ES256", ec.generate_private_key(ec.SECP256R1()), {"kty": "EC", "crv": "P-256"}),
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048), {"kty": "RSA"}),
        ("PS256", rsa.generate_private_key(public_exponent=65537, key_size=3072), {"kty": "RSA"}),
    ],
)
def test_asymmetric_keys_load_and_publish_a_jwks(
    tmp_path: Path, algorithm: str, key: object, members: dict[str, str]
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(_pem(key))

    ring = load_key_ring(
        _settings(tmp_path, JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=str(key_file))
    )

    (jwk,) = ring.jwks()["keys"]
    assert (
        jwk.items() >= {**members, "alg": algorithm, "use": "sig", "kid": ring.current.kid}.items()
    )
    assert "d" not in jwk  # never the private part


@pytest.mark.parametrize(
    ("algorithm", "key", "problem"),
    [
        ("ES256", ec.generate_private_key(ec.SECP384R1()), "P-256"),
        ("ES256", ed25519.Ed25519PrivateKey.generate(), "P-256"),
        ("EdDSA", ec.generate_private_key(ec.SECP256R1()), "Ed25519"),
        ("EdDSA", rsa.generate_private_key(public_exponent=65537, key_size=2048), "Ed25519"),
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024), "2048 to 3072"),  # noqa: S505
        ("PS256", rsa.generate_private_key(public_exponent=65537, key_size=4096), "2048 to 3072"),
        ("RS256", ec.generate_private_key(ec.SECP256R1()), "an RSA key"),
        ("RS256", rsa.generate_private_key(public_exponent=3, key_size=2048), "e = 65537"),
    ],
)
def test_a_key_of_the_wrong_type_stops_start_up(
    tmp_path: Path, algorithm: str, key: object, problem: str
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(_pem(key))

    with pytest.raises(ConfigurationError, match=problem):
        load_key_ring(
            _settings(tmp_path, JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=str(key_file))
        )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not a key", "expected one PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a usable"),
    ],
)
def test_an_unreadable_key_file_stops_start_up(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(content)

    with pytest.raises(ConfigurationError, match=problem):
        load_key_ring(
            _settings(tmp_path, JWT_ALGORITHM="EdDSA", JWT_PRIVATE_KEY_FILE=str(key_file))
        )


def test_previous_keys_verify_but_never_sign(tmp_path: Path) -> None:
    old_private = ed25519.Ed25519PrivateKey.generate()
    older_public = ed25519.Ed25519PrivateKey.generate().public_key()
    current = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(_pem(current))
    (tmp_path / "previous.pem").write_bytes(_pem(old_private) + _pem(older_public, private=False))

    ring = load_key_ring(
        _settings(
            tmp_path,
            JWT_ALGORITHM="EdDSA",
            JWT_PRIVATE_KEY_FILE=str(tmp_path / "key.pem"),
            JWT_PREVIOUS_KEYS_FILE=str(tmp_path / "previous.pem"),
        )
    )

    assert len(ring.previous) == 2
    assert all(key.sign_with is None for key in ring.previous)
    assert len(ring.jwks()["keys"]) == 3
    assert ring.find(ring.previous[0].kid) is ring.previous[0]
    assert ring.find("no-such-kid") is None


def test_previous_hs256_secrets_are_one_per_line(tmp_path: Path) -> None:
    (tmp_path / "previous").write_text(
        "# rotated 2026-10\n" + OTHER_JWT_SECRET + "\n\n" + PEPPER * 2 + "\n"
    )
    (tmp_path / "short").write_text("tooshort\n")

    ring = load_key_ring(
        _settings(
            tmp_path, JWT_SECRET=JWT_SECRET, JWT_PREVIOUS_KEYS_FILE=str(tmp_path / "previous")
        )
    )

    assert [key.verify_with for key in ring.previous] == [
        OTHER_JWT_SECRET.encode(),
        PEPPER.encode() * 2,
    ]
    with pytest.raises(ConfigurationError, match="32"):
        load_key_ring(
            _settings(
                tmp_path, JWT_SECRET=JWT_SECRET, JWT_PREVIOUS_KEYS_FILE=str(tmp_path / "short")
            )
        )


def test_a_placeholder_among_the_previous_keys_stops_start_up(tmp_path: Path) -> None:
    previous = tmp_path / "previous"
    previous.write_text(OTHER_JWT_SECRET + "\nreplace-me-with-the-old-secret-of-32-bytes\n")

    with pytest.raises(ConfigurationError, match="secret 2 looks like a placeholder"):
        load_key_ring(
            _settings(tmp_path, JWT_SECRET=JWT_SECRET, JWT_PREVIOUS_KEYS_FILE=str(previous))
        )


@pytest.mark.parametrize("algorithm", ["RS256", "PS256"])
def test_rsa_tokens_verify_downstream_from_the_jwks_and_survive_a_rotation(
    tmp_path: Path, algorithm: str
) -> None:
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab")
    (tmp_path / "old.pem").write_bytes(_pem(old))
    (tmp_path / "new.pem").write_bytes(_pem(new))
    (tmp_path / "previous.pem").write_bytes(_pem(old.public_key(), private=False))
    before = load_key_ring(
        _settings(tmp_path, JWT_ALGORITHM=algorithm, JWT_PRIVATE_KEY_FILE=str(tmp_path / "old.pem"))
    )
    after = load_key_ring(
        _settings(
            tmp_path,
            JWT_ALGORITHM=algorithm,
            JWT_PRIVATE_KEY_FILE=str(tmp_path / "new.pem"),
            JWT_PREVIOUS_KEYS_FILE=str(tmp_path / "previous.pem"),
        )
    )
    now = datetime.now(UTC)
    client = Client(
        id="c1",
        email="ada@example.com",
        kind="user",
        scopes=("read",),
        first_name=None,
        last_name=None,
        suspended=False,
        suspended_at=None,
        suspend_reason=None,
        created_at=now,
        updated_at=now,
    )
    not_after = now + timedelta(hours=1)
    old_token, _ = AccessTokens(before, issuer="i", audience="a", ttl=timedelta(minutes=15)).issue(
        client, "s1", now, not_after=not_after
    )
    tokens_now = AccessTokens(after, issuer="i", audience="a", ttl=timedelta(minutes=15))
    new_token, _ = tokens_now.issue(client, "s2", now, not_after=not_after)

    jwks = {jwk["kid"]: jwt.PyJWK(jwk) for jwk in after.jwks()["keys"]}
    for token in (old_token, new_token):
        kid = jwt.get_unverified_header(token)["kid"]
        claims = jwt.decode(
            token,
            jwks[kid].key,
            algorithms=[algorithm],
            audience="a",
            options={"verify_exp": False},
        )
        assert claims["client_id"] == "c1"
        assert tokens_now.decode(token, now).session_id in ("s1", "s2")
    assert len(jwks) == 2
    assert {jwk["alg"] for jwk in after.jwks()["keys"]} == {algorithm}


def test_the_embedded_default_generates_a_private_encryption_key_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    first = load_encryption_key(settings)
    second = load_encryption_key(settings)

    key_file = settings.data_dir / ENCRYPTION_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first is not None
    assert len(first) == 32
    assert first == second == base64.b64decode(key_file.read_bytes())


def test_a_configured_encryption_key_is_used_and_nothing_is_generated(tmp_path: Path) -> None:
    from_setting = load_encryption_key(_settings(tmp_path, ENCRYPTION_KEY=ENCRYPTION_KEY))
    key_file = tmp_path / "encryption.key"
    key_file.write_text(ENCRYPTION_KEY + "\n")
    from_file = load_encryption_key(_settings(tmp_path, ENCRYPTION_KEY_FILE=str(key_file)))
    key_file.write_text("AAAA\n")

    assert from_setting == from_file == base64.b64decode(ENCRYPTION_KEY)
    assert not (tmp_path / "data" / ENCRYPTION_KEY_FILE).exists()
    with pytest.raises(ConfigurationError, match="ENCRYPTION_KEY_FILE: must be 32 bytes"):
        load_encryption_key(_settings(tmp_path, ENCRYPTION_KEY_FILE=str(key_file)))
    assert load_encryption_key(_settings(tmp_path, SECOND_FACTOR="off")) is None
