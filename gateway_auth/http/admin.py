"""``/admin``: operators' routes, for clients holding the ``admin`` scope."""

from __future__ import annotations

import re

from aiohttp import web
from multidict import MultiMapping

from gateway_auth.accounts.admin import MAX_PAGE, ClientFilter, ListChange
from gateway_auth.accounts.clients import NewClient, NewService
from gateway_auth.errors import FieldError, InsufficientScope, ValidationFailed
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import authenticate
from gateway_auth.http.views import (
    PROFILE_FIELDS,
    client_view,
    identity_view,
    json_response,
    not_cached,
    second_factors_view,
    session_view,
)
from gateway_auth.models import ADMIN_SCOPE, CLIENT_KINDS, Client, ClientKind, iso

DEFAULT_PAGE = 50
_PAGE_SIZE = re.compile(r"[0-9]{1,6}")
_LIST_PARAMS = frozenset({"email", "suspended", "kind", "cursor", "limit"})
_BOOLEANS = {"true": True, "false": False}


async def acting_admin(request: web.Request) -> Client:
    """The caller, if it holds the admin scope now (in the store) and its token carries it (a
    token narrowed by ``scope`` without admin is no admin's)."""
    identity = await authenticate(request)
    if ADMIN_SCOPE not in identity.scopes:
        raise InsufficientScope("This route needs the admin scope.")
    return identity.client


async def list_clients(request: web.Request) -> web.Response:
    """``GET /admin/clients?email=&suspended=&kind=&cursor=&limit=``."""
    await acting_admin(request)
    params = _single_params(request.query)
    errors = [FieldError(name, "is not a known parameter") for name in params.keys() - _LIST_PARAMS]
    suspended = _BOOLEANS.get(params.get("suspended", "").lower())
    if "suspended" in params and suspended is None:
        errors.append(FieldError("suspended", "must be true or false"))
    kind = params.get("kind")
    if kind is not None and kind not in CLIENT_KINDS:
        errors.append(FieldError("kind", f"must be one of {', '.join(CLIENT_KINDS)}"))
    limit = params.get("limit", str(DEFAULT_PAGE))
    # ASCII digits only: str.isdigit() accepts "²", which int() then refuses.
    if not _PAGE_SIZE.fullmatch(limit) or not 1 <= int(limit) <= MAX_PAGE:
        errors.append(FieldError("limit", f"must be a whole number from 1 to {MAX_PAGE}"))
    if errors:
        raise ValidationFailed(errors)
    page = await request.app[SERVICES].admin.list_clients(
        ClientFilter(params.get("email") or None, suspended, _kind(kind)),
        limit=int(limit),
        cursor=params.get("cursor") or None,
    )
    return json_response(
        {"clients": [client_view(c) for c in page.clients], "nextCursor": page.next_cursor}
    )


async def get_client(request: web.Request) -> web.Response:
    """``GET /admin/clients/{id}``."""
    await acting_admin(request)
    return json_response(
        client_view(await request.app[SERVICES].admin.get(request.match_info["id"]))
    )


async def create_client(request: web.Request) -> web.Response:
    """``POST /admin/clients``: any kind, scopes and groups; a service client's secret is shown
    once."""
    actor = await acting_admin(request)
    body = dict((await read_body(request)).fields)
    kind, scopes, groups = _kind_and_lists(body)
    admin = request.app[SERVICES].admin
    names = ("firstName", "lastName")
    if kind == "service":
        fields = string_fields(body, required=("email",), optional=names, nullable=names)
        service = NewService(
            fields["email"] or "", fields.get("firstName"), fields.get("lastName"), groups
        )
        created = await admin.create_service(actor.id, service, scopes=scopes)
        view = {**client_view(created.client), "clientSecret": created.secret}
        return not_cached(json_response(view, status=201))
    fields = string_fields(body, required=("email", "password"), optional=names, nullable=names)
    new = NewClient(
        fields["email"] or "",
        fields["password"] or "",
        fields.get("firstName"),
        fields.get("lastName"),
        groups,
    )
    client = await admin.create_user(actor.id, new, kind=kind, scopes=scopes)
    return json_response(client_view(client), status=201)


async def update_client(request: web.Request) -> web.Response:
    """``PATCH /admin/clients/{id}``: names, email (no password asked; the new address gets a
    verification link), scopes and groups: ``scopes`` replaces them, ``addScopes`` and
    ``removeScopes`` change some (``groups``, ``addGroups``, ``removeGroups`` alike). Taking a
    scope or a group away ends the client's sessions."""
    actor = await acting_admin(request)
    body = dict((await read_body(request)).fields)
    change = _list_change(body, "scope")
    groups = _list_change(body, "group")
    fields = string_fields(body, optional=PROFILE_FIELDS, nullable=("firstName", "lastName"))
    values = {PROFILE_FIELDS[name]: value for name, value in fields.items()}
    client = await request.app[SERVICES].admin.update(
        actor.id, request.match_info["id"], values, change, groups
    )
    return json_response(client_view(client))


async def start_password_reset(request: web.Request) -> web.Response:
    """``POST /admin/clients/{id}/password-reset``: mail the user a reset link now."""
    actor = await acting_admin(request)
    expires_at = await request.app[SERVICES].admin.start_password_reset(
        actor.id, request.match_info["id"]
    )
    return json_response({"linkExpiresAt": iso(expires_at)}, status=202)


async def list_sessions(request: web.Request) -> web.Response:
    """``GET /admin/clients/{id}/sessions``: the client's active sessions, newest first."""
    await acting_admin(request)
    sessions = await request.app[SERVICES].admin.sessions(request.match_info["id"])
    return json_response({"sessions": [session_view(s, "") for s in sessions]})


async def end_session(request: web.Request) -> web.Response:
    """``DELETE /admin/clients/{id}/sessions/{sessionId}``: that session ends everywhere."""
    actor = await acting_admin(request)
    match = request.match_info
    await request.app[SERVICES].admin.end_session(actor.id, match["id"], match["sessionId"])
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    """``POST /admin/clients/{id}/secret``: a new secret, shown once; the old one stops."""
    actor = await acting_admin(request)
    client_id = request.match_info["id"]
    secret = await request.app[SERVICES].admin.rotate_secret(actor.id, client_id)
    return not_cached(json_response({"clientId": client_id, "clientSecret": secret}))


async def suspend(request: web.Request) -> web.Response:
    """``PUT /admin/clients/{id}/suspension`` with an optional ``{"reason": ...}``."""
    actor = await acting_admin(request)
    body = await read_body(request, optional=True)
    reason = string_fields(body.fields, optional=("reason",), nullable=("reason",)).get("reason")
    client = await request.app[SERVICES].admin.suspend(actor.id, request.match_info["id"], reason)
    return json_response(client_view(client))


async def unsuspend(request: web.Request) -> web.Response:
    """``DELETE /admin/clients/{id}/suspension``."""
    actor = await acting_admin(request)
    client = await request.app[SERVICES].admin.unsuspend(actor.id, request.match_info["id"])
    return json_response(client_view(client))


async def get_lockout(request: web.Request) -> web.Response:
    """``GET /admin/clients/{id}/lockout``: whether untrusted clients are locked out, and how
    long for."""
    await acting_admin(request)
    retry_after = await request.app[SERVICES].admin.lockout(request.match_info["id"])
    return json_response({"locked": retry_after is not None, "retryAfter": retry_after})


async def lift_lockout(request: web.Request) -> web.Response:
    """``DELETE /admin/clients/{id}/lockout``: let every client try the password again now."""
    actor = await acting_admin(request)
    await request.app[SERVICES].admin.unlock(actor.id, request.match_info["id"])
    return web.Response(status=204)


async def get_second_factors(request: web.Request) -> web.Response:
    """``GET /admin/clients/{id}/second-factors``: what protects the client besides its
    password (never a secret)."""
    await acting_admin(request)
    factors = await request.app[SERVICES].admin.second_factors(request.match_info["id"])
    return json_response(second_factors_view(factors))


async def reset_second_factors(request: web.Request) -> web.Response:
    """``DELETE /admin/clients/{id}/second-factors``: the authenticator app and recovery codes
    go; the password alone signs in again."""
    actor = await acting_admin(request)
    await request.app[SERVICES].admin.reset_second_factors(actor.id, request.match_info["id"])
    return web.Response(status=204)


async def list_identities(request: web.Request) -> web.Response:
    """``GET /admin/clients/{id}/identities``: the client's accounts at other identity
    providers, linked."""
    await acting_admin(request)
    linked = await request.app[SERVICES].external.linked_to(request.match_info["id"])
    return json_response({"identities": [identity_view(i) for i in linked]})


async def unlink_identity(request: web.Request) -> web.Response:
    """``DELETE /admin/clients/{id}/identities/{provider}/{subject}``: that link goes."""
    actor = await acting_admin(request)
    info = request.match_info
    await request.app[SERVICES].external.operator_unlink(
        actor.id, info["id"], info["provider"], info["subject"]
    )
    return web.Response(status=204)


async def delete_client(request: web.Request) -> web.Response:
    """``DELETE /admin/clients/{id}``: deletion and its event; repeating it is harmless."""
    actor = await acting_admin(request)
    await request.app[SERVICES].admin.delete(actor.id, request.match_info["id"])
    return web.Response(status=204)


async def revoke_sessions(request: web.Request) -> web.Response:
    """``DELETE /admin/clients/{id}/sessions``: every session and token of the client ends."""
    actor = await acting_admin(request)
    await request.app[SERVICES].admin.revoke_sessions(actor.id, request.match_info["id"])
    return web.Response(status=204)


async def stats(request: web.Request) -> web.Response:
    """``GET /admin/stats``."""
    await acting_admin(request)
    counts = await request.app[SERVICES].admin.stats()
    return json_response(
        {
            "clients": dict(counts.clients_by_kind),
            "suspended": counts.suspended,
            "activeSessions": counts.active_sessions,
            "outboxBacklog": counts.outbox_backlog,
        }
    )


def _single_params(query: MultiMapping[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    errors = []
    for name, value in query.items():
        if name in params:
            errors.append(FieldError(name, "is given more than once"))
        params[name] = value
    if errors:
        raise ValidationFailed(errors)
    return params


def _kind_and_lists(body: dict[str, object]) -> tuple[ClientKind, list[str], tuple[str, ...]]:
    """Take ``kind`` (default ``user``), ``scopes`` and ``groups`` (lists of strings) out of the
    body."""
    kind = _kind(body.pop("kind", "user"))
    lists: dict[str, list[str]] = {}
    errors = []
    if kind is None:
        errors.append(FieldError("kind", f"must be one of {', '.join(CLIENT_KINDS)}"))
    for name in ("scopes", "groups"):
        value = body.pop(name, [])
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            errors.append(FieldError(name, "must be a list of strings"))
        else:
            lists[name] = [str(item) for item in value]
    if errors or kind is None:
        raise ValidationFailed(errors)
    return kind, lists["scopes"], tuple(lists["groups"])


def _list_change(body: dict[str, object], noun: str) -> ListChange | None:
    """Take ``<noun>s``, ``add<Noun>s`` and ``remove<Noun>s`` out of the body."""
    whole, add, remove = f"{noun}s", f"add{noun.title()}s", f"remove{noun.title()}s"
    lists: dict[str, tuple[str, ...]] = {}
    errors = []
    for name in (whole, add, remove):
        if name not in body:
            continue
        value = body.pop(name)
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            errors.append(FieldError(name, "must be a list of strings"))
        else:
            lists[name] = tuple(value)
    if whole in lists and len(lists) > 1:
        errors.append(FieldError(whole, f"replaces every {noun}: give {add}/{remove} without it"))
    if errors:
        raise ValidationFailed(errors)
    if not lists:
        return None
    return ListChange(lists.get(whole), lists.get(add, ()), lists.get(remove, ()))


def _kind(value: object) -> ClientKind | None:
    return next((kind for kind in CLIENT_KINDS if kind == value), None)
