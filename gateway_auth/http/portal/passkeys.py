"""Passkeys in the portal: signing in with one alone, and adding, renaming and removing them on
the account's two-step page.

The ceremonies are forms: the page carries the options and a ceremony token, the page's one
script asks the authenticator, and the form posts the answer (``credential``) back here. A
browser without the script never sees these forms, and keeps the password and codes.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from gateway_auth.errors import (
    CeremonyExpired,
    ClientSuspended,
    NotAUser,
    PasskeyExists,
    PasskeyNotFound,
    PasskeyRefused,
    SecondFactorsOff,
    TooManyAttempts,
    ValidationFailed,
    WrongPassword,
)
from gateway_auth.factors.passkeys import Challenge, session_holder
from gateway_auth.http.appkeys import PAGES, SERVICES
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import origin, return_url
from gateway_auth.http.portal.browsing import see_other, signed_in_form, signed_in_to
from gateway_auth.http.portal.ceremony import answer, relying_party
from gateway_auth.http.portal.display import device_name
from gateway_auth.http.portal.factors import codes_page, password_refused, proved, status_page
from gateway_auth.http.portal.pages import field_error, not_now
from gateway_auth.http.portal.signin import login_form
from gateway_auth.i18n import N_
from gateway_auth.models import Identity

REFUSED = N_("That passkey was not accepted. Try again, or sign in another way.")
EXPIRED = N_("The passkey request took too long or was already used. Please try again.")


async def passkey_sign_in(request: web.Request) -> web.Response:
    """``POST /login/passkey``: a passkey alone (one that verifies its user) signs in and goes
    on to ``rd``; the sign-in page again, saying why, when it does not."""
    body = await read_body(request, allow_form=True)
    checked = request.app[PAGES].tokens.check(request, body.fields)
    fields = string_fields(
        checked, required=("ceremony", "credential"), optional=("rd", "remember")
    )
    return_to = return_url(request, fields.get("rd"), fallback="")
    services = request.app[SERVICES]
    try:
        issued = await services.steps.passkey_alone(
            answer(request, fields, holder=""),  # a sign-in's challenge names no one
            origin(request),
            persistent=fields.get("remember") == "on",
        )
    except (PasskeyRefused, CeremonyExpired, ClientSuspended, TooManyAttempts) as exc:
        return _sign_in_refused(request, return_to, exc)
    return await signed_in_to(request, issued, return_to)


def _sign_in_refused(
    request: web.Request,
    return_to: str,
    exc: PasskeyRefused | CeremonyExpired | ClientSuspended | TooManyAttempts,
) -> web.Response:
    status, headers = 401, dict[str, str]()
    alert = EXPIRED if isinstance(exc, CeremonyExpired) else REFUSED
    if isinstance(exc, TooManyAttempts):
        status, headers = 429, {"Retry-After": str(exc.retry_after)}
        tr = request.app[PAGES].translation(request)
        alert = not_now(tr, N_("Too many sign-in attempts."), exc.retry_after)
    return login_form(request, return_to=return_to, alert=alert, status=status, headers=headers)


async def begin_passkey(request: web.Request) -> web.Response:
    """``POST /account/two-factor/passkeys``: after the password, the page that creates a
    passkey on this device (its options, for this session, for five minutes)."""
    form = await _form(request, required=("passkeyPassword",))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    rd = return_url(request, fields.get("rd"))
    rp = relying_party(request)
    if rp is None:
        alert = N_("Passkeys need the portal's address to be a domain name, not an IP address.")
        return await _status(request, identity, alert=alert, status=409, rd=rd)
    try:
        challenge = await request.app[SERVICES].passkeys.begin_registration(
            identity, fields["passkeyPassword"] or "", origin(request), rp
        )
    except (WrongPassword, TooManyAttempts) as exc:
        return await password_refused(request, identity, exc, "passkeyPassword", rd=rd)
    except (SecondFactorsOff, NotAUser) as exc:
        return await _status(request, identity, alert=exc.message, status=409, rd=rd)
    except ValidationFailed as exc:
        return await _status(request, identity, alert=exc.errors[0].message, status=409, rd=rd)
    name = device_name(request.headers.get(hdrs.USER_AGENT, ""))
    return _add_page(request, challenge, name, rd)


async def confirm_passkey(request: web.Request) -> web.Response:
    """``POST /account/two-factor/passkeys/confirm``: keep the passkey the browser just made;
    for the account's first second factor, the recovery codes are shown once."""
    form = await _form(request, required=("ceremony", "credential", "name"))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    rd = return_url(request, fields.get("rd"))
    services = request.app[SERVICES]
    try:
        codes, methods = await services.passkeys.register(
            identity,
            answer(request, fields, session_holder(identity)).rp,
            fields["ceremony"] or "",
            fields["credential"] or "",
            fields["name"] or "",
        )
    except (PasskeyRefused, CeremonyExpired, PasskeyExists, SecondFactorsOff, NotAUser) as exc:
        alert = REFUSED if isinstance(exc, PasskeyRefused) else exc.message
        tr = request.app[PAGES].translation(request)
        alert = f"{tr.gettext('No passkey was added.')} {tr.gettext(alert)}"
        return await _status(request, identity, alert=alert, status=409, rd=rd)
    except ValidationFailed as exc:
        message = field_error(
            request.app[PAGES].translation(request), N_("The name"), exc.errors[0].message
        )
        return await _status(request, identity, alert=message, status=422, rd=rd)
    if codes is not None:
        response = codes_page(request, codes, first=True, rd=rd)
    else:
        response = see_other(rd or f"{request.app[PAGES].urls.two_factor}?done=passkey-added")
    return await proved(request, identity, methods, response)


async def rename_passkey(request: web.Request) -> web.Response:
    """``POST /account/two-factor/passkeys/{id}/rename``: a new name for one passkey."""
    credential_id = request.match_info["id"]
    field = f"name-{credential_id}"  # each passkey's form has its own
    form = await _form(request, required=(field,))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    try:
        await request.app[SERVICES].passkeys.rename(identity, credential_id, fields[field] or "")
    except PasskeyNotFound as exc:
        return await _status(request, identity, alert=exc.message, status=404)
    except ValidationFailed as exc:
        return await _status(
            request,
            identity,
            alert=field_error(
                request.app[PAGES].translation(request), N_("The name"), exc.errors[0].message
            ),
            status=422,
        )
    return see_other(f"{request.app[PAGES].urls.two_factor}?done=passkey-renamed")


async def remove_passkey(request: web.Request) -> web.Response:
    """``POST /account/two-factor/passkeys/{id}/remove``: after the password, the passkey
    goes (and with the last second factor, the recovery codes)."""
    credential_id = request.match_info["id"]
    field = f"password-{credential_id}"  # each passkey's form has its own
    form = await _form(request, required=(field,))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    try:
        await request.app[SERVICES].passkeys.remove(
            identity, credential_id, fields[field] or "", origin(request)
        )
    except (WrongPassword, TooManyAttempts) as exc:
        return await password_refused(request, identity, exc, field)
    except PasskeyNotFound as exc:
        return await _status(request, identity, alert=exc.message, status=404)
    return see_other(f"{request.app[PAGES].urls.two_factor}?done=passkey-removed")


async def _form(
    request: web.Request, *, required: tuple[str, ...]
) -> tuple[Identity, dict[str, str | None]] | web.Response:
    return await signed_in_form(request, here=request.app[PAGES].urls.two_factor, required=required)


async def _status(
    request: web.Request, identity: Identity, *, alert: str, status: int, rd: str = ""
) -> web.Response:
    return await status_page(request, identity, alert=alert, status=status, rd=rd)


def _add_page(request: web.Request, challenge: Challenge, name: str, rd: str) -> web.Response:
    return request.app[PAGES].render(
        request,
        "passkey_add.html",
        title=N_("Add a passkey"),
        challenge=challenge,
        name=name,
        rd=rd,
        headers={hdrs.CACHE_CONTROL: "no-store"},
    )
