"""What every command gets: the environment read into Settings, the command line's
services, plain output, and the errors that set the exit status."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from gateway_auth.config.settings import Settings
from gateway_auth.errors import (
    ClientNotFound,
)
from gateway_auth.http.views import client_view
from gateway_auth.logging import FIELDS, configure_logging
from gateway_auth.models import Client
from gateway_auth.services import Services, open_services

EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 1, 2, 130
EXIT_CONFIG = EXIT_USAGE  # a configuration the command cannot run with, as a usage error
ACTOR = "cli"  # how the command line appears in admin audit lines
T = TypeVar("T")


class CommandFailed(click.ClickException):
    """A problem that is not the configuration's, said plainly: exit status 1."""

    exit_code = EXIT_FAILED

    def show(self, file: Any = None) -> None:
        click.echo(f"gateway-auth: {self.format_message()}", err=True)


class CalledWrongly(CommandFailed):
    """The command cannot run as it was called (like a usage error): exit status 2."""

    exit_code = EXIT_USAGE


@dataclass(slots=True)
class Invocation:
    """What every command gets: the environment, read into Settings on first use."""

    environ: Mapping[str, str]
    _settings: Settings | None = None

    def settings(self, *, serving: bool = False) -> Settings:
        """The settings (read once), with logging set up for a server or a short command."""
        if self._settings is None:
            self._settings = Settings.from_env(self.environ)
            if serving:
                configure_logging(self._settings.log_format, logging.INFO)
            else:
                _speak_plainly()
        return self._settings

    @property
    def read(self) -> Settings | None:
        """The settings, if a command has read them (None before, or when they failed)."""
        return self._settings


pass_invocation = click.make_pass_decorator(Invocation)

# What a short command's warnings say to the person who ran it (a server logs the events).
_SAID = {
    "data_dir_not_private": "the data directory {path} can be read by other users "
    "(it holds password hashes and the signing secret): chmod 700 {path}",
}


class PlainFormatter(logging.Formatter):
    """``gateway-auth: warning: <a sentence>`` between the command's own messages, never a
    JSON line; an event without a sentence shows its name and fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, FIELDS, {})
        event = record.getMessage()
        try:
            said = _SAID[event].format(**fields)
        except (KeyError, IndexError):
            said = " ".join([event, *(f"{key}={value}" for key, value in fields.items())])
        return f"gateway-auth: {record.levelname.lower()}: {said}"


def _speak_plainly() -> None:
    """Warnings and errors only, as sentences on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def with_services(invocation: Invocation, work: Callable[[Services], Awaitable[T]]) -> T:
    """Open the command line's services, do ``work`` with them, close them."""
    settings = invocation.settings()

    async def run() -> T:
        async with tool_services(settings) as services:
            return await work(services)

    return asyncio.run(run())


async def client_id(services: Services, reference: str) -> str:
    """The id a CLIENT argument names: an id as given, an email address looked up."""
    return (await services.admin.find(reference)).id if "@" in reference else reference


def on_client(
    invocation: Invocation, reference: str, action: Callable[[Services, str], Awaitable[T]]
) -> T:
    """Do ``action`` with the services and the id that the CLIENT argument names."""

    async def work(services: Services) -> T:
        return await action(services, await client_id(services, reference))

    return with_services(invocation, work)


def tool_services(settings: Settings) -> AbstractAsyncContextManager[Services]:
    """The command line's services: its revocations and lockout changes reach running servers
    through Redis (or fail), never only this short-lived process."""
    return open_services(settings, role="tool")


def print_client(client: Client | None) -> int:
    """Print a client as JSON (exit status 0); a client that is not there is an error."""
    if client is None:
        raise ClientNotFound
    echo_json(client_view(client))
    return 0


def echo_json(value: object) -> None:
    """One JSON line on stdout, non-ASCII as it is."""
    click.echo(json.dumps(value, ensure_ascii=False))


def echo_table(rows: Sequence[tuple[str, ...]]) -> None:
    """Rows as aligned columns on stdout."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
