"""The signed-in home (``/`` of the portal): who you are, your name, email and password, and
where you are signed in, with "sign out this one" and "sign out everywhere else".

Every form posts, then redirects back with a fixed notice (post/redirect/get); a form with a
problem is shown again with the problem beside its field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from gettext import NullTranslations

from aiohttp import web
from babel.lists import format_list

from gateway_auth.errors import (
    EmailTaken,
    IdentityNotFound,
    LastWayIn,
    SessionNotFound,
    TooManyAttempts,
    ValidationFailed,
    WrongPassword,
)
from gateway_auth.http.appkeys import PAGES, SERVICES, SETTINGS
from gateway_auth.http.callers import cookie_policy, origin
from gateway_auth.http.portal.browsing import see_other, signed_in, signed_in_form
from gateway_auth.http.portal.display import device_names
from gateway_auth.http.portal.pages import field_error, link_action, not_now
from gateway_auth.http.views import client_view
from gateway_auth.i18n import N_, ago, day, locale_of
from gateway_auth.models import Identity, ProfileField
from gateway_auth.tokens import display_name

NOTICES = {
    "profile": N_("Your name was saved."),
    "email": N_("Your email address was changed. Follow the link we sent to it to verify it."),
    "verified": N_("Your email address is verified."),
    "verification_sent": N_("A new link is on its way. It works once; only the newest works."),
    "password": N_("Your password was changed, and your other sessions have ended."),
    "session": N_("That session has ended."),
    "others": N_("You are signed out everywhere else."),
    "identity_linked": N_("The sign-in provider is linked: you can sign in with it from now on."),
    "identity_unlinked": N_("The sign-in provider is unlinked: it no longer signs in here."),
}
LABELS = {
    "email": N_("Email"),
    "firstName": N_("First name"),
    "lastName": N_("Last name"),
    "currentPassword": N_("Current password"),
    "emailPassword": N_("Current password"),
    "newPassword": N_("New password"),
}
WRONG_PASSWORD = N_("The current password is incorrect.")
MAX_SHOWN_SESSIONS = 50


async def home(request: web.Request) -> web.Response:
    """``GET /``: the account page, or where to go first (sign in, or renew the session)."""
    identity = await signed_in(request)
    if isinstance(identity, web.Response):
        return identity
    return await _page(request, identity, notice=NOTICES.get(request.query.get("done", "")))


async def save_profile(request: web.Request) -> web.Response:
    """``POST /account/profile``: first and last name."""
    form = await _signed_in_form(request, optional=("firstName", "lastName"))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    changes: dict[ProfileField, str | None] = {
        "first_name": fields.get("firstName"),
        "last_name": fields.get("lastName"),
    }
    try:
        await request.app[SERVICES].accounts.update_profile(identity, changes, origin(request))
    except ValidationFailed as exc:
        return await _page(
            request,
            identity,
            errors=_errors(request.app[PAGES].translation(request), exc),
            values=fields,
        )
    return _done("profile", request)


async def change_email(request: web.Request) -> web.Response:
    """``POST /account/email``: a new address, confirmed with the current password."""
    form = await _signed_in_form(request, required=("email", "emailPassword"))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    try:
        await request.app[SERVICES].accounts.update_profile(
            identity,
            {"email": fields["email"]},
            origin(request),
            current_password=fields["emailPassword"],
        )
    except ValidationFailed as exc:
        renamed = {"currentPassword": "emailPassword"}
        return await _page(
            request,
            identity,
            errors=_errors(request.app[PAGES].translation(request), exc, renamed),
            values=fields,
        )
    except WrongPassword:
        errors = {"emailPassword": WRONG_PASSWORD}
        return await _page(request, identity, errors=errors, values=fields, status=401)
    except EmailTaken:
        errors = {"email": N_("Another account already uses this email address.")}
        return await _page(request, identity, errors=errors, values=fields, status=409)
    except TooManyAttempts as exc:
        return await _throttled(request, identity, exc, fields)
    return _done("email", request)


async def change_password(request: web.Request) -> web.Response:
    """``POST /account/password``: every other session ends; this one stays."""
    names = ("currentPassword", "newPassword", "newPasswordConfirmation")
    form = await _signed_in_form(request, required=names)
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    if fields["newPassword"] != fields["newPasswordConfirmation"]:
        errors = {"newPasswordConfirmation": N_("The two new passwords do not match.")}
        return await _page(request, identity, errors=errors)
    try:
        await request.app[SERVICES].accounts.change_password(
            identity, fields["currentPassword"] or "", fields["newPassword"] or "", origin(request)
        )
    except ValidationFailed as exc:
        return await _page(
            request, identity, errors=_errors(request.app[PAGES].translation(request), exc)
        )
    except WrongPassword:
        return await _page(
            request, identity, errors={"currentPassword": WRONG_PASSWORD}, status=401
        )
    except TooManyAttempts as exc:
        return await _throttled(request, identity, exc, {})
    return _done("password", request)


async def resend_verification(request: web.Request) -> web.Response:
    """``POST /account/email-verification``: mail the verification link again."""
    form = await _signed_in_form(request)
    if isinstance(form, web.Response):
        return form
    await request.app[SERVICES].links.send_verification(form[0].client, origin(request).locale)
    return _done("verification_sent", request)  # also within a minute of the last one


async def end_session(request: web.Request) -> web.Response:
    """``POST /account/sessions/{id}/end``: sign one session out, wherever it is."""
    form = await _signed_in_form(request)
    if isinstance(form, web.Response):
        return form
    identity = form[0]
    session_id = request.match_info["id"]
    # Already over, or never this person's: either way the page shows what is left.
    with contextlib.suppress(SessionNotFound):
        await request.app[SERVICES].sessions.revoke(identity, session_id)
    if session_id == identity.session_id:
        response = see_other(request.app[PAGES].urls.login_saying("signed_out"))
        cookie_policy(request).clear(response)
        return response
    return _done("session", request)


async def end_other_sessions(request: web.Request) -> web.Response:
    """``POST /account/sessions/end-others``: every session but this one ends."""
    form = await _signed_in_form(request)
    if isinstance(form, web.Response):
        return form
    identity = form[0]
    await request.app[SERVICES].sessions.revoke_all(identity, keep=identity.session_id)
    return _done("others", request)


async def unlink_identity(request: web.Request) -> web.Response:
    """``POST /account/identities/unlink``: drop one linked identity (never the last way in)."""
    form = await _signed_in_form(request, required=("provider", "subject"))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    try:
        await request.app[SERVICES].external.unlink(
            identity, fields["provider"] or "", fields["subject"] or ""
        )
    except (LastWayIn, IdentityNotFound) as exc:
        status = 409 if isinstance(exc, LastWayIn) else 404
        return await _page(request, identity, alert=exc.message, status=status)
    return _done("identity_unlinked", request)


async def _signed_in_form(
    request: web.Request, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
) -> tuple[Identity, dict[str, str | None]] | web.Response:
    home = request.app[PAGES].urls.home
    return await signed_in_form(request, here=home, required=required, optional=optional)


async def _page(
    request: web.Request,
    identity: Identity,
    *,
    notice: str | None = None,
    alert: str | None = None,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str | None] | None = None,
    status: int | None = None,
) -> web.Response:
    client = identity.client
    now = request.app[SERVICES].clock()
    sessions = await request.app[SERVICES].sessions.active(identity)
    ordered = sorted(sessions, key=lambda s: s.last_used_at, reverse=True)
    ordered.sort(key=lambda s: s.id != identity.session_id)  # this browser first
    hidden = max(0, len(ordered) - MAX_SHOWN_SESSIONS)
    ordered = ordered[:MAX_SHOWN_SESSIONS]  # each costs a device name: the page stays cheap
    language = request.app[PAGES].language(request)
    names = await device_names((s.user_agent for s in ordered), language)
    urls = request.app[PAGES].urls
    rows = [
        {
            "device": names[s.user_agent],
            "ip": s.ip,
            "last_used": ago(s.last_used_at, now, language),
            "created": ago(s.created_at, now, language),
            "current": s.id == identity.session_id,
            "end_url": urls.end_session(s.id),
        }
        for s in ordered
    ]
    factors = request.app[SERVICES].factors
    two_factor = None  # not offered
    if factors.policy != "off" and client.kind == "user":
        two_factor = (await factors.of(client)).enrolled
    external, accounts = request.app[SERVICES].external, request.app[SERVICES].accounts
    names = {p.id: p.name for p in external.providers}
    linked = await external.identities(client.id) if client.kind == "user" else []
    identities = [
        {
            "name": names.get(i.provider, i.provider),
            "provider": i.provider,
            "subject": i.subject,
            "email": i.email,
            "since": day(i.created_at, language),
            "last_used": ago(i.last_used_at, now, language) if i.last_used_at else None,
        }
        for i in linked
    ]
    linkable = [
        {"name": p.name, "url": urls.provider_link(p.id), "action": link_action(p.id)}
        for p in external.providers
        if client.kind == "user" and not any(i.provider == p.id for i in linked)
    ]
    shown = {"firstName": client.first_name or "", "lastName": client.last_name or "", "email": ""}
    shown.update({k: v or "" for k, v in (values or {}).items() if k in shown})
    return request.app[PAGES].render(
        request,
        "home.html",
        status=status or (422 if errors else 200),
        title=N_("Your account"),
        wide=True,
        client=client_view(client),
        name=display_name(client),
        member_since=day(client.created_at, language),
        # "GitHub or Corp SSO" as the language lists alternatives (CLDR's "or" pattern).
        ways_in=format_list(
            [str(i["name"]) for i in identities], style="or", locale=locale_of(language)
        ),
        sessions=rows,
        others=any(not row["current"] for row in rows) or hidden > 0,
        hidden=hidden,
        values=shown,
        errors=dict(errors or {}),
        focus=next(iter(errors or {}), None),
        notice=notice,
        alert=alert or (N_("Please correct the field marked below.") if errors else None),
        verification_required=request.app[SETTINGS].require_verified_email,
        two_factor=two_factor,
        identities=identities,
        linkable=linkable,
        has_password=client.kind != "user" or await accounts.has_password(client.id),
    )


async def _throttled(
    request: web.Request,
    identity: Identity,
    exc: TooManyAttempts,
    values: Mapping[str, str | None],
) -> web.Response:
    cause = N_("Too many wrong passwords.") if exc.by == "account" else N_("Too many attempts.")
    alert = not_now(request.app[PAGES].translation(request), cause, exc.retry_after)
    response = await _page(request, identity, alert=alert, values=values, status=429)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _errors(
    tr: NullTranslations, exc: ValidationFailed, renamed: Mapping[str, str] | None = None
) -> dict[str, str]:
    renamed = renamed or {}
    errors = {}
    for error in exc.errors:
        field = renamed.get(error.field, error.field)
        errors[field] = field_error(tr, LABELS.get(field, field), error.message)
    return errors


def _done(what: str, request: web.Request) -> web.Response:
    return see_other(f"{request.app[PAGES].urls.home}?done={what}")
