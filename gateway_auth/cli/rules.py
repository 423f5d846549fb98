"""``gateway-auth rules``: check a rules file offline, and explain which rule decides a request."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from gateway_auth.access.rules import Asked
from gateway_auth.access.rules_file import RulesFileError, load_rules
from gateway_auth.config.settings import PREFIX, Settings
from gateway_auth.errors import ConfigurationError, FieldError, ValidationFailed
from gateway_auth.models import Client
from gateway_auth.services import open_services
from gateway_auth.tokens import AccessClaims

EXIT_FAILED = 1


@click.group()
def rules() -> None:
    """Access rules (RULES_FILE): check and explain."""


@rules.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def rules_check(file: Path) -> int:
    """Load a rules file as the server would: every problem, with its line."""
    try:
        loaded = load_rules(file)
    except RulesFileError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(f"gateway-auth: {file}: {len(exc.problems)} problem(s)", err=True)
        return EXIT_FAILED
    click.echo(f"{file}: {len(loaded.rules)} rules, default policy {loaded.default.policy}")
    return 0


@rules.command("explain")
@click.argument("url")
@click.option("--method", default="GET", show_default=True, help="the original method")
@click.option("--client", metavar="CLIENT", help="as this client of the store (id or email)")
@click.option("--scopes", metavar="A,B", help="as a signed-in user holding these scopes")
@click.option("--groups", metavar="A,B", help="as a signed-in user in these groups")
@click.option("--ip", metavar="ADDR", help="the original client's address")
@click.option(
    "--file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="a rules file (default: RULES_FILE)",
)
@click.pass_obj
def rules_explain(
    invocation: Any,
    *,
    url: str,
    method: str,
    client: str | None,
    scopes: str | None,
    groups: str | None,
    ip: str | None,
    file: Path | None,
) -> int:
    """Which rule decides a request to URL (e.g. https://app.example.com/billing/), and why."""
    if client is not None and (scopes is not None or groups is not None):
        raise click.UsageError(
            "--client and --scopes/--groups name who asks: give one or the other"
        )
    settings: Settings = invocation.settings()
    path = file or settings.rules_file
    if path is None:
        raise ConfigurationError([f"no rules to explain: set {PREFIX}RULES_FILE or give --file"])
    try:
        loaded = load_rules(path)
    except RulesFileError as exc:
        raise ConfigurationError(exc.problems) from None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed([FieldError("URL", "must be an absolute http(s) URL")])
    claims = _explained_client(settings, client, scopes, groups)
    asked = Asked(parts.hostname, method.upper(), parts.path or "/", ip)
    click.echo(f"rules: {path}")
    for line in loaded.explain(asked, claims):
        click.echo(line)
    return 0


def _explained_client(
    settings: Settings, reference: str | None, scopes: str | None, groups: str | None
) -> AccessClaims | None:
    """Who asks: a client of the store, a user with the scopes and groups given, or nobody
    signed in."""
    if scopes is not None or groups is not None:
        held, member = (
            tuple(s.strip() for s in (v or "").split(",") if s.strip()) for v in (scopes, groups)
        )
        return AccessClaims("(a user)", "", "", "user", held, "", 0, groups=member)
    if reference is None:
        return None

    async def find() -> Client:
        async with open_services(settings, role="tool") as services:
            return await services.admin.find(reference)

    client = asyncio.run(find())
    return AccessClaims(
        client.id, "", "", client.kind, client.scopes, client.email, 0, groups=client.groups
    )
