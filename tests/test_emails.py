"""Email identity properties: keys are stable, total and case-blind; skeletons follow keys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway_auth.emails import email_key, email_skeleton

ASCII_LOCAL = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-"),
    min_size=1,
    max_size=20,
)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
DOMAIN = st.builds(".".join, st.lists(LABEL, min_size=2, max_size=3))
ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", ASCII_LOCAL, DOMAIN)


@given(st.text(max_size=80))
def test_any_text_has_a_key_and_a_skeleton_and_keys_are_idempotent(text: str) -> None:
    key = email_key(text)

    assert email_key(key) == key
    assert isinstance(email_skeleton(text), str)


@given(ADDRESS)
def test_a_capital_i_for_a_small_l_has_the_same_skeleton(address: str) -> None:
    local, _, domain = address.lower().partition("@")  # as shown: the local part as typed

    assert email_skeleton(f"{local.replace('l', 'I')}@{domain}") == email_skeleton(address.lower())


def test_a_sharp_s_domain_is_its_own_domain() -> None:
    assert email_key("ada@faß.de") != email_key("ada@fass.de")
    assert email_skeleton("ada@faß.de") != email_skeleton("ada@fass.de")


@given(ADDRESS)
def test_case_and_compatibility_forms_are_one_key(address: str) -> None:
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in address)

    assert email_key(address.upper()) == email_key(address)
    assert email_key(fullwidth) == email_key(address)


@given(ADDRESS)
def test_a_latin_letter_swapped_for_its_cyrillic_twin_has_the_same_skeleton(
    address: str,
) -> None:
    twins = {
        "a": "\N{CYRILLIC SMALL LETTER A}",
        "e": "\N{CYRILLIC SMALL LETTER IE}",
        "o": "\N{CYRILLIC SMALL LETTER O}",
        "c": "\N{CYRILLIC SMALL LETTER ES}",
    }
    spoofed = "".join(twins.get(c, c) for c in address.lower())

    assert email_skeleton(spoofed) == email_skeleton(address.lower())
