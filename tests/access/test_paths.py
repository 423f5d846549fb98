"""Paths as the upstream resolves them: every spelling of /admin is /admin, and what upstreams
could read two ways is refused (None), never guessed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_auth.access.paths import upstream_host, upstream_path


@pytest.mark.parametrize(
    ("raw", "resolved"),
    [
        ("/admin", "/admin"),
        ("/admin/", "/admin/"),
        ("/admin?x=/public", "/admin"),  # the query is not the path
        ("/%61dmin", "/admin"),  # an unreserved character percent-encoded
        ("//admin", "/admin"),  # duplicate slashes merged
        ("/admin;x", "/admin"),  # Tomcat and Spring cut ;parameters
        ("/admin;jsessionid=1/users", "/admin/users"),
        ("/admin/;x", "/admin/"),
        ("/a.b/.c/..d", "/a.b/.c/..d"),  # dots in a name are not dot segments
        ("/caf%C3%A9", "/café"),
        ("/café", "/café"),
        ("/100%25", "/100%"),
        ("/", "/"),
    ],
)
def test_spellings_resolve_as_the_upstream_resolves_them(raw: str, resolved: str) -> None:
    assert upstream_path(raw) == resolved


@pytest.mark.parametrize(
    "raw",
    [
        # A dot segment: nginx and Caddy pass it on as it is, and aiohttp, Express or
        # Starlette route /public/../admin below /public, while Tomcat and path-cleaning
        # clients resolve it to /admin.
        "/public/../admin",
        "/public/./admin",
        "/../../admin",
        "/%2e%2e/admin",  # percent-encoded
        "/public/%2E%2E/admin",
        "/public/.%2e/admin",
        "/public//..//admin",
        "/public/..;/admin",  # ..; is .. to Tomcat
        "/public/.;x/admin",
        "/public/%3B/../admin",
        "/admin/.",
        "/admin/x/..",
        "/public%2F..%2Fadmin",  # an encoded slash: one segment, or three?
        "/public%2f..%2fadmin",
        "/public%5C..%5Cadmin",  # an encoded backslash
        "/public\\..\\admin",  # a backslash (a separator on some upstreams)
        "/admin%00.html",  # NUL
        "/admin\x00",
        "/admin%0A",  # another control character, encoded
        "/%2561dmin",  # decoded once it still encodes /admin
        "/admin%zz",  # not an encoding
        "/admin%4",
        "/%ff%fe",  # not UTF-8
        "/admin\udcff",  # invalid UTF-8 as a header value carries it
        "/admin#frag",  # no request has a fragment
        "/admin%23frag",
        "admin",  # not a path
        "",
    ],
)
def test_what_upstreams_could_read_two_ways_is_refused(raw: str) -> None:
    assert upstream_path(raw) is None


def test_case_is_kept_unless_the_upstream_ignores_it() -> None:
    assert upstream_path("/ADMIN") == "/ADMIN"
    assert upstream_path("/ADMIN", case_sensitive=False) == "/admin"
    assert upstream_path("/%41DMIN/X", case_sensitive=False) == "/admin/x"
    # Letters whose upper case is ASCII meet it: an upstream that ignores case serves them so.
    assert upstream_path("/adm\u0131n/\u017fecret", case_sensitive=False) == "/admin/secret"


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("App.Example.COM", "app.example.com"),
        ("app.example.com:8443", "app.example.com"),
        ("app.example.com.", "app.example.com"),
        ("[::1]:8080", "[::1]"),
        ("10.0.0.1:80", "10.0.0.1"),
    ],
)
def test_hosts_are_named_without_port_case_or_trailing_dot(host: str, name: str) -> None:
    assert upstream_host(host) == name


@given(st.text(alphabet="/.;%2eEaA5cCfF0x?#\\", max_size=30))
def test_a_resolved_path_is_normal_and_resolves_to_itself(raw: str) -> None:
    resolved = upstream_path("/" + raw)
    if resolved is not None and "%" not in resolved:  # a literal % would be read as an escape
        assert resolved.startswith("/")
        assert "//" not in resolved
        assert "/../" not in resolved + "/"
        assert "/./" not in resolved + "/"
        assert upstream_path(resolved) == resolved
