"""examples/mailer.py end to end: gateway-auth publishes mail events through a real
redis-server, the mailer sends them to a real SMTP server (aiosmtpd) started here, the link in
the mail that arrives works exactly once, and the password reset is told in a notice."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from email.message import EmailMessage
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller

from tests.support.browser import Browser
from tests.support.credentials import PASSWORD
from tests.support.processes import RedisServer, free_port
from tests.support.project import EXAMPLES
from tests.support.records import a_mail_event
from tests.support.smtp import Inbox, link_in
from tests.support.waiting import eventually

EXAMPLE = EXAMPLES / "mailer.py"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def mailer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mailer", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


async def mail_until(
    module: ModuleType, redis: aioredis.Redis, settings: Any, inbox: Inbox, count: int
) -> EmailMessage:
    """Run the mailer until the inbox holds ``count`` mails; the last one."""

    async def delivered() -> bool:
        await module.mail_once(redis, settings, block_ms=100)
        return len(inbox.mails) >= count

    if len(inbox.mails) < count:
        await eventually(delivered, within=15, what=f"{count} mail(s) in the inbox")
    return inbox.mails[-1]


async def test_the_mailer_delivers_links_that_work_once(
    make_browser: Callable[..., Awaitable[Browser]],
    redis: aioredis.Redis,
    redis_server: RedisServer,
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    module = mailer()
    settings = module.Smtp("127.0.0.1", port, "Example <no-reply@example.com>")
    await module.ensure_groups(redis, "mailer")
    browser = await make_browser(REDIS_URL=redis_server.url)
    await browser.register(firstName="Ada")

    verification = await mail_until(module, redis, settings, inbox, 1)
    link = urlsplit(link_in(verification))
    page = await browser.page(f"{link.path}?{link.query}")
    token = link.query.removeprefix("token=")
    first = await browser.submit(page, link.path, {"token": token})
    second = await browser.submit(page, link.path, {"token": token})

    assert verification["To"] == "ada@example.com"
    assert verification["Subject"] == "Verify your email address"
    assert verification["Auto-Submitted"] == "auto-generated"
    assert verification.get_body(("plain",)).get_content().startswith("Hello Ada,")  # type: ignore[union-attr]
    assert page.status == 200
    assert first.status == 303  # not signed in here: on to the sign-in page, verified
    assert first.headers["Location"] == "/login?notice=email_verified"
    assert second.status == 400
    assert "This link was used already" in second.text

    asked = await browser.request("POST", "/password-reset", json={"email": "ada@example.com"})
    reset = await mail_until(module, redis, settings, inbox, 2)
    token = urlsplit(link_in(reset)).query.removeprefix("token=")
    body = {"token": token, "newPassword": NEW_PASSWORD}
    used = await browser.request("POST", "/password-reset/confirm", json=body)
    again = await browser.request("POST", "/password-reset/confirm", json=body)

    assert asked.status == 202
    assert reset["Subject"] == "Reset your password"
    assert (used.status, again.status) == (204, 400)
    assert (await browser.login("ada@example.com", PASSWORD)).status == 401
    assert (await browser.login("ada@example.com", NEW_PASSWORD)).status == 200
    notice = await mail_until(module, redis, settings, inbox, 3)
    told = notice.get_body(("plain",))
    assert told is not None
    assert notice["To"] == "ada@example.com"
    assert notice["Subject"] == "Your password was reset"
    assert "If it was not, reset your password now" in told.get_content()
    assert "http" not in told.get_content()  # a notice carries no link
    # Delivered at least once, mailed once: a redelivered entry is not mailed again.
    await asyncio.sleep(0)
    assert await module.mail_once(redis, settings, block_ms=100, min_idle_ms=0) == 0
    assert len(inbox.mails) == 3


async def queue(redis: aioredis.Redis, *addresses: str) -> list[str]:
    """Password-reset mail events for ``addresses``, appended to their stream as gateway-auth
    appends them; their ids."""
    ids = []
    for n, address in enumerate(addresses):
        event = replace(a_mail_event(f"m{n}-{address}"), email=address)
        await redis.xadd(
            "gateway-auth:events:password-reset-requested", {"event": json.dumps(event.to_json())}
        )
        ids.append(event.id)
    return ids


async def dead_letters(redis: aioredis.Redis) -> list[dict[bytes, bytes]]:
    entries: Any = await redis.xrange("gateway-auth:events:mail-dead-letter")
    return [fields for _, fields in entries]


async def test_a_refused_recipient_is_dead_lettered_and_the_mails_behind_it_go_out(
    redis: aioredis.Redis, smtp: tuple[Inbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, port = smtp
    module = mailer()
    settings = module.Smtp("127.0.0.1", port, "Example <no-reply@example.com>")
    await module.ensure_groups(redis, "mailer")
    ids = await queue(redis, "ada@example.com", "refused@example.com", "bob@example.com")

    sent = await module.mail_once(redis, settings, block_ms=100)
    again = await module.mail_once(redis, settings, block_ms=100, min_idle_ms=0)

    assert sent == 2
    assert again == 0  # nothing left to try: the refused one is out of the stream
    assert [mail["To"] for mail in inbox.mails] == ["ada@example.com", "bob@example.com"]
    assert inbox.refusals == ["refused@example.com"]  # a 550 is not tried again
    [dead] = await dead_letters(redis)
    assert json.loads(dead[b"event"])["id"] == ids[1]  # the whole event, as it was queued
    assert json.loads(dead[b"event"])["link"].startswith("https://")
    assert (dead[b"code"], dead[b"attempts"]) == (b"550", b"1")
    assert b"No such mailbox" in dead[b"reason"]
    assert await redis.get("mailer:mail-dead-letters") == b"1"
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["event"], line["id"]) for line in logged] == [("mail_dead_lettered", ids[1])]
    pending: Any = await redis.xpending("gateway-auth:events:password-reset-requested", "mailer")
    assert pending["pending"] == 0


async def test_a_mail_refused_for_now_is_tried_again_then_delivered_or_dead_lettered(
    redis: aioredis.Redis, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    module = mailer()
    settings = module.Smtp("127.0.0.1", port, "Example <no-reply@example.com>")
    await module.ensure_groups(redis, "mailer")
    inbox.busy_for = 2  # two 451s, then accepted
    await queue(redis, "later@example.com", "bob@example.com")

    rounds = [
        await module.mail_once(redis, settings, block_ms=100, min_idle_ms=0, max_attempts=3)
        for _ in range(3)
    ]

    assert rounds == [1, 0, 1]  # bob at once; later@ on its third try
    assert [mail["To"] for mail in inbox.mails] == ["bob@example.com", "later@example.com"]
    assert await dead_letters(redis) == []

    inbox.busy_for = 10  # longer than the attempts allowed
    [late] = await queue(redis, "later@example.net")
    for _ in range(3):
        await module.mail_once(redis, settings, block_ms=100, min_idle_ms=0, max_attempts=3)

    [dead] = await dead_letters(redis)
    assert (json.loads(dead[b"event"])["id"], dead[b"code"], dead[b"attempts"]) == (
        late,
        b"451",
        b"3",
    )
    assert len(inbox.mails) == 2


async def test_an_smtp_server_that_is_down_costs_no_attempt(
    redis: aioredis.Redis,
) -> None:
    module = mailer()
    settings = module.Smtp("127.0.0.1", free_port(), "Example <no-reply@example.com>")
    await module.ensure_groups(redis, "mailer")
    await queue(redis, "ada@example.com")

    for _ in range(6):
        with pytest.raises(ConnectionRefusedError):
            await module.mail_once(redis, settings, block_ms=100, min_idle_ms=0, max_attempts=2)

    assert await dead_letters(redis) == []  # kept for when the server is back
    pending: Any = await redis.xpending("gateway-auth:events:password-reset-requested", "mailer")
    assert pending["pending"] == 1
