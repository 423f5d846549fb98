"""Each language in Chromium, through nginx (the pages are gateway-auth's own whatever the
gateway): the sign-in, registration, account, reset and error pages with no English left but
names, clean for axe-core, and fit for a phone; the browser's language chosen, the switcher's
choice kept."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Browser, BrowserContext, Page, expect

from gateway_auth import i18n
from gateway_auth.i18n import LANGUAGES, catalogue_path
from tests.support.chromium import Site, check_page
from tests.support.credentials import PASSWORD
from tests.support.project import ROOT

TRANSLATED = [code for code in LANGUAGES if code != i18n.DEFAULT]
pytestmark = pytest.mark.parametrize("site", ["nginx"], indirect=True)


def english_left(language: str) -> list[str]:
    """The English messages of two words or more that this language translates otherwise:
    one of them on a page means a word was not translated."""
    with (ROOT / "gateway_auth" / catalogue_path(language)).open("rb") as po:
        catalogue = read_po(po)
    phrases = []
    for message in catalogue:
        english = str(message.id if isinstance(message.id, str) else message.id[0])
        forms = message.string
        translated = str(forms if isinstance(forms, str) else (forms or [""])[0])
        if not english or re.search(r"[%{<]", english) or len(english.split()) < 2:
            continue
        if translated.strip() != english.strip():
            phrases.append(english.rstrip(".:"))
    return phrases


BROWSER_LOCALES = {"de": "de-DE", "fr": "fr-FR", "es": "es-ES", "pt-BR": "pt-BR"}


def assert_no_english(page: Page, language: str) -> None:
    text = page.locator("body").inner_text()
    left = [phrase for phrase in english_left(language) if phrase in text]
    assert left == [], f"{language}: English left on {page.url}: {left}"
    assert page.locator("html").get_attribute("lang") == language


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_page_speaks_the_browsers_language(
    chromium: Browser, site: Site, language: str
) -> None:
    context = chromium.new_context(
        viewport={"width": 1024, "height": 768}, locale=BROWSER_LOCALES[language]
    )
    try:
        page = context.new_page()
        for path, name in (
            ("/auth/login", "sign-in"),
            ("/auth/register", "register"),
            ("/auth/password-reset", "password-reset"),
            ("/auth/email-verification/confirm?token=x", "verify-email"),
            ("/auth/no-such-page", "not-found"),
        ):
            page.goto(f"{site.url}{path}")
            assert_no_english(page, language)
            check_page(page, site, f"{name}-{language}")

        page.goto(f"{site.url}/auth/register")
        page.locator("#email").fill("someone@example.com")
        page.locator("#password").fill("short")
        page.locator("#passwordConfirmation").fill("other")
        page.locator("form.stacked button[type=submit]").click()
        expect(page.locator(".field-error").first).to_be_visible()
        assert_no_english(page, language)
        check_page(page, site, f"register-refused-{language}")

        page.goto(f"{site.url}/auth/password-reset")
        page.locator("#email").fill("nobody@example.com")
        page.locator("form.stacked button[type=submit]").click()
        expect(page.locator("p[role=status]")).to_be_visible()
        assert_no_english(page, language)
        check_page(page, site, f"reset-sent-{language}")

        email = site.account(firstName="Ada", lastName="Lovelace")
        page.goto(f"{site.url}/auth/login")
        page.locator("#email").fill(email)
        page.locator("#password").fill(PASSWORD)
        page.locator("form.stacked button[type=submit]").first.click()  # then the guest's
        expect(page).to_have_url(f"{site.url}/auth/")
        assert_no_english(page, language)
        check_page(page, site, f"home-{language}")
    finally:
        context.close()


def test_the_switchers_choice_is_kept(page: Page, context: BrowserContext, site: Site) -> None:
    page.goto(f"{site.url}/auth/login")
    page.get_by_role("link", name="Français").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Se connecter")
    page.goto(f"{site.url}/auth/register")
    assert page.locator("html").get_attribute("lang") == "fr"
    cookie = next(c for c in context.cookies() if c["name"].endswith("_lang"))
    assert (cookie["value"], cookie["httpOnly"], cookie["sameSite"]) == ("fr", True, "Lax")
