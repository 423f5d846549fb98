"""What the mails of the mail events say, in the language each event asks for (its ``locale``,
from the browser that caused it), from the portal's own catalogues.

The built-in sender and ``examples/mailer.py`` both call ``compose`` (through
``mail.message``); the words live here so that they are translated with everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from babel import dates

from gateway_auth.i18n import DEFAULT, N_, locale_of, supported, translations

# A link's mail: its subject and its body (``%(link)s``, ``%(expires)s``).
LINKS = {
    "password-reset-requested": (
        N_("Reset your password"),
        N_(
            "Someone, probably you, asked to reset the password of your account.\n\n"
            "Choose a new password here (the link works once, until %(expires)s):\n\n"
            "%(link)s\n\n"
            "If it was not you, ignore this mail: your password stays as it is."
        ),
    ),
    "email-verification-requested": (
        N_("Verify your email address"),
        N_(
            "Please confirm that this address is yours (the link works until %(expires)s):\n\n"
            "%(link)s\n\n"
            "If you did not ask for an account, ignore this mail."
        ),
    ),
}
NOT_YOU = N_(
    "If this was you, there is nothing to do. If it was not, reset your password now and tell "
    "your administrator: someone may have access to your account."
)
# A security notice's reason: its subject, and what happened.
NOTICES = {
    "second-factor-added": (
        N_("Two-step sign-in was turned on"),
        N_("An authenticator app was added to your account; signing in now asks for its code."),
    ),
    "second-factor-removed": (
        N_("A second factor was removed"),
        N_(
            "A second factor was removed from your account (by you, or by an administrator's "
            "reset); if none is left, your password alone signs in now."
        ),
    ),
    "passkey-added": (
        N_("A passkey was added"),
        N_("A passkey was added to your account; it signs in on its own, and as the second step."),
    ),
    "passkey-removed": (
        N_("A passkey was removed"),
        N_("A passkey was removed from your account."),
    ),
    "recovery-code-used": (
        N_("A recovery code was used"),
        N_("Someone signed in to your account with one of your recovery codes."),
    ),
    "recovery-codes-replaced": (
        N_("New recovery codes were made"),
        N_("New recovery codes were made for your account; the old ones no longer work."),
    ),
    "password-changed": (
        N_("Your password was changed"),
        N_("The password of your account changed."),
    ),
    "password-reset": (
        N_("Your password was reset"),
        N_("The password of your account was reset with a mailed link."),
    ),
    "email-changed": (
        N_("Your email address was changed"),
        N_("The email address of your account changed; this address no longer signs in."),
    ),
    "identity-linked": (
        N_("A sign-in provider was linked"),
        N_(
            "An account at another sign-in provider (such as GitHub or your company's) can now "
            "sign in to your account."
        ),
    ),
    "identity-unlinked": (
        N_("A sign-in provider was unlinked"),
        N_("An account at another sign-in provider can no longer sign in to your account."),
    ),
}


@dataclass(frozen=True, slots=True)
class Mail:
    """One mail's words: its subject, its plain-text body, and their language (BCP 47)."""

    subject: str
    body: str
    language: str


def compose(event: dict[str, Any]) -> Mail:
    """The mail for one mail event (as it travels: JSON with camelCase names), in the
    language of its ``locale`` when we have it, else English."""
    language = supported(event.get("locale")) or DEFAULT
    tr = translations(language)
    name = event.get("name")
    greeting = tr.gettext("Hello %(name)s,") % {"name": name} if name else tr.gettext("Hello,")
    if event["type"] == "security-notice":
        subject, happened = NOTICES[event["reason"]]
        when = _when(event["occurredAt"], language)
        text = f"{tr.gettext(happened)} ({when})\n\n{tr.gettext(NOT_YOU)}"
    else:
        subject, template = LINKS[event["type"]]
        values = {"link": event["link"], "expires": _when(event["expiresAt"], language)}
        text = tr.gettext(template) % values
    return Mail(tr.gettext(subject), f"{greeting}\n\n{text}\n", language)


def _when(moment: str, language: str) -> str:
    """A moment as the language writes it, in UTC (the mail cannot know the reader's zone)."""
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
    written = dates.format_datetime(parsed, "medium", tzinfo=UTC, locale=locale_of(language))
    return f"{written} UTC"
