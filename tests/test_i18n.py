"""The portal's languages: every catalogue holds every message the code and templates mark
(translated, not fuzzy, with the same placeholders), the language a browser asks for is the
one it gets, and the limits people read are the limits enforced."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from gateway_auth import i18n, validation
from gateway_auth.i18n import LANGUAGES, catalogue_path, negotiate, supported, translations

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gateway_auth"
TRANSLATED = [code for code in LANGUAGES if code != i18n.DEFAULT]
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def marked_messages() -> set[str | tuple[str, ...]]:
    """Every message the package marks, as ``make messages`` extracts them (babel.cfg)."""
    method_map = [
        ("web/templates/**.html", "jinja2"),
        ("**.py", "python"),
    ]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    keywords = {"N_": None, "_": None, "gettext": None, "ngettext": (1, 2)}
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(PACKAGE), method_map, options, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


@pytest.fixture(scope="module")
def marked() -> set[str | tuple[str, ...]]:
    return marked_messages()


def _forms(string: object) -> tuple[object, ...]:
    """A catalogue entry's translation: one string, or a plural's forms."""
    return tuple(string) if isinstance(string, tuple | list) else (string or "",)


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in _PLACEHOLDER.findall(text)}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalogue_translates_every_marked_message(
    language: str, marked: set[str | tuple[str, ...]]
) -> None:
    with (PACKAGE / catalogue_path(language)).open("rb") as po:
        catalogue = read_po(po)
    entries = {message.id: message for message in catalogue if message.id}
    singular = {m if isinstance(m, str) else m[0]: m for m in marked}

    missing = sorted(set(singular) - {k if isinstance(k, str) else k[0] for k in entries})
    assert missing == [], (
        f"{language}: {len(missing)} messages not in the catalogue (make messages)"
    )
    for key, message in entries.items():
        msgid = key if isinstance(key, str) else key[0]
        strings = tuple(map(str, _forms(message.string)))
        assert all(strings), f"{language}: not translated: {msgid!r}"
        assert not message.fuzzy, f"{language}: fuzzy: {msgid!r}"
        if isinstance(key, str):
            assert placeholders(strings[0]) == placeholders(key), (language, key, strings[0])
            continue
        # Plurals: no form names what English does not; every form but the first (which may
        # be the one for "one", said without the number) names what the English plural does.
        english = placeholders(key[0]) | placeholders(key[1])
        for index, string in enumerate(strings):
            assert placeholders(string) <= english, (language, key, string)
            if index:
                assert placeholders(key[1]) <= placeholders(string), (language, key, string)
    unmarked = sorted({k if isinstance(k, str) else k[0] for k in entries} - set(singular))
    assert unmarked == [], f"{language}: messages nothing marks any more: {unmarked[:5]}"


def test_the_source_language_is_english_itself() -> None:
    assert translations("en").gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-CA", "fr"),
        ("pt", "pt-BR"),
        ("pt-PT;q=1, es;q=0.5", "pt-BR"),
        ("en-GB,en;q=0.9", "en"),
        ("ja, es;q=0.3", "es"),
        ("de;q=0.2, fr;q=0.8", "fr"),
        ("de;q=0", "en"),
        ("*", "en"),
        ("", "en"),
        ("de;q=x, es", "es"),
        (",".join(["ja"] * 40) + ",de", "en"),  # past the tags read
    ],
)
def test_the_browsers_language_is_chosen(header: str, language: str) -> None:
    assert negotiate(header) == language


def test_a_chosen_language_is_read_loosely_but_only_ours() -> None:
    assert [supported(t) for t in ("DE", "pt_br", "pt-BR", "es-MX", "xx", "", None)] == [
        "de",
        "pt-BR",
        "pt-BR",
        "es",
        None,
        None,
        None,
    ]


def test_the_limits_people_read_are_the_limits_enforced() -> None:
    assert (
        validation.password_problem("x" * 7)
        == f"must be at least {validation.MIN_PASSWORD_LENGTH} characters"
    )
    assert (
        validation.password_problem("x" * 1025)
        == f"must be at most {validation.MAX_PASSWORD_LENGTH} characters"
    )
    assert (
        validation.email_problem("a@" + "b" * 260)
        == f"must be at most {validation.MAX_EMAIL_LENGTH} characters"
    )
    assert validation.email_problem("a" * 65 + "@example.com") == (
        f"must have at most {validation.MAX_LOCAL_PART_LENGTH} characters before the @"
    )
    assert (
        validation.name_problem("x" * 101)
        == f"must be at most {validation.MAX_NAME_LENGTH} characters"
    )
