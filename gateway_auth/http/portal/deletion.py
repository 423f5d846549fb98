""" "Delete my account": a page that says what deleting means and asks before it happens (the
password, for an account that has one; else a box to tick), then the deletion ``DELETE /me``
does: gone everywhere at once, and services told to delete what they hold."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from gateway_auth.errors import LastAdmin, TooManyAttempts, WrongPassword
from gateway_auth.http.appkeys import PAGES, SERVICES
from gateway_auth.http.callers import cookie_policy, origin
from gateway_auth.http.portal.browsing import see_other, signed_in, signed_in_form
from gateway_auth.http.portal.pages import not_now
from gateway_auth.i18n import N_
from gateway_auth.models import Identity


async def delete_page(request: web.Request) -> web.Response:
    """``GET /account/delete``: what deleting means, and the form that does it."""
    identity = await signed_in(request)
    if isinstance(identity, web.Response):
        return identity
    return await _page(request, identity)


async def delete_account(request: web.Request) -> web.Response:
    """``POST /account/delete``: confirmed, the account is deleted and this browser signed out."""
    here = request.app[PAGES].urls.delete_account
    form = await signed_in_form(request, here=here, optional=("password", "understood"))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    accounts = request.app[SERVICES].accounts
    if await _has_password(request, identity):
        try:
            await accounts.confirm_password(identity, fields.get("password") or "", origin(request))
        except WrongPassword:
            errors = {"password": N_("The password is incorrect.")}
            return await _page(request, identity, errors=errors, status=401)
        except TooManyAttempts as exc:
            tr = request.app[PAGES].translation(request)
            alert = not_now(tr, N_("Too many wrong passwords."), exc.retry_after)
            response = await _page(request, identity, alert=alert, status=429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
    elif fields.get("understood") != "on":
        errors = {"understood": N_("Tick the box to say that you want the account deleted.")}
        return await _page(request, identity, errors=errors, status=422)
    try:
        await accounts.delete_self(identity)
    except LastAdmin as exc:
        return await _page(request, identity, alert=exc.message, status=409)
    response = see_other(request.app[PAGES].urls.login_saying("account_deleted"))
    cookie_policy(request).clear(response)
    return response


async def _has_password(request: web.Request, identity: Identity) -> bool:
    client = identity.client
    return client.kind == "user" and await request.app[SERVICES].accounts.has_password(client.id)


async def _page(
    request: web.Request,
    identity: Identity,
    *,
    alert: str | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    return request.app[PAGES].render(
        request,
        "delete_account.html",
        status=status,
        title=N_("Delete your account"),
        email=identity.client.email,
        has_password=await _has_password(request, identity),
        errors=dict(errors or {}),
        alert=alert or (N_("Please correct the field marked below.") if errors else None),
    )
