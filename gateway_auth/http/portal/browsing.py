"""Who is behind a page request, and where to send them when it is nobody (yet).

The portal's pages share these answers: the refresh hop when only the access token expired,
the sign-in page when there is no session, the 403 page for a suspended or refused account.
"""

from __future__ import annotations

import time

from aiohttp import hdrs, web

from gateway_auth.access.forwarded import MalformedForwarding, original_request
from gateway_auth.access.verdict import Verdict
from gateway_auth.errors import ClientSuspended, Unauthenticated
from gateway_auth.http.appkeys import PAGES, SERVICES, SITES, TRUSTED_PEERS
from gateway_auth.http.bodies import read_body, string_fields
from gateway_auth.http.callers import (
    access_token,
    cookie_policy,
    portal_origin,
    return_domains,
    return_ports,
)
from gateway_auth.http.portal.pages import PortalUrls
from gateway_auth.http.redirects import safe_return_url
from gateway_auth.i18n import N_
from gateway_auth.models import Identity
from gateway_auth.signin.issued import IssuedSession


def token_verdict(request: web.Request) -> Verdict:
    """What ``/verify`` would say about this browser's token, needing no scope."""
    app = request.app
    return app[SERVICES].verifier.verify(
        access_token(request), frozenset(), app[SERVICES].clock().timestamp(), time.monotonic()
    )


async def signed_in(request: web.Request, *, here: str | None = None) -> Identity | web.Response:
    """The person behind a page request, or where to send them: the refresh hop when only the
    access token expired, the sign-in page when there is no session, the 403 page when the
    account is suspended. ``here`` is where to come back to (this page by default)."""
    urls = request.app[PAGES].urls
    here = here or request.path_qs
    verdict = token_verdict(request)
    if verdict.outcome == "expired":
        return see_other(PortalUrls.with_return(urls.refresh, here))
    if verdict.outcome in ("unauthenticated", "revoked"):
        return see_other(PortalUrls.with_return(urls.login, here))
    try:
        return await _identity(request)
    except ClientSuspended:
        email = verdict.claims.email if verdict.claims else ""
        return denied(request, email, suspended=True, original=None)
    except Unauthenticated:
        return see_other(PortalUrls.with_return(urls.login, here))


async def signed_in_form(
    request: web.Request,
    *,
    here: str,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
) -> tuple[Identity, dict[str, str | None]] | web.Response:
    """The checked form of a signed-in person (its form token first), or the answer for
    someone who is not; ``here`` is the page to come back to after signing in."""
    body = await read_body(request, allow_form=True)
    fields = request.app[PAGES].tokens.check(request, body.fields)
    identity = await signed_in(request, here=here)
    if isinstance(identity, web.Response):
        return identity
    return identity, string_fields(fields, required=required, optional=optional)


async def signed_in_to(request: web.Request, issued: IssuedSession, return_to: str) -> web.Response:
    """The answer to a successful sign-in: cookies, and on to where the person was going;
    or, when this browser came from another identity provider to this very account, on to
    the page that asks whether to link it (never silently: the person sees what is linked)."""
    cookies, pages = cookie_policy(request), request.app[PAGES]
    waiting = cookies.link(request)
    response = see_other(return_to or default_return(request))
    if waiting is not None:
        pending = request.app[SERVICES].external.pending_link(
            waiting, pages.browser(request), issued.client.id
        )
        if pending is None:  # another account's, or another browser's: forgotten
            cookies.clear_link(response)
        else:
            response = see_other(PortalUrls.with_return(pages.urls.confirm_link, return_to))
    cookies.set(response, issued)
    return response


def default_return(request: web.Request) -> str:
    """Where a sign-in that names no return URL goes: the domain's ``default_redirect``, else
    the portal's home."""
    default = request.app[SITES].of_or_primary(request).domain.default_redirect
    return default or request.app[PAGES].urls.home


def see_other(location: str) -> web.Response:
    """303: after a form, the browser follows with a GET."""
    return web.Response(status=303, headers={hdrs.LOCATION: location})


async def _identity(request: web.Request) -> Identity:
    token = access_token(request)
    if token is None:
        raise Unauthenticated
    return await request.app[SERVICES].sessions.authenticate(token)


def denied(
    request: web.Request, email: str, *, suspended: bool, original: str | None
) -> web.Response:
    """The 403 page: who is signed in, and a way to sign in as someone else."""
    urls = request.app[PAGES].urls
    if original is None:
        original = _original_url(request)
    return request.app[PAGES].render(
        request,
        "denied.html",
        status=403,
        title=N_("Account suspended") if suspended else N_("Not allowed"),
        email=email,
        suspended=suspended,
        switch_account=PortalUrls.with_return(urls.logout, original),
    )


def unverified(request: web.Request, email: str) -> web.Response:
    """The 403 page of REQUIRE_VERIFIED_EMAIL: what to do (follow the mailed link, or ask for
    it again on the account page, which this page may be shown far from)."""
    urls = request.app[PAGES].urls
    return request.app[PAGES].render(
        request,
        "unverified.html",
        status=403,
        title=N_("Verify your email address"),
        email=email,
        account=f"{portal_origin(request)}{urls.home}",
    )


def reauthenticate(
    request: web.Request, email: str, original: str | None, *, second_factor: bool = False
) -> web.Response:
    """The 403 page of a step-up scope no longer in force (confirm the password, come back),
    or of a ``two_factor`` rule met by a one-factor session (confirm with a second factor)."""
    urls = request.app[PAGES].urls
    original = _checked_return(request, original)  # nginx's error_page keeps the request
    elevate = f"{portal_origin(request)}{urls.elevate}"
    return request.app[PAGES].render(
        request,
        "reauthenticate.html",
        status=403,
        title=N_("Confirm it is you"),
        email=email,
        second_factor=second_factor,
        elevate=PortalUrls.with_return(elevate, original),
    )


def enrolment_needed(request: web.Request, email: str, original: str | None) -> web.Response:
    """The 403 page of SECOND_FACTOR=required (or a ``two_factor`` rule) for a user with no
    second factor yet: where to add one, and come back."""
    urls = request.app[PAGES].urls
    original = _checked_return(request, original)
    two_factor = f"{portal_origin(request)}{urls.two_factor}"
    return request.app[PAGES].render(
        request,
        "enrolment_needed.html",
        status=403,
        title=N_("Add a second factor"),
        email=email,
        two_factor=PortalUrls.with_return(two_factor, original),
    )


def _checked_return(request: web.Request, original: str | None) -> str | None:
    """Where to come back to: the refused request (given, or the one nginx's error_page
    keeps), when it is a safe return URL."""
    if original is None:
        return _original_url(request)
    domains, ports = return_domains(request), return_ports(request)
    return safe_return_url(original, domains, fallback="", https_ports=ports) or None


def _original_url(request: web.Request) -> str | None:
    """The request nginx was answering with a 403 (it keeps ``$request_uri`` for us)."""
    try:
        trusted = request.remote in request.app[TRUSTED_PEERS]
        url = original_request(request.headers, request.method, trusted).url
    except MalformedForwarding:
        return None
    domains, ports = return_domains(request), return_ports(request)
    return safe_return_url(url, domains, fallback="", https_ports=ports) or None
