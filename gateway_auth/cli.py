"""The ``gateway-auth`` command: serve, and manage clients from the shell."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import getpass
import json
import logging
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from gateway_auth import __version__, rules_cli
from gateway_auth.accounts import CreatedService, NewClient, NewService
from gateway_auth.app import create_app
from gateway_auth.clock import system_clock
from gateway_auth.datadir import ensure_data_dir
from gateway_auth.errors import (
    ClientNotFound,
    FieldError,
    GatewayAuthError,
    StoreUnavailable,
    ValidationFailed,
)
from gateway_auth.http.access_log import AccessLogger, quiet_refused_requests
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.http.fastpath import GatewayRunner
from gateway_auth.http.views import client_view
from gateway_auth.keys import load_key_ring
from gateway_auth.logging import configure_logging, log_event
from gateway_auth.models import CLIENT_KINDS, Client
from gateway_auth.services import Services, access_control, event_sink, open_services
from gateway_auth.settings import PREFIX, ConfigurationError, Settings
from gateway_auth.stores.base import ClientQuery, PendingEvent
from gateway_auth.transfer import export_to, import_into
from gateway_auth.validation import email_key
from gateway_auth.workers import Supervisor

log = logging.getLogger("gateway_auth")
EXIT_FAILED, EXIT_CONFIG = 1, 2
SHUTDOWN_SECONDS = 10.0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
        configure_logging(
            settings.log_format, logging.INFO if args.command == "serve" else logging.WARNING
        )
        return int(args.run(args, settings))
    except ConfigurationError as exc:
        print(f"gateway-auth: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ValidationFailed as exc:
        for error in exc.errors:
            print(f"gateway-auth: {error.field} {error.message}", file=sys.stderr)
        return EXIT_FAILED
    except GatewayAuthError as exc:
        print(f"gateway-auth: {exc.message}", file=sys.stderr)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway-auth",
        description="API-gateway auth sidecar. Configured by GATEWAY_AUTH_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"gateway-auth {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.set_defaults(run=_serve)

    clients = commands.add_parser("clients", help="manage clients in the store")
    client_commands = clients.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = client_commands.add_parser(
        "create",
        help="create a client (e.g. the first admin); a service client's secret is printed once",
    )
    create.add_argument("--email", required=True)
    create.add_argument(
        "--kind",
        choices=CLIENT_KINDS,
        default="user",
        help="user (default), guest, or service (gets a client secret instead of a password)",
    )
    create.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SCOPE",
        help="grant a scope; repeat for several (e.g. --scope admin)",
    )
    create.add_argument("--first-name")
    create.add_argument("--last-name")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    create.set_defaults(run=_clients_create)
    listing = client_commands.add_parser("list", help="list clients")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(run=_clients_list)
    suspend = client_commands.add_parser(
        "suspend", help="suspend a client: refused at every gateway at once"
    )
    suspend.add_argument("id")
    suspend.add_argument("--reason", help="kept with the client record")
    suspend.set_defaults(run=_clients_suspend)
    unsuspend = client_commands.add_parser("unsuspend", help="lift a client's suspension")
    unsuspend.add_argument("id")
    unsuspend.set_defaults(run=_clients_unsuspend)
    verify_email = client_commands.add_parser(
        "verify-email",
        help="mark a client's email address verified (as if it had followed the mailed link)",
    )
    verify_email.add_argument("id")
    verify_email.add_argument(
        "--unverified", action="store_true", help="mark it unverified instead"
    )
    verify_email.set_defaults(run=_clients_verify_email)
    unlock = client_commands.add_parser(
        "unlock",
        help="lift a password lockout: clients that never signed in may try again at once",
    )
    unlock.add_argument("id")
    unlock.set_defaults(run=_clients_unlock)
    delete = client_commands.add_parser(
        "delete", help="delete a client: refused everywhere at once, deletion event queued"
    )
    delete.add_argument("id")
    delete.set_defaults(run=_clients_delete)

    export = commands.add_parser(
        "export",
        help="write every client, session and pending event as JSON Lines (hashes included)",
    )
    export.add_argument(
        "--output",
        "-o",
        type=Path,
        metavar="FILE",
        help="a new file, created readable by you only (default: standard output)",
    )
    export.set_defaults(run=_export)
    load = commands.add_parser(
        "import", help="load an export into the configured store (safe to run again)"
    )
    load.add_argument("file", type=Path, metavar="FILE", help="an export file, or - for stdin")
    load.set_defaults(run=_import)

    rules_cli.add_commands(commands, _services)

    _add_event_commands(commands)
    return parser


def _add_event_commands(commands: Any) -> None:
    events = commands.add_parser(
        "events", help="deletion, password-reset and email-verification events"
    )
    event_commands = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    pending = event_commands.add_parser("list", help="events waiting in the outbox")
    _show_links_option(pending)
    pending.set_defaults(run=_events_list)
    tail = event_commands.add_parser("tail", help="print events from the Redis stream as they come")
    tail.add_argument(
        "--from-start", action="store_true", help="print the whole stream first, then follow it"
    )
    _show_links_option(tail)
    tail.set_defaults(run=_events_tail)


def _show_links_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--show-links",
        action="store_true",
        help="print mail events' links whole (each holds a live single-use token)",
    )


def _serve(args: argparse.Namespace, settings: Settings) -> int:
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


def _clients_create(args: argparse.Namespace, settings: Settings) -> int:
    if args.kind == "service":
        return _services_create(args, settings)
    password = _read_password(args.password_stdin, sys.stdin)

    async def create() -> Client:
        async with _services(settings) as services:
            new = NewClient(args.email, password, args.first_name, args.last_name)
            return await services.accounts.create(new, kind=args.kind, scopes=args.scope)

    return _print_client(asyncio.run(create()))


def _services_create(args: argparse.Namespace, settings: Settings) -> int:
    async def create() -> CreatedService:
        async with _services(settings) as services:
            new = NewService(args.email, args.first_name, args.last_name)
            return await services.accounts.create_service(new, scopes=args.scope)

    created = asyncio.run(create())
    view = {**client_view(created.client), "clientSecret": created.secret}
    print(json.dumps(view, ensure_ascii=False))
    print("gateway-auth: the client secret is shown only this once", file=sys.stderr)
    return 0


def _clients_list(args: argparse.Namespace, settings: Settings) -> int:
    async def everyone() -> list[Client]:
        found: list[Client] = []
        async with _services(settings) as services:
            while page := await services.store.list_clients(
                ClientQuery(500, (found[-1].created_at, found[-1].id) if found else None)
            ):
                found.extend(page)
        return found

    clients = asyncio.run(everyone())
    if args.json:
        for client in clients:
            print(json.dumps(client_view(client), ensure_ascii=False))
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
        for c in clients
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _clients_suspend(args: argparse.Namespace, settings: Settings) -> int:
    async def suspend() -> Client | None:
        async with _services(settings) as services:
            return await services.revocations.suspend_client(args.id, args.reason)

    return _print_client(asyncio.run(suspend()))


def _clients_unsuspend(args: argparse.Namespace, settings: Settings) -> int:
    async def unsuspend() -> Client | None:
        async with _services(settings) as services:
            return await services.revocations.unsuspend_client(args.id)

    return _print_client(asyncio.run(unsuspend()))


def _clients_verify_email(args: argparse.Namespace, settings: Settings) -> int:
    async def mark() -> Client:
        async with _services(settings) as services:
            return await services.links.mark_verified(args.id, not args.unverified)

    return _print_client(asyncio.run(mark()))


def _clients_unlock(args: argparse.Namespace, settings: Settings) -> int:
    if settings.redis_url is None:
        # Without Redis each server counts failures in its own memory, out of this process's
        # reach.
        print(
            f"gateway-auth: without {PREFIX}REDIS_URL, lockouts live in each server's memory; "
            f"lift this one with DELETE /admin/clients/{args.id}/lockout on the server",
            file=sys.stderr,
        )
        return EXIT_FAILED

    async def unlock() -> Client | None:
        async with _services(settings) as services:
            client = await services.store.get_client(args.id)
            if client is not None:
                await services.regulator.lift(email_key(client.email))
                log_event(log, "admin_action", action="unlock", actor="cli", client_id=client.id)
            return client

    return _print_client(asyncio.run(unlock()))


def _clients_delete(args: argparse.Namespace, settings: Settings) -> int:
    async def delete() -> str:
        async with _services(settings) as services:
            return await services.accounts.delete(args.id)

    outcome = asyncio.run(delete())
    if outcome == "unknown":
        raise ClientNotFound
    if outcome == "already_deleted":
        print(f"gateway-auth: client {args.id} was already deleted", file=sys.stderr)
    elif settings.redis_url is None:
        print(
            "gateway-auth: deleted; its event waits in the outbox until GATEWAY_AUTH_REDIS_URL "
            "is set (gateway-auth events list)",
            file=sys.stderr,
        )
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    async def export(out: TextIO) -> Counter[str]:
        async with _services(settings) as services:
            return await export_to(services.store, out, system_clock())

    if args.output is None:
        written = asyncio.run(export(sys.stdout))
    else:
        try:
            # The file holds every password hash: new (never overwriting), and private.
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise ConfigurationError(
                [f"{args.output}: cannot be created ({exc.strerror})"]
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                written = asyncio.run(export(out))
        except BaseException:
            args.output.unlink()  # a partial export must not pass for a whole one
            raise
    print(f"gateway-auth: exported {_counts(written)}", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    async def load(lines: Iterable[str]) -> Counter[str]:
        async with _services(settings) as services:
            return await import_into(services.store, lines)

    try:
        if str(args.file) == "-":
            loaded = asyncio.run(load(sys.stdin))
        else:
            with args.file.open(encoding="utf-8") as lines:
                loaded = asyncio.run(load(lines))
    except OSError as exc:
        raise ConfigurationError([f"{args.file}: cannot be read ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise ConfigurationError([f"{args.file}: is not UTF-8 text"]) from None
    print(f"gateway-auth: imported {_counts(loaded)}", file=sys.stderr)
    return 0


def _counts(counted: Counter[str]) -> str:
    kinds = ("client", "session", "outbox", "tombstone")
    names = {"outbox": "pending event"}
    parts = [f"{counted[k]} {names.get(k, k)}{'' if counted[k] == 1 else 's'}" for k in kinds]
    if counted["skipped"]:
        parts.append(f"{counted['skipped']} skipped (their client was created during the export)")
    return ", ".join(parts)


def _events_list(args: argparse.Namespace, settings: Settings) -> int:
    async def pending() -> list[PendingEvent]:
        async with _services(settings) as services:
            return await services.store.pending_events(10_000)

    for entry in asyncio.run(pending()):
        line = {**entry.event.to_json(), "attempts": entry.attempts}
        if "link" in line and not args.show_links:
            line["link"] = _TOKEN_IN_LINK.sub(_HIDDEN, str(line["link"]))
        print(json.dumps(line, ensure_ascii=False))
    return 0


_TOKEN_IN_LINK = re.compile(r"token=[^&\"]*")
_HIDDEN = "token=(hidden: --show-links)"


def _events_tail(args: argparse.Namespace, settings: Settings) -> int:
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
            async for event in sink.follow(from_start=args.from_start):
                if event is not None:
                    shown = event if args.show_links else _TOKEN_IN_LINK.sub(_HIDDEN, event)
                    print(shown, flush=True)
                if stop.is_set():
                    break
        finally:
            with contextlib.suppress(StoreUnavailable):
                await sink.close()

    asyncio.run(follow())
    return 0


def _print_client(client: Client | None) -> int:
    if client is None:
        raise ClientNotFound
    print(json.dumps(client_view(client), ensure_ascii=False))
    return 0


def _read_password(from_stdin: bool, stdin: TextIO) -> str:
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    if not stdin.isatty():
        raise ConfigurationError(["no terminal to ask for the password; use --password-stdin"])
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != password:
        raise ValidationFailed([FieldError("password", "the two entries do not match")])
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
