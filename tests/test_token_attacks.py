"""The JWT attack catalogue (RFC 8725) against AccessTokens, and one spelling per token.

Every attack here is built by hand or with PyJWT as an attacker would, then decoded with the
ring the service uses; each must end in Unauthenticated and nothing else.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_auth.config.keys import KeyRing, SigningKey, hmac_key
from gateway_auth.errors import Unauthenticated
from gateway_auth.tokens import MAX_ACCESS_TOKEN_LENGTH, AccessTokens, is_canonical_jws
from tests.support.clock import present
from tests.support.credentials import HMAC_SECRET
from tests.support.records import TOKEN_CLIENT

NOW = present()
ED_PRIVATE = ed25519.Ed25519PrivateKey.generate()
RINGS = {
    "HS256": KeyRing("HS256", hmac_key(HMAC_SECRET)),
    "EdDSA": KeyRing("EdDSA", SigningKey("ed", "EdDSA", ED_PRIVATE, ED_PRIVATE.public_key())),
}
_ES_PRIVATE = ec.generate_private_key(ec.SECP256R1())
RINGS["ES256"] = KeyRing("ES256", SigningKey("es", "ES256", _ES_PRIVATE, _ES_PRIVATE.public_key()))
# Characters a mutation may bring in: the base64url alphabet, padding, separators and oddities.
MUTATIONS = st.sampled_from(
    list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/ \t\x00~%é")
)


def _tokens(alg: str = "HS256") -> AccessTokens:
    return AccessTokens(
        RINGS[alg], issuer="gateway-auth", audience="gateway-auth", ttl=timedelta(minutes=15)
    )


def _issued(alg: str = "HS256") -> str:
    return _tokens(alg).issue(TOKEN_CLIENT, "s1", NOW, not_after=NOW + timedelta(days=1))[0]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _refused(token: str, alg: str = "HS256") -> bool:
    try:
        _tokens(alg).decode(token, NOW)
    except Unauthenticated:
        return True
    return False


def _with_header(token: str, alg: str = "HS256", **changes: Any) -> str:
    """``token`` re-signed with the right key but a changed header (None removes a field)."""
    header = jwt.get_unverified_header(token)
    header.update(changes)
    header = {name: value for name, value in header.items() if value is not None}
    payload = jwt.decode(token, options={"verify_signature": False})
    key = RINGS[alg].current
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(signing_input.encode(), key.sign_with)
    return f"{signing_input}.{_b64(signature)}"


@pytest.mark.parametrize("alg", sorted(RINGS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_single_changed_added_or_removed_character_is_refused(
    alg: str, data: st.DataObject
) -> None:
    token = _issued(alg)
    at = data.draw(st.integers(0, len(token)), label="position")
    edit = data.draw(st.sampled_from(["change", "add", "remove"]), label="edit")
    char = data.draw(MUTATIONS, label="char")
    if edit == "change" and at < len(token):
        mutated = token[:at] + char + token[at + 1 :]
    elif edit == "remove" and at < len(token):
        mutated = token[:at] + token[at + 1 :]
    else:
        mutated = token[:at] + char + token[at:]

    if mutated != token:
        assert _refused(mutated, alg)


@pytest.mark.parametrize("alg", sorted(RINGS))
def test_the_issued_spelling_is_accepted(alg: str) -> None:
    token = _issued(alg)

    assert is_canonical_jws(token)
    assert not _refused(token, alg)


@pytest.mark.parametrize(
    "respell",
    [
        lambda t: t + "=",
        lambda t: t + "==",
        lambda t: t.replace(".", "=.", 1),
        lambda t: t.replace("-", "+").replace("_", "/"),
        lambda t: " " + t,
        lambda t: t + "\n",
    ],
    ids=["padding", "double-padding", "padded-header", "standard-alphabet", "space", "newline"],
)
def test_another_spelling_of_a_valid_token_is_refused(respell: Any) -> None:
    token = _issued()
    respelled = respell(token)
    if respelled == token:  # this token holds no - or _ to swap
        respelled = token + "="

    assert _refused(respelled)


def test_unused_bits_in_the_last_character_are_refused() -> None:
    # HS256's 32-byte signature is 43 characters: its last carries 2 unused bits, which
    # decoders ignore. Setting one gives a second spelling that decodes to the same bytes.
    token = _issued()
    head, signature = token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    twin = f"{head}.{signature[:-1]}{alphabet[last | 1]}"
    assert base64.urlsafe_b64decode(twin.rsplit(".", 1)[1] + "=") == base64.urlsafe_b64decode(
        signature + "="
    )

    assert _refused(twin)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused_in_any_case(alg: str) -> None:
    header = {"alg": alg, "kid": hmac_key(HMAC_SECRET).kid, "typ": "at+jwt"}
    payload = jwt.decode(_issued(), options={"verify_signature": False})
    unsigned = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"

    assert _refused(unsigned + ".")
    assert _refused(unsigned + "." + _b64(b"x" * 32))


@pytest.mark.parametrize("signed_as", ["HS256", "HS384", "HS512"])
def test_algorithm_confusion_with_a_public_key_as_hmac_secret_is_refused(signed_as: str) -> None:
    for alg in ("EdDSA", "ES256"):
        public = RINGS[alg].current.verify_with
        pem = public.public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": signed_as, "kid": RINGS[alg].current.kid, "typ": "at+jwt"}
        payload = jwt.decode(_issued(alg), options={"verify_signature": False})
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        hmac_alg = jwt.get_algorithm_by_name(signed_as)
        signature = hmac_alg.sign(signing_input.encode(), pem)

        assert _refused(f"{signing_input}.{_b64(signature)}", alg)


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "' OR '1'='1",
        "k" * 5000,
        "",
        0,
        None,
        ["k"],
        {"kid": "k"},
        "\x00",
    ],
)
def test_a_hostile_kid_is_refused(kid: Any) -> None:
    token = _with_header(_issued(), kid=kid)

    assert _refused(token)


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"jwk": {"kty": "oct", "k": _b64(HMAC_SECRET)}},
        {"x5c": ["MIIB"]},
        {"crit": ["exp"]},
        {"crit": ["b64"], "b64": False},
        {"cty": "JWT"},
        {"typ": "JWT"},
        {"typ": "at+JWT "},
        {"typ": None},
    ],
)
def test_headers_we_never_issue_are_refused_even_when_correctly_signed(
    header: dict[str, Any],
) -> None:
    token = _with_header(_issued(), **header)

    assert _refused(token)


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "someone-else"},
        {"aud": ["gateway-auth", "other"]},
        {"iss": "https://attacker.example"},
        {"iss": None},
    ],
)
def test_wrong_audience_or_issuer_is_refused(claims: dict[str, Any]) -> None:
    payload = jwt.decode(_issued(), options={"verify_signature": False}) | claims
    payload = {name: value for name, value in payload.items() if value is not None}
    token = jwt.encode(
        payload,
        HMAC_SECRET,
        algorithm="HS256",
        headers={"kid": hmac_key(HMAC_SECRET).kid, "typ": "at+jwt"},
    )

    assert _refused(token)


def test_time_boundaries_hold_to_the_second() -> None:
    tokens = _tokens()
    token = _issued()
    expires = tokens.decode(token, NOW).expires_at
    last_good = NOW + timedelta(seconds=expires - NOW.timestamp() + 29)

    assert not _refused_at(tokens, token, last_good)
    assert _refused_at(tokens, token, last_good + timedelta(seconds=1))
    assert not _refused_at(tokens, token, NOW - timedelta(seconds=30))  # issued "now" + leeway
    assert _refused_at(tokens, token, NOW - timedelta(seconds=32))


def _refused_at(tokens: AccessTokens, token: str, moment: Any) -> bool:
    try:
        tokens.decode(token, moment)
    except Unauthenticated:
        return True
    return False


@pytest.mark.parametrize(
    "token",
    [
        "a" * (MAX_ACCESS_TOKEN_LENGTH + 1),
        "e" * 10_000_000,
        "eyJ" + "." * 3,
        "..",
        "a.b.c.d",
        "a.b.c.d.e",  # JWE's five parts
        "ey\u0430.b.c",  # a Cyrillic letter
    ],
    ids=["just-too-long", "ten-megabytes", "dots", "empty-parts", "four-parts", "jwe", "cyrillic"],
)
def test_malformed_and_oversized_tokens_are_refused(token: str) -> None:
    assert _refused(token)


def test_an_es256_signature_with_s_flipped_is_refused() -> None:
    # (r, n - s) verifies as well as (r, s): a second spelling of one token.
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    for _ in range(8):  # each issued token is low-s, whatever ECDSA's randomness gave
        token = _issued("ES256")
        head, signature = token.rsplit(".", 1)
        raw = base64.urlsafe_b64decode(signature + "==")
        s = int.from_bytes(raw[32:], "big")
        flipped = raw[:32] + (order - s).to_bytes(32, "big")

        assert s <= order // 2
        assert not _refused(token, "ES256")
        assert _refused(f"{head}.{_b64(flipped)}", "ES256")
