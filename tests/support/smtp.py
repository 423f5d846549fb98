"""An SMTP server for the tests: aiosmtpd's, with a handler that keeps what it accepts and
refuses on purpose."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

LOGIN, SECRET = "mailer", "s3cret pass"  # what ``authenticate`` accepts


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts. It refuses ``refused@`` for
    good (550, an unknown mailbox) and ``later@`` for now (451) ``busy_for`` times, and
    remembers each login and whether it came over TLS."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.busy_for = 0
        self.refusals: list[str] = []
        self.logins: list[tuple[str, bool]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("refused@"):
            self.refusals.append(address)
            return "550 5.1.1 No such mailbox here"
        if address.startswith("later@") and self.busy_for > 0:
            self.busy_for -= 1
            self.refusals.append(address)
            return "451 4.7.1 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), session.ssl is not None))
        return AuthResult(success=(data.login, data.password) == (LOGIN.encode(), SECRET.encode()))

    def to(self, address: str) -> list[EmailMessage]:
        """The mails accepted for ``address``."""
        return [mail for mail in self.mails if mail["To"] == address]


def link_in(mail: EmailMessage) -> str:
    """The first link in a mail's plain-text body."""
    body = mail.get_body(("plain",))
    assert body is not None
    match = re.search(r"https?://\S+", body.get_content())
    assert match, body.get_content()
    return match[0]
