"""Signing keys: the current one, verify-only previous ones, and their public JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gateway_auth.config.datadir import write_private_file
from gateway_auth.config.secret_strength import decode_key, encryption_key_problem, weakness
from gateway_auth.config.settings import PREFIX, Algorithm, Settings
from gateway_auth.errors import ConfigurationError
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
SECRET_FILE = "jwt-secret"
ENCRYPTION_KEY_FILE = "encryption-key"
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
# RSA for downstream libraries that know only RS256/PS256: 2048 bits at least (NIST SP 800-57),
# 3072 at most, so that the largest access token with its signature (384 bytes) still fits a
# 4096-byte cookie (tests/http/api/test_hostile_input.py).
RSA_BITS = (2048, 3072)
RSA_ALGORITHMS = frozenset({"RS256", "PS256"})


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key: ``sign_with`` is None for previous keys, which only verify."""

    kid: str
    algorithm: Algorithm
    sign_with: bytes | PrivateKey | None
    verify_with: bytes | PublicKey

    def public_jwk(self) -> dict[str, Any] | None:
        """The JWK a downstream service verifies with; None for shared HMAC secrets."""
        if isinstance(self.verify_with, bytes):
            return None
        return {**_jwk(self.verify_with), "kid": self.kid, "alg": self.algorithm, "use": "sig"}


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The keys tokens are signed and verified with; ``kid`` selects only among these."""

    algorithm: Algorithm
    current: SigningKey
    previous: tuple[SigningKey, ...] = ()

    def find(self, kid: object) -> SigningKey | None:
        """The configured key with this id, or None."""
        for key in (self.current, *self.previous):
            if key.kid == kid:
                return key
        return None

    def derived_secret(self, purpose: str) -> bytes:
        """A key for another use (signing form tokens), derived from the current signing key,
        so every instance sharing the signing key agrees on it without another setting."""
        material = self.current.sign_with
        if isinstance(material, PrivateKey):
            material = material.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        if material is None:  # a ring without a signing key cannot vouch for anything
            raise ValueError("the current key cannot sign")
        return hmac.new(material, f"gateway-auth {purpose}".encode(), hashlib.sha256).digest()

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JSON Web Key Set of every public key (empty for HS256)."""
        jwks = (key.public_jwk() for key in (self.current, *self.previous))
        return {"keys": [jwk for jwk in jwks if jwk is not None]}


def load_key_ring(settings: Settings) -> KeyRing:
    """Read (or, on a first embedded run, generate) the keys; ConfigurationError on bad files."""
    if settings.jwt_algorithm == "HS256":
        if settings.jwt_secret is not None:
            secret = settings.jwt_secret.reveal().encode()
        else:
            secret = _generated_secret(settings.data_dir)
        current = hmac_key(secret)
    elif settings.jwt_private_key_file is not None:
        current = _private_key(settings.jwt_private_key_file, settings.jwt_algorithm)
    else:  # Settings.from_env already refuses this; kept for settings built by hand
        raise ConfigurationError(
            [f"{PREFIX}JWT_PRIVATE_KEY_FILE: required for {settings.jwt_algorithm}"]
        )
    previous: tuple[SigningKey, ...] = ()
    if settings.jwt_previous_keys_file is not None:
        previous = _previous_keys(settings.jwt_previous_keys_file, settings.jwt_algorithm)
    return KeyRing(settings.jwt_algorithm, current, tuple(k for k in previous if k != current))


def hmac_key(secret: bytes, *, signing: bool = True) -> SigningKey:
    """An HS256 key whose id is a truncated hash of the secret, stable across restarts."""
    kid = _b64(hashlib.sha256(b"gateway-auth kid:" + secret).digest())[:16]
    return SigningKey(kid, "HS256", secret if signing else None, secret)


def _generated_secret(data_dir: Path) -> bytes:
    return _generated(
        data_dir / SECRET_FILE,
        lambda: secrets.token_urlsafe(32).encode(),
        "jwt_secret_generated",
        f"kept for the next start; set {PREFIX}JWT_SECRET to share one key across instances",
    )


def _generated(path: Path, content: Callable[[], bytes], event: str, advice: str) -> bytes:
    """Key material generated in the data directory: read when it is there, else written once
    (of processes starting together, the first writer wins) and announced in the log, as
    information: it is what the embedded default is meant to do."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigurationError([f"{path}: cannot be read ({exc.strerror})"]) from None
    try:
        created = write_private_file(path, content())
    except OSError as exc:
        raise ConfigurationError([f"{path}: cannot be written ({exc.strerror})"]) from None
    if created:
        log_event(log, event, path=str(path), advice=advice)
    return _read(path).strip()


def load_encryption_key(settings: Settings) -> bytes | None:
    """The key second-factor secrets are sealed with: ENCRYPTION_KEY, ENCRYPTION_KEY_FILE, or
    on the embedded default one generated in the data directory (kept as the signing secret
    is). None when second factors are off and there is no key."""
    if settings.encryption_key is not None:
        text = settings.encryption_key.reveal()
    elif settings.encryption_key_file is not None:
        text = _read(settings.encryption_key_file).decode(errors="replace").strip()
        if problem := encryption_key_problem(text):
            raise ConfigurationError([f"{PREFIX}ENCRYPTION_KEY_FILE: {problem}"])
    elif settings.embedded:
        generated = settings.data_dir / ENCRYPTION_KEY_FILE
        if settings.second_factor == "off" and not generated.exists():
            return None  # nothing was ever sealed here, and nothing will be
        # Off still reads it: apps set up before keep guarding their accounts.
        text = _generated_encryption_key(generated)
    elif settings.second_factor == "off":
        return None
    else:  # Settings.from_env already refuses this; kept for settings built by hand
        raise ConfigurationError([f"{PREFIX}ENCRYPTION_KEY: required when not embedded"])
    key = decode_key(text)
    if key is None or encryption_key_problem(text):
        raise ConfigurationError([f"{PREFIX}ENCRYPTION_KEY: must be 32 bytes in base64"])
    return key


def _generated_encryption_key(path: Path) -> str:
    text = _generated(
        path,
        lambda: base64.b64encode(secrets.token_bytes(32)),
        "encryption_key_generated",
        f"keep it with the database; set {PREFIX}ENCRYPTION_KEY in production",
    ).decode(errors="replace")
    if problem := encryption_key_problem(text):
        raise ConfigurationError([f"{path}: {problem}"])
    return text


def _private_key(path: Path, algorithm: Algorithm) -> SigningKey:
    blocks = _pem_blocks(path)
    if len(blocks) != 1:
        raise ConfigurationError([f"{PREFIX}JWT_PRIVATE_KEY_FILE: expected one PEM private key"])
    key = _load_pem(blocks[0], path, algorithm, private=True)
    return SigningKey(_thumbprint(key.public_key()), algorithm, key, key.public_key())


def _previous_keys(path: Path, algorithm: Algorithm) -> tuple[SigningKey, ...]:
    if algorithm == "HS256":
        lines = (line.strip() for line in _read(path).splitlines())
        secrets_ = [line for line in lines if line and not line.startswith(b"#")]
        if any(len(s) < 32 for s in secrets_):
            raise ConfigurationError([f"{PREFIX}JWT_PREVIOUS_KEYS_FILE: secrets need 32+ bytes"])
        # A previous key still verifies: a placeholder there forges tokens as well as anywhere.
        for number, secret in enumerate(secrets_, start=1):
            if weak := weakness(secret.decode(errors="replace")):
                raise ConfigurationError(
                    [f"{PREFIX}JWT_PREVIOUS_KEYS_FILE: secret {number} {weak}"]
                )
        return tuple(hmac_key(s, signing=False) for s in secrets_)
    keys = []
    for block in _pem_blocks(path):
        loaded = _load_pem(block, path, algorithm, private=b"PRIVATE" in block.split(b"\n")[0])
        public = loaded.public_key() if isinstance(loaded, PrivateKey) else loaded
        keys.append(SigningKey(_thumbprint(public), algorithm, None, public))
    return tuple(keys)


def _pem_blocks(path: Path) -> list[bytes]:
    return [m.group(0) for m in _PEM_BLOCK.finditer(_read(path))]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError([f"{path}: cannot be read ({exc.strerror})"]) from None


def _load_pem(block: bytes, path: Path, algorithm: Algorithm, *, private: bool) -> Any:
    try:
        key: Any = (
            serialization.load_pem_private_key(block, password=None)
            if private
            else serialization.load_pem_public_key(block)
        )
    except (ValueError, TypeError) as exc:
        raise ConfigurationError([f"{path}: not a usable unencrypted PEM key ({exc})"]) from None
    if not _fits(key.public_key() if private else key, algorithm):
        expected = {
            "EdDSA": "an Ed25519 key",
            "ES256": "a P-256 (prime256v1) EC key",
        }.get(algorithm, f"an RSA key of {RSA_BITS[0]} to {RSA_BITS[1]} bits with e = 65537")
        raise ConfigurationError([f"{path}: {algorithm} needs {expected}"])
    return key


def _fits(public: object, algorithm: Algorithm) -> bool:
    if algorithm == "EdDSA":
        return isinstance(public, ed25519.Ed25519PublicKey)
    if algorithm in RSA_ALGORITHMS:
        if not isinstance(public, rsa.RSAPublicKey):
            return False
        return RSA_BITS[0] <= public.key_size <= RSA_BITS[1] and public.public_numbers().e == 65537
    return isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)


def _jwk(public: PublicKey) -> dict[str, Any]:
    if isinstance(public, ed25519.Ed25519PublicKey):
        return OKPAlgorithm.to_jwk(public, as_dict=True)
    if isinstance(public, rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(public, as_dict=True)
    return ECAlgorithm.to_jwk(public, as_dict=True)


def _thumbprint(public: PublicKey) -> str:
    """RFC 7638 JWK thumbprint: the required members, sorted, hashed."""
    jwk = _jwk(public)
    members = {"OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}.get(
        jwk["kty"], ("crv", "kty", "x", "y")
    )
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
