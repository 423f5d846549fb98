"""Sending gateway-auth's own mails: the links and notices of the outbox's mail events, over
SMTP (``SMTP_URL``) or into a folder for development (``MAIL_DIR``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway_auth.clock import Clock
from gateway_auth.config.mail import LOOPBACK, SmtpTarget
from gateway_auth.config.settings import Settings
from gateway_auth.logging import log_event
from gateway_auth.mail.sender import MailSender
from gateway_auth.mail.transports import FolderTransport, SmtpTransport, Transport
from gateway_auth.metrics import Metrics
from gateway_auth.models import DELETION_TYPE, EVENT_TYPES
from gateway_auth.outbox import OutboxRelay
from gateway_auth.stores.base import DeletionStore

log = logging.getLogger(__name__)
DEV_SENDER = "gateway-auth <no-reply@localhost>"  # MAIL_DIR without MAIL_FROM


def mail_sender(
    settings: Settings, outbox: DeletionStore, clock: Clock, metrics: Metrics
) -> MailSender | None:
    """The sender the settings ask for; None when gateway-auth sends no mail itself."""
    transport: Transport
    if settings.smtp_url is not None:
        target = SmtpTarget.parse(settings.smtp_url.reveal())
        if target.security == "plain" and target.host not in LOOPBACK:
            # Allowed (a relay on a private network), but reset links are live tokens.
            log_event(log, "mail_in_the_clear", level=logging.WARNING, host=target.host)
        transport = SmtpTransport(target)
    elif settings.mail_dir is not None:
        transport = FolderTransport(settings.mail_dir)
    else:
        return None
    sender = settings.mail_from or DEV_SENDER
    return MailSender(outbox, transport, sender, clock, metrics=metrics)


def relayed_types(mail: MailSender | None) -> tuple[str, ...]:
    """What the outbox relay publishes: every event, or deletions only when gateway-auth mails
    (a mailer reading Redis would send each mail a second time)."""
    return EVENT_TYPES if mail is None else (DELETION_TYPE,)


def outbox_written(relay: OutboxRelay, mail: MailSender | None) -> Callable[[], None]:
    """What to call once an event is in the outbox: the relay, and the sender if there is one."""
    if mail is None:
        return relay.wake

    def both() -> None:
        relay.wake()
        mail.wake()

    return both
