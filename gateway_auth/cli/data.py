"""``gateway-auth export`` and ``import`` (moving an installation between stores), and ``events``
(the outbox and the Redis stream)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import click

from gateway_auth.cli.invocation import (
    CommandFailed,
    Invocation,
    echo_json,
    pass_invocation,
    tool_services,
    with_services,
)
from gateway_auth.clock import system_clock
from gateway_auth.errors import (
    ConfigurationError,
    StoreUnavailable,
)
from gateway_auth.services import Services, event_sink
from gateway_auth.stores.base import PendingEvent
from gateway_auth.stores.export import export_to, import_into


@click.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="a new file, created readable by you only (default: standard output)",
)
@pass_invocation
def export(invocation: Invocation, output: Path | None) -> int:
    """Write every client, session and pending event as JSON Lines (hashes included)."""
    settings = invocation.settings()
    progress = _Progress("exported")

    async def run(out: TextIO) -> Counter[str]:
        async with tool_services(settings) as services:
            return await export_to(services.store, out, system_clock(), progress)

    if output is None:
        written = asyncio.run(run(sys.stdout))
    else:
        try:
            # The file holds every password hash: new (never overwriting), and private.
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise CommandFailed(f"{output}: cannot be created ({exc.strerror})") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                written = asyncio.run(run(out))
        except BaseException:
            output.unlink()  # a partial export must not pass for a whole one
            raise
    progress.done()
    click.echo(f"gateway-auth: exported {_counts(written)}", err=True)
    return 0


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@pass_invocation
def import_(invocation: Invocation, file: Path) -> int:
    """Load an export (FILE, or - for stdin) into the configured store; safe to run again."""
    settings = invocation.settings()
    progress = _Progress("imported")

    async def load(lines: Iterable[str]) -> Counter[str]:
        async with tool_services(settings) as services:
            return await import_into(services.store, lines, progress)

    try:  # only reading the file here: a store's own errors are told as such
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandFailed(f"{file}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CommandFailed(f"{file}: is not UTF-8 text") from None
    loaded = asyncio.run(load(io.StringIO(text)))
    progress.done()
    click.echo(f"gateway-auth: imported {_counts(loaded)}", err=True)
    return 0


class _Progress:
    """A running count on the terminal (stderr) while a transfer goes on; silent when stderr
    is not a terminal, so scripts and logs get only the summary line."""

    def __init__(self, verb: str) -> None:
        self._verb = verb
        self._shown = False
        self._terminal = sys.stderr.isatty()

    def __call__(self, done: int, total: int | None) -> None:
        if not self._terminal:
            return
        of = f" of {total:,}" if total is not None else ""
        click.echo(f"\rgateway-auth: {self._verb} {done:,}{of} records", err=True, nl=False)
        self._shown = True

    def done(self) -> None:
        if self._shown:
            click.echo(err=True)


def _counts(counted: Counter[str]) -> str:
    kinds = ("client", "session", "outbox", "tombstone")
    names = {"outbox": "pending event"}
    parts = [f"{counted[k]} {names.get(k, k)}{'' if counted[k] == 1 else 's'}" for k in kinds]
    if counted["skipped"]:
        parts.append(f"{counted['skipped']} skipped (their client was created during the export)")
    return ", ".join(parts)


@click.group()
def events() -> None:
    """Deletion, password-reset and email-verification events."""


_SHOW_LINKS = click.option(
    "--show-links",
    is_flag=True,
    help="print mail events' links whole (each holds a live single-use token)",
)


@events.command("list")
@_SHOW_LINKS
@pass_invocation
def events_list(invocation: Invocation, show_links: bool) -> int:
    """Events waiting in the outbox."""

    async def pending(services: Services) -> list[PendingEvent]:
        return await services.store.pending_events(10_000)

    for entry in with_services(invocation, pending):
        line = {**entry.event.to_json(), "attempts": entry.attempts}
        if "link" in line and not show_links:
            line["link"] = hide_tokens(str(line["link"]))
        echo_json(line)
    return 0


_TOKEN_IN_LINK = re.compile(r"token=[^&\"]*")


def hide_tokens(text: str) -> str:
    """``text`` with every link's single-use token hidden (``--show-links`` prints them)."""
    return _TOKEN_IN_LINK.sub("token=(hidden: --show-links)", text)


@events.command("tail")
@click.option("--from-start", is_flag=True, help="print the whole stream first, then follow it")
@_SHOW_LINKS
@pass_invocation
def events_tail(invocation: Invocation, from_start: bool, show_links: bool) -> int:
    """Print events from the Redis stream as they come, until Ctrl-C."""
    settings = invocation.settings()
    if settings.redis_url is None:
        raise ConfigurationError(["events tail reads the Redis stream: set GATEWAY_AUTH_REDIS_URL"])

    async def follow() -> None:
        sink = event_sink(settings)
        if sink is None:
            return
        # Stop between reads on Ctrl-C or SIGTERM: cancelling a blocked XREAD is not reliable.
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        try:
            async for event in sink.follow(from_start=from_start):
                if event is not None:
                    shown = event if show_links else hide_tokens(event)
                    click.echo(shown)
                    sys.stdout.flush()
                if stop.is_set():
                    break
        finally:
            with contextlib.suppress(StoreUnavailable):
                await sink.close()

    asyncio.run(follow())
    return 0
