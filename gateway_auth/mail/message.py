"""One mail event as a mail: the words from ``accounts.mail_words``, the headers every mail
carries. ``examples/mailer.py`` builds its mails here too, so both send the same thing."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

import idna

from gateway_auth.accounts.mail_words import compose


def message(event: dict[str, Any], sender: str) -> EmailMessage:
    """The mail for one event (as it travels: JSON), in the language it asks for."""
    words = compose(event)
    mail = EmailMessage()
    mail["Subject"] = words.subject
    mail["From"] = sender
    mail["To"] = ascii_domain(event["email"])
    mail["Date"] = formatdate(usegmt=True)
    # Named after the sender's domain, not this machine (a container's name says nothing).
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    mail["Message-ID"] = make_msgid(idstring=event["id"], domain=domain)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    mail["Content-Language"] = words.language
    mail.set_content(words.body)
    return mail


def ascii_domain(address: str) -> str:
    """``ada@bücher.example`` as ``ada@xn--bcher-kva.example``: any mail server takes an
    internationalised domain this way (a non-ASCII local part still needs SMTPUTF8)."""
    local, at, domain = address.rpartition("@")
    try:
        return f"{local}{at}{idna.encode(domain, uts46=True).decode()}" if at else address
    except idna.IDNAError:
        return address
