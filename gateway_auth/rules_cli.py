"""``gateway-auth rules``: check a rules file offline, and explain which rule decides a request."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway_auth.access_file import RulesFileError, load_rules
from gateway_auth.access_rules import Asked
from gateway_auth.errors import ClientNotFound, FieldError, ValidationFailed
from gateway_auth.models import Client
from gateway_auth.settings import PREFIX, ConfigurationError, Settings
from gateway_auth.tokens import AccessClaims

EXIT_FAILED = 1
# How the command line opens its services (cli._services): the store, for --client.
ServicesFor = Callable[[Settings], AbstractAsyncContextManager[Any]]


def add_commands(commands: Any, services: ServicesFor) -> None:
    """The ``rules`` command and its actions, on the main parser's subcommands."""
    rules = commands.add_parser("rules", help="access rules (RULES_FILE): check and explain")
    rule_commands = rules.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = rule_commands.add_parser(
        "check", help="load a rules file as the server would: every problem, with its line"
    )
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(run=_rules_check)
    explain = rule_commands.add_parser(
        "explain", help="which rule decides a request, and why (the others are skipped)"
    )
    explain.add_argument(
        "url",
        metavar="URL",
        help="the original request's URL, e.g. https://app.example.com/billing/",
    )
    explain.add_argument("--method", default="GET", help="the original method (default GET)")
    who = explain.add_mutually_exclusive_group()
    who.add_argument("--client", metavar="ID", help="as this client of the store would be")
    who.add_argument(
        "--scopes", metavar="A,B", help="as a signed-in user holding these scopes would be"
    )
    explain.add_argument("--ip", metavar="ADDR", help="the original client's address")
    explain.add_argument(
        "--file", type=Path, metavar="FILE", help="a rules file (default: RULES_FILE)"
    )
    explain.set_defaults(run=_rules_explain, open_services=services)


def _rules_check(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rules = load_rules(args.file)
    except RulesFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"gateway-auth: {args.file}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.file}: {len(rules.rules)} rules, default policy {rules.default.policy}")
    return 0


def _rules_explain(args: argparse.Namespace, settings: Settings) -> int:
    path = args.file or settings.rules_file
    if path is None:
        raise ConfigurationError([f"no rules to explain: set {PREFIX}RULES_FILE or give --file"])
    try:
        rules = load_rules(path)
    except RulesFileError as exc:
        raise ConfigurationError(exc.problems) from None
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValidationFailed([FieldError("URL", "must be an absolute http(s) URL")])
    claims = _explained_client(args, settings)
    asked = Asked(url.hostname, args.method.upper(), url.path or "/", args.ip)
    print(f"rules: {path}")
    for line in rules.explain(asked, claims):
        print(line)
    return 0


def _explained_client(args: argparse.Namespace, settings: Settings) -> AccessClaims | None:
    """Who asks: a client of the store, a user with the scopes given, or nobody signed in."""
    if args.scopes is not None:
        scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
        return AccessClaims("(a user)", "", "", "user", scopes, "", 0)
    if args.client is None:
        return None

    async def find() -> Client | None:
        async with args.open_services(settings) as services:
            found: Client | None = await services.store.get_client(args.client)
            return found

    client = asyncio.run(find())
    if client is None:
        raise ClientNotFound
    return AccessClaims(client.id, "", "", client.kind, client.scopes, client.email, 0)
