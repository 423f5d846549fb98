"""A WebAuthn authenticator and browser in Python, for tests over HTTP: it answers the options a
portal page carries exactly as Chromium's ``PublicKeyCredential.toJSON()`` would, with an
ES256 key per credential, ``none`` attestation, and a signature counter the test may turn back.

It follows WebAuthn Level 3 (authenticator data, attested credential data, client data) and
signs with pyca/cryptography; the server checks it with py_webauthn as it checks a browser.
Chromium's own virtual authenticator serves the browser tests (tests/browser).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

_UP, _UV, _BE, _BS, _AT = 0x01, 0x04, 0x08, 0x10, 0x40
_OPTIONS = re.compile(r'data-passkey="([a-z-]+)" data-options="([^"]+)"')
_CEREMONY = re.compile(r'name="ceremony" value="([^"]+)"')


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Ceremony:
    """A passkey form found on a page: its purpose, options, and the ceremony's token."""

    purpose: str
    options: dict[str, Any]
    token: str


def ceremony_on(page_text: str) -> Ceremony:
    """The (first) passkey form on a portal page."""
    found = _OPTIONS.search(page_text)
    token = _CEREMONY.search(page_text)
    assert found, "no passkey form on the page"
    assert token, "no ceremony token on the page"
    return Ceremony(found[1], json.loads(html.unescape(found[2])), html.unescape(token[1]))


@dataclass
class Credential:
    """One discoverable credential the authenticator holds."""

    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    counter: int = 0


@dataclass
class SoftAuthenticator:
    """A platform authenticator with user verification, seen through a browser at ``origin``.

    ``counting`` False makes it keep no counter (always 0), as many synced passkeys do;
    ``synced`` marks its credentials backup eligible and backed up (RFC 8176 ``swk``)."""

    origin: str
    counting: bool = True
    synced: bool = False
    id_length: int = 16  # bytes of each new credential's id (at most 1023 are allowed)
    credentials: list[Credential] = field(default_factory=list)

    def create(self, options: dict[str, Any], *, origin: str | None = None) -> str:
        """``navigator.credentials.create()``: a new credential for the options' RP and user."""
        rp_id = options["rp"]["id"]
        excluded = {unb64(c["id"]) for c in options.get("excludeCredentials", [])}
        assert not excluded & {c.id for c in self.credentials if c.rp_id == rp_id}
        credential = Credential(
            secrets.token_bytes(self.id_length),
            ec.generate_private_key(ec.SECP256R1()),
            rp_id,
            unb64(options["user"]["id"]),
            1 if self.counting else 0,
        )
        self.credentials.append(credential)
        numbers = credential.key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        attested = bytes(16) + struct.pack(">H", len(credential.id)) + credential.id + cose
        auth_data = self._auth_data(rp_id, credential.counter, _AT | _UV) + attested
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return _as_json(
            credential,
            clientDataJSON=b64(client_data),
            attestationObject=b64(attestation),
            transports=["internal"],
        )

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        counter: int | None = None,
        credential: Credential | None = None,
        verified: bool = True,
    ) -> str:
        """``navigator.credentials.get()``: an assertion by the first credential the options
        allow (or ``credential``); the keywords forge what a hostile page would."""
        allowed = {unb64(c["id"]) for c in options.get("allowCredentials", [])}
        if credential is None:
            usable = [c for c in self.credentials if c.rp_id == options["rpId"]]
            credential = next(c for c in usable if not allowed or c.id in allowed)
        if counter is not None:
            credential.counter = counter
        elif self.counting:
            credential.counter += 1
        flags = _UV if verified else 0
        auth_data = self._auth_data(rp_id or credential.rp_id, credential.counter, flags)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return _as_json(
            credential,
            clientDataJSON=b64(client_data),
            authenticatorData=b64(auth_data),
            signature=b64(signature),
            userHandle=b64(credential.user_handle),
        )

    def _auth_data(self, rp_id: str, counter: int, flags: int) -> bytes:
        flags |= _UP | ((_BE | _BS) if self.synced else 0)
        rp_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", counter)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()


def _as_json(credential: Credential, **response: object) -> str:
    """What ``PublicKeyCredential.toJSON()`` gives for an answer of ``credential``."""
    return json.dumps(
        {
            "id": b64(credential.id),
            "rawId": b64(credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }
    )
