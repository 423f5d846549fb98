"""``gateway-auth serve``: one server process, or WORKERS of them sharing the port."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import sys

import click
from aiohttp import web

from gateway_auth.cli.greeting import greeting
from gateway_auth.cli.invocation import EXIT_FAILED, Invocation, pass_invocation, tool_services
from gateway_auth.cli.orphans import ask_for_sigterm_on_parent_death, watch_parent
from gateway_auth.cli.workers import Supervisor
from gateway_auth.config.settings import PREFIX, Settings
from gateway_auth.http.app import create_app
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.http.request_log import LOGGER, RequestLogger, quiet_refused_requests
from gateway_auth.http.verify.fastpath import GatewayRunner
from gateway_auth.logging import configure_logging, log_event
from gateway_auth.services import access_control

log = logging.getLogger("gateway_auth")
SHUTDOWN_SECONDS = 10.0  # to finish the requests in flight


@click.command()
@pass_invocation
def serve(invocation: Invocation) -> int:
    """Run the HTTP server (WORKERS processes) until SIGTERM or Ctrl-C."""
    settings = invocation.settings(serving=True)
    access_control(settings)  # a bad rules file stops start-up here, every problem listed
    if settings.links_are_private:
        log_event(
            log,
            "mail_links_not_public",
            level=logging.WARNING,
            links=settings.links_base,
            advice=f"set {PREFIX}PUBLIC_URL to the address people reach the portal at; "
            "links in password-reset and address-check mails point at this listener until then",
        )
    if settings.workers == 1:
        return serve_one(settings)
    # Prepare what every worker shares once (the data directory, the signing key, the
    # schema), so that workers never race to create it.

    async def migrate() -> None:
        async with tool_services(settings):
            pass

    asyncio.run(migrate())
    return Supervisor(settings, _serve_worker, drain_seconds=SHUTDOWN_SECONDS).run()


def serve_one(settings: Settings, *, reuse_port: bool = False, parent: int | None = None) -> int:
    """Run one server process until SIGTERM/SIGINT (or, for a worker, until its supervisor
    ``parent`` is gone), draining in-flight requests first."""
    # Until the rules are loaded and the handler is in place a SIGHUP waits, rather than killing
    # the process (its default action); a worker is spawned with it blocked already.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    logging.getLogger("aiohttp.server").addFilter(quiet_refused_requests)
    app = create_app(settings)
    loop = _event_loop() or asyncio.new_event_loop()
    try:
        loop.run_until_complete(_run(app, settings, reuse_port=reuse_port, parent=parent))
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


async def _run(
    app: web.Application, settings: Settings, *, reuse_port: bool, parent: int | None
) -> None:
    """Listen until SIGTERM or SIGINT, then drain: aiohttp's ``run_app``, with the runner that
    puts the fast ``/verify`` listener in front."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload_rules, app)
    watcher = None if parent is None else asyncio.create_task(watch_parent(parent, stop.set))
    runner = GatewayRunner(
        app,
        access_log=logging.getLogger(LOGGER),
        access_log_class=RequestLogger,
        shutdown_timeout=SHUTDOWN_SECONDS,
        keepalive_timeout=settings.keepalive_timeout.total_seconds(),
    )
    await runner.setup()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # one that waited is handled now
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port or None)
        await site.start()
        log_event(log, "listening", url=_url(settings), pid=os.getpid())
        if parent is None and sys.stderr.isatty():
            print(await greeting(settings, app[SERVICES].store), file=sys.stderr)
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await runner.cleanup()


def _reload_rules(app: web.Application) -> None:
    """SIGHUP: read RULES_FILE and IDENTITY_PROVIDERS_FILE again (a bad file keeps what is in
    force, and says why)."""
    services = app.get(SERVICES)
    if services is not None and services.access is not None:
        services.access.reload("SIGHUP")
    if services is not None:
        services.external.control.reload("SIGHUP")


def _serve_worker(settings: Settings, supervisor: int) -> None:
    """One worker of several (a spawned process): logging is set up again in here."""
    configure_logging(settings.log_format, logging.INFO)
    ask_for_sigterm_on_parent_death(supervisor)
    sys.exit(serve_one(settings, reuse_port=True, parent=supervisor))


def _event_loop() -> asyncio.AbstractEventLoop | None:
    try:
        import uvloop  # noqa: PLC0415 - optional: only on Linux/CPython
    except ImportError:
        return None
    return uvloop.new_event_loop()


def _url(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}{settings.base_path}"
