"""Codes and sealed secrets on their own: RFC 6238 steps with one step of skew, recovery codes
in any spelling, and secrets that open only with their key and for their owner."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

import pyotp
import pytest

from gateway_auth.errors import SecretsUnreadable
from gateway_auth.factors import recovery, totp
from gateway_auth.factors.sealing import SecretBox
from tests.support.clock import present

KEY = base64.b64decode("q8J0f3m1Yx9b2T6kLw4NvP7sRz0aE5uH1cD8gK3jMiA=")
OTHER_KEY = base64.b64decode("Zp2R7tQ9wX4mN1bV6cL8kJ3hG5fD0sA2eY7uI9oP1qE=")


def test_a_code_is_matched_to_its_step_within_one_step_either_way() -> None:
    secret = totp.new_secret()
    now = present()
    app = pyotp.TOTP(secret)
    step = totp.step_of(now)

    assert totp.matching_step(secret, app.at(now), now) == step
    assert totp.matching_step(secret, app.at(now - timedelta(seconds=30)), now) == step - 1
    assert totp.matching_step(secret, app.at(now + timedelta(seconds=30)), now) == step + 1
    assert totp.matching_step(secret, app.at(now - timedelta(seconds=90)), now) is None
    assert totp.matching_step(secret, app.at(now + timedelta(seconds=90)), now) is None
    spaced = app.at(now)[:3] + " " + app.at(now)[3:]
    assert totp.matching_step(secret, spaced, now) == step  # as people type it


FULLWIDTH_DIGITS = "\uff11\uff12\uff13\uff14\uff15\uff16"  # isdigit() says yes to these


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", FULLWIDTH_DIGITS, "12 34 5"])
def test_anything_but_six_ascii_digits_matches_nothing(code: str) -> None:
    assert totp.matching_step(totp.new_secret(), code, present()) is None


def test_the_secret_and_its_qr_code_are_what_apps_take() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "ada@example.com", "Example & Co")

    assert len(base64.b32decode(secret)) == totp.SECRET_BYTES
    assert uri.startswith("otpauth://totp/Example%20%26%20Co:ada%40example.com?secret=")
    assert pyotp.parse_uri(uri).secret == secret
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg viewBox=")
    assert "script" not in svg
    assert secret not in svg


def test_recovery_codes_are_ten_distinct_and_match_in_any_spelling() -> None:
    codes = recovery.new_codes()
    box = SecretBox(KEY)

    def stored(client_id: str, code: str) -> str:
        return box.digest("recovery code", recovery.hashed_form(client_id, code))

    assert len(set(codes)) == recovery.COUNT == 10
    assert all(len(code) == 14 and code.count("-") == 2 for code in codes)
    code = codes[0]
    spellings = (code.upper(), code.replace("-", " "), f"  {code.replace('-', '')} ")
    assert {stored("c1", s) for s in spellings} == {stored("c1", code)}
    assert stored("c2", code) != stored("c1", code)  # bound to the client
    other = SecretBox(OTHER_KEY).digest("recovery code", recovery.hashed_form("c1", code))
    assert other != stored("c1", code)  # and to the key: a copy of the data is not enough
    assert all(recovery.looks_like_a_code(s) for s in spellings)
    assert not recovery.looks_like_a_code("123456")


def test_a_sealed_secret_opens_only_with_its_key_and_for_its_owner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    box = SecretBox(KEY)
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", "totp:c1")

    assert box.open(sealed, "totp:c1") == b"JBSWY3DPEHPK3PXP"
    assert b"JBSWY3DPEHPK3PXP" not in sealed.encode()
    assert box.seal(b"JBSWY3DPEHPK3PXP", "totp:c1") != sealed  # a fresh nonce each time
    caplog.set_level(logging.ERROR)
    # A character inside the tag (the last ones of a base64 text may hold only padding bits,
    # which a decoder ignores: altering those alters nothing).
    tampered = sealed[:-10] + ("A" if sealed[-10] != "A" else "Q") + sealed[-9:]
    attempts: list[tuple[SecretBox, str, str]] = [
        (box, sealed, "totp:c2"),
        (SecretBox(OTHER_KEY), sealed, "totp:c1"),
        (box, tampered, "totp:c1"),
        (box, "not sealed at all", "totp:c1"),
    ]
    for opener, value, owner in attempts:
        with pytest.raises(SecretsUnreadable):
            opener.open(value, owner)
    assert "sealed_secret_unreadable" in caplog.text
    assert "JBSWY3DPEHPK3PXP" not in caplog.text
