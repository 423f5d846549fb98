"""What ``serve`` tells a person at a terminal once it listens: where to sign in, and the
command that creates the first admin while there is none."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from gateway_auth.config.settings import Settings
from gateway_auth.errors import StoreUnavailable
from gateway_auth.models import ADMIN_SCOPE
from gateway_auth.stores.base import ClientQuery, Store


async def greeting(settings: Settings, store: Store) -> str:
    """The lines to print: the sign-in page, and the first step still to take."""
    lines = ["", "gateway-auth is ready.", f"  Sign-in page:  {settings.links_base}/login"]
    try:
        query = ClientQuery(limit=1, scope=ADMIN_SCOPE, kind="user")
        no_admin = not await store.list_clients(query)
    except StoreUnavailable:  # said by /readyz and the log; the greeting is no place for it
        no_admin = False
    if no_admin:
        command = f"{_program()} clients create --email you@example.com --scope {ADMIN_SCOPE}"
        lines.append(f"  First admin:   {command}")
        lines.append("                 (in another terminal; it asks for the password twice)")
    if settings.mail_dir is not None:
        lines.append(
            f"  Mails:         written to {settings.mail_dir}/ (reset and verification links)"
        )
    lines += ["  Stop:          Ctrl-C", ""]
    return "\n".join(lines)


def _program() -> str:
    """How this command was started, so the line can be pasted as it is (``make run`` runs
    ``.venv/bin/gateway-auth``)."""
    started = Path(sys.argv[0])
    if started.name != "gateway-auth":
        return "gateway-auth"
    try:
        shown = started.absolute().relative_to(Path.cwd())
    except ValueError:
        shown = started
    return shlex.quote(str(shown))
