"""OAuth 2.0 and OpenID Connect towards one provider, by the standards, through Authlib:
discovery, the authorization request with PKCE (S256), the code exchange, the ID token
checked against the provider's keys (an unknown ``kid`` fetches them once more), userinfo, and
back-channel logout tokens. No JWT or OAuth message is built or checked by hand here."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from gateway_auth.errors import ExternalSignInFailed
from gateway_auth.i18n import N_
from gateway_auth.logging import log_event
from gateway_auth.providers.claims import github_profile, profile_of
from gateway_auth.providers.provider import Profile, Provider

log = logging.getLogger(__name__)
# Signatures only with the provider's public keys: never "none", never a shared secret (an
# HS256 token "signed" with a public key must not verify).
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
METADATA_TTL = 3600.0  # discovery and keys are read again after an hour
KEYS_REFETCH_AFTER = 10.0  # an unknown kid fetches the keys again, at most this often
LEEWAY = 60  # seconds of clock difference allowed between the provider and us
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_LOGOUT_AGE = 600  # a logout token issued longer ago than this is refused
LOGOUT_SPEND_SECONDS = MAX_LOGOUT_AGE + 2 * LEEWAY  # as long as a logout token may be believed
FAILURE_TTL = 5.0  # a provider that did not answer is not asked again for this long
MAX_PAGES = 10  # GitHub lists organisations and teams a hundred at a time
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint",
             "end_session_endpoint")  # fmt: skip
TIMEOUT = httpx2.Timeout(10.0, connect=5.0)
UNREACHABLE = N_(
    "{name} did not answer as expected. Try again in a moment, or sign in another way."
)


class ProviderClient:
    """Talks to one provider; one per provider, kept while its configuration is."""

    def __init__(
        self,
        provider: Provider,
        clock: Callable[[], datetime],
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self._clock = clock
        self._transport = transport  # tests put a provider in process here; None: the network
        self._http = httpx2.AsyncClient(timeout=TIMEOUT, transport=transport)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._refetched_at = -KEYS_REFETCH_AFTER  # when an unknown kid last fetched the keys
        self._failure: tuple[float, ExternalSignInFailed] | None = None

    async def close(self) -> None:
        """Close its connections."""
        await self._http.aclose()

    async def authorization_url(
        self, redirect_uri: str, *, state: str, nonce: str, verifier: str
    ) -> str:
        """Where to send the browser: the authorization request with PKCE, and a nonce for an
        OpenID Connect provider."""
        metadata = await self.metadata()
        extra = {"nonce": nonce} if self.is_oidc else {}
        domains = self.provider.allowed_email_domains
        if self.provider.type == "google" and len(domains) == 1:
            extra["hd"] = domains[0]  # Google's account chooser shows that domain's only
        return str(
            prepare_grant_uri(
                metadata["authorization_endpoint"],
                client_id=self.provider.client_id,
                response_type="code",
                redirect_uri=redirect_uri,
                scope=" ".join(self.provider.scopes),
                state=state,
                code_challenge=create_s256_code_challenge(verifier),
                code_challenge_method="S256",
                **extra,
            )
        )

    @property
    def is_oidc(self) -> bool:
        """Whether it issues ID tokens (all but GitHub)."""
        return self.provider.endpoints is None

    async def issuer(self) -> str | None:
        """The issuer its responses must name (RFC 9207's ``iss``); None for GitHub."""
        if not self.is_oidc:
            return None
        return str((await self.metadata())["issuer"])

    async def is_issuer(self, value: str) -> bool:
        """Whether an authorization response's ``iss`` (RFC 9207) names this provider."""
        issuer = await self.issuer()
        return issuer is not None and _same_issuer(issuer, value, self.provider)

    async def finish(self, code: str, redirect_uri: str, *, verifier: str, nonce: str) -> Profile:
        """Exchange the code and learn who signed in; ExternalSignInFailed when anything does
        not verify or the provider does not answer."""
        metadata = await self.metadata()
        async with self._oauth(metadata, redirect_uri) as oauth:
            try:
                token = await oauth.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                    redirect_uri=redirect_uri,
                )
            except OAuthError as exc:
                raise self._invalid(f"token endpoint: {exc.error}") from None
            except (httpx2.HTTPError, ValueError) as exc:
                raise self._unreachable(f"token endpoint: {exc!r}") from None
            if not isinstance(token.get("access_token"), str):
                raise self._invalid("token endpoint: no access_token")
            if not self.is_oidc:
                return await self._github(oauth)
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise self._invalid("token endpoint: no id_token")
            claims = await self.id_token_claims(id_token, nonce, token["access_token"])
            wanted = self.provider.claims
            if (
                wanted.email not in claims or (wanted.groups and wanted.groups not in claims)
            ) and metadata.get("userinfo_endpoint"):
                info = await self._get(oauth, metadata["userinfo_endpoint"])
                if not isinstance(info, dict) or info.get("sub") != claims.get("sub"):
                    raise self._invalid("userinfo names another subject")  # OIDC Core 5.3.2
                claims = {**info, **claims}
        return profile_of(self.provider, claims, id_token)

    async def id_token_claims(
        self, id_token: str, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """The claims of an ID token this provider issued for us, for this sign-in."""
        token = await self._decode(id_token)
        if token.header.get("typ") not in (None, "JWT"):
            raise self._invalid(f"id token typ {token.header.get('typ')!r}")
        issuer = await self._expected_issuer(token.claims)
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": self.provider.client_id},
            },
            {"nonce": nonce, "client_id": self.provider.client_id, "access_token": access_token},
        )
        try:
            claims.validate(now=int(self._clock().timestamp()), leeway=LEEWAY)
        except JoseError as exc:
            raise self._invalid(f"id token: {exc.error}: {exc.description}") from None
        if not nonce or claims.get("nonce") != nonce:
            raise self._invalid("id token: nonce")
        return dict(claims)

    async def logout_claims(self, logout_token: str) -> dict[str, Any]:
        """The claims of a back-channel logout token (OpenID Connect Back-Channel Logout 1.0,
        section 2.6): signed by the provider, for us, recent, with the logout event and
        ``sub`` or ``sid``, and no ``nonce``."""
        token = await self._decode(logout_token)
        if token.header.get("typ") not in (None, "JWT", "logout+jwt"):
            raise self._invalid(f"logout token typ {token.header.get('typ')!r}")
        claims = token.claims
        registry = JWTClaimsRegistry(
            now=int(self._clock().timestamp()),
            leeway=LEEWAY,
            iss={"essential": True, "value": await self._expected_issuer(claims)},
            aud={"essential": True, "value": self.provider.client_id},
            iat={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise self._invalid(f"logout token: {exc.error}: {exc.description}") from None
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise self._invalid("logout token: no back-channel logout event")
        if "nonce" in claims:
            raise self._invalid("logout token: a nonce (an ID token?)")
        if not isinstance(claims.get("sub"), str) and not isinstance(claims.get("sid"), str):
            raise self._invalid("logout token: neither sub nor sid")
        if not isinstance(claims["jti"], str) or not isinstance(claims["iat"], int | float):
            raise self._invalid("logout token: jti or iat")
        if claims["iat"] < self._clock().timestamp() - MAX_LOGOUT_AGE:
            raise self._invalid("logout token: issued too long ago")
        return dict(claims)

    async def end_session_url(
        self, post_logout_redirect_uri: str, id_token_hint: str | None
    ) -> str | None:
        """Where the browser ends its session at the provider (RP-Initiated Logout 1.0), when
        the provider offers it."""
        if not self.is_oidc:
            return None
        endpoint = (await self.metadata()).get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        params = {
            "client_id": self.provider.client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        }
        if id_token_hint:
            params["id_token_hint"] = id_token_hint
        return str(httpx2.URL(endpoint).copy_merge_params(params))

    async def metadata(self) -> dict[str, Any]:
        """The provider's endpoints: discovered (OpenID Connect Discovery 1.0), read again
        after an hour, or the preset's (GitHub)."""
        endpoints = self.provider.endpoints
        if endpoints is not None:
            return {
                "authorization_endpoint": endpoints.authorization,
                "token_endpoint": endpoints.token,
                "userinfo_endpoint": endpoints.userinfo,
            }
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL:
            return self._metadata
        if self._failure is not None and time.monotonic() - self._failure[0] < FAILURE_TTL:
            raise self._failure[1]  # a provider that is down is not asked on every request
        try:
            metadata = await self._discover()
        except ExternalSignInFailed as exc:
            self._failure = (time.monotonic(), exc)
            raise
        self._metadata, self._metadata_at, self._failure = metadata, time.monotonic(), None
        return metadata

    async def _discover(self) -> dict[str, Any]:
        issuer = self.provider.issuer or ""
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        metadata = await self._fetch_json(url)
        # Section 4.3: the issuer it names is exactly the one configured (Microsoft's
        # multi-tenant endpoints name a template that each token's tenant fills in).
        found = metadata.get("issuer") if isinstance(metadata, dict) else None
        if not isinstance(found, str) or not _same_issuer(found, issuer, self.provider):
            raise self._unreachable(f"discovery names issuer {found!r}, not {issuer!r}")
        assert isinstance(metadata, dict)  # noqa: S101 - found is a str only in a dict
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(name), str):
                raise self._unreachable(f"discovery has no {name}")
        for name in ENDPOINTS:  # TLS to every endpoint, as to the issuer itself
            if name in metadata and not _secure(metadata[name], issuer):
                raise self._unreachable(f"discovery's {name} is not an https URL")
        offered = metadata.get("id_token_signing_alg_values_supported")
        if offered is not None and not (isinstance(offered, list) and set(offered) & ASYMMETRIC):
            raise self._unreachable(f"no signing algorithm we accept among {offered!r}")
        return metadata

    async def _decode(self, token: str) -> jwt.Token:
        if not self.is_oidc:
            raise self._invalid("this provider issues no signed tokens (no ID token, no keys)")
        metadata = await self.metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [alg for alg in offered if alg in ASYMMETRIC]
        if not algorithms:  # checked at discovery too: never decode with an empty list
            raise self._invalid(f"no signing algorithm we accept among {offered!r}")
        try:
            try:
                return jwt.decode(token, await self._key_set(), algorithms=algorithms)
            except InvalidKeyIdError:
                # Keys rotated since we read them: read them once more (not more often than
                # every few seconds, whatever tokens strangers post).
                if time.monotonic() - self._refetched_at < KEYS_REFETCH_AFTER:
                    raise
                self._refetched_at = time.monotonic()
                return jwt.decode(token, await self._key_set(force=True), algorithms=algorithms)
        except JoseError as exc:
            raise self._invalid(f"token signature: {exc.error}") from None
        except (ValueError, TypeError, LookupError) as exc:
            raise self._invalid(f"token: {exc!r}") from None

    async def _key_set(self, *, force: bool = False) -> KeySet:
        fresh = time.monotonic() - self._keys_at < METADATA_TTL
        if self._keys is not None and fresh and not force:
            return self._keys
        metadata = await self.metadata()
        document = await self._fetch_json(metadata["jwks_uri"])
        try:
            keys = KeySet.import_key_set(document)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise self._unreachable(f"jwks: {exc!r}") from None
        self._keys, self._keys_at = keys, time.monotonic()
        return keys

    async def _expected_issuer(self, claims: dict[str, Any]) -> str:
        """The issuer a token must name: the discovered one, or for Microsoft's multi-tenant
        endpoints, the discovered template with the token's own tenant (``tid``) in it."""
        issuer = str((await self.metadata())["issuer"])
        if self.provider.issuer_by_tenant and "{tenantid}" in issuer:
            tenant = claims.get("tid")
            if not isinstance(tenant, str) or not tenant.replace("-", "").isalnum():
                raise self._invalid("token without a tenant (tid)")
            return issuer.replace("{tenantid}", tenant)
        return issuer

    async def _github(self, oauth: AsyncOAuth2Client) -> Profile:
        endpoints = self.provider.endpoints
        if endpoints is None:  # only GitHub is configured by endpoints
            raise self._invalid("no endpoints")
        user = await self._get(oauth, endpoints.userinfo)
        emails = await self._get(oauth, endpoints.emails) if endpoints.emails else []
        organisations: Any = []
        teams: Any = []
        if self.provider.allowed_groups or self.provider.groups_to_scopes:
            if endpoints.organisations:
                organisations = await self._get_all(oauth, endpoints.organisations)
            if endpoints.teams:
                teams = await self._get_all(oauth, endpoints.teams)
        return github_profile(user, emails, organisations, teams)

    def _oauth(self, metadata: dict[str, Any], redirect_uri: str) -> AsyncOAuth2Client:
        """A client for one sign-in (it holds that sign-in's access token)."""
        offered = metadata.get("token_endpoint_auth_methods_supported") or []
        method = "client_secret_basic"
        if offered and method not in offered and "client_secret_post" in offered:
            method = "client_secret_post"
        return AsyncOAuth2Client(
            client_id=self.provider.client_id,
            client_secret=self.provider.client_secret,
            token_endpoint_auth_method=method,
            scope=" ".join(self.provider.scopes),
            redirect_uri=redirect_uri,
            timeout=TIMEOUT,
            transport=self._transport,
            headers={"Accept": "application/json"},
        )

    async def _get(self, oauth: AsyncOAuth2Client, url: str) -> Any:
        try:
            response = await oauth.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx2.HTTPError, OAuthError, ValueError) as exc:
            raise self._unreachable(f"{url}: {exc!r}") from None

    async def _get_all(self, oauth: AsyncOAuth2Client, url: str) -> list[Any]:
        """Every page of a GitHub list (its ``Link: rel="next"``), up to MAX_PAGES."""
        found: list[Any] = []
        next_url: str | None = str(httpx2.URL(url).copy_merge_params({"per_page": "100"}))
        for _ in range(MAX_PAGES):
            if next_url is None:
                break
            try:
                response = await oauth.get(next_url)
                response.raise_for_status()
                page = response.json()
            except (httpx2.HTTPError, OAuthError, ValueError) as exc:
                raise self._unreachable(f"{url}: {exc!r}") from None
            if not isinstance(page, list):
                raise self._invalid(f"{url}: not a list")
            found.extend(page)
            following = response.links.get("next", {}).get("url")
            next_url = following if _same_origin(following, url) else None
        return found

    async def _fetch_json(self, url: str) -> Any:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise self._unreachable(f"{url}: {exc!r}") from None

    def _unreachable(self, detail: str) -> ExternalSignInFailed:
        log_event(
            log,
            "provider_unreachable",
            level=logging.WARNING,
            provider=self.provider.id,
            detail=detail[:300],
        )
        return ExternalSignInFailed("unreachable", UNREACHABLE, detail, name=self.provider.name)

    def _invalid(self, detail: str) -> ExternalSignInFailed:
        return ExternalSignInFailed(
            "invalid_answer",
            N_("The answer from {name} could not be verified. Please sign in again."),
            detail,
            name=self.provider.name,
        )


def _secure(url: object, issuer: str) -> bool:
    """An https URL; plain http only on the loopback, for an issuer on the loopback itself."""
    if not isinstance(url, str):
        return False
    parts, own = urlsplit(url), urlsplit(issuer)
    if parts.scheme == "https" and parts.hostname:
        return True
    local = (parts.hostname or "") in LOOPBACK and (own.hostname or "") in LOOPBACK
    return parts.scheme == "http" and own.scheme == "http" and local


def _same_origin(url: object, base: str) -> bool:
    if not isinstance(url, str):
        return False
    parts, own = urlsplit(url), urlsplit(base)
    return (parts.scheme, parts.netloc) == (own.scheme, own.netloc)


def _same_issuer(found: str, configured: str, provider: Provider) -> bool:
    """Exactly the configured issuer; for Microsoft's multi-tenant endpoints (``common``,
    ``organizations``), its template with ``{tenantid}`` where the configured tenant is."""
    if found == configured:
        return True
    if not provider.issuer_by_tenant or "{tenantid}" not in found:
        return False
    pattern = re.escape(found).replace(re.escape("{tenantid}"), "[^/]+")
    return re.fullmatch(pattern, configured) is not None
