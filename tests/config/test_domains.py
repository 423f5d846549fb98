"""DOMAINS_FILE: each domain read with its defaults, every problem with its line, the variables
it replaces refused beside it, and the host that selects each entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_auth.config.domains import parse_domains
from gateway_auth.config.settings import Settings
from gateway_auth.errors import ConfigurationError

TWO = """\
domains:
  - public_url: https://auth.example.com
    cookie_domain: example.com
    default_redirect: https://app.example.com/home
  - public_url: https://shop.example.net:8443
    allowed_origins: [https://admin.example.net]
"""


def settings_with(tmp_path: Path, text: str, **env: str) -> Settings:
    path = tmp_path / "domains.yaml"
    path.write_text(text)
    return Settings.from_env(
        {"GATEWAY_AUTH_DOMAINS_FILE": str(path), **{f"GATEWAY_AUTH_{k}": v for k, v in env.items()}}
    )


def problems_of(tmp_path: Path, text: str, **env: str) -> list[str]:
    with pytest.raises(ConfigurationError) as raised:
        settings_with(tmp_path, text, **env)
    return raised.value.problems


def test_each_domain_is_read_with_its_defaults(tmp_path: Path) -> None:
    s = settings_with(tmp_path, TWO, BASE_PATH="/auth")
    one, two = s.domains.entries

    assert s.domains.listed
    assert (one.name, one.cookie_domain, one.default_redirect) == (
        "auth.example.com",
        "example.com",
        "https://app.example.com/home",
    )
    assert one.redirect_domains == ("example.com", "auth.example.com")
    assert one.login_url == "https://auth.example.com/auth/login"
    assert (two.name, two.cookie_domain, two.redirect_domains) == (
        "shop.example.net",
        None,
        ("shop.example.net",),
    )
    assert two.origins == ("https://admin.example.net",)
    # The first domain's portal is PUBLIC_URL (mailed links, the issuer's metadata).
    assert (s.public_url, s.login_url) == ("https://auth.example.com", one.login_url)
    # One cookie name for all: __Secure-, since a domain has a cookie domain.
    assert s.cookie_name == "__Secure-gateway_auth"


def test_the_host_selects_the_domain(tmp_path: Path) -> None:
    domains = settings_with(tmp_path, TWO).domains
    one, two = domains.entries

    assert domains.of_host("auth.example.com") is one
    assert domains.of_host("App.Example.COM.:443") is one
    assert domains.of_host("deep.app.example.com") is one
    assert domains.of_host("shop.example.net:8443") is two
    assert domains.of_host("www.shop.example.net") is two  # below its return domain
    for foreign in ("example.net", "notexample.com", "example.com.evil", "[::1]:x", "", None):
        assert domains.of_host(foreign) is None
    assert domains.by_name("shop.example.net") is two
    assert domains.by_name("example.net") is None


def test_without_the_file_one_domain_serves_every_host() -> None:
    s = Settings.from_env(
        {
            "GATEWAY_AUTH_PUBLIC_URL": "https://auth.example.com",
            "GATEWAY_AUTH_COOKIE_DOMAIN": "example.com",
        }
    )

    (only,) = s.domains.entries
    assert not s.domains.listed
    assert s.domains.of_host("anything.invalid") is only
    assert (only.public_url, only.cookie_domain) == ("https://auth.example.com", "example.com")
    assert only.redirect_domains == s.allowed_redirect_domains
    assert s.cookie_name == "__Secure-gateway_auth"


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    text = """\
domains:
  - public_url: https://auth.example.com/auth
    cookie_domain: "*.example.com"
  - public_url: ftp://shop.example.net
    colour: blue
  - cookie_domain: example.org
"""
    problems = problems_of(tmp_path, text)

    assert len(problems) == 5, problems
    assert (
        ":2: domain 1: public_url: 'https://auth.example.com/auth': must be an origin"
        in problems[0]
    )
    assert ":3: domain 1: cookie_domain: '*.example.com': must be a host name" in problems[1]
    assert ":4: domain 2: public_url: 'ftp://shop.example.net'" in problems[2]
    assert ":5: domain 2: colour: not a setting a domains file knows (a typo?)" in problems[3]
    assert ":6: domain 3: public_url: required" in problems[4]


def test_two_domains_may_not_share_a_host(tmp_path: Path) -> None:
    nested = """\
domains:
  - public_url: https://auth.example.com
    cookie_domain: example.com
  - public_url: https://shop.example.com
"""
    same_portal = """\
domains:
  - public_url: https://auth.example.com
  - public_url: https://auth.example.com:8443
"""
    for text in (nested, same_portal):
        (problem,) = problems_of(tmp_path, text)
        assert "domain 2: " in problem
        assert "is also served by domain 1" in problem


def test_the_variables_it_replaces_are_refused_beside_it(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path, TWO, PUBLIC_URL="https://auth.example.com", COOKIE_DOMAIN="example.com",
        ALLOWED_ORIGINS="https://x.example.com",
    )  # fmt: skip

    assert problems == [
        f"GATEWAY_AUTH_{name}: set per domain in GATEWAY_AUTH_DOMAINS_FILE, not beside it"
        for name in ("PUBLIC_URL", "COOKIE_DOMAIN", "ALLOWED_ORIGINS")
    ]


def test_a_host_cookie_name_cannot_go_with_a_cookie_domain(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, TWO, COOKIE_NAME="__Host-sso")

    assert problems == [
        "GATEWAY_AUTH_COOKIE_NAME: a __Host- cookie cannot have a domain's cookie_domain"
    ]


def test_an_empty_or_oversized_list_is_refused() -> None:
    for text, expected in (
        ("domains: []\n", "at least 1 item"),
        ("domains:\n", "domains: Input should be a valid list"),
    ):
        with pytest.raises(Exception, match=expected):
            parse_domains(text, "domains.yaml", "")
    many = "domains:\n" + "".join(f"  - public_url: https://a{i}.example.com\n" for i in range(21))
    with pytest.raises(Exception, match="at most 20 items"):
        parse_domains(many, "domains.yaml", "")
