""" "Delete my account": a page that says what deleting means and asks before it happens, then
the deletion ``DELETE /me`` does: gone everywhere at once, and services told to delete what
they hold. Like linking a provider, it needs a recent proof of the account: a sign-in within
ELEVATION_TTL, or a confirmation at ``/elevate`` (password, code or passkey) just before."""

from __future__ import annotations

from aiohttp import web

from gateway_auth.errors import LastAdmin
from gateway_auth.http.appkeys import PAGES, SERVICES
from gateway_auth.http.callers import cookie_policy
from gateway_auth.http.portal.browsing import see_other, signed_in, signed_in_form
from gateway_auth.http.portal.pages import PortalUrls
from gateway_auth.i18n import N_
from gateway_auth.models import Identity


async def delete_page(request: web.Request) -> web.Response:
    """``GET /account/delete``: what deleting means, and the form that does it."""
    identity = await signed_in(request)
    if isinstance(identity, web.Response):
        return identity
    return await _unproved(request, identity) or _page(request, identity)


async def delete_account(request: web.Request) -> web.Response:
    """``POST /account/delete``: with the box ticked, the account is deleted and this browser
    signed out."""
    here = request.app[PAGES].urls.delete_account
    form = await signed_in_form(request, here=here, optional=("understood",))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    if (unproved := await _unproved(request, identity)) is not None:
        return unproved
    if fields.get("understood") != "on":
        errors = {"understood": N_("Tick the box to say that you want the account deleted.")}
        return _page(request, identity, errors=errors, status=422)
    try:
        await request.app[SERVICES].accounts.delete_self(identity)
    except LastAdmin as exc:
        return _page(request, identity, alert=exc.message, status=409)
    response = see_other(request.app[PAGES].urls.login_saying("account_deleted"))
    cookie_policy(request).clear(response)
    return response


async def _unproved(request: web.Request, identity: Identity) -> web.Response | None:
    """Where to go first when the session has not proved the account lately: ``/elevate``
    and back, or (an account with nothing to confirm with there) a fresh sign-in. A guest's
    browser is all it has: nothing more to ask."""
    services, pages = request.app[SERVICES], request.app[PAGES]
    client = identity.client
    if client.kind == "guest" or await services.external.recently_proved(identity.session_id):
        return None
    can_confirm = (await services.factors.of(client)).enrolled or (
        await services.accounts.has_password(client.id)
    )
    if can_confirm:
        return see_other(PortalUrls.with_return(pages.urls.elevate, pages.urls.delete_account))
    minutes = max(1, int(services.accounts.elevation_ttl.total_seconds() // 60))
    return _page(request, identity, sign_in_again=minutes, status=403)


def _page(
    request: web.Request,
    identity: Identity,
    *,
    alert: str | None = None,
    errors: dict[str, str] | None = None,
    sign_in_again: int | None = None,
    status: int = 200,
) -> web.Response:
    return request.app[PAGES].render(
        request,
        "delete_account.html",
        status=status,
        title=N_("Delete your account"),
        email=identity.client.email,
        guest=identity.client.kind == "guest",
        sign_in_again=sign_in_again,
        errors=errors or {},
        alert=alert or (N_("Please correct the field marked below.") if errors else None),
    )
