"""Typed keys for everything the application object holds."""

from __future__ import annotations

from aiohttp import web

from gateway_auth.accounts import Accounts
from gateway_auth.admin import Admin
from gateway_auth.clock import Clock
from gateway_auth.cookies import CookiePolicy
from gateway_auth.events import OutboxRelay
from gateway_auth.http.csrf import OriginPolicy
from gateway_auth.http.forward_auth import ForwardAuth
from gateway_auth.http.forwarded import TrustedPeers
from gateway_auth.http.pages import Pages
from gateway_auth.keys import KeyRing
from gateway_auth.lifecycle import AccountLinks
from gateway_auth.metrics import Metrics
from gateway_auth.oauth import TokenAuthority
from gateway_auth.revocations import MirrorSync, Revocations
from gateway_auth.services import Services
from gateway_auth.sessions import Sessions
from gateway_auth.settings import Settings
from gateway_auth.stores.base import Store
from gateway_auth.verify import Verifier

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
COOKIES = web.AppKey("cookies", CookiePolicy)
KEYS = web.AppKey("keys", KeyRing)
STORE = web.AppKey("store", Store)
SESSIONS = web.AppKey("sessions", Sessions)
ACCOUNTS = web.AppKey("accounts", Accounts)
LINKS = web.AppKey("links", AccountLinks)
ADMIN = web.AppKey("admin", Admin)
TOKEN_AUTHORITY = web.AppKey("token_authority", TokenAuthority)
OUTBOX_RELAY = web.AppKey("outbox_relay", OutboxRelay)
REVOCATIONS = web.AppKey("revocations", Revocations)
MIRROR_SYNC = web.AppKey("mirror_sync", MirrorSync)
VERIFIER = web.AppKey("verifier", Verifier)
SERVICES = web.AppKey("services", Services)
FORWARD_AUTH = web.AppKey("forward_auth", ForwardAuth)
TRUSTED_PEERS = web.AppKey("trusted_peers", TrustedPeers)
METRICS = web.AppKey("metrics", Metrics)
PAGES = web.AppKey("pages", Pages)
ORIGINS = web.AppKey("origins", OriginPolicy)
