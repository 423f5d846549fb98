"""safe_return_url: our own paths and allowed hosts pass; every open-redirect trick falls back."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from gateway_auth.http.redirects import host_allowed, https_only, safe_return_url

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


# Properties: whatever the input, an accepted return URL lands on an allowed host, as two
# independent parsers (urllib's and yarl's, which follows the WHATWG URL standard) read it.
_HOSTS = st.one_of(
    st.sampled_from(
        [
            "example.com",
            "app.example.com",
            "EXAMPLE.com.",
            "bücher.example",
            "xn--bcher-kva.example",
            "evil.com",
            "example.com.evil.com",
            "evilexample.com",
            "evil.com\\.example.com",
            "evil.com/.example.com",
            "evil_host.example.com",
            "[::1]",
            "127.0.0.1",
        ]
    ),
    st.text(max_size=24),
)
_ENCODED_HOSTS = _HOSTS.flatmap(
    lambda h: st.sampled_from([h, quote(h, safe=""), h.replace(".", "%2e"), h.replace("e", "%65")])
)
_URLS = st.builds(
    "{}{}{}{}{}".format,
    st.sampled_from(["https://", "http://", "HTTPS://", "//", "/", "javascript://", "", "https:"]),
    st.sampled_from(["", "user@", "example.com@", "a:b@"]),
    _ENCODED_HOSTS,
    st.sampled_from(["", ":443", ":8443", ":80", ":0", ":99999", ":x"]),
    st.sampled_from(["", "/", "/x?y#z", "\\\\evil.com", "/%2F%2Fevil.com", "?q", "#f"]),
)
_OURS = "https://ours.test/"


def _ascii(host: str) -> str:
    return host.encode("idna").decode("ascii").lower().rstrip(".")


@settings(max_examples=600, deadline=None)
@given(_URLS)
def test_an_accepted_return_url_lands_on_an_allowed_host(candidate: str) -> None:
    result = safe_return_url(candidate, ALLOWED, FALLBACK_SENTINEL)

    if result != candidate:
        return
    if candidate.startswith("/"):  # relative: it must stay on this site when resolved
        assert URL(_OURS).join(URL(candidate)).host == "ours.test"
        return
    for host in (urlsplit(candidate).hostname, URL(candidate).host):
        assert host is not None
        assert host_allowed(_ascii(host), ALLOWED), (candidate, host)
    assert "@" not in urlsplit(candidate).netloc


@settings(max_examples=600, deadline=None)
@given(_URLS)
def test_with_https_origins_an_accepted_url_is_https_on_their_ports(candidate: str) -> None:
    ports = https_only(["https://example.com", "https://app.example.com:8443"])

    result = safe_return_url(candidate, ALLOWED, FALLBACK_SENTINEL, https_ports=ports)

    if result == candidate and not candidate.startswith("/"):
        parts = urlsplit(candidate)
        assert parts.scheme.lower() == "https"
        assert (parts.port or 443) in {443, 8443}


@pytest.mark.parametrize(
    ("candidate", "accepted"),
    [
        ("https://example.com/x", True),
        ("https://app.example.com:8443/x", True),
        ("http://example.com/x", False),  # a downgrade to plain http
        ("https://example.com:8080/x", False),  # another service's port
        ("/relative", True),
    ],
)
def test_https_origins_refuse_plain_http_and_foreign_ports(candidate: str, accepted: bool) -> None:
    ports = https_only(["https://auth.example.com", "https://app.example.com:8443"])

    result = safe_return_url(candidate, ALLOWED, FALLBACK_SENTINEL, https_ports=ports)

    assert (result == candidate) is accepted


@pytest.mark.parametrize(
    "candidate", ["http://127.0.0.1:8000/app", "http://[::1]:8000/app", "https://[::1]/"]
)
def test_an_allowed_ip_literal_host_is_accepted(candidate: str) -> None:
    assert safe_return_url(candidate, ("127.0.0.1", "::1")) == candidate


def test_https_only_applies_when_every_origin_is_https() -> None:
    assert https_only(["https://a.example", "https://b.example:8443"]) == frozenset({443, 8443})
    assert https_only(["https://a.example", "http://localhost:8000"]) is None
    assert https_only([None]) is None


@pytest.mark.parametrize(
    "candidate",
    ["https://evil%2ecom", "https://ex%61mple.com/", "https://bad_host.example.com/"],
)
def test_percent_encoded_and_non_std3_hosts_are_refused(candidate: str) -> None:
    assert safe_return_url(candidate, ALLOWED) == ROOT


FALLBACK_SENTINEL = "/fallback-sentinel"
