"""Signing in and registering: the pages, and the two POSTs the JSON API shares with them.

``POST /login`` and ``POST /register`` read their body once: a JSON body gets JSON (the tokens
travel only in cookies), the portal's form gets a page or a redirect. Either way the cookies are
set by ``CookiePolicy``, and nothing else. Pages are plain forms with a form token; the sign-in
page's passkey form needs the portal's one script (``portal/passkeys.py`` takes its post).
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlencode

from aiohttp import hdrs, web

from gateway_auth.accounts.clients import NewClient
from gateway_auth.errors import (
    EmailTaken,
    FieldError,
    InvalidCredentials,
    RegistrationClosed,
    SecondFactorRequired,
    TooManyAttempts,
    ValidationFailed,
)
from gateway_auth.http.appkeys import PAGES, SERVICES, SETTINGS
from gateway_auth.http.bodies import Body, read_body, string_fields
from gateway_auth.http.callers import cookie_policy, origin, return_url
from gateway_auth.http.portal import crossing
from gateway_auth.http.portal.browsing import (
    default_return,
    denied,
    enrolment_needed,
    reauthenticate,
    see_other,
    signed_in,
    signed_in_to,
    token_verdict,
    unverified,
)
from gateway_auth.http.portal.ceremony import sign_in_challenge
from gateway_auth.http.portal.pages import PortalUrls, field_error, not_now
from gateway_auth.http.problems import WWW_AUTHENTICATE, problem
from gateway_auth.http.views import client_view, json_response
from gateway_auth.i18n import N_
from gateway_auth.models import AMR_MFA, Client
from gateway_auth.signin.issued import SecondStep

# Fixed messages a redirect may ask a page to show (never text taken from the URL).
NOTICES = {
    "signed_out": N_("You are signed out."),
    "account_deleted": N_(
        "Your account is deleted, and the services you used are told to delete your data."
    ),
    "session_ended": N_("Your session has ended. Please sign in again."),
    "password_reset": N_(
        "Your password was changed and you were signed out everywhere. "
        "Sign in with your new password."
    ),
    "email_verified": N_("Your email address is verified. Sign in to carry on."),
    "signin_expired": N_(
        "The sign-in took too long or was started elsewhere. Please sign in again."
    ),
}
LABELS = {
    "email": N_("Email"),
    "password": N_("Password"),
    "firstName": N_("First name"),
    "lastName": N_("Last name"),
}


class SignIn(NamedTuple):
    """What a sign-in asks, from either body; ``return_to`` is the form's (None: JSON)."""

    email: str
    password: str
    remember: bool
    return_to: str | None


async def login_page(request: web.Request) -> web.Response:
    """``GET /login``: the sign-in form; someone already signed in goes straight on, and a
    browser whose access cookie merely expired goes through the refresh hop first (for a
    gateway that sends every 401 here, as ingress-nginx's ``auth-signin`` does)."""
    return_to = return_url(request, request.query.get("rd"), fallback="")
    outcome = token_verdict(request).outcome
    notice_key = request.query.get("notice", "")
    if outcome == "allow":
        return see_other(return_to or default_return(request))
    if outcome == "expired" and notice_key != "session_ended":  # the hop sent us: no loop
        return see_other(PortalUrls.with_return(_urls(request).refresh, return_to or None))
    if crossing.wanted(request):  # signed in on another of the domains, perhaps
        return crossing.start(request, return_to)
    notice = NOTICES.get(notice_key)
    return login_form(request, return_to=return_to, notice=notice)


async def login(request: web.Request) -> web.Response:
    """``POST /login``: JSON (``remember``, default true, chooses cookies that outlive the
    browser) or the sign-in form (back to the return URL with cookies, or the form again,
    saying why)."""
    body = await read_body(request, allow_form=True)
    asked = _sign_in_form(request, body) if body.is_form else _sign_in_json(body)
    try:
        issued = await request.app[SERVICES].sessions.sign_in(
            asked.email, asked.password, origin(request), persistent=asked.remember
        )
    except (InvalidCredentials, TooManyAttempts) as exc:
        if asked.return_to is None:
            raise  # a program: the problem as it is
        return _sign_in_refused(request, asked, exc)
    if isinstance(issued, SecondStep):
        return _second_step(request, issued, asked.return_to)
    if asked.return_to is not None:
        return await signed_in_to(request, issued, onward(request, issued.client, asked.return_to))
    response = json_response(
        {"client": client_view(issued.client), "expiresIn": issued.access_expires_in}
    )
    cookie_policy(request).set(response, issued)
    return response


def onward(request: web.Request, client: Client, return_to: str) -> str:
    """Where a person signed in with the password alone goes: to add a second factor first
    under SECOND_FACTOR=required (nothing lets them through before), else on."""
    if request.app[SETTINGS].second_factor == "required" and client.kind == "user":
        query = {"done": "required", **({"rd": return_to} if return_to else {})}
        return f"{request.app[PAGES].urls.two_factor}?{urlencode(query)}"
    return return_to


def _second_step(request: web.Request, step: SecondStep, return_to: str | None) -> web.Response:
    """On to the code: the form to its page, a program a 401 saying where to send it; either
    way with the cookie that holds the half-finished sign-in."""
    if return_to is not None:
        urls = request.app[PAGES].urls
        response = see_other(PortalUrls.with_return(urls.second_factor, return_to or None))
    else:
        response = problem(SecondFactorRequired())
    cookie_policy(request).set_pending(response, step.pending_token)
    return response


def _sign_in_json(body: Body) -> SignIn:
    remember = body.fields.get("remember", True)
    if not isinstance(remember, bool):
        raise ValidationFailed([FieldError("remember", "must be true or false")])
    fields = string_fields(
        {k: v for k, v in body.fields.items() if k != "remember"}, required=("email", "password")
    )
    return SignIn(fields["email"] or "", fields["password"] or "", remember, None)


def _sign_in_form(request: web.Request, body: Body) -> SignIn:
    fields = _form(request, body, required=("email", "password"), optional=("rd", "remember"))
    return SignIn(
        fields["email"] or "",
        fields["password"] or "",
        fields.get("remember") == "on",
        return_url(request, fields.get("rd"), fallback=""),
    )


def _sign_in_refused(
    request: web.Request, asked: SignIn, exc: InvalidCredentials | TooManyAttempts
) -> web.Response:
    """The sign-in form again, saying why: the same words for every account, known or not
    (the throttle counts both alike)."""
    headers: dict[str, str]
    if isinstance(exc, InvalidCredentials):
        alert = N_("The email address or password is incorrect.")
        status, headers = 401, {hdrs.WWW_AUTHENTICATE: WWW_AUTHENTICATE}
    else:
        cause = (
            N_("Too many failed attempts to sign in to this account.")
            if exc.by == "account"
            else N_("Too many sign-in attempts from your network.")
        )
        alert = not_now(request.app[PAGES].translation(request), cause, exc.retry_after)
        status, headers = 429, {hdrs.RETRY_AFTER: str(exc.retry_after)}
    return login_form(
        request,
        return_to=asked.return_to or "",
        email=asked.email,
        remember=asked.remember,
        alert=alert,
        status=status,
        headers=headers,
    )


async def register_page(request: web.Request) -> web.Response:
    """``GET /register``: the registration form, or why there is none."""
    if request.app[SETTINGS].registration != "open":
        raise RegistrationClosed
    return _register_form(request, return_to=return_url(request, request.query.get("rd"), ""))


async def register(request: web.Request) -> web.Response:
    """``POST /register``: JSON creates a user account (no scopes, no session); the portal's
    form also signs the new account in at once, or shows the form with errors beside each
    field."""
    body = await read_body(request, allow_form=True)
    if body.is_form:
        return await _register_by_form(request, body)
    names = ("firstName", "lastName")
    fields = string_fields(
        body.fields, required=("email", "password"), optional=names, nullable=names
    )
    client = await request.app[SERVICES].accounts.register(
        NewClient(
            email=fields["email"] or "",
            password=fields["password"] or "",
            first_name=fields.get("firstName"),
            last_name=fields.get("lastName"),
        ),
        origin(request),
    )
    return json_response(client_view(client), status=201)


async def _register_by_form(request: web.Request, body: Body) -> web.Response:
    fields = _form(
        request,
        body,
        required=("email", "password", "passwordConfirmation"),
        optional=("firstName", "lastName", "rd", "remember"),
    )
    values = {name: fields.get(name) or "" for name in ("email", "firstName", "lastName")}
    remember = fields.get("remember") == "on"
    return_to = return_url(request, fields.get("rd"), fallback="")
    errors: dict[str, str] = {}
    if fields["password"] != fields["passwordConfirmation"]:
        errors["passwordConfirmation"] = N_("The two passwords do not match.")
    else:
        password = fields["password"] or ""
        new = NewClient(values["email"], password, fields.get("firstName"), fields.get("lastName"))
        services = request.app[SERVICES]
        try:
            client = await services.accounts.register(new, origin(request))
            issued = await services.sessions.start(client, origin(request), persistent=remember)
            return await signed_in_to(request, issued, onward(request, client, return_to))
        except ValidationFailed as exc:
            tr = request.app[PAGES].translation(request)
            errors = {e.field: field_error(tr, LABELS.get(e.field, e.field), e.message)
                      for e in exc.errors}  # fmt: skip
        except EmailTaken:
            errors["email"] = N_("This email address is already registered; sign in instead.")
    return _register_form(
        request, return_to=return_to, values=values, errors=errors, remember=remember, status=422
    )


async def denied_page(request: web.Request) -> web.Response:
    """``GET /denied``: what nginx shows for a 403 from ``/verify`` (``error_page 403``)."""
    identity = await signed_in(request, here=_urls(request).home)
    if isinstance(identity, web.Response):
        return identity  # not signed in at all, or suspended (that page is a 403 too)
    client = identity.client
    required = request.app[SETTINGS].require_verified_email
    if required and client.kind == "user" and not client.email_verified:
        return unverified(request, client.email)
    claims = token_verdict(request).claims
    if request.app[SERVICES].sessions.steps_up(client, claims):
        # It holds an elevated scope not in force: most likely what was refused.
        return reauthenticate(request, client.email, None)
    if claims is not None and AMR_MFA not in claims.amr and client.kind == "user":
        page = await _second_factor_refusal(request, client)
        if page is not None:
            return page
    return denied(request, client.email, suspended=False, original=None)


async def _second_factor_refusal(request: web.Request, client: Client) -> web.Response | None:
    """For a one-factor session: the page saying a second factor is needed, when this server
    asks for one (SECOND_FACTOR=required, or a ``two_factor`` rule), most likely what was
    refused; None otherwise."""
    services = request.app[SERVICES]
    rules_ask = services.access is not None and services.access.rules.ask_two_factor
    if request.app[SETTINGS].second_factor != "required" and not rules_ask:
        return None
    if not (await services.factors.of(client)).enrolled:
        return enrolment_needed(request, client.email, None)
    return reauthenticate(request, client.email, None, second_factor=True)


def _form(
    request: web.Request,
    body: Body,
    *,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
) -> dict[str, str | None]:
    fields = request.app[PAGES].tokens.check(request, body.fields)
    return string_fields(fields, required=required, optional=optional)


def _urls(request: web.Request) -> PortalUrls:
    return request.app[PAGES].urls


def login_form(
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
    external = request.app[SERVICES].external
    waiting = external.pending_link(
        cookie_policy(request).link(request), request.app[PAGES].browser(request)
    )
    if waiting is not None:
        pending, provider = waiting
        email = email or pending.email
        notice = request.app[PAGES].translation(request).gettext(
            "An account with this address already exists here. Sign in to it once to link "
            "your %(provider)s account; from then on, either way signs you in."
        ) % {"provider": provider.name}
    return request.app[PAGES].render(
        request,
        "login.html",
        providers=_provider_buttons(request, return_to),
        linking=waiting is not None,
        challenge=sign_in_challenge(request),
        passkey_url=urls.passkey_sign_in,
        status=status,
        headers=headers,
        title=N_("Sign in"),
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


def _provider_buttons(request: web.Request, return_to: str) -> list[dict[str, str]]:
    """ "Sign in with …" for each identity provider in force."""
    urls = _urls(request)
    return [
        {"name": p.name, "url": urls.provider_start(p.id, return_to)}
        for p in request.app[SERVICES].external.providers
    ]


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
        providers=_provider_buttons(request, return_to),
        status=status,
        title=N_("Create an account"),
        rd=return_to,
        values=values or {"email": "", "firstName": "", "lastName": ""},
        errors=errors,
        focus=next(iter(errors), "email"),  # the first field to correct, else the first field
        remember=remember,
        alert=N_("Please correct the fields marked below.") if errors else None,
        login_url=PortalUrls.with_return(_urls(request).login, return_to),
    )
