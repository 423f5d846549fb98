"""safe_return_url: our own paths and allowed hosts pass; every open-redirect trick falls back."""

from __future__ import annotations

import pytest

from gateway_auth.redirects import host_allowed, safe_return_url

ALLOWED = ("example.com",)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/app",
        "/app/page?x=1&y=2#frag",
        "/app/%2e%2e/other",
        "https://example.com/",
        "https://app.example.com/path?q=1",
        "http://EXAMPLE.com./x",
        "https://deep.sub.example.com:8443/x",
    ],
)
def test_safe_urls_pass_unchanged(url: str) -> None:
    assert safe_return_url(url, ALLOWED) == url


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "//evil.com",
        "///evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/%2F/evil.com",
        "/%252F%252Fevil.com",
        "/\t/evil.com",
        "/%09/evil.com",
        "/ /evil.com",
        "/\n/evil.com",
        "https://evil.com/",
        "https://example.com.evil.com/",
        "https://notexample.com/",
        "https://example.com@evil.com/",
        "https://user:pass@example.com/",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.com/",
        "https:evil.com",
        "https://ex\u0430mple.com/",  # a Cyrillic letter that looks like "a"
        "https://example.com:99999/",
        "app",
        "/" + "a" * 3000,
        "/%ff%fe",
    ],
)
def test_unsafe_urls_fall_back_to_root(url: str | None) -> None:
    assert safe_return_url(url, ALLOWED) == "/"


def test_absolute_urls_need_an_allowed_domain() -> None:
    assert safe_return_url("https://example.com/", ()) == "/"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("example.com", True),
        ("a.example.com", True),
        ("EXAMPLE.COM.", True),
        ("badexample.com", False),
        ("example.com.evil.net", False),
        ("com", False),
    ],
)
def test_domains_match_on_a_dot_boundary(host: str, allowed: bool) -> None:
    assert host_allowed(host, ALLOWED) is allowed
