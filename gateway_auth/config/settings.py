"""One frozen Settings object from ``GATEWAY_AUTH_*`` variables, reporting every problem."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from gateway_auth.config import parsing as values
from gateway_auth.config.domains import (
    ONE_DOMAIN,
    Domain,
    Domains,
    DomainsFileError,
    load_domains,
)
from gateway_auth.config.mail import mail_problems
from gateway_auth.config.parsing import (
    PREFIX,
    Algorithm,
    Reader,
    SameSite,
    Secret,
    parse_duration,
)
from gateway_auth.config.redis_urls import SCHEMES as REDIS_SCHEMES
from gateway_auth.config.redis_urls import (
    SENTINEL_SCHEMES,
    SentinelTarget,
    tls_problems_checked,
    tls_settings,
)
from gateway_auth.config.secret_strength import encryption_key_problem, weakness
from gateway_auth.errors import ConfigurationError

_MONGODB_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")
FORMER_ISSUER = "gateway-auth"  # every token's iss before it followed PUBLIC_URL
MAX_CLAIM_SETTING = 100  # JWT_ISSUER and JWT_AUDIENCE: the access cookie must fit 4096 bytes

__all__ = [
    "PREFIX",
    "Algorithm",
    "SameSite",
    "Secret",
    "Settings",
    "parse_duration",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the service is configured with; build it with ``Settings.from_env``."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    fast_verify: bool = True  # /verify answered by the llhttp listener before aiohttp
    max_connections: int = 4096  # open connections per process, beyond which new ones get 503
    token_cache_size: int = 10_000  # verified access tokens /verify keeps per process
    rules_file: Path | None = None  # access rules for /verify (YAML); None: any signed-in client
    # Other identity providers people may sign in with (YAML); None: the password and passkeys
    identity_providers_file: Path | None = None
    keepalive_timeout: timedelta = timedelta(seconds=75)
    header_timeout: timedelta = timedelta(seconds=10)  # to send a whole request head (slowloris)
    base_path: str = ""
    data_dir: Path = Path("data")
    mongodb_uri: Secret | None = None
    mongodb_database: str = "gateway_auth"
    redis_url: Secret | None = None
    jwt_algorithm: Algorithm = "HS256"
    jwt_secret: Secret | None = None
    jwt_private_key_file: Path | None = None
    jwt_previous_keys_file: Path | None = None
    jwt_issuer: str | None = None  # None: PUBLIC_URL + BASE_PATH when set (``issuer``)
    jwt_audience: str = "gateway-auth"
    access_token_ttl: timedelta = timedelta(minutes=15)
    refresh_token_ttl: timedelta = timedelta(days=14)
    session_max_age: timedelta = timedelta(days=30)
    cookie_name: str = "__Host-gateway_auth"
    cookie_domain: str | None = None
    cookie_secure: bool = True
    cookie_samesite: SameSite = "Lax"
    public_url: str | None = None
    login_url: str = "/login"
    allowed_redirect_domains: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()  # besides the request's own origin and PUBLIC_URL
    # The domains served, each with its portal and cookies (``config.domains``): DOMAINS_FILE's,
    # else the one the variables above describe.
    domains_file: Path | None = None
    domains: Domains = ONE_DOMAIN
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    registration: Literal["open", "closed"] = "open"
    bcrypt_rounds: int = 12
    password_pepper: Secret | None = None
    rate_limit_per_ip: str = "20/minute;200/hour"  # limits' notation, checked at start-up
    lockout_attempts: int = 10
    lockout_period: timedelta = timedelta(minutes=15)
    max_staleness: timedelta = timedelta(seconds=30)
    deletion_channel: str = "client-data-deletion-request"
    legacy_delete_channel: str | None = None  # also publish the bare client id here
    log_format: Literal["json", "text"] | None = None  # None: json unless stderr is a TTY
    app_name: str = "gateway-auth"
    logo_url: str | None = None
    logo_file: Path | None = None
    brand_color: str | None = None  # #rrggbb: the portal's buttons and focus ring
    templates_dir: Path | None = None  # templates here override the portal's own, by name
    scope_labels: tuple[tuple[str, str], ...] = ()  # what the account page calls each scope
    password_reset_ttl: timedelta = timedelta(minutes=30)
    email_verification_ttl: timedelta = timedelta(hours=24)
    require_verified_email: bool = False  # /verify refuses users whose address is unverified
    guests: bool = False  # POST /guests creates signed-in guest clients (needs open registration)
    guest_scopes: tuple[str, ...] = ()
    guest_ttl: timedelta = timedelta(days=30)  # then a guest is deleted (with its event)
    elevated_scopes: tuple[str, ...] = ()  # held, but in force only after a fresh password
    elevation_ttl: timedelta = timedelta(minutes=10)
    # Second factors: off, optional (people may add one), required (everyone must have one).
    second_factor: Literal["off", "optional", "required"] = "optional"
    encryption_key: Secret | None = None  # seals TOTP secrets (AES-256-GCM), base64 of 32 bytes
    encryption_key_file: Path | None = None  # the same, read from a file
    # Passkeys belong to this domain (WebAuthn's RP ID); None: PUBLIC_URL's host, else the host
    # the browser used. Pin it to a parent domain to share passkeys between subdomains.
    webauthn_rp_id: str | None = None
    # gateway-auth's own mails (``mail``): an SMTP server, or a folder (development); neither:
    # mail events wait for a mailer (Redis) or ``events list --show-links``.
    smtp_url: Secret | None = None
    mail_from: str | None = None
    mail_dir: Path | None = None

    @property
    def links_base(self) -> str:
        """Where mailed links point: PUBLIC_URL, else this listener (fine on one machine).
        Never the Host a request named, which would let anyone point a reset link elsewhere."""
        if self.public_url:
            return f"{self.public_url}{self.base_path}"
        loopback_or_any = ("127.0.0.1", "::1", "0.0.0.0", "::")  # noqa: S104 - a name, not a bind
        host = "localhost" if self.host in loopback_or_any else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}{self.base_path}"

    @property
    def issuer(self) -> str:
        """Tokens' ``iss`` and the metadata's ``issuer``: JWT_ISSUER, else the URL the portal is
        reached at (RFC 8414 wants an https URL), else the name tokens always carried."""
        if self.jwt_issuer is not None:
            return self.jwt_issuer
        return f"{self.public_url}{self.base_path}" if self.public_url else FORMER_ISSUER

    @property
    def accepted_issuers(self) -> tuple[str, ...]:
        """The issuer, and while JWT_ISSUER is unset also the name tokens carried before the
        default followed PUBLIC_URL: tokens issued before an upgrade stay good."""
        if self.jwt_issuer is not None:
            return (self.jwt_issuer,)
        return tuple(dict.fromkeys((self.issuer, FORMER_ISSUER)))

    @property
    def links_are_private(self) -> bool:
        """True when mailed links would name this listener's own address while others can
        reach it: no PUBLIC_URL, and HOST not loopback (a container, a LAN address)."""
        loopback = ("127.0.0.1", "::1", "localhost")
        return self.public_url is None and self.host not in loopback

    @property
    def embedded(self) -> bool:
        """True when accounts live in the SQLite file under DATA_DIR."""
        return self.mongodb_uri is None

    @property
    def refresh_cookie_name(self) -> str:
        """The refresh cookie's name; ``__Host-`` cannot be kept because its path is not ``/``."""
        name = self.cookie_name
        if name.startswith("__Host-"):
            name = "__Secure-" + name.removeprefix("__Host-")
        return name + "_refresh"

    @property
    def device_cookie_name(self) -> str:
        """The device cookie's name: host-only (``__Host-`` when secure) whatever COOKIE_DOMAIN
        says, because it vouches for this browser at this server alone."""
        name = self.cookie_name.removeprefix("__Host-").removeprefix("__Secure-")
        return ("__Host-" if self.cookie_secure else "") + name + "_device"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse and validate ``GATEWAY_AUTH_*`` variables; raise ConfigurationError listing all."""
        r = Reader(environ)
        d = cls()
        secure = r.boolean("COOKIE_SECURE", d.cookie_secure)
        cookie_domain = r.parse("COOKIE_DOMAIN", None, values.hostname)
        public_url = r.parse("PUBLIC_URL", None, values.origin)
        base_path = r.parse("BASE_PATH", d.base_path, values.base_path)
        mongodb_uri = r.secret("MONGODB_URI")
        redis_url = r.secret("REDIS_URL")
        algorithm = r.parse("JWT_ALGORITHM", d.jwt_algorithm, values.algorithm)
        settings = cls(
            host=r.parse("HOST", d.host, values.text),
            port=r.integer("PORT", d.port, 1, 65535),
            workers=r.integer("WORKERS", d.workers, 1, 256),
            fast_verify=r.boolean("FAST_VERIFY", d.fast_verify),
            max_connections=r.integer("MAX_CONNECTIONS", d.max_connections, 16, 1_000_000),
            token_cache_size=r.integer("TOKEN_CACHE_SIZE", d.token_cache_size, 100, 10_000_000),
            rules_file=r.parse("RULES_FILE", None, values.readable_file),
            identity_providers_file=r.parse("IDENTITY_PROVIDERS_FILE", None, values.readable_file),
            keepalive_timeout=r.duration("KEEPALIVE_TIMEOUT", d.keepalive_timeout),
            header_timeout=r.duration("HEADER_TIMEOUT", d.header_timeout),
            base_path=base_path,
            data_dir=r.parse("DATA_DIR", d.data_dir, Path),
            mongodb_uri=mongodb_uri,
            mongodb_database=r.parse("MONGODB_DATABASE", d.mongodb_database, values.text),
            redis_url=redis_url,
            jwt_algorithm=algorithm,
            jwt_secret=r.secret("JWT_SECRET"),
            jwt_private_key_file=r.parse("JWT_PRIVATE_KEY_FILE", None, values.readable_file),
            jwt_previous_keys_file=r.parse("JWT_PREVIOUS_KEYS_FILE", None, values.readable_file),
            jwt_issuer=r.parse("JWT_ISSUER", None, values.text),
            jwt_audience=r.parse("JWT_AUDIENCE", d.jwt_audience, values.text),
            access_token_ttl=r.duration("ACCESS_TOKEN_TTL", d.access_token_ttl),
            refresh_token_ttl=r.duration("REFRESH_TOKEN_TTL", d.refresh_token_ttl),
            session_max_age=r.duration("SESSION_MAX_AGE", d.session_max_age),
            cookie_name=r.parse(
                "COOKIE_NAME", _default_cookie_name(secure, cookie_domain), values.cookie
            ),
            cookie_domain=cookie_domain,
            cookie_secure=secure,
            cookie_samesite=r.parse("COOKIE_SAMESITE", d.cookie_samesite, values.samesite),
            public_url=public_url,
            login_url=r.parse(
                "LOGIN_URL", f"{public_url or ''}{base_path}/login", values.login_url
            ),
            allowed_redirect_domains=r.parse(
                "ALLOWED_REDIRECT_DOMAINS",
                _default_redirect_domains(cookie_domain, public_url),
                values.domain_list,
            ),
            allowed_origins=r.parse("ALLOWED_ORIGINS", d.allowed_origins, values.origin_list),
            trusted_proxies=r.parse("TRUSTED_PROXIES", d.trusted_proxies, values.networks),
            registration=r.parse("REGISTRATION", d.registration, values.registration),
            bcrypt_rounds=r.integer("BCRYPT_ROUNDS", d.bcrypt_rounds, 4, 31),
            password_pepper=r.secret("PASSWORD_PEPPER"),
            rate_limit_per_ip=r.parse("RATE_LIMIT_PER_IP", d.rate_limit_per_ip, values.limits),
            lockout_attempts=r.integer("LOCKOUT_ATTEMPTS", d.lockout_attempts, 3, 1000),
            lockout_period=r.duration("LOCKOUT_PERIOD", d.lockout_period),
            max_staleness=r.duration("MAX_STALENESS", d.max_staleness),
            deletion_channel=r.parse("DELETION_CHANNEL", d.deletion_channel, values.channel),
            legacy_delete_channel=r.parse("LEGACY_DELETE_CHANNEL", None, values.channel),
            log_format=r.parse("LOG_FORMAT", None, values.log_format),
            app_name=r.parse("APP_NAME", d.app_name, values.display_text),
            logo_url=r.parse("LOGO_URL", None, values.logo_url),
            logo_file=r.parse("LOGO_FILE", None, values.logo_file),
            brand_color=r.parse("BRAND_COLOR", None, values.color),
            templates_dir=r.parse("TEMPLATES_DIR", None, values.directory),
            scope_labels=r.parse("SCOPE_LABELS", d.scope_labels, values.scope_labels),
            password_reset_ttl=r.duration("PASSWORD_RESET_TTL", d.password_reset_ttl),
            email_verification_ttl=r.duration("EMAIL_VERIFICATION_TTL", d.email_verification_ttl),
            require_verified_email=r.boolean("REQUIRE_VERIFIED_EMAIL", d.require_verified_email),
            guests=r.boolean("GUESTS", d.guests),
            guest_scopes=r.parse("GUEST_SCOPES", d.guest_scopes, values.scope_list),
            guest_ttl=r.duration("GUEST_TTL", d.guest_ttl),
            elevated_scopes=r.parse("ELEVATED_SCOPES", d.elevated_scopes, values.scope_list),
            elevation_ttl=r.duration("ELEVATION_TTL", d.elevation_ttl),
            second_factor=r.parse("SECOND_FACTOR", d.second_factor, values.second_factor),
            encryption_key=r.secret("ENCRYPTION_KEY"),
            encryption_key_file=r.parse("ENCRYPTION_KEY_FILE", None, values.readable_file),
            webauthn_rp_id=r.parse("WEBAUTHN_RP_ID", None, values.hostname),
            domains_file=r.parse("DOMAINS_FILE", None, values.readable_file),
            smtp_url=r.secret("SMTP_URL"),
            mail_from=r.parse("MAIL_FROM", None, values.text),
            mail_dir=r.parse("MAIL_DIR", None, Path),
        )
        settings = _with_domains(settings, r)
        r.problems.extend(_cross_checks(settings))
        r.problems.extend(r.unknown_variables())
        if r.problems:
            raise ConfigurationError(r.problems)
        return settings


# Said per domain in DOMAINS_FILE: set beside it, they would be silently ignored.
_PER_DOMAIN = (
    "PUBLIC_URL",
    "COOKIE_DOMAIN",
    "LOGIN_URL",
    "ALLOWED_REDIRECT_DOMAINS",
    "ALLOWED_ORIGINS",
)


def _with_domains(s: Settings, r: Reader) -> Settings:
    """``s`` with its domains: DOMAINS_FILE's (the first one's portal is PUBLIC_URL, for
    mailed links and the issuer), else the one domain the variables describe."""
    if s.domains_file is None:
        only = Domain(
            s.public_url, s.cookie_domain, s.allowed_redirect_domains, s.allowed_origins,
            s.login_url,
        )  # fmt: skip
        return replace(s, domains=Domains((only,)))
    try:
        domains = load_domains(s.domains_file, s.base_path)
    except DomainsFileError as exc:
        r.problems.extend(f"{PREFIX}DOMAINS_FILE: {problem}" for problem in exc.problems)
        return s
    r.problems.extend(
        f"{PREFIX}{name}: set per domain in {PREFIX}DOMAINS_FILE, not beside it"
        for name in _PER_DOMAIN
        if r.raw(name) is not None
    )
    any_domain = next((d.cookie_domain for d in domains.entries if d.cookie_domain), None)
    primary = domains.primary
    return replace(
        s,
        domains=domains,
        public_url=primary.public_url,
        login_url=primary.login_url,
        allowed_redirect_domains=primary.redirect_domains,
        allowed_origins=primary.origins,
        cookie_name=(
            s.cookie_name
            if r.raw("COOKIE_NAME") is not None
            else _default_cookie_name(s.cookie_secure, any_domain)
        ),
    )


def _default_cookie_name(secure: bool, domain: str | None) -> str:
    if not secure:
        return "gateway_auth"
    return "__Secure-gateway_auth" if domain else "__Host-gateway_auth"


def _default_redirect_domains(cookie_domain: str | None, public_url: str | None) -> tuple[str, ...]:
    hosts = [cookie_domain, urlsplit(public_url).hostname if public_url else None]
    return tuple(dict.fromkeys(h for h in hosts if h))


def _cross_checks(s: Settings) -> list[str]:
    """Problems that involve more than one variable."""
    problems = [
        *_backend_checks(s),
        *_key_checks(s),
        *_encryption_checks(s),
        *_cookie_checks(s),
        *_passkey_checks(s),
        *mail_problems(
            s.smtp_url.reveal() if s.smtp_url else None, s.mail_from, s.mail_dir, PREFIX
        ),
    ]
    if s.logo_url is not None and s.logo_file is not None:
        problems.append(f"{PREFIX}LOGO_URL and {PREFIX}LOGO_FILE: set one or the other")
    for name, value in (("JWT_ISSUER", s.issuer), ("JWT_AUDIENCE", s.jwt_audience)):
        if len(value) > MAX_CLAIM_SETTING:  # every access token, in every cookie, carries it
            problems.append(f"{PREFIX}{name}: at most {MAX_CLAIM_SETTING} characters")
    for name, lifetime in (
        ("PASSWORD_RESET_TTL", s.password_reset_ttl),
        ("EMAIL_VERIFICATION_TTL", s.email_verification_ttl),
    ):
        if not timedelta(minutes=5) <= lifetime <= timedelta(days=7):
            problems.append(f"{PREFIX}{name}: from 5m to 7d")
    if not timedelta(hours=1) <= s.guest_ttl <= timedelta(days=3650):
        problems.append(f"{PREFIX}GUEST_TTL: from 1h to 3650d")
    if not timedelta(minutes=1) <= s.elevation_ttl <= timedelta(hours=12):
        problems.append(f"{PREFIX}ELEVATION_TTL: from 1m to 12h")
    if s.guests and s.registration != "open":
        problems.append(f"{PREFIX}GUESTS: needs {PREFIX}REGISTRATION=open (guests sign up)")
    for name, timeout in (
        ("KEEPALIVE_TIMEOUT", s.keepalive_timeout),
        ("HEADER_TIMEOUT", s.header_timeout),
    ):
        if not timedelta(seconds=1) <= timeout <= timedelta(hours=1):
            problems.append(f"{PREFIX}{name}: from 1s to 1h")
    return problems


def _passkey_checks(s: Settings) -> list[str]:
    problems = []
    if s.webauthn_rp_id is not None and s.public_url is None:
        problems.append(
            f"{PREFIX}WEBAUTHN_RP_ID: needs {PREFIX}PUBLIC_URL (the one origin passkeys of a"
            " pinned domain may be used on; a request's Host must never choose it)"
        )
    if s.webauthn_rp_id is not None and s.public_url is not None:
        host = urlsplit(s.public_url).hostname or ""
        if host != s.webauthn_rp_id and not host.endswith(f".{s.webauthn_rp_id}"):
            problems.append(
                f"{PREFIX}WEBAUTHN_RP_ID: must be {PREFIX}PUBLIC_URL's host ({host}) or a"
                " domain it belongs to (browsers refuse any other)"
            )
    return problems


def _backend_checks(s: Settings) -> list[str]:
    problems = []
    if s.mongodb_uri is not None:
        scheme = urlsplit(s.mongodb_uri.reveal()).scheme
        if scheme not in ("mongodb", "mongodb+srv"):
            problems.append(f"{PREFIX}MONGODB_URI: must be a mongodb:// or mongodb+srv:// URI")
        if s.public_url is None:  # production: links built from this listener reach nobody
            problems.append(
                f"{PREFIX}PUBLIC_URL: required with {PREFIX}MONGODB_URI, e.g. "
                f"https://auth.example.com: mailed links (password resets, address checks) "
                f"would otherwise point at this listener, {s.links_base}"
            )
    if not _MONGODB_NAME.fullmatch(s.mongodb_database):
        problems.append(
            f"{PREFIX}MONGODB_DATABASE: 1 to 63 letters, digits, '_' or '-' (MongoDB's rules"
            " forbid most punctuation)"
        )
    if s.redis_url is not None:
        url = s.redis_url.reveal()
        scheme = urlsplit(url).scheme
        try:
            if scheme in SENTINEL_SCHEMES:
                SentinelTarget.parse(url)
            elif scheme == "rediss":
                query = dict(parse_qsl(urlsplit(url).query))
                tls_problems_checked({k: v for k, v in query.items() if k in tls_settings()})
            elif scheme not in REDIS_SCHEMES:
                raise ValueError(  # noqa: TRY301 - one message per problem, said once
                    "must be a redis://, rediss://, unix://, redis+sentinel:// or"
                    " rediss+sentinel:// URL"
                )
        except ValueError as exc:
            problems.append(f"{PREFIX}REDIS_URL: {exc}")
    if s.workers > 1 and s.redis_url is None:
        problems.append(
            f"{PREFIX}WORKERS={s.workers}: more than one worker needs {PREFIX}REDIS_URL"
        )
    return problems


def _key_checks(s: Settings) -> list[str]:
    p = PREFIX
    problems = []
    if s.jwt_algorithm == "HS256":
        if s.jwt_private_key_file is not None:
            problems.append(f"{p}JWT_PRIVATE_KEY_FILE: not used with HS256; set {p}JWT_SECRET")
        if s.jwt_secret is not None and len(s.jwt_secret.reveal().encode()) < 32:
            problems.append(f"{p}JWT_SECRET: must be at least 32 bytes long for HS256")
        elif s.jwt_secret is not None and (weak := weakness(s.jwt_secret.reveal())):
            problems.append(f"{p}JWT_SECRET: {weak}; generate one with: openssl rand -base64 48")
        if s.jwt_secret is None and not s.embedded:
            problems.append(f"{p}JWT_SECRET: required when accounts are not embedded")
    else:
        if s.jwt_secret is not None:
            problems.append(f"{p}JWT_SECRET: not used with {s.jwt_algorithm}")
        if s.jwt_private_key_file is None:
            problems.append(f"{p}JWT_PRIVATE_KEY_FILE: required for {s.jwt_algorithm}")
    if s.password_pepper is not None and len(s.password_pepper.reveal().encode()) < 16:
        problems.append(f"{p}PASSWORD_PEPPER: must be at least 16 bytes long")
    elif s.password_pepper is not None and (weak := weakness(s.password_pepper.reveal())):
        problems.append(f"{p}PASSWORD_PEPPER: {weak}; generate one with: openssl rand -base64 32")
    return problems


def _encryption_checks(s: Settings) -> list[str]:
    p = PREFIX
    problems = []
    if s.encryption_key is not None and s.encryption_key_file is not None:
        problems.append(f"{p}ENCRYPTION_KEY and {p}ENCRYPTION_KEY_FILE: set one or the other")
    elif s.encryption_key is not None and (
        bad := encryption_key_problem(s.encryption_key.reveal())
    ):
        problems.append(f"{p}ENCRYPTION_KEY: {bad}")
    elif (
        s.encryption_key is None
        and s.encryption_key_file is None
        and not s.embedded
        and s.second_factor != "off"
    ):
        problems.append(
            f"{p}ENCRYPTION_KEY or {p}ENCRYPTION_KEY_FILE: required when accounts are not"
            f" embedded (it seals second-factor secrets; every instance needs the same one);"
            f" generate one with: openssl rand -base64 32, or set {p}SECOND_FACTOR=off"
        )
    return problems


def _cookie_checks(s: Settings) -> list[str]:
    p = PREFIX
    problems = []
    if s.cookie_samesite == "None" and not s.cookie_secure:
        problems.append(f"{p}COOKIE_SAMESITE=None: browsers require {p}COOKIE_SECURE=true")
    if s.cookie_name.startswith(("__Host-", "__Secure-")) and not s.cookie_secure:
        problems.append(f"{p}COOKIE_NAME: a __Host-/__Secure- name needs {p}COOKIE_SECURE=true")
    if s.cookie_name.startswith("__Host-") and s.cookie_domain:
        problems.append(f"{p}COOKIE_NAME: a __Host- cookie cannot have {p}COOKIE_DOMAIN")
    if (
        s.cookie_name.startswith("__Host-")
        and s.domains.listed
        and any(d.cookie_domain for d in s.domains.entries)
    ):
        problems.append(f"{p}COOKIE_NAME: a __Host- cookie cannot have a domain's cookie_domain")
    return problems
