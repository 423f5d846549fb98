"""The portal's languages: English (the source) and the Babel catalogues under ``locale/``,
which language a person asks for, and dates and times written their way.

Messages are marked where they are written (``_`` in templates, ``N_`` in Python, which only
marks) and translated when a page is rendered, in the language of that request. Answers to
programs (problem+json) stay in English: their ``type`` and words are the contract. A catalogue
is read from its ``.po`` file at first use, so there is no compiled file to keep in step.
"""

from __future__ import annotations

import gettext
import io
import re
from datetime import datetime, timedelta
from functools import cache
from importlib.resources import files

from babel import Locale, dates
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT = "en"
# Each language by its BCP 47 tag, named as its speakers name it (the switcher shows these).
LANGUAGES = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
    "fr": "Français",
    "pt-BR": "Português (Brasil)",
}
# Tags people's browsers send for a language we have under another tag.
_ALIASES = {"pt": "pt-BR"}
MAX_TAGS = 32  # Accept-Language entries read; more is noise (or an attack on our time)
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,4}")


def N_(message: str) -> str:
    """Marks ``message`` for the catalogues; it is translated where it is shown."""
    return message


def catalogue_path(language: str) -> str:
    """Where a language's catalogue lives, as Babel's directory layout has it."""
    return f"locale/{Locale.parse(language, sep='-')}/LC_MESSAGES/messages.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The translations of ``language`` (one of LANGUAGES); English is the source itself."""
    if language == DEFAULT or language not in LANGUAGES:
        return gettext.NullTranslations()
    with (files("gateway_auth") / catalogue_path(language)).open("rb") as po:
        catalogue = read_po(po, locale=Locale.parse(language, sep="-"))
    compiled = io.BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def supported(tag: str | None) -> str | None:
    """``tag`` as one of LANGUAGES (``de-AT`` → ``de``, ``pt`` → ``pt-BR``), or None."""
    if not tag:
        return None
    tag = tag.strip().replace("_", "-")
    lowered = {code.lower(): code for code in LANGUAGES}
    if tag.lower() in lowered:
        return lowered[tag.lower()]
    primary = tag.split("-", 1)[0].lower()
    return lowered.get(primary) or _ALIASES.get(primary)


def ranked(accept_language: str) -> list[str]:
    """The BCP 47 tags of an ``Accept-Language`` header, most wanted first (RFC 9110
    12.5.4 weights; the header's order among equals); none refused (``q=0``) or malformed."""
    found: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")[:MAX_TAGS]):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
        if _TAG.fullmatch(tag.strip()) and weight > 0:
            found.append((-weight, index, tag.strip()))
    return [tag for _, _, tag in sorted(found)]


def negotiate(accept_language: str) -> str:
    """The language of ours the browser prefers most, else English."""
    return next(filter(None, map(supported, ranked(accept_language))), DEFAULT)


def locale_of(language: str) -> Locale:
    """Babel's locale for one of LANGUAGES."""
    return Locale.parse(language, sep="-")


def day(moment: datetime, language: str) -> str:
    """A date as the language writes it: ``Nov 30, 2026``, ``30.11.2026``, …"""
    return dates.format_date(moment, format="medium", locale=locale_of(language))


def ago(moment: datetime, now: datetime, language: str) -> str:
    """``just now``, ``5 minutes ago``, ``vor 3 Stunden``, …, or the date past a month."""
    delta = max(now - moment, timedelta(0))
    if delta < timedelta(minutes=1):
        return translations(language).gettext("just now")
    if delta >= timedelta(days=30):
        return day(moment, language)
    return dates.format_timedelta(
        -delta, add_direction=True, threshold=1, locale=locale_of(language)
    )
