"""Step-up: ``POST /me/elevate {password}`` (``{code}`` for an account with a second factor,
whose password alone is then not enough) and the portal's ``/elevate`` page (which also takes
a passkey) put a session's ELEVATED_SCOPES in force for ELEVATION_TTL; the caller's token is
replaced at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from aiohttp import hdrs, web

from gateway_auth.errors import (
    CeremonyExpired,
    FieldError,
    PasskeyRefused,
    TooManyAttempts,
    ValidationFailed,
    WrongCode,
    WrongPassword,
)
from gateway_auth.factors.passkeys import session_holder
from gateway_auth.http.appkeys import PAGES, SERVICES
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import (
    access_token,
    authenticate,
    cookie_policy,
    origin,
    return_url,
)
from gateway_auth.http.portal.browsing import see_other, signed_in
from gateway_auth.http.portal.ceremony import answer, confirm_challenge
from gateway_auth.http.portal.pages import PortalUrls, not_now
from gateway_auth.http.views import json_response
from gateway_auth.i18n import N_
from gateway_auth.models import Identity, iso


async def elevate(request: web.Request) -> web.Response:
    """``POST /me/elevate {password}``: 200 ``{elevatedUntil, scopes}``, and a new access token
    (the cookie, or ``access_token`` in the body for a bearer caller)."""
    body = await read_body(request, allow_form=True)
    if body.is_form:
        return await _elevate_form(request, body.fields)
    identity = await authenticate(request)
    fields = string_fields(body.fields, optional=("password", "code"))
    if ("password" in fields) == ("code" in fields):
        problem = "send either the password or a code from the authenticator app"
        raise ValidationFailed([FieldError("password", problem)])
    services = request.app[SERVICES]
    proved = await services.factors.confirm(
        identity, origin(request), password=fields.get("password"), code=fields.get("code")
    )
    if proved:
        await services.accounts.prove(identity, proved)
    session = await services.accounts.elevate_confirmed(identity)
    reissued = await request.app[SERVICES].sessions.reissue(identity.client, access_token(request))
    answer: dict[str, object] = {
        "elevatedUntil": iso(session.elevated_until) if session.elevated_until else None,
        "scopes": list(
            reissued.scopes
            if reissued is not None
            else request.app[SERVICES].sessions.scopes_in_force(identity.client, session)
        ),
    }
    bearer = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")[0].lower() == "bearer"
    if reissued is not None and bearer:
        answer |= {
            "access_token": reissued.access_token,
            "token_type": "Bearer",
            "expires_in": reissued.access_expires_in,
        }
    response = json_response(answer)
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    if reissued is not None and not bearer:
        cookie_policy(request).set(response, reissued)
    return response


async def elevate_page(request: web.Request) -> web.Response:
    """``GET /elevate?rd=``: confirm the password (or a code from the app) to go on to
    ``rd``."""
    identity = await signed_in(request)
    if isinstance(identity, web.Response):
        return identity
    return await _form(request, identity, return_url(request, request.query.get("rd")))


async def _elevate_form(request: web.Request, raw: Mapping[str, object]) -> web.Response:
    fields = string_fields(
        request.app[PAGES].tokens.check(request, raw),
        optional=("password", "code", "rd", "ceremony", "credential"),
    )
    rd = return_url(request, fields.get("rd"))
    identity = await signed_in(request, here=request.app[PAGES].urls.elevate)
    if isinstance(identity, web.Response):
        return identity
    services = request.app[SERVICES]
    with_code = (await services.factors.of(identity.client)).enrolled
    field = "code" if with_code else "password"
    attempt = replace(origin(request).attempt, session=identity.session_id)
    try:
        if fields.get("credential") is not None and with_code:
            answered = answer(request, fields, session_holder(identity))
            used = await services.passkeys.check(identity.client, answered, "confirm", attempt)
            proved = used.methods
        else:
            proved = await services.factors.confirm(
                identity,
                origin(request),
                password=fields.get("password") or "" if not with_code else None,
                code=fields.get("code") or "" if with_code else None,
            )
    except (PasskeyRefused, CeremonyExpired) as exc:
        alert = N_("That passkey was not accepted. Try again, or enter a code.")
        if isinstance(exc, CeremonyExpired):
            alert = exc.message
        return await _form(request, identity, rd, alert=alert, status=401)
    except (WrongPassword, WrongCode):
        wrong = N_("That code is not right, or was already used.") if with_code else None
        errors = {field: wrong or N_("The password is incorrect.")}
        return await _form(request, identity, rd, errors=errors, status=401)
    except TooManyAttempts as exc:
        tr = request.app[PAGES].translation(request)
        alert = not_now(tr, N_("Too many wrong attempts."), exc.retry_after)
        response = await _form(request, identity, rd, alert=alert, status=429)
        response.headers[hdrs.RETRY_AFTER] = str(exc.retry_after)
        return response
    if proved:
        await services.accounts.prove(identity, proved)
    await services.accounts.elevate_confirmed(identity)
    reissued = await request.app[SERVICES].sessions.reissue(identity.client, access_token(request))
    response = see_other(rd or request.app[PAGES].urls.home)
    if reissued is not None:
        cookie_policy(request).set(response, reissued)
    return response


async def _form(
    request: web.Request,
    identity: Identity,
    rd: str,
    *,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status: int = 200,
) -> web.Response:
    services = request.app[SERVICES]
    minutes = max(1, int(services.accounts.elevation_ttl.total_seconds() // 60))
    factors = await services.factors.of(identity.client)
    return request.app[PAGES].render(
        request,
        "elevate.html",
        challenge=await confirm_challenge(request, identity),
        # A two_factor rule (or SECOND_FACTOR=required) may be what sent someone without a
        # second factor here: the password alone will not do for it.
        add_factor=PortalUrls.with_return(request.app[PAGES].urls.two_factor, rd or None),
        suggest_factor=not factors.enrolled
        and (
            services.factors.policy == "required"
            or (services.access is not None and services.access.rules.ask_two_factor)
        ),
        has_app=factors.has_app,
        status=status,
        title=N_("Confirm it is you"),
        email=identity.client.email,
        minutes=minutes,
        rd=rd,
        errors=errors or {},
        alert=alert,
        with_code=factors.enrolled,
    )
