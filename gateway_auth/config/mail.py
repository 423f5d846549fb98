"""The mail settings: ``SMTP_URL``'s forms, ``MAIL_FROM`` and ``MAIL_DIR``, checked at start-up.

``smtps://host[:465]`` (TLS from the first byte), ``smtp+starttls://host[:587]`` (STARTTLS,
required) and ``smtp://host[:25]`` (plain: for a relay on this machine or a private network),
each with ``user:password@`` when the server wants a login. A password never crosses a network
in the clear: ``smtp://`` with credentials is refused unless the host is loopback.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Literal
from urllib.parse import unquote, urlsplit

Security = Literal["tls", "starttls", "plain"]
SCHEMES: dict[str, tuple[Security, int]] = {
    "smtps": ("tls", 465),
    "smtp+starttls": ("starttls", 587),
    "smtp": ("plain", 25),
}
LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where ``SMTP_URL`` says mail goes, and how."""

    host: str
    port: int
    security: Security
    user: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # the password stays out of every repr and log line
        return f"SmtpTarget({self.security}://{self.host}:{self.port}, user={self.user!r})"

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """ValueError saying what is wrong, never repeating the password."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError("must be an smtps://, smtp+starttls:// or smtp:// URL")
        security, default_port = SCHEMES[parts.scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        if not parts.hostname:
            raise ValueError("name the SMTP server's host, e.g. smtps://smtp.example.com")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("nothing after the host and port")
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if not (user or "").isascii() or not (password or "").isascii():
            raise ValueError("the user name and password must be ASCII (as SMTP logins are)")
        if user is not None and security == "plain" and parts.hostname not in LOOPBACK:
            raise ValueError(
                "smtp:// would send the password in the clear: use smtp+starttls:// or smtps://"
            )
        return cls(parts.hostname, port, security, user, password)


def sender_problem(sender: str) -> str | None:
    """Why ``MAIL_FROM`` cannot head a mail, or None: ``Name <address>`` or an address."""
    name, address = parseaddr(sender)
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or "\n" in sender or "\r" in sender:
        return 'must be an address, or a name and an address: "Example <no-reply@example.com>"'
    try:
        Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError):
        return "must be a valid address"
    return None


def mail_problems(
    smtp_url: str | None, sender: str | None, folder: object, prefix: str
) -> list[str]:
    """What is wrong with SMTP_URL, MAIL_FROM and MAIL_DIR together."""
    problems = []
    if smtp_url is not None and folder is not None:
        problems.append(f"{prefix}SMTP_URL and {prefix}MAIL_DIR: set one or the other")
    if smtp_url is not None:
        try:
            SmtpTarget.parse(smtp_url)
        except ValueError as exc:
            problems.append(f"{prefix}SMTP_URL: {exc}")
        if sender is None:
            example = '"Example <no-reply@example.com>"'
            problems.append(f"{prefix}MAIL_FROM: required with {prefix}SMTP_URL, e.g. {example}")
    if sender is not None and (problem := sender_problem(sender)):
        problems.append(f"{prefix}MAIL_FROM: {problem}")
    return problems
