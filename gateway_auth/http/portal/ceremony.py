"""What every passkey ceremony in the portal needs from a request: the relying party (whom
the passkeys belong to, and which page origins may use them), who may answer a challenge, and
the challenges the sign-in and step-up pages carry."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import web

from gateway_auth.errors import PasskeyRefused
from gateway_auth.factors.passkeys import Answer, Challenge, RelyingParty, session_holder
from gateway_auth.http.appkeys import ORIGINS, SERVICES, SETTINGS
from gateway_auth.http.callers import portal_origin
from gateway_auth.http.redirects import host_allowed
from gateway_auth.http.sites import normalised_origin
from gateway_auth.models import Identity


def relying_party(request: web.Request) -> RelyingParty | None:
    """Whom this request's passkeys belong to, and the one page origin that may use them:
    with PUBLIC_URL, its host (or WEBAUTHN_RP_ID, a domain it belongs to) and its origin
    only (not ALLOWED_ORIGINS: a page on another of your sites must not be able to ask for a
    sign-in); without it, the host the browser used, for both (the embedded default on a
    laptop: a Host that names another site also names another RP ID, which no passkey of this
    one answers). None where browsers allow no passkeys (an IP address, or no host at all)."""
    settings = request.app[SETTINGS]
    public_url = portal_origin(request)  # the portal on the request's domain
    rp_id: str | None
    if public_url:
        origin = normalised_origin(public_url)
        host = urlsplit(public_url).hostname or ""
        pinned = settings.webauthn_rp_id
        rp_id = pinned if pinned and host_allowed(host, (pinned,)) else host
    else:  # start-up refuses WEBAUTHN_RP_ID here: a pinned RP ID needs a fixed origin
        origin = request.app[ORIGINS].own(request)
        rp_id = urlsplit(origin).hostname if origin else None
    origins = (origin,) if origin else ()
    if not rp_id or not origins or _is_address(rp_id):
        return None
    return RelyingParty(rp_id, settings.app_name, origins)


def sign_in_challenge(request: web.Request) -> Challenge | None:
    """The sign-in page's passkey challenge, where passkeys can work."""
    rp = relying_party(request)
    if rp is None or request.app[SERVICES].factors.policy == "off":
        return None
    return request.app[SERVICES].passkeys.sign_in_challenge(rp)


async def confirm_challenge(request: web.Request, identity: Identity) -> Challenge | None:
    """A challenge for one of the signed-in person's passkeys (step-up), when they have any."""
    rp = relying_party(request)
    if rp is None:
        return None
    return await request.app[SERVICES].passkeys.challenge_for(
        identity.client, rp, "confirm", session_holder(identity)
    )


def answer(request: web.Request, fields: dict[str, str | None], holder: str) -> Answer:
    """The browser's answer in a posted passkey form; PasskeyRefused where passkeys cannot
    work at all."""
    rp = relying_party(request)
    if rp is None:
        raise PasskeyRefused
    return Answer(rp, fields.get("ceremony") or "", fields.get("credential") or "", holder)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
