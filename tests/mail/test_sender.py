"""The built-in mail sender against a real SMTP server (aiosmtpd) started here: links arrive and
work, a refused recipient holds up nobody, a busy server is tried again, a server that is down
loses nothing, STARTTLS carries the login, and MAIL_DIR writes mails a newcomer can open."""

from __future__ import annotations

import logging
import ssl
import stat
from collections.abc import Awaitable, Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from aiosmtpd.controller import Controller

from gateway_auth.http.appkeys import SERVICES
from gateway_auth.logging import FIELDS
from tests.support.browser import Browser
from tests.support.clock import FakeClock
from tests.support.metrics import scrape
from tests.support.processes import free_port
from tests.support.smtp import LOGIN, SECRET, Inbox, link_in
from tests.support.tls import make_tls_files
from tests.support.waiting import eventually

SENDER = "Example <no-reply@example.com>"


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp_port(inbox: Inbox) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


async def mails(inbox: Inbox, address: str, count: int = 1) -> list[EmailMessage]:
    def arrived() -> list[EmailMessage] | None:
        return inbox.to(address) if len(inbox.to(address)) >= count else None

    return await eventually(arrived, what=f"{count} mail(s) to {address}")


async def pending_mails(browser: Browser) -> list[str]:
    """The mail events still in the outbox, by address."""
    store = browser.http.app[SERVICES].store
    return [str(p.event.to_json().get("email")) for p in await store.pending_events(100)]


async def drained(browser: Browser) -> bool:
    """Whether the outbox holds no mail any more (the server took it, then it was dropped)."""
    return await eventually(
        lambda: _nothing_pending(browser), what="the outbox to give up its mails"
    )


async def _nothing_pending(browser: Browser) -> bool:
    return await pending_mails(browser) == []


async def test_a_verification_link_arrives_by_smtp_and_works(
    make_browser: Callable[..., Awaitable[Browser]], inbox: Inbox, smtp_port: int
) -> None:
    browser = await make_browser(SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", MAIL_FROM=SENDER)

    await browser.register(firstName="Ada")
    [mail] = await mails(inbox, "ada@example.com")
    link = urlsplit(link_in(mail))
    page = await browser.page(f"{link.path}?{link.query}")
    confirmed = await browser.submit(page, link.path, {"token": link.query.split("=", 1)[1]})

    assert mail["From"] == SENDER
    assert mail["Subject"] == "Verify your email address"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_body(("plain",)).get_content().startswith("Hello Ada,")  # type: ignore[union-attr]
    assert confirmed.status == 303
    assert confirmed.headers["Location"] == "/login?notice=email_verified"
    assert await drained(browser)  # taken by the server: gone from the outbox
    samples = await scrape(browser)
    assert samples[("gateway_auth_mails_total", (("outcome", "sent"),))] == 1


async def test_a_refused_recipient_is_dropped_and_counted_without_holding_up_the_next(
    make_browser: Callable[..., Awaitable[Browser]], inbox: Inbox, smtp_port: int
) -> None:
    browser = await make_browser(SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", MAIL_FROM=SENDER)

    await browser.register(email="refused@example.com")
    await browser.register(email="grace@example.com")
    await mails(inbox, "grace@example.com")

    samples = await eventually(lambda: _refused(browser), what="the refusal counted")
    assert samples == 1
    assert inbox.to("refused@example.com") == []
    assert await drained(browser)


async def _refused(browser: Browser) -> float | None:
    samples = await scrape(browser)
    return samples.get(("gateway_auth_mails_total", (("outcome", "refused"),)))


async def test_a_busy_server_gets_the_mail_again_five_minutes_later(
    make_browser: Callable[..., Awaitable[Browser]],
    inbox: Inbox,
    smtp_port: int,
    clock: FakeClock,
) -> None:
    inbox.busy_for = 1
    browser = await make_browser(SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", MAIL_FROM=SENDER)
    sender = browser.http.app[SERVICES].mail
    assert sender is not None

    await browser.register(email="later@example.com")
    await browser.register(email="grace@example.com")
    await mails(inbox, "grace@example.com")  # the one behind it went

    assert inbox.to("later@example.com") == []

    async def only_later_waits() -> bool:
        return await pending_mails(browser) == ["later@example.com"]

    assert await eventually(only_later_waits, what="the deferred mail alone in the outbox")
    clock.advance(minutes=5, seconds=1)
    sender.wake()
    [mail] = await mails(inbox, "later@example.com")
    assert mail["Subject"] == "Verify your email address"
    assert await drained(browser)


async def test_a_server_that_is_down_loses_nothing_and_gets_the_mail_once_it_is_up(
    make_browser: Callable[..., Awaitable[Browser]], inbox: Inbox
) -> None:
    port = free_port()  # nothing listens yet
    browser = await make_browser(SMTP_URL=f"smtp://127.0.0.1:{port}", MAIL_FROM=SENDER)

    await browser.register()
    deferred = await eventually(lambda: _deferred(browser), what="a failed attempt counted")
    assert await pending_mails(browser) == ["ada@example.com"]

    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        [mail] = await mails(inbox, "ada@example.com")
    finally:
        controller.stop()
    assert deferred >= 1
    assert mail["Subject"] == "Verify your email address"
    assert await drained(browser)


async def _deferred(browser: Browser) -> float | None:
    samples = await scrape(browser)
    return samples.get(("gateway_auth_mails_total", (("outcome", "deferred"),)))


async def test_starttls_carries_the_login_and_a_server_without_it_gets_nothing(
    make_browser: Callable[..., Awaitable[Browser]],
    inbox: Inbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = make_tls_files(tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(files.ca))  # the default context trusts our CA
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.certificate, files.key)
    port, plain_port = free_port(), free_port()
    secure = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=inbox.authenticate,
    )
    plain = Controller(Inbox(), hostname="127.0.0.1", port=plain_port)  # offers no STARTTLS
    secure.start()
    plain.start()
    try:
        url = f"smtp+starttls://{LOGIN}:{quote(SECRET)}@127.0.0.1:{port}"
        browser = await make_browser(SMTP_URL=url, MAIL_FROM=SENDER)
        await browser.register()
        [mail] = await mails(inbox, "ada@example.com")

        refused = await make_browser(
            SMTP_URL=f"smtp+starttls://{LOGIN}:{quote(SECRET)}@127.0.0.1:{plain_port}",
            MAIL_FROM=SENDER,
        )
        await refused.register(email="grace@example.com")
        await eventually(lambda: _deferred(refused), what="the plain server refused")
    finally:
        secure.stop()
        plain.stop()

    assert mail["Subject"] == "Verify your email address"
    assert inbox.logins == [("mailer", True)]  # the password crossed over TLS only
    assert await pending_mails(refused) == ["grace@example.com"]  # never sent in the clear


async def test_mail_dir_writes_each_mail_where_a_newcomer_opens_it(
    make_browser: Callable[..., Awaitable[Browser]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    folder = tmp_path / "mail"
    browser = await make_browser(MAIL_DIR=str(folder))

    await browser.register()
    [path] = await eventually(lambda: list(folder.glob("*.eml")), what="a mail in MAIL_DIR")
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)

    assert mail["To"] == "ada@example.com"
    assert mail["From"] == "gateway-auth <no-reply@localhost>"
    assert urlsplit(link_in(mail)).path == "/email-verification/confirm"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the link is a live token
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    written = await eventually(
        lambda: [r for r in caplog.records if r.getMessage() == "mail_written"],
        what="the log saying where the mail is",
    )
    fields = getattr(written[0], FIELDS)
    assert fields["path"] == str(path)
    assert fields["to"] == "a***@example.com"  # masked
    assert await drained(browser)


async def test_an_address_the_server_cannot_take_holds_up_nobody(
    make_browser: Callable[..., Awaitable[Browser]], inbox: Inbox
) -> None:
    port = free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    server.start()
    try:
        browser = await make_browser(SMTP_URL=f"smtp://127.0.0.1:{port}", MAIL_FROM=SENDER)
        await browser.register(email="jörg@example.com")  # a local part only SMTPUTF8 carries
        await browser.register(email="ada@bücher.example")  # the domain goes as xn--…
        await browser.register(email="grace@example.com")
        await mails(inbox, "grace@example.com")
        [idn] = await mails(inbox, "ada@xn--bcher-kva.example")
        refused = await eventually(lambda: _refused(browser), what="the refusal counted")
    finally:
        server.stop()

    assert refused == 1
    assert inbox.to("jörg@example.com") == []
    assert idn["Message-ID"].endswith("@example.com>")  # the sender's domain, not this host
    assert idn["Date"]
    assert await drained(browser)
