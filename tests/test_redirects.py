"""safe_return_url: our own paths and allowed hosts pass; every open-redirect trick falls back."""

from __future__ import annotations

import pytest

from gateway_auth.redirects import host_allowed, safe_return_url

ALLOWED = ("example.com", "xn--bcher-kva.example")
SAFE, ROOT = "unchanged", "/"

CASES: list[tuple[str | None, str]] = [
    # relative paths on this site
    ("/", SAFE),
    ("/app", SAFE),
    ("/app/page?x=1&y=2#frag", SAFE),
    ("/app/%2e%2e/other", SAFE),
    ("/a//b", SAFE),
    ("/?next=//evil.com", SAFE),
    ("/path;param", SAFE),
    ("/%E2%9C%93", SAFE),
    # absolute URLs on allowed domains: any case, trailing dot, port, subdomain, IDN
    ("https://example.com/", SAFE),
    ("https://example.com", SAFE),
    ("http://example.com/x", SAFE),
    ("https://app.example.com/path?q=1", SAFE),
    ("http://EXAMPLE.com./x", SAFE),
    ("HTTPS://Example.COM/x", SAFE),
    ("https://deep.sub.example.com:8443/x", SAFE),
    ("https://example.com:443/", SAFE),
    ("https://bücher.example/", SAFE),
    ("https://shop.BÜCHER.example/", SAFE),
    ("https://xn--bcher-kva.example/", SAFE),
    # missing or empty
    (None, ROOT),
    ("", ROOT),
    # protocol-relative and backslash tricks
    ("//evil.com", ROOT),
    ("///evil.com", ROOT),
    ("////evil.com", ROOT),
    ("/\\evil.com", ROOT),
    ("\\\\evil.com", ROOT),
    ("\\/evil.com", ROOT),
    ("/\\/evil.com", ROOT),
    # encoded slashes and backslashes, once and twice
    ("/%2F/evil.com", ROOT),
    ("/%2f%2fevil.com", ROOT),
    ("/%252F%252Fevil.com", ROOT),
    ("/%5Cevil.com", ROOT),
    ("/%255cevil.com", ROOT),
    # whitespace and control characters between the slashes, raw and encoded
    ("/\t/evil.com", ROOT),
    ("/%09/evil.com", ROOT),
    ("/ /evil.com", ROOT),
    ("/%20/evil.com", ROOT),
    ("/\n/evil.com", ROOT),
    ("/%0a/evil.com", ROOT),
    ("/%0D%0A/evil.com", ROOT),
    ("/\r/evil.com", ROOT),
    ("/\x00/evil.com", ROOT),
    ("/%00/evil.com", ROOT),
    ("/\u00a0/evil.com", ROOT),
    ("/\u3000/evil.com", ROOT),
    ("/\ufeff/evil.com", ROOT),
    (" /app", ROOT),
    ("/app ", ROOT),
    # other hosts and look-alikes
    ("https://evil.com/", ROOT),
    ("https://example.com.evil.com/", ROOT),
    ("https://notexample.com/", ROOT),
    ("https://example.co/", ROOT),
    ("https://example.com%2eevil.com/", ROOT),
    ("https://ex\u0430mple.com/", ROOT),  # a Cyrillic letter that looks like "a"
    ("https://example。com.evil.com/", ROOT),
    ("https://evil.com/https://example.com/", ROOT),
    ("https://evil.com?https://example.com", ROOT),
    ("https://evil.com#example.com", ROOT),
    # user info
    ("https://example.com@evil.com/", ROOT),
    ("https://user:pass@example.com/", ROOT),
    ("https://user@example.com/", ROOT),
    ("https://example.com%40evil.com/", ROOT),
    # schemes
    ("javascript:alert(1)", ROOT),
    ("JaVaScRiPt:alert(1)", ROOT),
    ("java\tscript:alert(1)", ROOT),
    ("data:text/html,<script>alert(1)</script>", ROOT),
    ("vbscript:msgbox(1)", ROOT),
    ("ftp://example.com/", ROOT),
    ("file:///etc/passwd", ROOT),
    ("https:evil.com", ROOT),
    ("https:/example.com", ROOT),
    ("http:\\\\evil.com", ROOT),
    # ports and malformed hosts
    ("https://example.com:99999/", ROOT),
    ("https://example.com:port/", ROOT),
    ("https://[::1]/", ROOT),
    ("https://127.0.0.1/", ROOT),
    ("https:///", ROOT),
    # not a path at all, too long, undecodable
    ("app", ROOT),
    ("evil.com", ROOT),
    ("/" + "a" * 3000, ROOT),
    ("/%ff%fe", ROOT),
    ("/%", SAFE),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_return_urls(url: str | None, expected: str) -> None:
    assert safe_return_url(url, ALLOWED) == (url if expected == SAFE else ROOT)


def test_the_table_covers_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60


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
