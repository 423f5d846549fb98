"""One mail event as a mail: the words from ``accounts.mail_words``, the headers every mail
carries. ``examples/mailer.py`` builds its mails here too, so both send the same thing."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from gateway_auth.accounts.mail_words import compose


def message(event: dict[str, Any], sender: str) -> EmailMessage:
    """The mail for one event (as it travels: JSON), in the language it asks for."""
    words = compose(event)
    mail = EmailMessage()
    mail["Subject"] = words.subject
    mail["From"] = sender
    mail["To"] = event["email"]
    mail["Message-ID"] = make_msgid(idstring=event["id"])
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    mail["Content-Language"] = words.language
    mail.set_content(words.body)
    return mail
