"""Two-step sign-in for people: the sign-in's second step, and the account's page for adding
and removing an authenticator app and replacing recovery codes.

``POST /login/second-factor`` reads JSON or the form, like ``POST /login``: a program gets
JSON and cookies, a browser a redirect or the page again. The account forms post and then
show a page (the recovery codes appear once, on the page that answers the post).
"""

from __future__ import annotations

from datetime import datetime
from gettext import NullTranslations

from aiohttp import hdrs, web

from gateway_auth.errors import (
    CeremonyExpired,
    CodesLocked,
    FactorExists,
    NotAUser,
    PasskeyRefused,
    SecondFactorsOff,
    SignInExpired,
    TooManyAttempts,
    WrongCode,
    WrongPassword,
)
from gateway_auth.factors.service import TotpEnrolment
from gateway_auth.http.appkeys import PAGES, SERVICES
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import access_token, cookie_policy, origin, return_url
from gateway_auth.http.portal.browsing import (
    see_other,
    signed_in,
    signed_in_form,
    signed_in_to,
)
from gateway_auth.http.portal.ceremony import answer, relying_party
from gateway_auth.http.portal.pages import PortalUrls, not_now
from gateway_auth.http.views import client_view, json_response
from gateway_auth.i18n import N_, ago, day, translations
from gateway_auth.models import AMR_OTP, Identity, Passkey
from gateway_auth.signin.second_step import HalfSignedIn

WRONG_CODE = N_("That code is not right, or was already used. Try the newest code in the app.")
PASSKEY_REFUSED = N_("That passkey was not accepted. Try again, or use a code.")
NOTICES = {
    "removed": N_("The authenticator app was removed."),
    "app-added": N_("The authenticator app is set up. Signing in can now ask for its code."),
    "passkey-added": N_("The passkey was added. You can sign in with it alone."),
    "passkey-renamed": N_("The passkey was renamed."),
    "passkey-removed": N_("The passkey was removed."),
    "required": N_(
        "Every account here signs in in two steps. Add a passkey or an authenticator app to go on."
    ),
}


async def second_factor_page(request: web.Request) -> web.Response:
    """``GET /login/second-factor``: a passkey, a code or a recovery code, for a browser
    halfway through signing in (anyone else goes back to the sign-in page)."""
    return_to = return_url(request, request.query.get("rd"))
    try:
        half = await request.app[SERVICES].steps.half_signed_in(
            cookie_policy(request).pending(request)
        )
    except SignInExpired:
        response = see_other(request.app[PAGES].urls.login_saying("signin_expired", return_to))
        cookie_policy(request).clear_pending(response)
        return response
    return await _code_form(request, half, return_to=return_to)


async def second_factor(request: web.Request) -> web.Response:
    """``POST /login/second-factor``: a code (JSON ``{code}`` or the form), or the form's
    passkey answer, finishes the sign-in that the password began in this browser."""
    body = await read_body(request, allow_form=True)
    if body.is_form:
        checked = request.app[PAGES].tokens.check(request, body.fields)
        fields = string_fields(checked, optional=("code", "ceremony", "credential", "rd"))
        return_to: str | None = return_url(request, fields.get("rd"))
        if fields.get("credential") is None and fields.get("code") is None:
            fields = string_fields(checked, required=("code",), optional=("rd",))
    else:
        fields = string_fields(body.fields, required=("code",))
        return_to = None
    cookies = cookie_policy(request)
    steps = request.app[SERVICES].steps
    pending = cookies.pending(request)
    try:
        if fields.get("credential") is not None and return_to is not None:
            answered = answer(request, fields, holder="")  # the sign-in's own, in with_passkey
            issued = await steps.with_passkey(pending, answered, origin(request))
        else:
            issued = await steps.with_code(pending, fields["code"] or "", origin(request))
    except SignInExpired:
        if return_to is None:
            raise
        response = see_other(request.app[PAGES].urls.login_saying("signin_expired", return_to))
        cookies.clear_pending(response)
        return response
    except (WrongCode, TooManyAttempts, CodesLocked, PasskeyRefused, CeremonyExpired) as exc:
        if return_to is None:
            raise
        return await _refused(request, return_to, exc)
    if return_to is not None:
        response = await signed_in_to(request, issued, return_to)
    else:
        response = json_response(
            {"client": client_view(issued.client), "expiresIn": issued.access_expires_in}
        )
        cookies.set(response, issued)
    cookies.clear_pending(response)
    return response


async def two_factor_page(request: web.Request) -> web.Response:
    """``GET /account/two-factor``: what protects the account besides its password."""
    identity = await signed_in(request, here=request.app[PAGES].urls.two_factor)
    if isinstance(identity, web.Response):
        return identity
    notice = NOTICES.get(request.query.get("done", ""))
    rd = return_url(request, request.query.get("rd"))
    return await status_page(request, identity, notice=notice, rd=rd)


async def begin_totp(request: web.Request) -> web.Response:
    """``POST /account/two-factor/totp``: after the password, a new secret, shown as a QR code
    and as text (nothing is stored until its first code)."""
    form = await _signed_in_form(request, required=("setupPassword",))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    rd = return_url(request, fields.get("rd"))
    try:
        enrolment = await request.app[SERVICES].factors.begin_totp(
            identity, fields["setupPassword"] or "", origin(request)
        )
    except (WrongPassword, TooManyAttempts) as exc:
        return await password_refused(request, identity, exc, "setupPassword", rd=rd)
    except (FactorExists, SecondFactorsOff, NotAUser) as exc:
        return await status_page(request, identity, alert=exc.message, status=409, rd=rd)
    return _enrol_page(request, enrolment, rd=rd)


async def confirm_totp(request: web.Request) -> web.Response:
    """``POST /account/two-factor/totp/confirm``: the app's first code turns it on and ends
    the account's other sessions; the recovery codes are shown once on the page that
    answers."""
    form = await _signed_in_form(request, required=("code", "ticket"))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    rd = return_url(request, fields.get("rd"))
    factors = request.app[SERVICES].factors
    ticket = fields["ticket"] or ""
    try:
        codes = await factors.confirm_totp(identity, ticket, fields["code"] or "", origin(request))
    except (WrongCode, TooManyAttempts) as exc:
        try:
            enrolment = factors.enrolment(identity, ticket)
        except WrongCode as expired:
            return await status_page(request, identity, alert=expired.message, status=409, rd=rd)
        status, alert = (
            (401, WRONG_CODE)
            if isinstance(exc, WrongCode)
            else _throttled(request.app[PAGES].translation(request), exc)
        )
        response = _enrol_page(request, enrolment, alert=alert, status=status, rd=rd)
        if isinstance(exc, TooManyAttempts):
            response.headers[hdrs.RETRY_AFTER] = str(exc.retry_after)
        return response
    except (FactorExists, SecondFactorsOff, NotAUser) as exc:
        return await status_page(request, identity, alert=exc.message, status=409, rd=rd)
    if codes is None:  # a passkey came first: its recovery codes stay
        response = see_other(rd or f"{request.app[PAGES].urls.two_factor}?done=app-added")
    else:
        response = codes_page(request, codes, first=True, rd=rd)
    return await proved(request, identity, (AMR_OTP,), response)


async def proved(
    request: web.Request, identity: Identity, methods: tuple[str, ...], response: web.Response
) -> web.Response:
    """``response``, once this session counts as proved with the second factor just added
    (the new factor was used to add it): its cookie is reissued with the new ``amr``."""
    services = request.app[SERVICES]
    await services.accounts.prove(identity, methods)
    reissued = await services.sessions.reissue(identity.client, access_token(request))
    if reissued is not None:
        cookie_policy(request).set(response, reissued)
    return response


async def remove_totp(request: web.Request) -> web.Response:
    """``POST /account/two-factor/totp/remove``: after the password, the app and the recovery
    codes go."""
    form = await _signed_in_form(request, required=("removePassword",))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    try:
        await request.app[SERVICES].factors.remove_totp(
            identity, fields["removePassword"] or "", origin(request)
        )
    except (WrongPassword, TooManyAttempts) as exc:
        return await password_refused(request, identity, exc, "removePassword")
    return see_other(f"{request.app[PAGES].urls.two_factor}?done=removed")


async def replace_recovery_codes(request: web.Request) -> web.Response:
    """``POST /account/two-factor/recovery-codes``: after the password, ten new codes, shown
    once; the old ones stop working."""
    form = await _signed_in_form(request, required=("codesPassword",))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    try:
        codes = await request.app[SERVICES].factors.replace_recovery_codes(
            identity, fields["codesPassword"] or "", origin(request)
        )
    except (WrongPassword, TooManyAttempts) as exc:
        return await password_refused(request, identity, exc, "codesPassword")
    except WrongCode as exc:
        return await status_page(request, identity, alert=exc.message, status=409)
    return codes_page(request, codes, first=False)


async def _refused(
    request: web.Request,
    return_to: str,
    exc: WrongCode | TooManyAttempts | CodesLocked | PasskeyRefused | CeremonyExpired,
) -> web.Response:
    try:
        half = await request.app[SERVICES].steps.half_signed_in(
            cookie_policy(request).pending(request)
        )
    except SignInExpired:
        return see_other(request.app[PAGES].urls.login_saying("signin_expired", return_to))
    status, alert = 401, WRONG_CODE
    if isinstance(exc, (PasskeyRefused, CeremonyExpired)):
        alert = PASSKEY_REFUSED if isinstance(exc, PasskeyRefused) else exc.message
    elif isinstance(exc, CodesLocked):
        status, alert = 403, exc.message
    elif isinstance(exc, TooManyAttempts):
        status, alert = _throttled(request.app[PAGES].translation(request), exc)
    response = await _code_form(request, half, return_to=return_to, alert=alert, status=status)
    if isinstance(exc, TooManyAttempts):
        response.headers[hdrs.RETRY_AFTER] = str(exc.retry_after)
    return response


def _throttled(tr: NullTranslations, exc: TooManyAttempts) -> tuple[int, str]:
    cause = (
        N_("Too many wrong codes or passwords for this account.")
        if exc.by == "account"
        else N_("Too many attempts from your network.")
    )
    return 429, not_now(tr, cause, exc.retry_after)


async def password_refused(
    request: web.Request,
    identity: Identity,
    exc: WrongPassword | TooManyAttempts,
    field: str,
    *,
    rd: str = "",
) -> web.Response:
    """The two-step page again: the password field marked, or why it must wait."""
    if isinstance(exc, WrongPassword):
        errors = {field: N_("The password is incorrect.")}
        return await status_page(request, identity, errors=errors, status=401, rd=rd)
    status, alert = _throttled(request.app[PAGES].translation(request), exc)
    response = await status_page(request, identity, alert=alert, status=status, rd=rd)
    response.headers[hdrs.RETRY_AFTER] = str(exc.retry_after)
    return response


async def _signed_in_form(
    request: web.Request, *, required: tuple[str, ...] = ()
) -> tuple[Identity, dict[str, str | None]] | web.Response:
    here = request.app[PAGES].urls.two_factor
    return await signed_in_form(request, here=here, required=required, optional=("rd",))


async def status_page(
    request: web.Request,
    identity: Identity,
    *,
    notice: str | None = None,
    alert: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    rd: str = "",
) -> web.Response:
    """The two-step page; ``rd`` is where adding a factor goes on to (a page that asked for
    one), kept through its forms."""
    factors = await request.app[SERVICES].factors.of(identity.client)
    now = request.app[SERVICES].clock()
    return request.app[PAGES].render(
        request,
        "two_factor.html",
        status=status,
        title=N_("Two-step sign-in"),
        enrolled=factors.enrolled,
        has_app=factors.has_app,
        passkeys=[
            _passkey_view(key, now, request.app[PAGES].language(request))
            for key in factors.passkeys
        ],
        passkeys_possible=relying_party(request) is not None,
        codes_left=factors.recovery_codes_left,
        available=request.app[SERVICES].factors.policy != "off" and identity.client.kind == "user",
        notice=notice,
        alert=alert or (N_("Please correct the field marked below.") if errors else None),
        errors=errors or {},
        focus=next(iter(errors or {}), None),
        rd=rd,
    )


def _enrol_page(
    request: web.Request,
    enrolment: TotpEnrolment,
    *,
    alert: str | None = None,
    status: int = 200,
    rd: str = "",
) -> web.Response:
    secret = enrolment.secret
    return request.app[PAGES].render(
        request,
        "totp_enrol.html",
        status=status,
        title=N_("Set up an authenticator app"),
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        qr_svg=enrolment.qr_svg,
        ticket=enrolment.ticket,
        alert=alert,
        rd=rd,
        headers={hdrs.CACHE_CONTROL: "no-store"},
    )


def codes_page(
    request: web.Request, codes: list[str], *, first: bool, rd: str = ""
) -> web.Response:
    """The recovery codes, shown once; then on to ``rd`` (or the two-step page)."""
    return request.app[PAGES].render(
        request,
        "recovery_codes.html",
        title=N_("Your recovery codes"),
        codes=codes,
        first=first,
        onward=rd or request.app[PAGES].urls.two_factor,
        headers={hdrs.CACHE_CONTROL: "no-store"},
    )


async def _code_form(
    request: web.Request,
    half: HalfSignedIn,
    *,
    return_to: str,
    alert: str | None = None,
    status: int = 200,
) -> web.Response:
    rp = relying_party(request)
    challenge = (
        None if rp is None else await request.app[SERVICES].steps.passkey_challenge(half, rp)
    )
    return request.app[PAGES].render(
        request,
        "second_factor.html",
        status=status,
        title=N_("Confirm it is you") if challenge else N_("Enter your code"),
        rd=return_to,
        alert=alert,
        challenge=challenge,
        has_app=half.factors.has_app,
        restart=PortalUrls.with_return(request.app[PAGES].urls.login, return_to or None),
    )


def _passkey_view(passkey: Passkey, now: datetime, language: str) -> dict[str, str]:
    tr = translations(language)
    added = day(passkey.created_at, language)
    if passkey.last_used_at:
        used = ago(passkey.last_used_at, now, language)
        meta = tr.gettext("Added %(added)s, last used %(used)s") % {"added": added, "used": used}
    else:
        meta = tr.gettext("Added %(added)s, not used yet") % {"added": added}
    if passkey.synced:
        meta += " · " + tr.gettext("synced between devices")
    return {"id": passkey.credential_id, "name": passkey.name, "meta": meta}
