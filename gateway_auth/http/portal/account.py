"""The account, in three sections a person can find by name and URL: the profile (``/``:
who you are, your name, and a guest's "save your account"), sign-in and security
(``/account/security``: address, password, second factors, other providers) and sessions
(``/account/sessions``: where you are signed in, "sign out this one" and "everywhere else").

Every form posts, then redirects back to its section with a fixed notice (post/redirect/get);
a form with a problem is shown again with the problem beside its field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from gettext import NullTranslations
from typing import Any, Literal

from aiohttp import web
from babel.lists import format_list

from gateway_auth.errors import (
    EmailTaken,
    IdentityNotFound,
    LastWayIn,
    NotAGuest,
    RegistrationClosed,
    SessionNotFound,
    TooManyAttempts,
    ValidationFailed,
    WrongPassword,
)
from gateway_auth.http.appkeys import PAGES, SERVICES, SETTINGS
from gateway_auth.http.callers import access_token, cookie_policy, origin
from gateway_auth.http.portal.browsing import see_other, signed_in, signed_in_form
from gateway_auth.http.portal.display import device_names
from gateway_auth.http.portal.pages import field_error, link_action, not_now
from gateway_auth.http.views import client_view
from gateway_auth.i18n import N_, ago, day, locale_of
from gateway_auth.models import Client, Identity, ProfileField
from gateway_auth.tokens import display_name

Section = Literal["profile", "security", "sessions"]
SECTIONS: dict[Section, tuple[str, str]] = {  # heading, and the tab's name
    "profile": (N_("Your account"), N_("Profile")),
    "security": (N_("Sign-in and security"), N_("Sign-in and security")),
    "sessions": (N_("Where you are signed in"), N_("Sessions")),
}
# What a form's redirect says, and the section it comes back to.
NOTICES: dict[str, tuple[Section, str]] = {
    "profile": ("profile", N_("Your name was saved.")),
    "saved": ("profile", N_("Your account is saved: sign in with this email and password.")),
    "email": (
        "security",
        N_("Your email address was changed. Follow the link we sent to it to verify it."),
    ),
    "verified": ("profile", N_("Your email address is verified.")),
    "verification_sent": (
        "profile",
        N_("A new link is on its way. It works once; only the newest works."),
    ),
    "password": (
        "security",
        N_("Your password was changed, and your other sessions have ended."),
    ),
    "session": ("sessions", N_("That session has ended.")),
    "others": ("sessions", N_("You are signed out everywhere else.")),
    "identity_linked": (
        "security",
        N_("The sign-in provider is linked: you can sign in with it from now on."),
    ),
    "identity_unlinked": (
        "security",
        N_("The sign-in provider is unlinked: it no longer signs in here."),
    ),
}
LABELS = {
    "email": N_("Email"),
    "firstName": N_("First name"),
    "lastName": N_("Last name"),
    "currentPassword": N_("Current password"),
    "emailPassword": N_("Current password"),
    "newPassword": N_("New password"),
    "password": N_("Password"),
}
WRONG_PASSWORD = N_("The current password is incorrect.")
TAKEN = N_("Another account already uses this email address.")
MAX_SHOWN_SESSIONS = 50


async def home(request: web.Request) -> web.Response:
    """``GET /``: the profile, or where to go first (sign in, or renew the session)."""
    return await _section(request, "profile")


async def security_page(request: web.Request) -> web.Response:
    """``GET /account/security``: the address, the password, second factors, providers."""
    return await _section(request, "security")


async def sessions_page(request: web.Request) -> web.Response:
    """``GET /account/sessions``: where the account is signed in."""
    return await _section(request, "sessions")


async def _section(request: web.Request, section: Section) -> web.Response:
    identity = await signed_in(request)
    if isinstance(identity, web.Response):
        return identity
    said = NOTICES.get(request.query.get("done", ""))
    return await _page(request, identity, section, notice=said[1] if said else None)


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
        tr = request.app[PAGES].translation(request)
        return await _page(request, identity, "profile", errors=_errors(tr, exc), values=fields)
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
        errors = _errors(request.app[PAGES].translation(request), exc, renamed)
        return await _page(request, identity, "security", errors=errors, values=fields)
    except WrongPassword:
        errors = {"emailPassword": WRONG_PASSWORD}
        return await _page(request, identity, "security", errors=errors, values=fields, status=401)
    except EmailTaken:
        errors = {"email": TAKEN}
        return await _page(request, identity, "security", errors=errors, values=fields, status=409)
    except TooManyAttempts as exc:
        return await _throttled(request, identity, "security", exc, fields)
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
        return await _page(request, identity, "security", errors=errors)
    try:
        await request.app[SERVICES].accounts.change_password(
            identity, fields["currentPassword"] or "", fields["newPassword"] or "", origin(request)
        )
    except ValidationFailed as exc:
        errors = _errors(request.app[PAGES].translation(request), exc)
        return await _page(request, identity, "security", errors=errors)
    except WrongPassword:
        errors = {"currentPassword": WRONG_PASSWORD}
        return await _page(request, identity, "security", errors=errors, status=401)
    except TooManyAttempts as exc:
        return await _throttled(request, identity, "security", exc, {})
    return _done("password", request)


async def save_guest(request: web.Request) -> web.Response:
    """``POST /account/save``: a guest becomes a user with this email and password, keeping its
    id (and whatever services hold for it); this browser stays signed in."""
    names = ("email", "password", "passwordConfirmation")
    form = await _signed_in_form(request, required=names)
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    if fields["password"] != fields["passwordConfirmation"]:
        errors = {"passwordConfirmation": N_("The two passwords do not match.")}
        return await _page(request, identity, "profile", errors=errors, values=fields)
    client = await _upgraded(request, identity, fields)
    if isinstance(client, web.Response):
        return client
    response = _done("saved", request)
    # The session's next token says "user": this browser gets one at once.
    reissued = await request.app[SERVICES].sessions.reissue(client, access_token(request))
    if reissued is not None:
        cookie_policy(request).set(response, reissued)
    return response


async def _upgraded(
    request: web.Request, identity: Identity, fields: Mapping[str, str | None]
) -> Client | web.Response:
    """The guest made a user, or the profile again saying why not."""
    try:
        return await request.app[SERVICES].accounts.upgrade_guest(
            identity, fields["email"] or "", fields["password"] or "", origin(request)
        )
    except ValidationFailed as exc:
        errors = _errors(request.app[PAGES].translation(request), exc)
        return await _page(request, identity, "profile", errors=errors, values=fields)
    except EmailTaken:
        errors = {"email": TAKEN}
        return await _page(request, identity, "profile", errors=errors, values=fields, status=409)
    except (NotAGuest, RegistrationClosed) as exc:
        return await _page(request, identity, "profile", alert=exc.message, status=409)
    except TooManyAttempts as exc:
        return await _throttled(request, identity, "profile", exc, fields)


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
        return await _page(request, identity, "security", alert=exc.message, status=status)
    return _done("identity_unlinked", request)


async def _signed_in_form(
    request: web.Request, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
) -> tuple[Identity, dict[str, str | None]] | web.Response:
    home = request.app[PAGES].urls.home
    return await signed_in_form(request, here=home, required=required, optional=optional)


async def _page(
    request: web.Request,
    identity: Identity,
    section: Section,
    *,
    notice: str | None = None,
    alert: str | None = None,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str | None] | None = None,
    status: int | None = None,
) -> web.Response:
    """One section of the account, with the tabs to the others."""
    client = identity.client
    urls = request.app[PAGES].urls
    shown = {"firstName": client.first_name or "", "lastName": client.last_name or "", "email": ""}
    shown.update({k: v or "" for k, v in (values or {}).items() if k in shown})
    heading, _tab = SECTIONS[section]
    addresses = {"profile": urls.home, "security": urls.security, "sessions": urls.sessions}
    parts = {"profile": _profile, "security": _security, "sessions": _sessions}[section]
    return request.app[PAGES].render(
        request,
        "home.html",
        status=status or (422 if errors else 200),
        title=heading,
        wide=True,
        section=section,
        sections=[(key, tab, addresses[key]) for key, (_, tab) in SECTIONS.items()],
        client=client_view(client),
        name=display_name(client),
        values=shown,
        errors=dict(errors or {}),
        focus=next(iter(errors or {}), None),
        notice=notice,
        alert=alert or (N_("Please correct the field marked below.") if errors else None),
        **await parts(request, identity),
    )


async def _profile(request: web.Request, identity: Identity) -> dict[str, Any]:
    """Who the account is: its address, name, permissions (labelled as the operator says)."""
    client, services = identity.client, request.app[SERVICES]
    settings, language = request.app[SETTINGS], request.app[PAGES].language(request)
    labels = dict(settings.scope_labels)
    guests = settings.guests and settings.registration == "open"  # upgrades need both
    return {
        "member_since": day(client.created_at, language),
        "permissions": [(labels.get(scope), scope) for scope in client.scopes],
        "verification_required": settings.require_verified_email,
        "guest_until": day(services.accounts.guest_expiry(client), language)
        if client.kind == "guest"
        else None,
        "can_save": client.kind == "guest" and guests,
    }


async def _security(request: web.Request, identity: Identity) -> dict[str, Any]:
    """How the account signs in: address, password, second factors, other providers."""
    client, services = identity.client, request.app[SERVICES]
    now, language = services.clock(), request.app[PAGES].language(request)
    urls = request.app[PAGES].urls
    two_factor = None  # not offered
    if services.factors.policy != "off" and client.kind == "user":
        two_factor = (await services.factors.of(client)).enrolled
    external = services.external
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
    return {
        # "GitHub or Corp SSO" as the language lists alternatives (CLDR's "or" pattern).
        "ways_in": format_list(
            [str(i["name"]) for i in identities], style="or", locale=locale_of(language)
        ),
        "two_factor": two_factor,
        "identities": identities,
        "linkable": linkable,
        "has_password": client.kind != "user" or await services.accounts.has_password(client.id),
    }


async def _sessions(request: web.Request, identity: Identity) -> dict[str, Any]:
    """Where the account is signed in, this browser first."""
    services, urls = request.app[SERVICES], request.app[PAGES].urls
    now, language = services.clock(), request.app[PAGES].language(request)
    sessions = await services.sessions.active(identity)
    ordered = sorted(sessions, key=lambda s: s.last_used_at, reverse=True)
    ordered.sort(key=lambda s: s.id != identity.session_id)  # this browser first
    hidden = max(0, len(ordered) - MAX_SHOWN_SESSIONS)
    ordered = ordered[:MAX_SHOWN_SESSIONS]  # each costs a device name: the page stays cheap
    names = await device_names((s.user_agent for s in ordered), language)
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
    others = any(not row["current"] for row in rows) or hidden > 0
    return {"sessions": rows, "others": others, "hidden": hidden}


async def _throttled(
    request: web.Request,
    identity: Identity,
    section: Section,
    exc: TooManyAttempts,
    values: Mapping[str, str | None],
) -> web.Response:
    cause = N_("Too many wrong passwords.") if exc.by == "account" else N_("Too many attempts.")
    alert = not_now(request.app[PAGES].translation(request), cause, exc.retry_after)
    response = await _page(request, identity, section, alert=alert, values=values, status=429)
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
    """Back to the section the notice belongs to, saying it."""
    return see_other(done_url(request, what))


def done_url(request: web.Request, what: str) -> str:
    """The section of notice ``what``, showing it."""
    urls = request.app[PAGES].urls
    section = NOTICES[what][0]
    page = {"profile": urls.home, "security": urls.security, "sessions": urls.sessions}[section]
    return f"{page}?done={what}"
