"""Secrets kept at rest sealed with ENCRYPTION_KEY (AES-256-GCM), bound to what they belong to.

A sealed value is ``v1.<key id>.<base64url(nonce | ciphertext | tag)>``; the associated data
names the owner (``totp:<client id>``), so a sealed secret copied onto another account, or a
value from another installation, does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway_auth.errors import SecretsUnreadable
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
VERSION = "v1"
NONCE_BYTES = 12


class SecretBox:
    """Seals and opens small secrets with one key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._key = key
        self.key_id = hashlib.sha256(b"gateway-auth sealing key id:" + key).hexdigest()[:8]

    def seal(self, secret: bytes, owner: str) -> str:
        """``secret`` sealed for ``owner``, with a fresh random nonce."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, secret, owner.encode())
        return f"{VERSION}.{self.key_id}.{base64.urlsafe_b64encode(sealed).decode()}"

    def digest(self, purpose: str, message: str) -> str:
        """HMAC-SHA256 of ``message`` under a key derived from this one for ``purpose``: a
        hash that a copy of the data alone cannot be searched with."""
        key = hmac.new(self._key, f"gateway-auth {purpose}".encode(), hashlib.sha256).digest()
        return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()

    def try_open(self, sealed: str, owner: str) -> bytes | None:
        """The secret, or None when it does not open (another key or owner, altered)."""
        version, _, rest = sealed.partition(".")
        key_id, _, payload = rest.partition(".")
        if version != VERSION or key_id != self.key_id:
            return None
        try:
            raw = base64.urlsafe_b64decode(payload)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], owner.encode())
        except (ValueError, InvalidTag):
            return None

    def open(self, sealed: str, owner: str) -> bytes:
        """The secret; SecretsUnreadable (logged, never with the value) when it was sealed
        with another key or for another owner, or was altered."""
        opened = self.try_open(sealed, owner)
        if opened is not None:
            return opened
        key_id = sealed.partition(".")[2].partition(".")[0]
        log_event(
            log,
            "sealed_secret_unreadable",
            level=logging.ERROR,
            key_id=key_id[:8],
            expected_key_id=self.key_id,
            advice="ENCRYPTION_KEY differs from the one the secret was sealed with",
        )
        raise SecretsUnreadable
