"""The application factory: settings in, a wired aiohttp application out."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway_auth.access.decision import Decision
from gateway_auth.access.forwarded import TrustedPeers
from gateway_auth.clock import Clock, seconds, system_clock
from gateway_auth.config.settings import PREFIX, Settings
from gateway_auth.http import admin, elevation, guests, links, me, oauth, ops, token
from gateway_auth.http.appkeys import (
    COOKIES,
    FORWARD_AUTH,
    ORIGINS,
    PAGES,
    SERVICES,
    SETTINGS,
    SITES,
    TRUSTED_PEERS,
)
from gateway_auth.http.bodies import MAX_BODY_BYTES
from gateway_auth.http.csrf import FormTokens, OriginPolicy
from gateway_auth.http.middlewares import http_policy
from gateway_auth.http.portal import (
    account,
    crossing,
    deletion,
    factors,
    passkeys,
    providers,
    session,
    signin,
)
from gateway_auth.http.portal.pages import Pages
from gateway_auth.http.sites import Sites
from gateway_auth.http.verify import handler as verify
from gateway_auth.http.verify.answers import ForwardAuth, Onward
from gateway_auth.logging import log_event
from gateway_auth.services import Services, StoreOpener, open_services, open_store

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    hasher_workers: int | None = None,
    store_opener: StoreOpener = open_store,
) -> web.Application:
    """Build the application; its services open (and the keys load) when it starts.

    ``store_opener`` is how tests run the whole API on another store (the MongoDB emulation).
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[http_policy])
    app[SETTINGS] = settings
    app[TRUSTED_PEERS] = TrustedPeers(settings.trusted_proxies)
    app[SITES] = Sites(settings, app[TRUSTED_PEERS])
    app[COOKIES] = app[SITES].primary.cookies
    app[ORIGINS] = OriginPolicy(app[SITES])
    app.cleanup_ctx.append(_services(clock, hasher_workers, store_opener))
    app.add_routes(routes(settings.base_path))
    return app


def routes(base: str) -> list[web.RouteDef]:
    """Every route, in one table, under BASE_PATH."""
    return [
        web.route("*", f"{base}/verify", verify.verify, name="verify"),
        # Envoy's ext_authz asks with the original path appended (``path_prefix: /verify``).
        web.route("*", f"{base}/verify/{{original:[\\s\\S]*}}", verify.verify, name="verify_envoy"),
        web.get(f"{base}/", account.home, name="home"),
        web.get(f"{base}/register", signin.register_page, name="register_page"),
        web.post(f"{base}/register", signin.register, name="register"),
        web.get(f"{base}/login", signin.login_page, name="login_page"),
        web.post(f"{base}/login", signin.login, name="login"),
        web.get(
            f"{base}/login/second-factor", factors.second_factor_page, name="second_factor_page"
        ),
        web.post(f"{base}/login/second-factor", factors.second_factor, name="second_factor"),
        web.get(f"{base}/refresh/sso", crossing.authorize, name="crossing_authorize"),
        web.get(f"{base}/sso/callback", crossing.callback, name="crossing_callback"),
        web.get(f"{base}/refresh", session.refresh_hop, name="refresh_hop"),
        web.post(f"{base}/refresh", session.refresh, name="refresh"),
        web.get(f"{base}/logout", session.logout_page, name="logout_page"),
        web.post(f"{base}/logout", session.logout, name="logout"),
        web.get(f"{base}/denied", signin.denied_page, name="denied"),
        web.get(f"{base}/password-reset", links.reset_page, name="password_reset_page"),
        web.post(f"{base}/password-reset", links.request_reset, name="password_reset"),
        web.get(
            f"{base}/password-reset/confirm", links.new_password_page, name="password_reset_link"
        ),
        web.post(
            f"{base}/password-reset/confirm", links.confirm_reset, name="password_reset_confirm"
        ),
        web.get(
            f"{base}/email-verification/confirm",
            links.verification_page,
            name="email_verification_link",
        ),
        web.post(
            f"{base}/email-verification/confirm",
            links.confirm_verification,
            name="email_verification_confirm",
        ),
        web.post(
            f"{base}/account/email-verification",
            account.resend_verification,
            name="account_email_verification",
        ),
        web.get(f"{base}/account/security", account.security_page, name="account_security"),
        web.get(f"{base}/account/sessions", account.sessions_page, name="account_sessions"),
        web.get(f"{base}/account/delete", deletion.delete_page, name="account_delete_page"),
        web.post(f"{base}/account/delete", deletion.delete_account, name="account_delete"),
        web.post(f"{base}/account/save", account.save_guest, name="account_save"),
        web.post(f"{base}/account/profile", account.save_profile, name="account_profile"),
        web.post(f"{base}/account/email", account.change_email, name="account_email"),
        web.post(f"{base}/account/password", account.change_password, name="account_password"),
        web.post(
            f"{base}/account/sessions/end-others",
            account.end_other_sessions,
            name="account_end_others",
        ),
        web.post(
            f"{base}/account/sessions/{{id}}/end", account.end_session, name="account_end_session"
        ),
        web.get(f"{base}/account/two-factor", factors.two_factor_page, name="two_factor"),
        web.post(f"{base}/account/two-factor/totp", factors.begin_totp, name="totp_begin"),
        web.post(
            f"{base}/account/two-factor/totp/confirm", factors.confirm_totp, name="totp_confirm"
        ),
        web.post(f"{base}/account/two-factor/totp/remove", factors.remove_totp, name="totp_remove"),
        web.post(
            f"{base}/account/two-factor/recovery-codes",
            factors.replace_recovery_codes,
            name="recovery_codes",
        ),
        web.post(f"{base}/login/passkey", passkeys.passkey_sign_in, name="passkey_sign_in"),
        web.post(
            f"{base}/account/two-factor/passkeys", passkeys.begin_passkey, name="passkey_begin"
        ),
        web.post(
            f"{base}/account/two-factor/passkeys/confirm",
            passkeys.confirm_passkey,
            name="passkey_confirm",
        ),
        web.post(
            f"{base}/account/two-factor/passkeys/{{id}}/rename",
            passkeys.rename_passkey,
            name="passkey_rename",
        ),
        web.post(
            f"{base}/account/two-factor/passkeys/{{id}}/remove",
            passkeys.remove_passkey,
            name="passkey_remove",
        ),
        web.post(f"{base}/token", token.token, name="token"),
        web.post(f"{base}/revoke", oauth.revoke, name="revoke"),
        web.post(f"{base}/introspect", oauth.introspect, name="introspect"),
        web.get(
            f"{base}/.well-known/oauth-authorization-server",
            oauth.server_metadata,
            name="oauth_metadata",
        ),
        web.post(f"{base}/guests", guests.start_guest, name="guests"),
        web.post(f"{base}/me/upgrade", guests.upgrade, name="me_upgrade"),
        web.post(f"{base}/me/elevate", elevation.elevate, name="me_elevate"),
        web.get(f"{base}/elevate", elevation.elevate_page, name="elevate_page"),
        web.post(f"{base}/elevate", elevation.elevate, name="elevate"),
        web.get(f"{base}/me", me.get_me, name="me"),
        web.patch(f"{base}/me", me.patch_me),
        web.delete(f"{base}/me", me.delete_me),
        web.put(f"{base}/me/password", me.put_password, name="password"),
        web.post(
            f"{base}/me/email-verification", me.send_verification, name="me_email_verification"
        ),
        web.get(f"{base}/me/sessions", me.list_sessions, name="sessions"),
        web.delete(f"{base}/me/sessions", me.delete_sessions),
        web.delete(f"{base}/me/sessions/{{id}}", me.delete_session, name="session"),
        web.get(f"{base}/admin/clients", admin.list_clients, name="admin_clients"),
        web.post(f"{base}/admin/clients", admin.create_client),
        web.get(f"{base}/admin/clients/{{id}}", admin.get_client, name="admin_client"),
        web.delete(f"{base}/admin/clients/{{id}}", admin.delete_client),
        web.patch(f"{base}/admin/clients/{{id}}", admin.update_client),
        web.post(f"{base}/admin/clients/{{id}}/password-reset", admin.start_password_reset),
        web.get(f"{base}/admin/clients/{{id}}/sessions", admin.list_sessions),
        web.delete(f"{base}/admin/clients/{{id}}/sessions/{{sessionId}}", admin.end_session),
        web.put(f"{base}/admin/clients/{{id}}/suspension", admin.suspend, name="admin_suspension"),
        web.delete(f"{base}/admin/clients/{{id}}/suspension", admin.unsuspend),
        web.get(f"{base}/admin/clients/{{id}}/lockout", admin.get_lockout),
        web.delete(f"{base}/admin/clients/{{id}}/lockout", admin.lift_lockout),
        web.get(f"{base}/admin/clients/{{id}}/second-factors", admin.get_second_factors),
        web.delete(f"{base}/admin/clients/{{id}}/second-factors", admin.reset_second_factors),
        web.delete(
            f"{base}/admin/clients/{{id}}/sessions", admin.revoke_sessions, name="admin_sessions"
        ),
        web.post(f"{base}/admin/clients/{{id}}/secret", admin.rotate_secret, name="admin_secret"),
        web.get(f"{base}/admin/stats", admin.stats, name="admin_stats"),
        web.get(f"{base}/providers/{{provider}}/start", providers.start, name="provider_start"),
        web.get(f"{base}/providers/{{provider}}/link", providers.link, name="provider_link"),
        web.get(
            f"{base}/providers/{{provider}}/callback",
            providers.callback,
            name="provider_callback",
        ),
        web.post(
            f"{base}/providers/{{provider}}/backchannel-logout",
            providers.backchannel_logout,
            name="provider_backchannel_logout",
        ),
        web.get(f"{base}/account/identities/link", providers.confirm_link_page),
        web.post(f"{base}/account/identities/link", providers.confirm_link, name="identity_link"),
        web.post(
            f"{base}/account/identities/unlink", account.unlink_identity, name="identity_unlink"
        ),
        web.get(f"{base}/admin/clients/{{id}}/identities", admin.list_identities),
        web.delete(
            f"{base}/admin/clients/{{id}}/identities/{{provider}}/{{subject}}",
            admin.unlink_identity,
        ),
        web.get(f"{base}/.well-known/jwks.json", ops.jwks, name="jwks"),
        web.get(f"{base}/healthz", ops.healthz, name="healthz"),
        web.get(f"{base}/readyz", ops.readyz, name="readyz"),
        web.get(f"{base}/metrics", ops.metrics, name="metrics"),
        web.get(f"{base}/openapi.json", ops.openapi, name="openapi"),
    ]


def _services(
    clock: Clock, hasher_workers: int | None, store_opener: StoreOpener
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def services(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        async with open_services(
            settings, clock=clock, hasher_workers=hasher_workers, store_opener=store_opener
        ) as opened:
            app[SERVICES] = opened
            app[PAGES] = Pages(
                settings,
                FormTokens.from_settings(settings, opened.keys.derived_secret("form tokens")),
            )
            app[FORWARD_AUTH] = forward_auth(app, opened)
            log_event(
                log,
                "started",
                data_dir=str(settings.data_dir),
                store="sqlite" if settings.embedded else "mongodb",
                hash_workers=opened.hasher.workers,
                redis=opened.bus is not None,
            )
            _warn_if_anyone_can_register(settings)
            yield

    return services


def forward_auth(app: web.Application, services: Services) -> ForwardAuth:
    """``/verify``'s answers, the same for the fast listener and for aiohttp."""
    domains, urls = app[SETTINGS].domains, app[PAGES].urls
    decision = Decision(
        services.verifier, app[TRUSTED_PEERS], seconds(services.clock), services.access
    )
    places = {
        id(domain): Onward(
            login_url=domain.login_url,
            refresh_url=f"{domain.public_url or ''}{urls.refresh}",
            elevate_url=f"{domain.public_url or ''}{urls.elevate}",
            enrol_url=f"{domain.public_url or ''}{urls.two_factor}",
        )
        for domain in domains.entries
    }

    def onward(host: str | None) -> Onward | None:
        domain = domains.of_host(host)
        return None if domain is None else places[id(domain)]

    return ForwardAuth(
        decision, services.metrics, path=urls.verify, cookie_name=app[COOKIES].access_name,
        onward=onward,
    )  # fmt: skip


def _warn_if_anyone_can_register(settings: Settings) -> None:
    """Open registration beyond loopback lets strangers in: say so, loudly, at every start."""
    if settings.registration != "open" or _is_loopback(settings.host):
        return
    log_event(
        log,
        "registration_open",
        level=logging.WARNING,
        listen=f"{settings.host}:{settings.port}",
        who_can_get_in=(
            "anyone who can reach this server, or a gateway in front of it, can register, sign"
            " in and pass /verify to every app it protects"
        ),
        advice=f"set {PREFIX}REGISTRATION=closed and create accounts with"
        " `gateway-auth clients create` or the admin API",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
