"""One person, one address: compatibility forms are the same account, look-alikes are refused."""

from __future__ import annotations

import pytest

from tests.support.browser import Browser
from tests.support.credentials import PASSWORD

CYRILLIC_A = "\N{CYRILLIC SMALL LETTER A}"
FULLWIDTH_ADA = "\N{FULLWIDTH LATIN SMALL LETTER A}\N{FULLWIDTH LATIN SMALL LETTER D}a"


@pytest.mark.parametrize(
    "look_alike",
    [
        f"{FULLWIDTH_ADA}@example.com",  # the same address in compatibility characters
        f"{CYRILLIC_A}da@example.com",  # another script's letter that looks the same
        f"ada@ex{CYRILLIC_A}mple.com",  # an IDN homograph of the domain
        "adA@example.com",
        "ADA@EXAMPLE.COM",
        "ada@example.com.",  # (a trailing dot is refused as malformed, 422)
    ],
)
async def test_an_address_that_looks_like_a_registered_one_is_refused(
    browser: Browser, look_alike: str
) -> None:
    assert (await browser.register()).status == 201

    response = await browser.register(email=look_alike)

    assert response.status in (409, 422), response.text
    if response.status == 409:
        assert response.json()["type"] == "urn:gateway-auth:problem:email-taken"


async def test_a_capital_i_for_a_small_l_is_refused(browser: Browser) -> None:
    assert (await browser.register(email="alice@example.com")).status == 201

    response = await browser.register(email="aIice@example.com")

    assert response.status == 409


async def test_compatibility_forms_sign_in_to_the_same_account(browser: Browser) -> None:
    created = await browser.register()

    fullwidth_example = "".join(chr(ord(c) - ord("a") + 0xFF41) for c in "example")
    response = await browser.login(email=f"{FULLWIDTH_ADA.upper()}@{fullwidth_example}.com")

    assert response.status == 200
    assert response.json()["client"]["id"] == created.json()["id"]
    assert response.json()["client"]["email"] == "ada@example.com"  # as typed at registration


async def test_an_internationalised_domain_is_one_domain_in_either_spelling(
    browser: Browser,
) -> None:
    assert (await browser.register(email="ada@bücher.example")).status == 201

    again = await browser.register(email="ada@xn--bcher-kva.example")
    login = await Browser(browser.http).login(email="ada@XN--BCHER-KVA.example")

    assert again.status == 409
    assert login.status == 200


async def test_changing_to_a_look_alike_address_is_refused(browser: Browser) -> None:
    await browser.register(email="admin@example.com")
    await browser.logged_in(email="eve@example.com")

    response = await browser.request(
        "PATCH",
        "/me",
        json={"email": f"{CYRILLIC_A}dmin@example.com", "currentPassword": PASSWORD},
    )

    assert response.status == 409


@pytest.mark.parametrize("email", ["ada@exa_mple.com", "ada@-example.com", "ada@xn--zz.com"])
async def test_an_address_whose_domain_is_not_a_domain_name_is_422(
    browser: Browser, email: str
) -> None:
    response = await browser.register(email=email)

    assert response.status == 422
    assert response.json()["errors"] == [
        {"field": "email", "message": "must have a valid domain name after the @"}
    ]


@pytest.mark.parametrize(
    "email",
    [
        "ad\N{COMBINING ACUTE ACCENT}min@example.com",
        "ad\N{COMBINING LOW LINE}min@example.com",
        "a\N{COMBINING TILDE OVERLAY}dmin@example.com",
        "admin@example.com\N{COMBINING LONG SOLIDUS OVERLAY}",
    ],
)
async def test_a_stray_mark_on_a_latin_letter_is_refused(browser: Browser, email: str) -> None:
    response = await browser.register(email=email)

    assert response.status == 422
    assert "combining mark" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "email",
    [
        "jose\N{COMBINING ACUTE ACCENT}@example.com",  # composes to é
        "\N{DEVANAGARI LETTER KA}\N{DEVANAGARI VOWEL SIGN I}@example.com",  # needs its mark
    ],
)
async def test_marks_that_make_letters_are_fine(browser: Browser, email: str) -> None:
    assert (await browser.register(email=email)).status == 201
