"""The sign-in portal: signing in, registering, signing out, the refresh hop, the refusal page.

Pages for people: plain forms with a form token, no script. The JSON API shares three of these
paths (``POST /login``, ``/register``, ``/logout``); ``http/auth.py`` hands form posts here.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from gateway_auth.accounts import NewClient
from gateway_auth.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    RegistrationClosed,
    TooManyAttempts,
    ValidationFailed,
)
from gateway_auth.http.appkeys import (
    ACCOUNTS,
    COOKIES,
    PAGES,
    SESSIONS,
    SETTINGS,
)
from gateway_auth.http.bodies import Body, string_fields
from gateway_auth.http.browsing import (
    denied,
    reauthenticate,
    see_other,
    signed_in,
    signed_in_to,
    token_verdict,
    unverified,
)
from gateway_auth.http.callers import (
    access_token,
    origin,
    refresh_cookie,
    return_domains,
    return_ports,
)
from gateway_auth.http.pages import PortalUrls, retry_text
from gateway_auth.http.problems import WWW_AUTHENTICATE
from gateway_auth.redirects import safe_return_url

# Fixed messages a redirect may ask a page to show (never text taken from the URL).
NOTICES = {
    "signed_out": "You are signed out.",
    "session_ended": "Your session has ended. Please sign in again.",
    "password_reset": "Your password was changed and you were signed out everywhere. "
    "Sign in with your new password.",
    "email_verified": "Your email address is verified. Sign in to carry on.",
}
LABELS = {
    "email": "Email",
    "password": "Password",
    "firstName": "First name",
    "lastName": "Last name",
}


async def login_page(request: web.Request) -> web.Response:
    """``GET /login``: the sign-in form; someone already signed in goes straight on, and a
    browser whose access cookie merely expired goes through the refresh hop first (for a
    gateway that sends every 401 here, as ingress-nginx's ``auth-signin`` does)."""
    return_to = _safe(request, request.query.get("rd"), fallback="")
    outcome = token_verdict(request).outcome
    notice_key = request.query.get("notice", "")
    if outcome == "allow":
        return see_other(return_to or _urls(request).home)
    if outcome == "expired" and notice_key != "session_ended":  # the hop sent us: no loop
        return see_other(PortalUrls.with_return(_urls(request).refresh, return_to or None))
    notice = NOTICES.get(notice_key)
    return _login_form(request, return_to=return_to, notice=notice)


async def sign_in(request: web.Request, body: Body) -> web.Response:
    """A sign-in form: back to the return URL with cookies, or the form again, saying why."""
    fields = _form(request, body, required=("email", "password"), optional=("rd", "remember"))
    email, remember = fields["email"] or "", fields.get("remember") == "on"
    return_to = _safe(request, fields.get("rd"), fallback="")
    try:
        issued = await request.app[SESSIONS].login(
            email, fields["password"] or "", origin(request), persistent=remember
        )
    except InvalidCredentials:
        return _login_form(
            request,
            return_to=return_to,
            email=email,
            remember=remember,
            alert="The email address or password is incorrect.",
            status=401,
            headers={hdrs.WWW_AUTHENTICATE: WWW_AUTHENTICATE},
        )
    except TooManyAttempts as exc:
        # The same words for every account, known or not: the throttle counts both alike.
        return _login_form(
            request,
            return_to=return_to,
            email=email,
            remember=remember,
            alert=(
                "Too many failed attempts to sign in to this account. "
                if exc.by == "account"
                else "Too many sign-in attempts from your network. "
            )
            + (retry_text(str(exc.retry_after)) or ""),
            status=429,
            headers={hdrs.RETRY_AFTER: str(exc.retry_after)},
        )
    return signed_in_to(request, issued, return_to)


async def register_page(request: web.Request) -> web.Response:
    """``GET /register``: the registration form, or why there is none."""
    if request.app[SETTINGS].registration != "open":
        raise RegistrationClosed
    return _register_form(request, return_to=_safe(request, request.query.get("rd"), ""))


async def register(request: web.Request, body: Body) -> web.Response:
    """A registration form: the new account is signed in at once; errors beside each field."""
    fields = _form(
        request,
        body,
        required=("email", "password", "passwordConfirmation"),
        optional=("firstName", "lastName", "rd", "remember"),
    )
    values = {name: fields.get(name) or "" for name in ("email", "firstName", "lastName")}
    remember = fields.get("remember") == "on"
    return_to = _safe(request, fields.get("rd"), fallback="")
    errors: dict[str, str] = {}
    if fields["password"] != fields["passwordConfirmation"]:
        errors["passwordConfirmation"] = "The two passwords do not match."
    else:
        password = fields["password"] or ""
        new = NewClient(values["email"], password, fields.get("firstName"), fields.get("lastName"))
        try:
            client = await request.app[ACCOUNTS].register(new, origin(request))
            issued = await request.app[SESSIONS].start(client, origin(request), persistent=remember)
            return signed_in_to(request, issued, return_to)
        except ValidationFailed as exc:
            errors = {e.field: f"{LABELS.get(e.field, e.field)} {e.message}." for e in exc.errors}
        except EmailTaken:
            errors["email"] = "This email address is already registered; sign in instead."
    return _register_form(
        request, return_to=return_to, values=values, errors=errors, remember=remember, status=422
    )


async def logout_page(request: web.Request) -> web.Response:
    """``GET /logout``: a confirmation, so a link (``…/logout?rd=…``) signs nobody out alone."""
    urls = _urls(request)
    return_to = _safe(request, request.query.get("rd"), fallback="")
    claims = token_verdict(request).claims  # absent when no session is left to end
    return request.app[PAGES].render(
        request,
        "logout.html",
        title="Sign out",
        email=claims.email if claims else None,
        rd=return_to,
        cancel=return_to or urls.home,
    )


async def sign_out(request: web.Request, body: Body) -> web.Response:
    """A sign-out form: the session ends everywhere, then the return URL or the sign-in page."""
    fields = _form(request, body, optional=("rd",))
    token = access_token(request)
    if token is not None:
        await request.app[SESSIONS].logout(token)
    signed_out = _urls(request).login_saying("signed_out")
    response = see_other(_safe(request, fields.get("rd"), fallback=signed_out))
    request.app[COOKIES].clear(response)
    return response


async def refresh_hop(request: web.Request) -> web.Response:
    """``GET /refresh?rd=``: where ``/verify`` sends a browser whose access token expired.

    It rotates the refresh cookie and sends the browser straight back, so a session lasts as
    long as its refresh token without any script; with no live session, to the sign-in page.
    """
    urls = _urls(request)
    return_to = _safe(request, request.query.get("rd"), fallback=urls.home)
    sign_in = urls.login_saying("session_ended", return_to)
    token = refresh_cookie(request)
    if token is None:
        # Nothing of this browser's to renew (or a cookie this path did not receive, as under
        # /auth/%72efresh): never clear cookies that were not even presented.
        return see_other(sign_in)
    cookies = request.app[COOKIES]
    try:
        issued = await request.app[SESSIONS].refresh_browser(token, origin(request))
    except InvalidRefreshToken:
        response = see_other(sign_in)
        cookies.clear(response)
        return response
    response = see_other(return_to)
    cookies.set(response, issued)
    return response


async def denied_page(request: web.Request) -> web.Response:
    """``GET /denied``: what nginx shows for a 403 from ``/verify`` (``error_page 403``)."""
    identity = await signed_in(request, here=_urls(request).home)
    if isinstance(identity, web.Response):
        return identity  # not signed in at all, or suspended (that page is a 403 too)
    client = identity.client
    required = request.app[SETTINGS].require_verified_email
    if required and client.kind == "user" and not client.email_verified:
        return unverified(request, client.email)
    if request.app[SESSIONS].steps_up(client, token_verdict(request).claims):
        # It holds an elevated scope not in force: most likely what was refused.
        return reauthenticate(request, client.email, None)
    return denied(request, client.email, suspended=False, original=None)


def _form(
    request: web.Request,
    body: Body,
    *,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
) -> dict[str, str | None]:
    fields = request.app[PAGES].tokens.check(request, body.fields)
    return string_fields(fields, required=required, optional=optional)


def _safe(request: web.Request, candidate: str | None, fallback: str) -> str:
    return safe_return_url(
        candidate, return_domains(request), fallback=fallback, https_ports=return_ports(request)
    )


def _urls(request: web.Request) -> PortalUrls:
    return request.app[PAGES].urls


def _login_form(
    request: web.Request,
    *,
    return_to: str,
    email: str = "",
    remember: bool = False,
    alert: str | None = None,
    notice: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    urls = _urls(request)
    return request.app[PAGES].render(
        request,
        "login.html",
        status=status,
        headers=headers,
        title="Sign in",
        rd=return_to,
        email=email,
        remember=remember,
        alert=alert,
        notice=notice,
        registration_open=request.app[SETTINGS].registration == "open",
        reset_url=urls.password_reset,
        guests=request.app[SETTINGS].guests and request.app[SETTINGS].registration == "open",
        register_url=PortalUrls.with_return(urls.register, return_to),
    )


def _register_form(
    request: web.Request,
    *,
    return_to: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    remember: bool = False,
    status: int = 200,
) -> web.Response:
    errors = errors or {}
    return request.app[PAGES].render(
        request,
        "register.html",
        status=status,
        title="Create an account",
        rd=return_to,
        values=values or {"email": "", "firstName": "", "lastName": ""},
        errors=errors,
        focus=next(iter(errors), "email"),  # the first field to correct, else the first field
        remember=remember,
        alert="Please correct the fields marked below." if errors else None,
        login_url=PortalUrls.with_return(_urls(request).login, return_to),
    )
