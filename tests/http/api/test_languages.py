"""The portal in its users' languages, on every store: the language comes from ``?lang=``, then
the remembered choice, then ``Accept-Language``; every page says it in ``<html lang>`` and offers
the others; programs keep English problems; and no page shows a word that is not translated.

The last is checked with a pseudo-language: every translation wrapped in ⟦ ⟧, so a text a
person reads without the brackets was never marked for translation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from gettext import NullTranslations
from html.parser import HTMLParser

import pytest

from gateway_auth import i18n
from gateway_auth.http.portal import display, factors, pages
from tests.support.browser import AppClient, Browser

GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


def html_lang(text: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', text)
    assert match, text[:200]
    return match[1]


async def test_the_browsers_language_is_the_pages(browser: Browser) -> None:
    german = await browser.page("/login", **GERMAN)
    french = await browser.page("/login", **{"Accept-Language": "fr"})
    english = await browser.page("/login", **{"Accept-Language": "ja"})

    assert html_lang(german.text) == "de"
    assert "<h1>Anmelden</h1>" in german.text
    assert html_lang(french.text) == "fr"
    assert "<h1>Se connecter</h1>" in french.text
    assert html_lang(english.text) == "en"
    assert "<h1>Sign in</h1>" in english.text


async def test_a_chosen_language_is_remembered_over_the_browsers(browser: Browser) -> None:
    chosen = await browser.page("/login?lang=pt-BR", **GERMAN)
    later = await browser.page("/register", **GERMAN)

    cookie = chosen.cookie("__Host-gateway_auth_lang")
    assert (cookie.value, cookie["path"], cookie["samesite"]) == ("pt-BR", "/", "Lax")
    assert cookie["secure"]
    assert cookie["httponly"]
    assert html_lang(chosen.text) == html_lang(later.text) == "pt-BR"
    assert 'href="/register?lang=de"' in later.text  # every page offers the others
    assert '<span lang="pt-BR" aria-current="true">Português (Brasil)</span>' in later.text


async def test_an_unknown_language_changes_nothing(browser: Browser) -> None:
    page = await browser.page("/login?lang=xx-evil%22", **GERMAN)

    assert html_lang(page.text) == "de"
    assert not any(m.key.endswith("_lang") for m in page.set_cookies)


async def test_programs_keep_english_problems(browser: Browser) -> None:
    answer = await browser.request(
        "POST", "/login", json={"email": "nobody@example.com", "password": "wrong password"},
        headers=GERMAN,
    )  # fmt: skip

    assert answer.status == 401
    assert answer.json()["detail"] == "Invalid email or password."


async def test_form_errors_and_alerts_are_translated(browser: Browser) -> None:
    page = await browser.page("/register", **GERMAN)
    refused = await browser.submit(
        page, "/register", {"email": "not-an-address", "password": "short",
                            "passwordConfirmation": "short"}, **GERMAN,
    )  # fmt: skip

    assert refused.status == 422
    assert "Please correct" not in refused.text
    assert "must be" not in refused.text


class _Pseudo(NullTranslations):
    """Every message wrapped in ⟦ ⟧: what a person reads without them was never marked."""

    def gettext(self, message: str) -> str:
        return f"⟦{message}⟧"

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return f"⟦{msgid1 if n == 1 else msgid2}⟧"


@pytest.fixture
def pseudo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fake = _Pseudo()
    for module in (pages, factors, display, i18n):
        monkeypatch.setattr(module, "translations", lambda language: fake)
    display.device_name.cache_clear()
    yield
    display.device_name.cache_clear()


class _Texts(HTMLParser):
    """The text a person reads or hears: text nodes and the attributes read aloud."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "alt", "title", "placeholder") and value:
                self.texts.append(value)
            if name in ("data-registered", "data-failed") and value:
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(data.strip())


# What a page shows that is data, not words of ours: addresses, names, the brand, the test
# client's device, the languages' own names, numbers, dates and times (Babel's, per locale),
# separators.
_DATA = re.compile(
    r"^(?:[\w.+-]+@[\w.-]+|gateway-auth|Ada|Lovelace|Ada Lovelace|Python aiohttp \d+|"
    r"[A-Z][a-z]{2} \d{1,2}, \d{4}|\d+ \w+ ago|\d[\d\s./:,-]*|[·()|:,.\u2013\u2014-]+|"
    + "|".join(re.escape(name) for name in i18n.LANGUAGES.values())
    + r")$"
)


def unmarked(text: str) -> list[str]:
    """What is left of the page's words once every translation (⟦…⟧, which may span several
    elements, and nest) is taken out, less data."""
    parser = _Texts()
    parser.feed(text)
    rest = "\n".join(parser.texts)
    while (bare := re.sub(r"⟦[^⟦⟧]*⟧", "", rest)) != rest:
        rest = bare
    parts = (part.strip() for part in re.split(r"\s*·\s*|\n", rest))
    return [part for part in parts if part and not _DATA.match(part)]


@pytest.mark.usefixtures("pseudo")
async def test_every_page_a_person_reads_is_marked_for_translation(
    http: AppClient, browser: Browser
) -> None:
    signed_out = [
        await browser.page("/login"),
        await browser.page("/register"),
        await browser.page("/password-reset"),
        await browser.page("/password-reset/confirm?token=x"),
        await browser.page("/email-verification/confirm?token=x"),
        await browser.page("/no-such-page"),
    ]
    form = await browser.page("/login")
    refused = await browser.submit(form, "/login", {"email": "ada@example.com", "password": "x"})
    registering = await browser.page("/register")
    invalid = await browser.submit(
        registering, "/register",
        {"email": "nope", "password": "short", "passwordConfirmation": "other"},
    )  # fmt: skip
    await browser.register(firstName="Ada", lastName="Lovelace")
    await browser.signed_in_by_form()
    signed_in = [
        await browser.page("/"),
        await browser.page("/logout"),
        await browser.page("/account/two-factor"),
        await browser.page("/elevate"),
    ]

    for page in (*signed_out, refused, invalid, *signed_in):
        assert unmarked(page.text) == [], unmarked(page.text)
