"""Where a mail goes: an SMTP server, or a folder of ``.eml`` files for development.

Each transport either delivers, or raises ``Refused`` (the server will not take this mail: its
recipient or its content) or ``Unavailable`` (no mail could go now: the server is down, refuses
the login or the sender, or TLS fails), so the sender knows whether to give up on one mail or to
wait for the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from gateway_auth.config.mail import SmtpTarget
from gateway_auth.logging import log_event, mask_email

log = logging.getLogger(__name__)
_SAFE = re.compile(r"[^A-Za-z0-9_-]")  # what may stand in a file name
_ADDRESS = re.compile(r"[^\s<>\"'()\[\],;:]+@[^\s<>\"'()\[\],;:]+")
TIMEOUT = 30.0  # seconds for each SMTP step: a hung server fails like a down one


class Refused(Exception):
    """The server refused this mail; ``permanent`` for a 5xx answer."""

    def __init__(self, code: int, words: str) -> None:
        super().__init__(f"{code} {words}")
        self.code, self.words = code, words

    @property
    def permanent(self) -> bool:
        return self.code >= 500


class Unavailable(Exception):
    """No mail can be delivered now; what went wrong, without any credential."""


class Transport(Protocol):
    """Delivers one mail."""

    async def deliver(self, mail: EmailMessage, event_id: str) -> None: ...


class SmtpTransport:
    """An SMTP server: implicit TLS (``smtps://``), STARTTLS (``smtp+starttls://``, required:
    a server that does not offer it is unavailable, never used in the clear) or plain
    (``smtp://``, for a relay on this machine or network)."""

    def __init__(self, target: SmtpTarget) -> None:
        self._target = target
        self._tls = ssl.create_default_context()

    async def deliver(self, mail: EmailMessage, event_id: str) -> None:
        await asyncio.to_thread(self._send, mail)

    def _send(self, mail: EmailMessage) -> None:
        t = self._target
        try:
            server = (
                smtplib.SMTP_SSL(t.host, t.port, timeout=TIMEOUT, context=self._tls)
                if t.security == "tls"
                else smtplib.SMTP(t.host, t.port, timeout=TIMEOUT)
            )
            with server:
                if t.security == "starttls":
                    server.starttls(context=self._tls)  # no STARTTLS offered: Unavailable
                if t.user is not None:
                    server.login(t.user, t.password or "")
                self._hand_over(server, mail)
        except (smtplib.SMTPException, OSError) as exc:  # refused connection, login, TLS, …
            said = masked(str(exc))  # servers repeat the address in their answer
            raise Unavailable(f"{t.host}:{t.port}: {type(exc).__name__}: {said}") from None

    @staticmethod
    def _hand_over(server: smtplib.SMTP, mail: EmailMessage) -> None:
        """Send one mail on an open session: Refused when it is this mail the server will not
        take (its recipient, its content, an address it cannot carry)."""
        try:
            server.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code, words = next(iter(exc.recipients.values()))
            raise Refused(code, _text(words)) from None
        except smtplib.SMTPDataError as exc:
            raise Refused(exc.smtp_code, _text(exc.smtp_error)) from None
        except smtplib.SMTPNotSupportedError:  # this mail's address needs SMTPUTF8
            raise Refused(553, "the server takes no non-ASCII address (no SMTPUTF8)") from None


def masked(text: str) -> str:
    """``text`` with every address in it masked, as the log keeps them."""
    return _ADDRESS.sub(lambda found: mask_email(found[0]), text)


def _text(words: bytes | str) -> str:
    return words.decode("utf-8", "replace") if isinstance(words, bytes) else words


class FolderTransport:
    """Development: each mail becomes ``<event id>.eml`` in a private folder, and the log says
    where, so the person trying gateway-auth out opens the link at once."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def deliver(self, mail: EmailMessage, event_id: str) -> None:
        try:
            path = await asyncio.to_thread(self._write, mail, event_id)
        except OSError as exc:
            raise Unavailable(f"{self._folder}: {exc.strerror}") from None
        log_event(log, "mail_written", path=str(path), to=mask_email(str(mail["To"])))

    def _write(self, mail: EmailMessage, event_id: str) -> Path:
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._folder / f"{_SAFE.sub('_', event_id)}.eml"  # ids can come from an import
        fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)  # a link is a token
        with contextlib.closing(os.fdopen(fd, "wb")) as file:
            file.write(mail.as_bytes())
        return path
