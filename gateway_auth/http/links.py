"""Mailed links: asking for a password reset, setting the new password, verifying an address.

Each route takes JSON from programs and the portal's forms from people (pages and redirects).
A link's GET only shows a page with a button: mail scanners fetch links, and must not use up a
token (or verify an address) by doing so; the POST from that page does the work.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from gateway_auth.errors import (
    LinkExpired,
    LinkInvalid,
    LinkUsed,
    TooManyAttempts,
    ValidationFailed,
)
from gateway_auth.http.appkeys import PAGES, SERVICES
from gateway_auth.http.bodies import Body, read_body, string_fields
from gateway_auth.http.callers import access_token, cookie_policy, origin
from gateway_auth.http.portal.browsing import see_other
from gateway_auth.http.portal.pages import field_error, not_now
from gateway_auth.http.views import json_response
from gateway_auth.i18n import N_

# The one answer to every reset request, whether or not an account uses the address.
RESET_ACCEPTED = {
    "status": "accepted",
    "detail": "If an account uses this address, a link to set a new password is on its way.",
}
MAX_TOKEN = 128  # ours are 43 characters; anything much longer is not one


async def reset_page(request: web.Request) -> web.Response:
    """``GET /password-reset``: the "forgot your password" form."""
    return _reset_form(request)


async def request_reset(request: web.Request) -> web.Response:
    """``POST /password-reset {email}``: 202 and the same body for every address."""
    body = await read_body(request, allow_form=True)
    if body.is_form:
        return await _request_reset_form(request, body)
    fields = string_fields(body.fields, required=("email",))
    await request.app[SERVICES].links.request_password_reset(fields["email"] or "", origin(request))
    return json_response(RESET_ACCEPTED, status=202)


async def new_password_page(request: web.Request) -> web.Response:
    """``GET /password-reset/confirm?token=``: where a reset link leads (nothing is used yet)."""
    return _new_password_form(request, token=_token(request.query.get("token")))


async def confirm_reset(request: web.Request) -> web.Response:
    """``POST /password-reset/confirm {token, newPassword}``: 204, every session ended."""
    body = await read_body(request, allow_form=True)
    if body.is_form:
        return await _confirm_reset_form(request, body)
    fields = string_fields(body.fields, required=("token", "newPassword"))
    await request.app[SERVICES].links.reset_password(
        _token(fields["token"]), fields["newPassword"] or "", origin(request)
    )
    return web.Response(status=204)


async def verification_page(request: web.Request) -> web.Response:
    """``GET /email-verification/confirm?token=``: a button that verifies the address."""
    return request.app[PAGES].render(
        request,
        "verify_email.html",
        title=N_("Verify your email address"),
        token=_token(request.query.get("token")),
    )


async def confirm_verification(request: web.Request) -> web.Response:
    """``POST /email-verification/confirm {token}``: 200 with ``{emailVerified: true}``. From
    the portal's form, this browser's access cookie, when it is the same client's, says so at
    once (other sessions' tokens say it from their next refresh)."""
    body = await read_body(request, allow_form=True)
    if not body.is_form:
        token = _token(string_fields(body.fields, required=("token",))["token"])
        await request.app[SERVICES].links.verify_email(token, origin(request))
        return json_response({"emailVerified": True})
    fields = request.app[PAGES].tokens.check(request, body.fields)
    token = _token(string_fields(fields, required=("token",))["token"])
    urls = request.app[PAGES].urls
    try:
        client = await request.app[SERVICES].links.verify_email(token, origin(request))
    except (LinkInvalid, TooManyAttempts) as exc:
        return _link_refused(request, exc, again=urls.home)
    reissued = await request.app[SERVICES].sessions.reissue(client, access_token(request))
    if reissued is None:  # someone else's browser, or nobody signed in: sign in to carry on
        return see_other(urls.login_saying("email_verified"))
    response = see_other(f"{urls.home}?done=verified")
    cookie_policy(request).set(response, reissued)
    return response


async def _request_reset_form(request: web.Request, body: Body) -> web.Response:
    fields = string_fields(
        request.app[PAGES].tokens.check(request, body.fields), required=("email",)
    )
    email = fields["email"] or ""
    try:
        await request.app[SERVICES].links.request_password_reset(email, origin(request))
    except ValidationFailed:
        return _reset_form(
            request,
            email=email,
            error=N_("Enter an email address such as ada@example.com."),
            status=422,
        )
    except TooManyAttempts as exc:
        tr = request.app[PAGES].translation(request)
        alert = not_now(tr, N_("Too many attempts from your network."), exc.retry_after)
        return _reset_form(
            request, email=email, alert=alert, status=429,
            headers={hdrs.RETRY_AFTER: str(exc.retry_after)},
        )  # fmt: skip
    return request.app[PAGES].render(request, "reset_sent.html", title=N_("Check your email"))


async def _confirm_reset_form(request: web.Request, body: Body) -> web.Response:
    fields = string_fields(
        request.app[PAGES].tokens.check(request, body.fields),
        required=("token", "newPassword", "newPasswordConfirmation"),
    )
    token = _token(fields["token"])
    if fields["newPassword"] != fields["newPasswordConfirmation"]:
        errors = {"newPasswordConfirmation": N_("The two passwords do not match.")}
        return _new_password_form(request, token=token, errors=errors, status=422)
    try:
        await request.app[SERVICES].links.reset_password(
            token, fields["newPassword"] or "", origin(request)
        )
    except ValidationFailed as exc:
        tr = request.app[PAGES].translation(request)
        errors = {"newPassword": field_error(tr, N_("New password"), exc.errors[0].message)}
        return _new_password_form(request, token=token, errors=errors, status=422)
    except (LinkInvalid, TooManyAttempts) as exc:
        return _link_refused(request, exc, again=request.app[PAGES].urls.password_reset)
    response = see_other(request.app[PAGES].urls.login_saying("password_reset"))
    cookie_policy(request).clear(response)  # every session has ended, this browser's too
    return response


def _token(value: str | None) -> str:
    """The token as given, or empty (never a match) when it cannot be one."""
    return value if value and len(value) <= MAX_TOKEN else ""


def _reset_form(
    request: web.Request,
    *,
    email: str = "",
    error: str | None = None,
    alert: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return request.app[PAGES].render(
        request,
        "password_reset.html",
        status=status,
        headers=headers,
        title=N_("Reset your password"),
        email=email,
        errors={"email": error} if error else {},
        alert=alert,
    )


def _new_password_form(
    request: web.Request,
    *,
    token: str,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    errors = errors or {}
    return request.app[PAGES].render(
        request,
        "new_password.html",
        status=status,
        title=N_("Choose a new password"),
        token=token,
        errors=errors,
        focus=next(iter(errors), "newPassword"),
        alert=N_("Please correct the field marked below.") if errors else None,
    )


def _link_refused(
    request: web.Request, exc: LinkInvalid | TooManyAttempts, *, again: str
) -> web.Response:
    """Why a link did nothing, and where to ask for a new one."""
    if isinstance(exc, TooManyAttempts):
        heading = N_("Too many attempts")
        tr = request.app[PAGES].translation(request)
        detail = not_now(tr, N_("Too many attempts from your network."), exc.retry_after)
        status, headers = 429, {str(hdrs.RETRY_AFTER): str(exc.retry_after)}
    else:
        heading = {
            LinkExpired: N_("This link has expired"),
            LinkUsed: N_("This link was used already"),
        }.get(type(exc), N_("This link is not valid"))
        detail, status, headers = exc.message, 400, dict[str, str]()
    return request.app[PAGES].render(
        request,
        "link_refused.html",
        status=status,
        headers=headers,
        title=heading,
        heading=heading,
        detail=detail,
        again=again,
    )
