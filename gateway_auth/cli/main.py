"""The ``gateway-auth`` command: its group, the exit statuses, and every command in it (click)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import click

from gateway_auth import __version__
from gateway_auth.cli import clients, data, rules, serve
from gateway_auth.cli.invocation import (
    EXIT_CANCELLED,
    EXIT_CONFIG,
    EXIT_FAILED,
    CommandFailed,
    Invocation,
)
from gateway_auth.config.settings import PREFIX
from gateway_auth.errors import (
    ConfigurationError,
    GatewayAuthError,
    StoreUnavailable,
    ValidationFailed,
)


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
    if isinstance(exc, ConfigurationError) and exc.unreachable:
        for problem in exc.problems:
            click.echo(f"gateway-auth: {problem}", err=True)
        return EXIT_FAILED
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
    settings = invocation.read
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


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(gateway-auth completion bash)"."""
    from click.shell_completion import get_completion_class  # noqa: PLC0415 - only here

    completer = get_completion_class(shell)
    if completer is None:  # pragma: no cover - click ships all three
        raise CommandFailed(f"no completion for {shell}")
    click.echo(completer(cli, {}, "gateway-auth", "_GATEWAY_AUTH_COMPLETE").source())


for command in (serve.serve, clients.clients, data.export, data.import_, data.events, rules.rules):
    cli.add_command(command)
