"""Settings.from_env: defaults, parsing, derived values, and every problem reported at once."""

from __future__ import annotations

import base64
import ipaddress
import random
import re
from datetime import timedelta
from pathlib import Path

import pytest

from gateway_auth.config.mail import SmtpTarget
from gateway_auth.config.redis_urls import SentinelTarget
from gateway_auth.config.settings import Settings, parse_duration
from gateway_auth.errors import ConfigurationError
from tests.support.credentials import ENCRYPTION_KEY, JWT_SECRET, PEPPER


def test_defaults_match_the_design() -> None:
    s = Settings.from_env({})

    assert (s.host, s.port, s.workers, s.base_path) == ("127.0.0.1", 8000, 1, "")
    assert s.data_dir == Path("data")
    assert s.jwt_algorithm == "HS256"
    assert (s.issuer, s.jwt_audience) == ("gateway-auth", "gateway-auth")
    assert s.access_token_ttl == timedelta(minutes=15)
    assert s.refresh_token_ttl == timedelta(days=14)
    assert s.session_max_age == timedelta(days=30)
    assert s.cookie_name == "__Host-gateway_auth"
    assert s.refresh_cookie_name == "__Secure-gateway_auth_refresh"
    assert (s.cookie_secure, s.cookie_samesite, s.cookie_domain) == (True, "Lax", None)
    assert s.login_url == "/login"
    assert s.trusted_proxies == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert s.registration == "open"
    assert s.bcrypt_rounds == 12
    assert s.embedded


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("12h", 43200),
        ("14d", 1209600),
        ("1w", 604800),
        ("1h30m", 5400),
        ("2D", 172800),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["15", "m", "-5m", "0s", "1.5h", "15 minutes", "15mm"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration(text)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(
            {
                "GATEWAY_AUTH_PORT": "http",
                "GATEWAY_AUTH_ACCESS_TOKEN_TTL": "15",
                "GATEWAY_AUTH_COOKIE_SAMESITE": "sometimes",
                "GATEWAY_AUTH_JWT_SECRET": "too short",
                "GATEWAY_AUTH_TRUSTED_PROXIES": "10.0.0.0/8,not-an-ip",
                "GATEWAY_AUTH_JWT_SECRETT": "typo",
            }
        )

    problems = caught.value.problems
    assert len(problems) == 6
    text = str(caught.value)
    assert "GATEWAY_AUTH_PORT='http': must be a whole number from 1 to 65535" in text
    assert "GATEWAY_AUTH_ACCESS_TOKEN_TTL='15': must be a duration" in text
    assert "GATEWAY_AUTH_COOKIE_SAMESITE='sometimes': must be one of Lax, Strict, None" in text
    assert "GATEWAY_AUTH_JWT_SECRET: must be at least 32 bytes" in text
    assert "'not-an-ip' is not an IP address" in text
    assert "GATEWAY_AUTH_JWT_SECRETT: not a gateway-auth setting (did you mean" in text
    assert "too short" not in text  # secrets are never echoed back


def test_empty_variables_mean_the_default() -> None:
    assert (
        Settings.from_env({"GATEWAY_AUTH_PORT": "", "GATEWAY_AUTH_COOKIE_DOMAIN": " "}).port == 8000
    )


def test_test_only_variables_are_not_settings() -> None:
    Settings.from_env({"GATEWAY_AUTH_TEST_MONGODB_URI": "mongodb://localhost"})


def test_secrets_are_masked_in_repr() -> None:
    s = Settings.from_env(
        {"GATEWAY_AUTH_JWT_SECRET": JWT_SECRET, "GATEWAY_AUTH_PASSWORD_PEPPER": PEPPER}
    )

    assert JWT_SECRET not in repr(s)
    assert PEPPER not in repr(s)
    assert "Secret('**********')" in repr(s)
    assert s.jwt_secret is not None
    assert s.jwt_secret.reveal() == JWT_SECRET


@pytest.mark.parametrize(
    ("env", "access", "refresh"),
    [
        ({}, "__Host-gateway_auth", "__Secure-gateway_auth_refresh"),
        (
            {"COOKIE_DOMAIN": ".Example.com"},
            "__Secure-gateway_auth",
            "__Secure-gateway_auth_refresh",
        ),
        ({"COOKIE_SECURE": "false"}, "gateway_auth", "gateway_auth_refresh"),
        ({"COOKIE_NAME": "sso"}, "sso", "sso_refresh"),
    ],
)
def test_cookie_names_follow_secure_and_domain(
    env: dict[str, str], access: str, refresh: str
) -> None:
    s = Settings.from_env({f"GATEWAY_AUTH_{k}": v for k, v in env.items()})

    assert (s.cookie_name, s.refresh_cookie_name) == (access, refresh)


def test_cookie_domain_is_normalised() -> None:
    assert Settings.from_env({"GATEWAY_AUTH_COOKIE_DOMAIN": ".Example.COM."}).cookie_domain == (
        "example.com"
    )


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"COOKIE_SAMESITE": "none", "COOKIE_SECURE": "false"}, "browsers require"),
        ({"COOKIE_NAME": "__Host-x", "COOKIE_DOMAIN": "example.com"}, "cannot have"),
        ({"COOKIE_NAME": "__Secure-x", "COOKIE_SECURE": "no"}, "needs"),
        ({"COOKIE_NAME": "a b"}, "must be a cookie name"),
        ({"PUBLIC_URL": "https://auth.example.com/auth"}, "without a path"),
        ({"PUBLIC_URL": "ftp://auth.example.com"}, "absolute http(s) URL"),
        ({"LOGIN_URL": "//evil.example.com/login"}, "absolute http(s) URL or a path"),
        ({"BASE_PATH": "auth"}, "/auth"),
        ({"JWT_ALGORITHM": "RS384"}, "must be one of HS256, EdDSA, ES256, RS256, PS256"),
        ({"JWT_ALGORITHM": "EdDSA"}, "JWT_PRIVATE_KEY_FILE: required for EdDSA"),
        ({"JWT_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, "cannot be read"),
        ({"WORKERS": "2"}, "needs GATEWAY_AUTH_REDIS_URL"),
        ({"MONGODB_URI": "mongodb://db"}, "JWT_SECRET: required when accounts are not embedded"),
        ({"MONGODB_URI": "postgres://db"}, "must be a mongodb:// or mongodb+srv:// URI"),
        (
            {"MONGODB_URI": "mongodb://db", "PORT": "9000"},
            "PUBLIC_URL: required with GATEWAY_AUTH_MONGODB_URI, e.g. https://auth.example.com:"
            " mailed links (password resets, address checks) would otherwise point at this"
            " listener, http://localhost:9000",
        ),
        (
            {"MONGODB_URI": "mongodb://db", "JWT_SECRET": JWT_SECRET},
            "ENCRYPTION_KEY or GATEWAY_AUTH_ENCRYPTION_KEY_FILE: required when accounts are not"
            " embedded",
        ),
        ({"ENCRYPTION_KEY": "c2hvcnQ="}, "ENCRYPTION_KEY: must be 32 bytes in base64"),
        ({"ENCRYPTION_KEY": "not base64 at all!"}, "ENCRYPTION_KEY: must be 32 bytes in base64"),
        ({"ENCRYPTION_KEY": "A" * 43}, "ENCRYPTION_KEY: looks hand-made"),
        ({"ENCRYPTION_KEY": ENCRYPTION_KEY, "ENCRYPTION_KEY_FILE": __file__}, "one or the other"),
        ({"SECOND_FACTOR": "sometimes"}, "off, optional, required"),
        (
            {"WEBAUTHN_RP_ID": "example.org", "PUBLIC_URL": "https://auth.example.com"},
            "WEBAUTHN_RP_ID: must be",
        ),
        ({"WEBAUTHN_RP_ID": "https://example.com"}, "must be a host name such as example.com"),
        ({"WEBAUTHN_RP_ID": "example.com"}, "WEBAUTHN_RP_ID: needs GATEWAY_AUTH_PUBLIC_URL"),
        ({"MONGODB_DATABASE": "a/b"}, "MONGODB_DATABASE: 1 to 63 letters"),
        ({"MONGODB_DATABASE": "x" * 64}, "MONGODB_DATABASE: 1 to 63 letters"),
        ({"BCRYPT_ROUNDS": "3"}, "from 4 to 31"),
        ({"MAX_CONNECTIONS": "8"}, "must be a whole number from 16 to 1000000"),
        ({"TOKEN_CACHE_SIZE": "10"}, "must be a whole number from 100 to 10000000"),
        ({"HEADER_TIMEOUT": "500ms"}, "HEADER_TIMEOUT"),
        ({"KEEPALIVE_TIMEOUT": "2h"}, "KEEPALIVE_TIMEOUT: from 1s to 1h"),
        ({"FAST_VERIFY": "sometimes"}, "true or false"),
        ({"REGISTRATION": "invite"}, "open, closed"),
        ({"PASSWORD_PEPPER": "short"}, "at least 16 bytes"),
        ({"COOKIE_SECURE": "maybe"}, "true or false"),
        ({"APP_NAME": "x" * 61}, "at most 60 printable characters"),
        ({"APP_NAME": "Acme\nStaff"}, "at most 60 printable characters"),
        ({"LOGO_URL": "javascript:alert(1)"}, "absolute http(s) URL or a path"),
        ({"LOGO_URL": 'https://cdn.example.com/a".svg'}, "without user info or quotes"),
        ({"LOGO_URL": "https://user:pw@cdn.example.com/a.svg"}, "without user info"),
        ({"LOGO_FILE": "/nonexistent/logo.png"}, "cannot be read"),
        ({"LOGO_FILE": __file__}, "must be a PNG, JPEG, GIF, WebP or SVG image"),
        ({"ALLOWED_ORIGINS": "portal.example.com"}, "absolute http(s) URL"),
        ({"ALLOWED_ORIGINS": "https://portal.example.com/app"}, "without a path"),
        ({"SMTP_URL": "https://mail.example.com", "MAIL_FROM": "a@example.com"}, "smtps://"),
        (
            {"SMTP_URL": "smtp://mailer:hunter2@mail.example.com", "MAIL_FROM": "a@example.com"},
            "SMTP_URL: smtp:// would send the password in the clear",
        ),
        ({"SMTP_URL": "smtps://:465", "MAIL_FROM": "a@example.com"}, "name the SMTP server"),
        ({"SMTP_URL": "smtps://mail.example.com:99999"}, "port must be a number"),
        (
            {"SMTP_URL": "smtps://mail.example.com"},
            "MAIL_FROM: required with GATEWAY_AUTH_SMTP_URL",
        ),
        ({"MAIL_FROM": "nobody"}, "MAIL_FROM: must be an address"),
        (
            {"SMTP_URL": "smtps://mailer:p%C3%A4ss@mail.example.com", "MAIL_FROM": "a@example.com"},
            "SMTP_URL: the user name and password must be ASCII",
        ),
        ({"BRAND_COLOR": "blue"}, "BRAND_COLOR='blue': must be a colour written #rrggbb"),
        ({"TEMPLATES_DIR": "/nonexistent/templates"}, "must be a directory that exists"),
        ({"SCOPE_LABELS": "billing=Billing"}, "SCOPE_LABELS"),
        ({"SCOPE_LABELS": '{"bad scope": "x"}'}, "'bad scope': must be 1-64"),
        ({"SCOPE_LABELS": '{"billing": ""}'}, "the label must be 1-60 printable characters"),
        ({"SCOPE_LABELS": '["billing"]'}, "must be a JSON object"),
        ({"MAIL_FROM": "a@example.com\nBcc: x@example.com"}, "MAIL_FROM: must be"),
        (
            {"SMTP_URL": "smtps://mail.example.com", "MAIL_FROM": "a@example.com", "MAIL_DIR": "m"},
            "GATEWAY_AUTH_SMTP_URL and GATEWAY_AUTH_MAIL_DIR: set one or the other",
        ),
    ],
)
def test_configuration_problems_are_explained(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(problem)):
        Settings.from_env({f"GATEWAY_AUTH_{k}": v for k, v in env.items()})


def test_an_smtp_password_never_appears_in_a_problem() -> None:
    env = {"SMTP_URL": "smtp://mailer:hunter2@mail.example.com:notaport", "MAIL_FROM": "x"}

    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({f"GATEWAY_AUTH_{k}": v for k, v in env.items()})

    assert "SMTP_URL" in str(refused.value)
    assert "hunter2" not in str(refused.value)
    assert "hunter2" not in repr(SmtpTarget.parse("smtps://mailer:hunter2@mail.example.com"))


def test_urls_derive_from_public_url_and_base_path() -> None:
    s = Settings.from_env(
        {
            "GATEWAY_AUTH_PUBLIC_URL": "https://Auth.Example.com/",
            "GATEWAY_AUTH_BASE_PATH": "/auth",
            "GATEWAY_AUTH_COOKIE_DOMAIN": "example.com",
        }
    )

    assert s.public_url == "https://auth.example.com"
    assert s.login_url == "https://auth.example.com/auth/login"
    assert s.allowed_redirect_domains == ("example.com", "auth.example.com")


# What the shipped examples carried before they were emptied, and what people type instead.
PLACEHOLDERS = [
    "replace-me-with-the-output-of-openssl-rand-base64-48",
    "replace-with-48-random-bytes-in-base64-from-openssl-rand",
    "changeme-changeme-changeme-changeme",
    "my-jwt-secret-for-the-gateway-auth-service",
    "x" * 32,
    "abcdabcdabcdabcdabcdabcdabcdabcd",
    "abcdefghijklmnopqrstuvwxyz012345",
]


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_a_placeholder_or_hand_made_signing_secret_stops_start_up(placeholder: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"GATEWAY_AUTH_JWT_SECRET": placeholder})

    [problem] = caught.value.problems
    assert problem.startswith("GATEWAY_AUTH_JWT_SECRET: ")
    assert "openssl rand -base64 48" in problem
    assert placeholder not in problem  # a secret is never echoed, weak or not


@pytest.mark.parametrize("placeholder", ["change-this-pepper!", "p" * 20, "passwordpassword1"])
def test_a_placeholder_or_hand_made_pepper_stops_start_up(placeholder: str) -> None:
    with pytest.raises(ConfigurationError, match=r"PASSWORD_PEPPER: .*openssl rand -base64 32"):
        Settings.from_env({"GATEWAY_AUTH_PASSWORD_PEPPER": placeholder})


def test_generated_secrets_of_every_usual_shape_are_accepted() -> None:
    randomness = random.Random(20261130)  # noqa: S311 - a fixed sample: the test cannot flicker
    for _ in range(300):
        raw = randomness.randbytes(48)
        for jwt_secret, pepper in (
            (base64.b64encode(raw).decode(), base64.b64encode(raw[:32]).decode()),
            (raw[:16].hex(), raw[16:24].hex()),  # openssl rand -hex 16 / -hex 8
            (base64.urlsafe_b64encode(raw[:32]).decode(), base64.b64encode(raw[:12]).decode()),
        ):
            Settings.from_env(
                {"GATEWAY_AUTH_JWT_SECRET": jwt_secret, "GATEWAY_AUTH_PASSWORD_PEPPER": pepper}
            )


def test_a_logo_file_must_be_small_and_alone(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000)
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')

    with pytest.raises(ConfigurationError, match="a logo may have at most 262144"):
        Settings.from_env({"GATEWAY_AUTH_LOGO_FILE": str(big)})
    with pytest.raises(ConfigurationError, match="set one or the other"):
        Settings.from_env(
            {"GATEWAY_AUTH_LOGO_FILE": str(svg), "GATEWAY_AUTH_LOGO_URL": "/static/logo.svg"}
        )
    assert Settings.from_env({"GATEWAY_AUTH_LOGO_FILE": str(svg)}).logo_file == svg


def test_allowed_origins_are_normalised() -> None:
    s = Settings.from_env(
        {"GATEWAY_AUTH_ALLOWED_ORIGINS": "https://Portal.Example.com, http://a.b:8080"}
    )

    assert s.allowed_origins == ("https://portal.example.com", "http://a.b:8080")


def test_an_issuer_or_audience_too_long_for_a_cookie_is_refused() -> None:
    environ = {"GATEWAY_AUTH_JWT_ISSUER": "i" * 101, "GATEWAY_AUTH_JWT_AUDIENCE": "a" * 100}

    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(environ)

    assert refused.value.problems == ["GATEWAY_AUTH_JWT_ISSUER: at most 100 characters"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://h:26379", "name the service"),
        ("redis+sentinel://h/mymaster", "is not host:port"),
        ("redis+sentinel://h:26379/mymaster/zero", "must be a number"),
        ("redis+sentinel://h:26379/mymaster?pasword=x", "only query parameter"),
        ("redis+sentinel://h:26379/mymaster?ssl_ca_certs=/etc/hosts", "need rediss+sentinel://"),
        ("rediss+sentinel://h:26379/mymaster?ssl_ca_certs=/no/ca.pem", "is not a file this"),
        ("rediss+sentinel://:hunter22@h:26379/m?ssl_cert_reqs=maybe", "ssl_cert_reqs is one of"),
        ("rediss+sentinel://h:26379/m?ssl_check_hostname=yes", "ssl_check_hostname is one of"),
        ("rediss+sentinel://h:26379/m?ssl_ciphers=x", "the query parameters are"),
        ("rediss://:hunter22@h:6380/0?ssl_certfile=/no/cert.pem", "is not a file this"),
        (
            "http://h:6379/0",
            "must be a redis://, rediss://, unix://, redis+sentinel:// or rediss+sentinel:// URL",
        ),
    ],
)
def test_a_malformed_redis_url_is_refused_saying_why(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"GATEWAY_AUTH_REDIS_URL": url})

    (message,) = refused.value.problems
    assert message.startswith("GATEWAY_AUTH_REDIS_URL: ")
    assert problem in message
    assert "hunter22" not in message  # never a password


def test_a_sentinel_url_names_its_sentinels_service_and_passwords() -> None:
    target = SentinelTarget.parse(
        "redis+sentinel://:p%40ss@10.0.0.1:26379,[::1]:26380/mymaster/2?sentinel_password=s"
    )

    assert target.sentinels == (("10.0.0.1", 26379), ("::1", 26380))
    assert (target.service, target.db) == ("mymaster", 2)
    assert (target.password, target.sentinel_password) == ("p@ss", "s")
