"""Other identity providers on the pages: "Sign in with …" (``start``), the provider's answer
(``callback``), linking one from the account page and unlinking it, and the provider's
back-channel logout (a server's POST, answered as OpenID Connect Back-Channel Logout asks).

Starting is a plain link (a GET), because browsers hold a form's redirects to CSP's
``form-action``, and a provider's address is learnt only by discovery; linking carries the
page's form token in its query instead of a form.
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
from gateway_auth.http.appkeys import COOKIES, ORIGINS, PAGES, SERVICES, SETTINGS
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import origin, return_url
from gateway_auth.http.csrf import FORM_FIELD
from gateway_auth.http.portal.browsing import see_other, signed_in, signed_in_to
from gateway_auth.http.portal.pages import PortalUrls
from gateway_auth.http.portal.signin import onward
from gateway_auth.http.problems import kind_of
from gateway_auth.logging import log_event
from gateway_auth.providers.service import Linked, MustProve, SecondStepDue, SignedIn

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
    the provider (the form token proves the account page asked)."""
    request.app[PAGES].tokens.check(request, {FORM_FIELD: request.query.get(FORM_FIELD, "")})
    identity = await signed_in(request, here=request.app[PAGES].urls.home)
    if isinstance(identity, web.Response):
        return identity
    home = f"{request.app[PAGES].urls.home}#providers"
    return await _begin(request, request.match_info["provider"], "link", home, identity.session_id)


async def _begin(
    request: web.Request, provider_id: str, purpose: str, return_to: str, session_id: str
) -> web.Response:
    external = request.app[SERVICES].external
    try:
        began = await external.begin(
            provider_id,
            "link" if purpose == "link" else "sign-in",
            callback_url(request, provider_id),
            return_to=return_to,
            session_id=session_id,
        )
    except ExternalSignInFailed as exc:
        return failed(request, exc, return_to)
    response = see_other(began.url)
    request.app[COOKIES].set_trip(response, began.trip_token)
    return response


async def callback(request: web.Request) -> web.Response:
    """``GET /providers/{provider}/callback``: the provider's answer, turned into a
    session, a second step, a link, or the page saying why not."""
    provider_id = request.match_info["provider"]
    params = {k: v[:MAX_PARAM] for k, v in request.query.items()}
    cookies, services = request.app[COOKIES], request.app[SERVICES]
    identity = await signed_in(request)
    try:
        outcome = await services.external.complete(
            provider_id,
            cookies.trip(request),
            params,
            callback_url(request, provider_id),
            origin(request),
            signed_in=None if isinstance(identity, web.Response) else identity,
        )
    except ExternalSignInFailed as exc:
        response = failed(request, exc, "")
        cookies.clear_trip(response)
        return response
    urls = request.app[PAGES].urls
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
            response = see_other(f"{urls.home}?done=identity_linked#providers")
    cookies.clear_trip(response)
    return response


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
    base = settings.public_url or request.app[ORIGINS].own(request) or ""
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
        title="Sign-in not completed",
        detail=exc.message,
        again=PortalUrls.with_return(urls.login, return_to or None),
    )
