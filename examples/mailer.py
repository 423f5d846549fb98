"""Send gateway-auth's mails: password-reset and email-verification links, and security
notices, over SMTP.

gateway-auth can send its mails itself (``GATEWAY_AUTH_SMTP_URL``); this mailer is for teams
that send mail elsewhere, or from one place for several services. For each
``password-reset-requested``, ``email-verification-requested`` and ``security-notice`` event
gateway-auth appends the event to a Redis stream (``gateway-auth:events:<type>``, and
PUBLISHes it too). This mailer reads the streams through a
consumer group, so a mail asked for while the mailer is down is sent when it is back:

- ``XREADGROUP`` hands each new entry to one mailer of the group (run several if you like);
- ``XACK`` once the SMTP server has accepted the mail, then ``XDEL`` (the link is a live token,
  and this group is the streams' only reader);
- ``XAUTOCLAIM`` takes over entries a crashed mailer read but never acknowledged;
- delivery is at least once, so mails are deduplicated on the event ``id``, and a link whose
  expiry has passed is not mailed at all;
- a mail the SMTP server refuses does not hold up the ones behind it. A permanent refusal
  (5xx, say an unknown recipient) moves it at once, and a temporary one (4xx) after
  ``--max-attempts`` tries (5; counted in Redis, so a restart does not reset them), to the
  dead-letter stream ``gateway-auth:events:mail-dead-letter`` with the whole event, why and
  how often it failed; that is logged (a JSON line, ``mail_dead_lettered``) and counted
  (``<group>:mail-dead-letters``). An SMTP server that cannot be reached is nobody's mail's
  fault: the round stops, nothing is counted against the mails, and it is tried again.

Run it beside gateway-auth::

    MAILER_SMTP_PASSWORD=... python examples/mailer.py \\
        --redis-url redis://localhost:6379/0 --smtp-host smtp.example.com --smtp-port 587 \\
        --starttls --smtp-user mailer --sender "Example <no-reply@example.com>"

Each mail is written in the language of its event's ``locale`` (the browser's, when it caused
the mail) from gateway-auth's own catalogues, exactly as gateway-auth's built-in sender writes it
(``gateway_auth.mail.message``), so it needs gateway-auth installed beside it; a language
gateway-auth has no catalogue for gets English.
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
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway_auth.mail.message import message

STREAMS = (
    "gateway-auth:events:password-reset-requested",
    "gateway-auth:events:email-verification-requested",
    "gateway-auth:events:security-notice",
)
DEAD_LETTERS = "gateway-auth:events:mail-dead-letter"
SEEN_FOR_SECONDS = 7 * 24 * 3600  # remember mailed event ids (and failed attempts) this long
BLOCK_MS = 5000
MAX_ATTEMPTS = 5


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


def refusal(exc: smtplib.SMTPException) -> tuple[int, str] | None:
    """The SMTP server's code and words when it refused this mail: its recipient or its
    content. None for what is no fault of the mail's (the server unreachable, hanging up,
    refusing the sender or the login, no STARTTLS): every mail would fail alike."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, words = next(iter(exc.recipients.values()))
        return code, _text(words)
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code, _text(exc.smtp_error)
    return None


def _text(words: bytes | str) -> str:
    return words.decode("utf-8", "replace") if isinstance(words, bytes) else words


async def mail_once(
    redis: aioredis.Redis,
    smtp: Smtp,
    *,
    group: str = "mailer",
    consumer: str = "mailer-1",
    block_ms: int = BLOCK_MS,
    min_idle_ms: int = 60_000,
    max_attempts: int = MAX_ATTEMPTS,
) -> int:
    """Mail what a crashed mailer left, then new entries; how many mails were sent. A mail the
    server refuses is tried again later (left unacknowledged: ``XAUTOCLAIM`` brings it back
    after ``min_idle_ms``), or dead-lettered; either way the next ones are sent."""
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
            try:
                await asyncio.to_thread(send, message(event, smtp.sender), smtp)
            except smtplib.SMTPException as exc:
                refused = refusal(exc)
                if refused is None:
                    raise  # the server is gone: no ACK, no attempt counted; main retries
                if not await _gives_up(
                    redis, group, stream=stream, raw=fields[b"event"], refused=refused,
                    most=max_attempts,
                ):  # fmt: skip
                    continue  # no ACK: tried again once idle, after the mails behind it
            else:
                await redis.set(seen, 1, ex=SEEN_FOR_SECONDS)
                sent += 1
        await redis.hdel(f"{group}:mail-attempts", event["id"])
        await redis.xack(stream, group, entry_id)
        await redis.xdel(stream, entry_id)  # a link is a live token: keep none longer
    return sent


async def _gives_up(
    redis: aioredis.Redis,
    group: str,
    *,
    stream: str,
    raw: bytes,
    refused: tuple[int, str],
    most: int,
) -> bool:
    """Count a refusal of this mail; at a permanent one (5xx) or the last attempt, write it to
    the dead-letter stream (before the caller acknowledges it: nothing is lost) and say so."""
    event = json.loads(raw)
    attempts_key = f"{group}:mail-attempts"
    attempts = int(await redis.hincrby(attempts_key, event["id"], 1))
    await redis.expire(attempts_key, SEEN_FOR_SECONDS)
    code, words = refused
    if code < 500 and attempts < most:
        return False
    await redis.xadd(
        DEAD_LETTERS,
        {
            "event": raw,  # as gateway-auth wrote it
            "stream": stream,
            "code": code,
            "reason": words,
            "attempts": attempts,
            "at": datetime.now(UTC).isoformat(),
        },
    )
    await redis.incr(f"{group}:mail-dead-letters")
    line = {"event": "mail_dead_lettered", "id": event["id"], "type": event.get("type"),
            "code": code, "reason": words, "attempts": attempts}  # fmt: skip
    print(json.dumps(line), flush=True)
    return True


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
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=MAX_ATTEMPTS,
        help="tries of a mail the server refuses for now (4xx) before it is dead-lettered",
    )
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
            await mail_once(
                redis,
                smtp,
                group=args.group,
                consumer=args.consumer,
                max_attempts=args.max_attempts,
            )
        except (RedisConnectionError, RedisTimeoutError, OSError, smtplib.SMTPException) as exc:
            print(f"mailer: {type(exc).__name__}: {exc}; retrying in 5 s", flush=True)
            await asyncio.sleep(5)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
