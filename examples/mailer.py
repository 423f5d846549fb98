"""Send gateway-auth's mails: password-reset and email-verification links, and security
notices, over SMTP.

gateway-auth sends no mail itself. For each ``password-reset-requested``,
``email-verification-requested`` and ``security-notice`` event it appends the event to a Redis
stream
(``gateway-auth:events:<type>``, and PUBLISHes it too). This mailer reads both streams through a
consumer group, so a mail asked for while the mailer is down is sent when it is back:

- ``XREADGROUP`` hands each new entry to one mailer of the group (run several if you like);
- ``XACK`` once the SMTP server has accepted the mail, then ``XDEL`` (the link is a live token,
  and this group is the streams' only reader);
- ``XAUTOCLAIM`` takes over entries a crashed mailer read but never acknowledged;
- delivery is at least once, so mails are deduplicated on the event ``id``, and a link whose
  expiry has passed is not mailed at all.

Run it beside gateway-auth::

    MAILER_SMTP_PASSWORD=... python examples/mailer.py \\
        --redis-url redis://localhost:6379/0 --smtp-host smtp.example.com --smtp-port 587 \\
        --starttls --smtp-user mailer --sender "Example <no-reply@example.com>"

Each mail is written in the language of its event's ``locale`` (the browser's, when it caused
the mail) from gateway-auth's own catalogues (``gateway_auth.accounts.mail_words``), so it needs
gateway-auth installed beside it; a language gateway-auth has no catalogue for gets English.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import smtplib
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway_auth.accounts.mail_words import compose

STREAMS = (
    "gateway-auth:events:password-reset-requested",
    "gateway-auth:events:email-verification-requested",
    "gateway-auth:events:security-notice",
)
SEEN_FOR_SECONDS = 7 * 24 * 3600  # remember mailed event ids this long
BLOCK_MS = 5000


@dataclass(frozen=True)
class Smtp:
    """Where and how mails are sent."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0


def message(event: dict[str, Any], sender: str) -> EmailMessage:
    """The mail for one event, in the language it asks for (gateway-auth's catalogues)."""
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


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def still_due(event: dict[str, Any]) -> bool:
    """A link past its expiry is not mailed; a notice always is."""
    return "expiresAt" not in event or _moment(event["expiresAt"]) > datetime.now(UTC)


def send(mail: EmailMessage, smtp: Smtp) -> None:
    """Hand the mail to the SMTP server (blocking: run it in a thread)."""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as server:
        if smtp.starttls:
            server.starttls()
        if smtp.user:
            server.login(smtp.user, smtp.password or "")
        server.send_message(mail)


async def ensure_groups(redis: aioredis.Redis, group: str) -> None:
    """Create the consumer group on every stream once, from the start, so nothing is missed."""
    for stream in STREAMS:
        try:
            await redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


async def mail_once(
    redis: aioredis.Redis,
    smtp: Smtp,
    *,
    group: str = "mailer",
    consumer: str = "mailer-1",
    block_ms: int = BLOCK_MS,
    min_idle_ms: int = 60_000,
) -> int:
    """Mail what a crashed mailer left, then new entries; how many mails were sent."""
    entries: list[tuple[str, Any, Any]] = []
    for stream in STREAMS:
        claimed: Any = await redis.xautoclaim(
            stream, group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=100
        )
        entries += [(stream, entry_id, fields) for entry_id, fields in claimed[1]]
    fresh: Any = await redis.xreadgroup(
        group, consumer, dict.fromkeys(STREAMS, ">"), count=100, block=block_ms
    )
    for stream, batch in fresh or []:
        entries += [(stream.decode(), entry_id, fields) for entry_id, fields in batch]
    sent = 0
    for stream, entry_id, fields in entries:
        event = json.loads(fields[b"event"])
        seen = f"{group}:mail-seen:{event['id']}"
        if not await redis.exists(seen) and still_due(event):
            await asyncio.to_thread(send, message(event, smtp.sender), smtp)  # raises: no ACK
            await redis.set(seen, 1, ex=SEEN_FOR_SECONDS)
            sent += 1
        await redis.xack(stream, group, entry_id)
        await redis.xdel(stream, entry_id)  # a link is a live token: keep none longer
    return sent


async def main() -> None:
    parser = argparse.ArgumentParser(description="Mail gateway-auth's links and notices.")
    parser.add_argument("--redis-url", default="redis://localhost:6379/0")
    parser.add_argument("--group", default="mailer")
    parser.add_argument("--consumer", default=socket.gethostname())
    parser.add_argument("--smtp-host", default="localhost")
    parser.add_argument("--smtp-port", type=int, default=25)
    parser.add_argument("--starttls", action="store_true")
    parser.add_argument("--smtp-user")
    parser.add_argument("--sender", required=True, help='e.g. "Example <no-reply@example.com>"')
    args = parser.parse_args()
    smtp = Smtp(
        args.smtp_host,
        args.smtp_port,
        args.sender,
        starttls=args.starttls,
        user=args.smtp_user,
        password=os.environ.get("MAILER_SMTP_PASSWORD"),  # never on the command line
    )
    redis = aioredis.Redis.from_url(
        args.redis_url, socket_timeout=BLOCK_MS / 1000 + 10, socket_connect_timeout=5
    )
    await ensure_groups(redis, args.group)
    while True:
        try:
            await mail_once(redis, smtp, group=args.group, consumer=args.consumer)
        except (RedisConnectionError, RedisTimeoutError, OSError, smtplib.SMTPException) as exc:
            print(f"mailer: {type(exc).__name__}: {exc}; retrying in 5 s", flush=True)
            await asyncio.sleep(5)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
