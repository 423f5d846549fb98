"""One sign-in across the domains (``crossing/``): the sign-in page asks the other domains'
portals before showing its form, each portal answers or passes the question on, and the
answer is redeemed where the question began.

Every step is a 303 through the browser, since only the browser carries each domain's
cookies; the code in the last URL is good for one use within a minute, and only with the
verifier cookie the asking portal set in the same browser.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from aiohttp import web

from gateway_auth.crossing.service import Request, challenge_of, new_verifier
from gateway_auth.errors import CrossingRefused, MalformedRequest
from gateway_auth.http.appkeys import PAGES, SERVICES, SITES
from gateway_auth.http.callers import cookie_policy, origin, return_url
from gateway_auth.http.cookies import cookie_values
from gateway_auth.http.portal.browsing import default_return, see_other
from gateway_auth.http.sites import Site
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
NO_CROSSING = "sso"  # on the sign-in page's URL: the other domains were asked already


def wanted(request: web.Request) -> bool:
    """Whether the sign-in page should ask the other domains first: there are some, and this
    browser has not just been to them (nor just signed out, which ended them all)."""
    sites = request.app[SITES]
    return (
        sites.domains.listed
        and len(sites.all) > 1
        and NO_CROSSING not in request.query
        and "notice" not in request.query
    )


def start(request: web.Request, return_to: str) -> web.Response:
    """Off to the first other domain's portal with a request, keeping its verifier here."""
    sites, urls = request.app[SITES], request.app[PAGES].urls
    here = sites.of(request)
    verifier = new_verifier()
    asked = Request(here.domain.name, challenge_of(verifier), return_to)
    token = request.app[SERVICES].crossings.issue_request(asked)
    first = next(site for site in sites.all if site is not here)
    response = see_other(_at(first, urls.crossing_authorize, {"request": token}))
    cookie_policy(request).set_crossing(response, verifier)
    return response


async def authorize(request: web.Request) -> web.Response:
    """``GET /refresh/sso``: another domain asks; a code when this browser holds a live
    session here, else the question goes on to the next domain, or back unanswered."""
    sites, urls, crossings = (
        request.app[SITES],
        request.app[PAGES].urls,
        request.app[SERVICES].crossings,
    )
    here = sites.of(request)
    asked = crossings.read_request(request.query.get("request"))
    target = sites.named(asked.target) if asked is not None else None
    if asked is None or target is None or target is here:
        raise MalformedRequest(N_("This sign-in request has expired or is not genuine."))
    callback = {"request": request.query["request"]}
    cookies = cookie_policy(request)  # never a bearer token: the browser's own cookies
    code = await crossings.vouch(
        asked,
        request.cookies.get(cookies.access_name),
        cookie_values(request.headers, cookies.refresh_name),
    )
    if code is not None:
        return see_other(_at(target, urls.crossing_callback, {**callback, "code": code}))
    passed = Request(
        asked.target, asked.challenge, asked.return_to, (*asked.asked, here.domain.name)
    )
    done = {target.domain.name, *passed.asked}
    following = next((site for site in sites.all if site.domain.name not in done), None)
    if following is not None:
        token = crossings.issue_request(passed)
        return see_other(_at(following, urls.crossing_authorize, {"request": token}))
    return see_other(_at(target, urls.crossing_callback, {**callback, "error": "login_required"}))


async def callback(request: web.Request) -> web.Response:
    """``GET /sso/callback``: the answer, back where the question began: a session of this
    domain's own for a code, else the sign-in form (which asks no one again)."""
    sites, urls, services = request.app[SITES], request.app[PAGES].urls, request.app[SERVICES]
    here, cookies = sites.of(request), cookie_policy(request)
    asked = services.crossings.read_request(request.query.get("request"))
    verifier = cookies.crossing(request)
    return_to = return_url(request, asked.return_to if asked else None, fallback="")
    code = request.query.get("code")
    if not code:  # no domain had a session: the form
        response = see_other(_sign_in(urls.login, return_to))
        cookies.clear_crossing(response)
        return response
    try:
        issued = await services.crossings.redeem(
            code, asked, here.domain.name, verifier, origin(request)
        )
    except CrossingRefused as exc:
        log_event(log, "crossing_refused", level=logging.WARNING, reason=exc.reason)
        response = request.app[PAGES].render(
            request,
            "provider_failed.html",
            status=400,
            title=N_("Sign in here"),
            detail=exc.message,
            again=_sign_in(urls.login, return_to),
            again_label=N_("Sign in"),
        )
        cookies.clear_crossing(response)
        return response
    response = see_other(return_to or default_return(request))
    cookies.clear_crossing(response)
    cookies.set(response, issued)
    return response


def _sign_in(login: str, return_to: str) -> str:
    """The sign-in form, asking no other domain again."""
    return f"{login}?{urlencode({NO_CROSSING: '1', **({'rd': return_to} if return_to else {})})}"


def _at(site: Site, path: str, query: dict[str, str]) -> str:
    return f"{site.portal}{path}?{urlencode(query)}"
