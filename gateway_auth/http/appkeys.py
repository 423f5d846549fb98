"""Typed keys for what the application object holds: the services, and the HTTP edge's own."""

from __future__ import annotations

from aiohttp import web

from gateway_auth.access.forwarded import TrustedPeers
from gateway_auth.config.settings import Settings
from gateway_auth.http.cookies import CookiePolicy
from gateway_auth.http.csrf import OriginPolicy
from gateway_auth.http.portal.pages import Pages
from gateway_auth.http.sites import Sites
from gateway_auth.http.verify.answers import ForwardAuth
from gateway_auth.services import Services

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)  # everything else the handlers call
SITES = web.AppKey("sites", Sites)  # the domains served, and which one a request is for
COOKIES = web.AppKey("cookies", CookiePolicy)  # the cookies' names (the same on every domain)
TRUSTED_PEERS = web.AppKey("trusted_peers", TrustedPeers)
ORIGINS = web.AppKey("origins", OriginPolicy)
PAGES = web.AppKey("pages", Pages)
FORWARD_AUTH = web.AppKey("forward_auth", ForwardAuth)
