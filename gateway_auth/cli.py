"""The ``gateway-auth`` command: serve, and manage clients from the shell (click)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import getpass
import io
import json
import logging
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click
from aiohttp import web

from gateway_auth import __version__, rules_cli
from gateway_auth.accounts import NewClient, NewService
from gateway_auth.admin import ScopeChange
from gateway_auth.app import create_app
from gateway_auth.clock import system_clock
from gateway_auth.datadir import ensure_data_dir
from gateway_auth.errors import (
    ClientNotFound,
    GatewayAuthError,
    StoreUnavailable,
    ValidationFailed,
)
from gateway_auth.http.access_log import AccessLogger, quiet_refused_requests
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.http.fastpath import GatewayRunner
from gateway_auth.http.views import client_view, session_view
from gateway_auth.keys import load_key_ring
from gateway_auth.logging import configure_logging, log_event
from gateway_auth.models import CLIENT_KINDS, Client, iso
from gateway_auth.services import Services, access_control, event_sink, open_services
from gateway_auth.settings import PREFIX, ConfigurationError, Settings
from gateway_auth.stores.base import ClientQuery, PendingEvent, ProfileField
from gateway_auth.transfer import export_to, import_into
from gateway_auth.workers import Supervisor

log = logging.getLogger("gateway_auth")
EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 1, 2, 130
EXIT_CONFIG = EXIT_USAGE  # a configuration the command cannot run with, as a usage error
SHUTDOWN_SECONDS = 10.0
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
        if self._settings is None:
            self._settings = Settings.from_env(self.environ)
            configure_logging(
                self._settings.log_format, logging.INFO if serving else logging.WARNING
            )
        return self._settings


pass_invocation = click.make_pass_decorator(Invocation)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the command line; returns the exit status (never a traceback for a known problem)."""
    invocation = Invocation(os.environ if environ is None else environ)
    try:
        status = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="gateway-auth",
            standalone_mode=False,
            obj=invocation,
        )
    except (click.exceptions.Abort, KeyboardInterrupt, EOFError):  # Ctrl-C, Ctrl-D
        click.echo(
            "\ngateway-auth: interrupted; what was already written stays (an import can be "
            "run again)",
            err=True,
        )
        return EXIT_CANCELLED
    except (click.ClickException, ConfigurationError, GatewayAuthError) as exc:
        return _explain(exc, invocation)
    return status if isinstance(status, int) else 0


def _explain(exc: Exception, invocation: Invocation) -> int:
    """Say what went wrong on stderr; the exit status it deserves."""
    if isinstance(exc, click.ClickException):
        exc.show()
        return exc.exit_code
    if isinstance(exc, ConfigurationError):
        click.echo(f"gateway-auth: {exc}", err=True)
        return EXIT_CONFIG
    if isinstance(exc, ValidationFailed):
        for error in exc.errors:
            click.echo(f"gateway-auth: {error.field} {error.message}", err=True)
    elif isinstance(exc, StoreUnavailable):
        click.echo(f"gateway-auth: {exc.message}", err=True)
        click.echo(f"gateway-auth: check that {_backends(invocation)} can be reached", err=True)
    elif isinstance(exc, GatewayAuthError):
        click.echo(f"gateway-auth: {exc.message}", err=True)
    return EXIT_FAILED


def _backends(invocation: Invocation) -> str:
    """Which backends a StoreUnavailable can be about, by the names the operator set."""
    settings = invocation._settings
    named = []
    if settings is not None and settings.mongodb_uri is not None:
        named.append(f"MongoDB ({PREFIX}MONGODB_URI)")
    if settings is not None and settings.redis_url is not None:
        named.append(f"Redis ({PREFIX}REDIS_URL)")
    return " and ".join(named) or "the data directory's database"


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="API-gateway auth sidecar. Configured by GATEWAY_AUTH_* environment variables.\n\n"
    "Clients are named by id or by email address wherever a command takes CLIENT.",
)
@click.version_option(__version__, prog_name="gateway-auth", message="%(prog)s %(version)s")
def cli() -> None:
    """The command group."""


# ---------------------------------------------------------------- serve


@cli.command()
@pass_invocation
def serve(invocation: Invocation) -> int:
    """Run the HTTP server (WORKERS processes) until SIGTERM or Ctrl-C."""
    settings = invocation.settings(serving=True)
    access_control(settings)  # a bad rules file stops start-up here, every problem listed
    if settings.workers == 1:
        return serve_one(settings)
    # Prepare what every worker shares once, so workers never race to create it.
    ensure_data_dir(settings.data_dir)
    load_key_ring(settings)

    async def migrate() -> None:
        async with _services(settings):
            pass

    asyncio.run(migrate())
    return Supervisor(settings, _serve_worker, drain_seconds=SHUTDOWN_SECONDS).run()


def serve_one(settings: Settings, *, reuse_port: bool = False) -> int:
    """Run one server process until SIGTERM/SIGINT, draining in-flight requests first."""
    # Until the rules are loaded and the handler is in place a SIGHUP waits, rather than killing
    # the process (its default action); a worker is spawned with it blocked already.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    logging.getLogger("aiohttp.server").addFilter(quiet_refused_requests)
    app = create_app(settings)
    loop = _event_loop() or asyncio.new_event_loop()
    try:
        loop.run_until_complete(_run(app, settings, reuse_port=reuse_port))
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        print(
            f"gateway-auth: cannot listen on {settings.host}:{settings.port}: {reason}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    finally:
        loop.close()
    return 0


async def _run(app: web.Application, settings: Settings, *, reuse_port: bool) -> None:
    """Listen until SIGTERM or SIGINT, then drain: aiohttp's ``run_app``, with the runner that
    puts the fast ``/verify`` listener in front."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload_rules, app)
    runner = GatewayRunner(
        app,
        access_log=logging.getLogger("gateway_auth.access"),
        access_log_class=AccessLogger,
        shutdown_timeout=SHUTDOWN_SECONDS,
        keepalive_timeout=settings.keepalive_timeout.total_seconds(),
    )
    await runner.setup()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # one that waited is handled now
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port or None)
        await site.start()
        log_event(log, "listening", url=_url(settings), pid=os.getpid())
        await stop.wait()
    finally:
        await runner.cleanup()


def _reload_rules(app: web.Application) -> None:
    """SIGHUP: read RULES_FILE again (a bad file keeps the rules in force, and says why)."""
    services = app.get(SERVICES)
    if services is not None and services.access is not None:
        services.access.reload("SIGHUP")


def _serve_worker(settings: Settings) -> None:
    """One worker of several (a spawned process): logging is set up again in here."""
    configure_logging(settings.log_format, logging.INFO)
    sys.exit(serve_one(settings, reuse_port=True))


# ---------------------------------------------------------------- clients


@cli.group()
def clients() -> None:
    """Manage clients in the store (every change reaches running servers at once)."""


def _with_services(invocation: Invocation, work: Callable[[Services], Awaitable[T]]) -> T:
    """Open the command line's services, do ``work`` with them, close them."""
    settings = invocation.settings()

    async def run() -> T:
        async with _services(settings) as services:
            return await work(services)

    return asyncio.run(run())


async def _client_id(services: Services, reference: str) -> str:
    """The id a CLIENT argument names: an id as given, an email address looked up."""
    return (await services.admin.find(reference)).id if "@" in reference else reference


def _on_client(
    invocation: Invocation, reference: str, action: Callable[[Services, str], Awaitable[T]]
) -> T:
    """Do ``action`` with the services and the id that the CLIENT argument names."""

    async def work(services: Services) -> T:
        return await action(services, await _client_id(services, reference))

    return _with_services(invocation, work)


_SCOPE = click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="SCOPE",
    help="grant a scope; repeat for several (e.g. --scope admin)",
)


@clients.command("create")
@click.option("--email", required=True)
@click.option(
    "--kind",
    type=click.Choice(CLIENT_KINDS),
    default="user",
    show_default=True,
    help="user, guest, or service (gets a client secret instead of a password)",
)
@_SCOPE
@click.option("--first-name")
@click.option("--last-name")
@click.option(
    "--password-stdin", is_flag=True, help="read the password from the first line of stdin"
)
@pass_invocation
def clients_create(
    invocation: Invocation,
    *,
    email: str,
    kind: str,
    scopes: tuple[str, ...],
    first_name: str | None,
    last_name: str | None,
    password_stdin: bool,
) -> int:
    """Create a client (e.g. the first admin); a service client's secret is printed once."""
    if kind == "service":
        service = NewService(email, first_name, last_name)
        created = _with_services(
            invocation, lambda s: s.admin.create_service(ACTOR, service, scopes=scopes)
        )
        _echo_json({**client_view(created.client), "clientSecret": created.secret})
        click.echo("gateway-auth: the client secret is shown only this once", err=True)
        return 0
    new = NewClient(email, _read_password(password_stdin, sys.stdin), first_name, last_name)
    client = _with_services(
        invocation,
        lambda s: s.admin.create_user(ACTOR, new, kind=kind, scopes=scopes),  # type: ignore[arg-type]
    )
    return _print_client(client)


@clients.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@click.option("--scope", help="only clients holding this scope")
@click.option("--kind", type=click.Choice(CLIENT_KINDS), help="only clients of this kind")
@pass_invocation
def clients_list(invocation: Invocation, as_json: bool, scope: str | None, kind: str | None) -> int:
    """List clients, oldest first."""

    async def everyone(services: Services) -> list[Client]:
        found: list[Client] = []
        while page := await services.store.list_clients(
            ClientQuery(
                500,
                (found[-1].created_at, found[-1].id) if found else None,
                kind=kind,  # type: ignore[arg-type]
                scope=scope,
            )
        ):
            found.extend(page)
        return found

    found = _with_services(invocation, everyone)
    if as_json:
        for client in found:
            _echo_json(client_view(client))
        return 0
    rows = [("ID", "EMAIL", "KIND", "SCOPES", "SUSPENDED", "CREATED")]
    rows += [
        (
            c.id,
            c.email,
            c.kind,
            ",".join(c.scopes) or "-",
            "yes" if c.suspended else "no",
            c.created_at.strftime("%Y-%m-%d %H:%M"),
        )
        for c in found
    ]
    _echo_table(rows)
    return 0


@clients.command("show")
@click.argument("client")
@pass_invocation
def clients_show(invocation: Invocation, client: str) -> int:
    """Print one client as JSON."""
    return _print_client(_with_services(invocation, lambda s: s.admin.find(client)))


@clients.command("update")
@click.argument("client")
@click.option("--email", help="a new address (unverified until its mailed link is followed)")
@click.option("--first-name", help='a new first name ("" clears it)')
@click.option("--last-name", help='a new last name ("" clears it)')
@click.option("--add-scope", multiple=True, metavar="SCOPE", help="grant a scope; repeatable")
@click.option(
    "--remove-scope",
    multiple=True,
    metavar="SCOPE",
    help="take a scope away (ends the client's sessions); repeatable",
)
@click.option(
    "--set-scopes",
    metavar="A,B",
    help='replace every scope with these ("" for none); not with --add/--remove-scope',
)
@pass_invocation
def clients_update(
    invocation: Invocation,
    *,
    client: str,
    email: str | None,
    first_name: str | None,
    last_name: str | None,
    add_scope: tuple[str, ...],
    remove_scope: tuple[str, ...],
    set_scopes: str | None,
) -> int:
    """Change a client's names, email address or scopes."""
    if set_scopes is not None and (add_scope or remove_scope):
        raise click.UsageError("--set-scopes replaces every scope: use it alone")
    values: dict[ProfileField, str | None] = {}
    if email is not None:
        values["email"] = email
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not None:
            values[name] = value or None  # type: ignore[index]
    change = None
    if set_scopes is not None:
        change = ScopeChange(tuple(s.strip() for s in set_scopes.split(",") if s.strip()))
    elif add_scope or remove_scope:
        change = ScopeChange(add=add_scope, remove=remove_scope)
    if not values and change is None:
        raise click.UsageError("nothing to change: give --email, a name or a scope option")

    return _print_client(
        _on_client(invocation, client, lambda s, cid: s.admin.update(ACTOR, cid, values, change))
    )


@clients.command("suspend")
@click.argument("client")
@click.option("--reason", help="kept with the client record")
@pass_invocation
def clients_suspend(invocation: Invocation, client: str, reason: str | None) -> int:
    """Suspend a client: refused at every gateway at once."""

    return _print_client(
        _on_client(invocation, client, lambda s, cid: s.admin.suspend(ACTOR, cid, reason))
    )


@clients.command("unsuspend")
@click.argument("client")
@pass_invocation
def clients_unsuspend(invocation: Invocation, client: str) -> int:
    """Lift a client's suspension."""

    return _print_client(
        _on_client(invocation, client, lambda s, cid: s.admin.unsuspend(ACTOR, cid))
    )


@clients.command("verify-email")
@click.argument("client")
@click.option("--unverified", is_flag=True, help="mark it unverified instead")
@pass_invocation
def clients_verify_email(invocation: Invocation, client: str, unverified: bool) -> int:
    """Mark a client's address verified (as if it had followed the mailed link)."""

    return _print_client(
        _on_client(invocation, client, lambda s, cid: s.links.mark_verified(cid, not unverified))
    )


@clients.command("reset-password")
@click.argument("client")
@pass_invocation
def clients_reset_password(invocation: Invocation, client: str) -> int:
    """Mail the user a password-reset link (the user chooses the new password)."""

    async def reset(services: Services) -> tuple[Client, str]:
        found = await services.admin.find(client)
        return found, iso(await services.admin.start_password_reset(ACTOR, found.id))

    found, expires_at = _with_services(invocation, reset)
    click.echo(
        f"gateway-auth: a reset link for {found.email} is queued; it works until {expires_at}",
        err=True,
    )
    if invocation.settings().redis_url is None:
        click.echo(
            f"gateway-auth: it waits in the outbox until {PREFIX}REDIS_URL is set and a mailer "
            "reads the stream (gateway-auth events list)",
            err=True,
        )
    return 0


@clients.command("sessions")
@click.argument("client")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@pass_invocation
def clients_sessions(invocation: Invocation, client: str, as_json: bool) -> int:
    """List a client's active sessions, newest first."""

    found = _on_client(invocation, client, lambda s, cid: s.admin.sessions(cid))
    if as_json:
        for session in found:
            _echo_json(session_view(session, ""))
        return 0
    rows = [("SESSION", "LAST USED", "EXPIRES", "IP", "DEVICE")]
    rows += [
        (
            s.id,
            s.last_used_at.strftime("%Y-%m-%d %H:%M"),
            s.expires_at.strftime("%Y-%m-%d %H:%M"),
            s.ip or "-",
            (s.user_agent or "-")[:60],
        )
        for s in found
    ]
    _echo_table(rows)
    return 0


@clients.command("end-session")
@click.argument("client")
@click.argument("session", required=False)
@click.option("--all", "every", is_flag=True, help="end every session of the client")
@pass_invocation
def clients_end_session(
    invocation: Invocation, client: str, session: str | None, every: bool
) -> int:
    """End one session of a client (or --all of them) at every gateway at once."""
    if (session is None) == (not every):
        raise click.UsageError("give a SESSION id (see clients sessions), or --all")

    async def end(services: Services, client_id: str) -> int:
        if every:
            return await services.admin.revoke_sessions(ACTOR, client_id)
        await services.admin.end_session(ACTOR, client_id, session or "")
        return 1

    ended = _on_client(invocation, client, end)
    click.echo(f"gateway-auth: ended {ended} session{'' if ended == 1 else 's'}", err=True)
    return 0


@clients.command("unlock")
@click.argument("client")
@pass_invocation
def clients_unlock(invocation: Invocation, client: str) -> int:
    """Lift a password lockout: clients that never signed in may try again at once."""
    no_redis = invocation.settings().redis_url is None

    async def unlock(services: Services) -> Client:
        found = await services.admin.find(client)
        if no_redis:
            # Without Redis each server counts failures in its own memory, out of this
            # process's reach.
            raise CommandFailed(
                f"without {PREFIX}REDIS_URL, lockouts live in each server's memory; "
                f"lift this one with DELETE /admin/clients/{found.id}/lockout on the server"
            )
        return await services.admin.unlock(ACTOR, found.id)

    return _print_client(_with_services(invocation, unlock))


@clients.command("delete")
@click.argument("client")
@pass_invocation
def clients_delete(invocation: Invocation, client: str) -> int:
    """Delete a client: refused everywhere at once, deletion event queued."""

    outcome = _on_client(invocation, client, lambda s, cid: s.admin.delete(ACTOR, cid))
    if outcome == "already_deleted":
        click.echo(f"gateway-auth: client {client} was already deleted", err=True)
    elif invocation.settings().redis_url is None:
        click.echo(
            f"gateway-auth: deleted; its event waits in the outbox until {PREFIX}REDIS_URL "
            "is set (gateway-auth events list)",
            err=True,
        )
    return 0


# ---------------------------------------------------------------- export and import


@cli.command("export")
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
        async with _services(settings) as services:
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


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@pass_invocation
def import_(invocation: Invocation, file: Path) -> int:
    """Load an export (FILE, or - for stdin) into the configured store; safe to run again."""
    settings = invocation.settings()
    progress = _Progress("imported")

    async def load(lines: Iterable[str]) -> Counter[str]:
        async with _services(settings) as services:
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


# ---------------------------------------------------------------- events


@cli.group()
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

    for entry in _with_services(invocation, pending):
        line = {**entry.event.to_json(), "attempts": entry.attempts}
        if "link" in line and not show_links:
            line["link"] = _TOKEN_IN_LINK.sub(_HIDDEN, str(line["link"]))
        _echo_json(line)
    return 0


_TOKEN_IN_LINK = re.compile(r"token=[^&\"]*")
_HIDDEN = "token=(hidden: --show-links)"


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
                    shown = event if show_links else _TOKEN_IN_LINK.sub(_HIDDEN, event)
                    click.echo(shown)
                    sys.stdout.flush()
                if stop.is_set():
                    break
        finally:
            with contextlib.suppress(StoreUnavailable):
                await sink.close()

    asyncio.run(follow())
    return 0


# ---------------------------------------------------------------- completion


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(gateway-auth completion bash)"."""
    from click.shell_completion import get_completion_class  # noqa: PLC0415 - only here

    completer = get_completion_class(shell)
    if completer is None:  # pragma: no cover - click ships all three
        raise CommandFailed(f"no completion for {shell}")
    click.echo(completer(cli, {}, "gateway-auth", "_GATEWAY_AUTH_COMPLETE").source())


cli.add_command(rules_cli.rules)


# ---------------------------------------------------------------- helpers


def _print_client(client: Client | None) -> int:
    if client is None:
        raise ClientNotFound
    _echo_json(client_view(client))
    return 0


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


def _echo_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _read_password(from_stdin: bool, stdin: TextIO) -> str:
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    if not stdin.isatty():
        raise CalledWrongly("no terminal to ask for the password; pipe it in with --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != password:
        raise CommandFailed("the two passwords do not match; nothing was created")
    return password


def _services(settings: Settings) -> AbstractAsyncContextManager[Services]:
    """The command line's services: its revocations and lockout changes reach running servers
    through Redis (or fail), never only this short-lived process."""
    return open_services(settings, role="tool")


def _event_loop() -> asyncio.AbstractEventLoop | None:
    try:
        import uvloop  # noqa: PLC0415 - optional: only on Linux/CPython
    except ImportError:
        return None
    return uvloop.new_event_loop()


def _url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}{settings.base_path}"
