"""Other identity providers on the pages: "Sign in with …" (``start``), the provider's answer
(``callback``), linking one from the account page and unlinking it, and the provider's
back-channel logout (a server's POST, answered as OpenID Connect Back-Channel Logout asks).

Starting is a plain link (a GET), because browsers hold a form's redirects to CSP's
``form-action``, and a provider's address is learnt only by discovery; linking carries the
token for that link alone in its query instead of a form.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import hdrs, web

from gateway_auth.errors import (
    ExternalSignInFailed,
    GatewayAuthError,
    ProviderNotFound,
    StoreUnavailable,
)
from gateway_auth.http.appkeys import ORIGINS, PAGES, SERVICES, SETTINGS
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import cookie_policy, origin, portal_origin, return_url
from gateway_auth.http.csrf import FORM_FIELD
from gateway_auth.http.portal.browsing import see_other, signed_in, signed_in_form, signed_in_to
from gateway_auth.http.portal.pages import PortalUrls, link_action
from gateway_auth.http.portal.signin import onward
from gateway_auth.http.problems import kind_of
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event
from gateway_auth.providers.outcomes import Linked, MustProve, SecondStepDue, SignedIn

log = logging.getLogger(__name__)
MAX_PARAM = 4096  # a code, state or error description is far shorter


async def start(request: web.Request) -> web.Response:
    """``GET /providers/{provider}/start``: off to the provider (someone signed in
    already goes straight on)."""
    provider_id = request.match_info["provider"]
    return_to = return_url(request, request.query.get("rd"), fallback="")
    identity = await signed_in(request, here=return_to or None)
    if not isinstance(identity, web.Response):
        return see_other(return_to or request.app[PAGES].urls.home)
    return await _begin(request, provider_id, "sign-in", return_to, "")


async def link(request: web.Request) -> web.Response:
    """``GET /providers/{provider}/link?csrf=…``: a signed-in person links an account at
    the provider. The token is good for this link only (the account page made it), and the
    person must have proved the account lately: else ``/elevate`` first, and back here."""
    provider_id = request.match_info["provider"]
    pages = request.app[PAGES]
    pages.tokens.check_for(request, request.query.get(FORM_FIELD, ""), link_action(provider_id))
    identity = await signed_in(request, here=pages.urls.home)
    if isinstance(identity, web.Response):
        return identity
    services = request.app[SERVICES]
    if not await services.external.recently_proved(identity.session_id):
        can_confirm = (await services.factors.of(identity.client)).enrolled or (
            await services.accounts.has_password(identity.client.id)
        )
        if can_confirm:
            return see_other(PortalUrls.with_return(pages.urls.elevate, request.path_qs))
        minutes = max(1, int(services.accounts.elevation_ttl.total_seconds() // 60))
        return pages.render(
            request,
            "provider_failed.html",
            status=403,
            title=N_("Sign in again to link"),
            detail=pages.translation(request).ngettext(
                "Linking another provider needs a sign-in from the last minute. Sign out, "
                "sign in again, and link it then.",
                "Linking another provider needs a sign-in from the last %(minutes)d minutes. "
                "Sign out, sign in again, and link it then.",
                minutes,
            )
            % {"minutes": minutes},
            again=PortalUrls.with_return(pages.urls.logout, f"{pages.urls.home}#providers"),
            again_label=N_("Sign out"),
        )
    home = f"{pages.urls.home}#providers"
    return await _begin(request, provider_id, "link", home, identity.session_id)


async def _begin(
    request: web.Request, provider_id: str, purpose: str, return_to: str, session_id: str
) -> web.Response:
    external, tokens = request.app[SERVICES].external, request.app[PAGES].tokens
    nonce, fresh = tokens.nonce(request)  # the round trip belongs to this browser only
    try:
        began = await external.begin(
            provider_id,
            "link" if purpose == "link" else "sign-in",
            callback_url(request, provider_id),
            browser=tokens.binding(nonce),
            return_to=return_to,
            session_id=session_id,
        )
    except ExternalSignInFailed as exc:
        return failed(request, exc, return_to)
    response = see_other(began.url)
    cookie_policy(request).set_trip(response, began.trip_token)
    if fresh:
        tokens.remember(response, nonce)
    return response


async def callback(request: web.Request) -> web.Response:
    """``GET /providers/{provider}/callback``: the provider's answer, turned into a
    session, a second step, a link, or the page saying why not."""
    provider_id = request.match_info["provider"]
    params = {k: v[:MAX_PARAM] for k, v in request.query.items()}
    cookies, services, pages = cookie_policy(request), request.app[SERVICES], request.app[PAGES]
    try:
        outcome = await services.external.complete(
            provider_id,
            cookies.trip(request),
            params,
            callback_url(request, provider_id),
            origin(request),
            browser=pages.browser(request),
        )
    except ExternalSignInFailed as exc:
        response = failed(request, exc, "")
        cookies.clear_trip(response)
        return response
    urls = pages.urls
    match outcome:
        case SignedIn(issued=issued, return_to=return_to):
            response = await signed_in_to(
                request, issued, onward(request, issued.client, return_to)
            )
        case SecondStepDue(step=step, return_to=return_to):
            response = see_other(PortalUrls.with_return(urls.second_factor, return_to or None))
            cookies.set_pending(response, step.pending_token)
        case MustProve(link_token=token, return_to=return_to):
            response = see_other(PortalUrls.with_return(urls.login, return_to or None))
            cookies.set_link(response, token)
        case Linked():
            response = see_other(f"{urls.security}?done=identity_linked#providers")
    cookies.clear_trip(response)
    return response


async def confirm_link_page(request: web.Request) -> web.Response:
    """``GET /account/identities/link?rd=``: after proving the account, whether to link the
    provider's account that led here, named in full, so that nothing is linked unseen."""
    pages = request.app[PAGES]
    return_to = return_url(request, request.query.get("rd"), fallback="")
    identity = await signed_in(request)
    if isinstance(identity, web.Response):
        return identity
    waiting = request.app[SERVICES].external.pending_link(
        cookie_policy(request).link(request), pages.browser(request), identity.client.id
    )
    if waiting is None:
        response = see_other(return_to or pages.urls.home)
        cookie_policy(request).clear_link(response)
        return response
    pending, provider = waiting
    return pages.render(
        request,
        "identity_link.html",
        title=pages.translation(request).gettext("Link %(provider)s?")
        % {"provider": provider.name},
        provider=provider.name,
        account=pending.email,
        subject=pending.subject,
        email=identity.client.email,
        rd=return_to,
    )


async def confirm_link(request: web.Request) -> web.Response:
    """``POST /account/identities/link`` (``answer`` = ``link`` or ``skip``): the person's
    answer; a link needs a recent proof of the account, as linking from the account page."""
    pages, cookies = request.app[PAGES], cookie_policy(request)
    form = await signed_in_form(request, here=pages.urls.home, optional=("answer", "rd"))
    if isinstance(form, web.Response):
        return form
    identity, fields = form
    return_to = return_url(request, fields.get("rd"), fallback="")
    response = see_other(return_to or pages.urls.home)
    if fields.get("answer") == "link":
        try:
            linked = await request.app[SERVICES].external.link_proved(
                cookies.link(request), identity, pages.browser(request)
            )
        except (ExternalSignInFailed, ProviderNotFound) as exc:
            response = failed(request, _as_failure(exc), return_to)
        else:
            if linked is None:
                stale = ExternalSignInFailed(
                    "state",
                    N_(
                        "This link waited too long, or was meant for another browser. Sign in "
                        "with the provider again to link it."
                    ),
                    "pending link expired, spent or not this browser's",
                )
                response = failed(request, stale, return_to)
            else:  # on where the person was going, else to the account page that says so
                done = f"{pages.urls.security}?done=identity_linked#providers"
                response = see_other(return_to or linked.return_to or done)
    cookies.clear_link(response)
    return response


def _as_failure(exc: ExternalSignInFailed | ProviderNotFound) -> ExternalSignInFailed:
    if isinstance(exc, ExternalSignInFailed):
        return exc
    return ExternalSignInFailed("state", exc.message, "provider removed meanwhile")


async def backchannel_logout(request: web.Request) -> web.Response:
    """``POST /providers/{provider}/backchannel-logout``: the provider's logout token
    (form-encoded ``logout_token``) ends the sessions it names, everywhere; 200, or 400 with
    an OAuth-style error (OpenID Connect Back-Channel Logout 1.0, section 2.8)."""
    headers = {hdrs.CACHE_CONTROL: "no-store"}
    try:
        body = await read_body(request, allow_form=True)
        token = string_fields(body.fields, required=("logout_token",))["logout_token"] or ""
        await request.app[SERVICES].external.backchannel_logout(
            request.match_info["provider"], token
        )
    except ProviderNotFound:
        error = {"error": "invalid_request", "error_description": "No such provider here."}
        return web.json_response(error, status=404, headers=headers)
    except StoreUnavailable:
        raise  # 503: the provider may try again
    except GatewayAuthError as exc:  # a token that does not verify, or no token at all
        error = {"error": "invalid_request", "error_description": exc.message}
        return web.json_response(error, status=400, headers=headers)
    return web.Response(status=200, headers=headers)


def callback_url(request: web.Request, provider_id: str) -> str:
    """The redirect URI registered at the provider: on PUBLIC_URL, else this request's own
    origin as the browser addressed it."""
    settings = request.app[SETTINGS]
    base = portal_origin(request) or request.app[ORIGINS].own(request) or ""
    return f"{base.rstrip('/')}{settings.base_path}/providers/{quote(provider_id)}/callback"


def failed(request: web.Request, exc: ExternalSignInFailed, return_to: str) -> web.Response:
    """The page saying why a sign-in or link through a provider did not go on (and the log
    line saying it in full, for the operator)."""
    log_event(
        log,
        "provider_sign_in_failed",
        level=logging.WARNING if exc.reason in ("unreachable", "invalid_answer") else logging.INFO,
        provider=request.match_info.get("provider", ""),
        reason=exc.reason,
        detail=" ".join(exc.detail.split())[:300],
    )
    urls = request.app[PAGES].urls
    return request.app[PAGES].render(
        request,
        "provider_failed.html",
        status=kind_of(exc).status,
        title=N_("Sign-in not completed"),
        detail=exc.words(request.app[PAGES].translation(request).gettext),
        again=PortalUrls.with_return(urls.login, return_to or None),
        again_label=N_("Back to sign in"),
    )
