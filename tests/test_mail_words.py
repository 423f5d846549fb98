"""The mails' words in the language of the event that asks for them, from the portal's own
catalogues; English for a language there is none of, and the words of every reason known."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway_auth.accounts.mail_words import LINKS, NOTICES, compose
from gateway_auth.models import NOTICE_REASONS
from tests.support.clock import present

NOW = present()
LATER = (NOW + timedelta(minutes=30)).isoformat()


def reset(locale: str | None, name: str | None = "Ada") -> dict[str, object]:
    return {
        "type": "password-reset-requested",
        "link": "https://auth.example.com/password-reset/confirm?token=t",
        "expiresAt": LATER,
        "name": name,
        "locale": locale,
    }


def test_a_link_mail_in_english() -> None:
    mail = compose(reset(None))

    assert (mail.subject, mail.language) == ("Reset your password", "en")
    assert mail.body.startswith("Hello Ada,\n\nSomeone, probably you, asked")
    assert "https://auth.example.com/password-reset/confirm?token=t" in mail.body
    assert " UTC)" in mail.body


@pytest.mark.parametrize(
    ("locale", "language", "greeting"),
    [("de-DE", "de", "Hallo Ada,"), ("fr", "fr", "Bonjour Ada,"), ("es-MX", "es", "Hola, Ada:"),
     ("pt-BR", "pt-BR", "Olá, Ada,")],
)  # fmt: skip
def test_a_link_mail_in_the_language_that_asked(locale: str, language: str, greeting: str) -> None:
    mail = compose(reset(locale))
    english = compose(reset(None))

    assert mail.language == language
    assert mail.subject != english.subject
    assert mail.body.startswith(greeting)
    assert "https://auth.example.com/password-reset/confirm?token=t" in mail.body
    assert "Someone, probably you" not in mail.body


def test_a_language_we_do_not_have_gets_english() -> None:
    mail = compose(reset("ja-JP", name=None))

    assert (mail.language, mail.subject) == ("en", "Reset your password")
    assert mail.body.startswith("Hello,\n\n")


def test_every_notice_reason_and_link_type_has_words() -> None:
    assert set(NOTICES) == set(NOTICE_REASONS)
    for reason in NOTICES:
        mail = compose(
            {"type": "security-notice", "reason": reason, "occurredAt": NOW.isoformat(),
             "locale": "de"}
        )  # fmt: skip
        assert mail.subject
        assert "UTC)" in mail.body
    assert set(LINKS) == {"password-reset-requested", "email-verification-requested"}
