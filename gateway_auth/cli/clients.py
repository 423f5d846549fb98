"""``gateway-auth clients``: create, list, show, change, suspend, unlock, reset second factors,
see and unlink other identity providers' accounts, and delete clients."""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

import click

from gateway_auth.accounts.admin import ListChange
from gateway_auth.accounts.clients import NewClient, NewService
from gateway_auth.cli.invocation import (
    ACTOR,
    CalledWrongly,
    CommandFailed,
    Invocation,
    echo_json,
    echo_table,
    on_client,
    pass_invocation,
    print_client,
    with_services,
)
from gateway_auth.config.settings import PREFIX
from gateway_auth.http.views import (
    client_view,
    identity_view,
    second_factors_view,
    session_view,
)
from gateway_auth.models import CLIENT_KINDS, Client, ProfileField, iso
from gateway_auth.services import Services
from gateway_auth.stores.base import ClientQuery


@click.group()
def clients() -> None:
    """Manage clients in the store (every change reaches running servers at once)."""


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
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="GROUP",
    help="put it in a group; repeat for several (sent as X-Auth-Groups)",
)
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
    groups: tuple[str, ...],
    first_name: str | None,
    last_name: str | None,
    password_stdin: bool,
) -> int:
    """Create a client (e.g. the first admin); a service client's secret is printed once."""
    if kind == "service":
        service = NewService(email, first_name, last_name, groups)
        created = with_services(
            invocation, lambda s: s.admin.create_service(ACTOR, service, scopes=scopes)
        )
        echo_json({**client_view(created.client), "clientSecret": created.secret})
        click.echo("gateway-auth: the client secret is shown only this once", err=True)
        return 0
    password = _read_password(password_stdin, sys.stdin)
    new = NewClient(email, password, first_name, last_name, groups)
    client = with_services(
        invocation,
        lambda s: s.admin.create_user(ACTOR, new, kind=kind, scopes=scopes),  # type: ignore[arg-type]
    )
    return print_client(client)


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

    found = with_services(invocation, everyone)
    if as_json:
        for client in found:
            echo_json(client_view(client))
        return 0
    rows = [("ID", "EMAIL", "KIND", "SCOPES", "GROUPS", "SUSPENDED", "CREATED")]
    rows += [
        (
            c.id,
            c.email,
            c.kind,
            ",".join(c.scopes) or "-",
            ",".join(c.groups) or "-",
            "yes" if c.suspended else "no",
            c.created_at.strftime("%Y-%m-%d %H:%M"),
        )
        for c in found
    ]
    echo_table(rows)
    return 0


@clients.command("show")
@click.argument("client")
@pass_invocation
def clients_show(invocation: Invocation, client: str) -> int:
    """Print one client as JSON, with its second factors (never a secret)."""

    async def show(services: Services) -> dict[str, object]:
        found = await services.admin.find(client)
        factors = await services.admin.second_factors(found.id)
        return {**client_view(found), "secondFactors": second_factors_view(factors)}

    echo_json(with_services(invocation, show))
    return 0


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
@click.option("--add-group", multiple=True, metavar="GROUP", help="join a group; repeatable")
@click.option(
    "--remove-group",
    multiple=True,
    metavar="GROUP",
    help="leave a group (ends the client's sessions); repeatable",
)
@click.option(
    "--set-groups",
    metavar="A,B",
    help='replace every group with these ("" for none); not with --add/--remove-group',
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
    add_group: tuple[str, ...],
    remove_group: tuple[str, ...],
    set_groups: str | None,
) -> int:
    """Change a client's names, email address, scopes or groups."""
    values: dict[ProfileField, str | None] = {}
    if email is not None:
        values["email"] = email
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not None:
            values[name] = value or None  # type: ignore[index]
    scopes = _list_change("scope", set_scopes, add_scope, remove_scope)
    groups = _list_change("group", set_groups, add_group, remove_group)
    if not values and scopes is None and groups is None:
        raise click.UsageError("nothing to change: give --email, a name, a scope or group option")

    return print_client(
        on_client(
            invocation, client, lambda s, cid: s.admin.update(ACTOR, cid, values, scopes, groups)
        )
    )


def _list_change(
    noun: str, whole: str | None, add: tuple[str, ...], remove: tuple[str, ...]
) -> ListChange | None:
    """The change ``--set-<noun>s``, ``--add-<noun>`` and ``--remove-<noun>`` ask for."""
    if whole is not None and (add or remove):
        raise click.UsageError(f"--set-{noun}s replaces every {noun}: use it alone")
    if whole is not None:
        return ListChange(tuple(part.strip() for part in whole.split(",") if part.strip()))
    return ListChange(add=add, remove=remove) if add or remove else None


@clients.command("suspend")
@click.argument("client")
@click.option("--reason", help="kept with the client record")
@pass_invocation
def clients_suspend(invocation: Invocation, client: str, reason: str | None) -> int:
    """Suspend a client: refused at every gateway at once."""

    return print_client(
        on_client(invocation, client, lambda s, cid: s.admin.suspend(ACTOR, cid, reason))
    )


@clients.command("unsuspend")
@click.argument("client")
@pass_invocation
def clients_unsuspend(invocation: Invocation, client: str) -> int:
    """Lift a client's suspension."""

    return print_client(on_client(invocation, client, lambda s, cid: s.admin.unsuspend(ACTOR, cid)))


@clients.command("verify-email")
@click.argument("client")
@click.option("--unverified", is_flag=True, help="mark it unverified instead")
@pass_invocation
def clients_verify_email(invocation: Invocation, client: str, unverified: bool) -> int:
    """Mark a client's address verified (as if it had followed the mailed link)."""

    return print_client(
        on_client(invocation, client, lambda s, cid: s.links.mark_verified(cid, not unverified))
    )


@clients.command("reset-password")
@click.argument("client")
@pass_invocation
def clients_reset_password(invocation: Invocation, client: str) -> int:
    """Mail the user a password-reset link (the user chooses the new password)."""

    async def reset(services: Services) -> tuple[Client, str]:
        found = await services.admin.find(client)
        return found, iso(await services.admin.start_password_reset(ACTOR, found.id))

    found, expires_at = with_services(invocation, reset)
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

    found = on_client(invocation, client, lambda s, cid: s.admin.sessions(cid))
    if as_json:
        for session in found:
            echo_json(session_view(session, ""))
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
    echo_table(rows)
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

    ended = on_client(invocation, client, end)
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

    return print_client(with_services(invocation, unlock))


@clients.command("reset-second-factor")
@click.argument("client")
@pass_invocation
def clients_reset_second_factor(invocation: Invocation, client: str) -> int:
    """Remove a client's authenticator app and recovery codes (a lost phone): the password
    alone signs in again. Check who is asking first."""
    removed = on_client(invocation, client, lambda s, cid: s.admin.reset_second_factors(ACTOR, cid))
    said = "removed its second factors" if removed else "it had no second factor"
    click.echo(f"gateway-auth: {client}: {said}", err=True)
    return 0


@clients.command("identities")
@click.argument("client")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@pass_invocation
def clients_identities(invocation: Invocation, client: str, as_json: bool) -> int:
    """List a client's accounts at other identity providers (IDENTITY_PROVIDERS_FILE)."""
    found = on_client(invocation, client, lambda s, cid: s.external.linked_to(cid))
    if as_json:
        for identity in found:
            echo_json(identity_view(identity))
        return 0
    rows = [("PROVIDER", "SUBJECT", "EMAIL", "LINKED", "LAST USED")]
    rows += [
        (
            i.provider,
            i.subject,
            i.email or "-",
            i.created_at.strftime("%Y-%m-%d %H:%M"),
            i.last_used_at.strftime("%Y-%m-%d %H:%M") if i.last_used_at else "-",
        )
        for i in found
    ]
    echo_table(rows)
    return 0


@clients.command("unlink")
@click.argument("client")
@click.argument("provider")
@click.argument("subject")
@pass_invocation
def clients_unlink(invocation: Invocation, client: str, provider: str, subject: str) -> int:
    """Unlink one of a client's identities (see clients identities); the person is told."""
    on_client(
        invocation, client, lambda s, cid: s.external.operator_unlink(ACTOR, cid, provider, subject)
    )
    click.echo(f"gateway-auth: {client}: unlinked {provider} {subject}", err=True)
    return 0


@clients.command("delete")
@click.argument("client")
@pass_invocation
def clients_delete(invocation: Invocation, client: str) -> int:
    """Delete a client: refused everywhere at once, deletion event queued."""

    outcome = on_client(invocation, client, lambda s, cid: s.admin.delete(ACTOR, cid))
    if outcome == "already_deleted":
        click.echo(f"gateway-auth: client {client} was already deleted", err=True)
    elif invocation.settings().redis_url is None:
        click.echo(
            f"gateway-auth: deleted; its event waits in the outbox until {PREFIX}REDIS_URL "
            "is set (gateway-auth events list)",
            err=True,
        )
    return 0


def _read_password(from_stdin: bool, stdin: TextIO) -> str:
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    if not stdin.isatty():
        raise CalledWrongly("no terminal to ask for the password; pipe it in with --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != password:
        raise CommandFailed("the two passwords do not match; nothing was created")
    return password
