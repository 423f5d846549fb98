"""The one /verify decision, as both listeners ask it: no rules file is the default policy (a
signed-in client with the scopes asked for), a rules file decides by the original request a
trusted proxy describes, and a description that cannot be believed never lets anyone in."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from pathlib import Path

import pytest

from gateway_auth.access.control import AccessControl
from gateway_auth.access.decision import Check, Decision
from gateway_auth.access.forwarded import Peer, TrustedPeers
from gateway_auth.access.rules import AMBIGUOUS, DEFAULT
from gateway_auth.access.verifier import Verifier
from gateway_auth.addresses import ip_network
from gateway_auth.config.keys import KeyRing, hmac_key
from gateway_auth.models import Client, MirrorState
from gateway_auth.revocation.mirror import RevocationMirror
from gateway_auth.tokens import AccessTokens
from tests.support.clock import present

NOW = present()
GATEWAY = Peer("10.0.0.2", True)
STRANGER = Peer("203.0.113.9", False)
NOTHING: frozenset[str] = frozenset()
RULES = """
default_policy: deny
rules:
  - {name: health, paths: [/health], policy: bypass}
  - {name: office, hosts: [intranet.example.com], networks: [192.0.2.0/24], policy: authenticated}
  - {name: billing, paths: [/billing], scopes: [billing]}
  - name: services
    hosts: [internal.example.com]
    subject: {kinds: [service]}
    policy: authenticated
  - {name: blocked, paths: [/blocked], policy: deny}
  - {name: app, hosts: [app.example.com], policy: authenticated}
"""


@pytest.fixture
def tokens() -> AccessTokens:
    return AccessTokens(
        KeyRing("HS256", hmac_key(b"k" * 32)),
        issuer="gateway-auth",
        audience="gateway-auth",
        ttl=timedelta(minutes=15),
    )


def token(tokens: AccessTokens, scopes: tuple[str, ...] = (), kind: str = "user") -> str:
    client = Client(
        "c1", "ada@example.com", "user", scopes, None, None, False, None, None, NOW, NOW
    )
    client = dataclasses.replace(client, kind=kind)  # type: ignore[arg-type]
    return tokens.issue(client, "s1", NOW, not_after=NOW + timedelta(hours=1))[0]


def decision(tokens: AccessTokens, rules: AccessControl | None = None) -> Decision:
    mirror = RevocationMirror(timedelta(minutes=15))
    mirror.finish_resync(MirrorState(), time.monotonic())
    verifier = Verifier(tokens, mirror, max_staleness=60)
    trusted = TrustedPeers([ip_network("10.0.0.0/8")])
    return Decision(verifier, trusted, NOW.timestamp, rules)


@pytest.fixture
def rules(tmp_path: Path) -> AccessControl:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return AccessControl.load(path)


def asked(
    url: str | None = None,
    *,
    token: str | None = None,
    peer: Peer = GATEWAY,
    scopes: frozenset[str] = NOTHING,
    headers: dict[str, str] | None = None,
) -> Check:
    """A check as nginx sends one: the original URL in X-Original-URL, if given."""
    described = {"x-original-url": url} if url else {}
    return Check("GET", described | (headers or {}), peer, "http", token, scopes)


def test_without_rules_a_signed_in_client_passes_with_the_scopes_it_holds(
    tokens: AccessTokens,
) -> None:
    decide = decision(tokens).decide
    signed_in = token(tokens, ("billing",))

    assert decide(asked(token=signed_in))[0].outcome == "allow"
    assert decide(asked(token=signed_in, scopes=frozenset({"billing"})))[0].outcome == "allow"
    assert decide(asked(token=signed_in, scopes=frozenset({"admin"})))[0].outcome == (
        "forbidden_scope"
    )
    assert decide(asked())[0].outcome == "unauthenticated"
    assert decide(asked(token=signed_in))[1] is None  # no rule decided it


def test_without_rules_a_trusted_proxys_malformed_description_is_unauthenticated(
    tokens: AccessTokens,
) -> None:
    decide = decision(tokens).decide
    signed_in = token(tokens)

    bad = decide(asked(token=signed_in, headers={"x-forwarded-proto": "gopher"}))
    described = decide(asked("https://app.example.com/x", token=signed_in))
    from_a_stranger = decide(
        asked(token=signed_in, peer=STRANGER, headers={"x-forwarded-proto": "gopher"})
    )

    assert bad == (decision(tokens).decide(asked())[0], None)
    assert bad[0].outcome == "unauthenticated"
    assert described[0].outcome == "allow"
    assert from_a_stranger[0].outcome == "allow"  # its headers are not read at all


def test_with_rules_only_a_trusted_proxy_may_say_what_it_asks_about(
    tokens: AccessTokens, rules: AccessControl
) -> None:
    decide = decision(tokens, rules).decide
    signed_in = token(tokens)

    stranger = decide(asked("http://app.example.com/", token=signed_in, peer=STRANGER))
    undescribed = decide(asked(token=signed_in))
    dot_segments = decide(asked("http://app.example.com/a/../health", token=signed_in))
    malformed = decide(asked(token=signed_in, headers={"x-original-url": "ftp://app.example.com/"}))

    assert (stranger[0].outcome, stranger[1]) == ("ambiguous", AMBIGUOUS)
    assert (undescribed[0].outcome, undescribed[1]) == ("ambiguous", AMBIGUOUS)
    assert (dot_segments[0].outcome, dot_segments[1]) == ("ambiguous", AMBIGUOUS)
    assert (malformed[0].outcome, malformed[1]) == ("unauthenticated", AMBIGUOUS)


def test_with_rules_the_first_matching_rule_decides_and_names_itself(
    tokens: AccessTokens, rules: AccessControl
) -> None:
    decide = decision(tokens, rules).decide
    signed_in = token(tokens)

    health = decide(asked("http://app.example.com/health"))
    app = decide(asked("http://app.example.com/orders", token=signed_in))
    nobody = decide(asked("http://app.example.com/orders"))
    elsewhere = decide(asked("http://unknown.example.com/", token=signed_in))

    assert (health[0].outcome, health[1]) == ("bypass", "health")
    assert health[0].headers is not None
    assert health[0].headers["X-Auth-User-Id"] == ""
    assert (app[0].outcome, app[1]) == ("allow", "app")
    assert (nobody[0].outcome, nobody[1]) == ("unauthenticated", "app")
    assert (elsewhere[0].outcome, elsewhere[1]) == ("denied", DEFAULT)
    assert elsewhere[0].claims is not None  # the refusal page names who is signed in


def test_a_rules_scopes_and_the_querys_scopes_must_both_be_held(
    tokens: AccessTokens, rules: AccessControl
) -> None:
    decide = decision(tokens, rules).decide
    billing = token(tokens, ("billing",))
    both = token(tokens, ("billing", "audit"))
    url = "http://app.example.com/billing/invoices"

    assert decide(asked(url, token=billing))[0].outcome == "allow"
    assert decide(asked(url, token=token(tokens)))[0].outcome == "forbidden_scope"
    audit = frozenset({"audit"})
    assert decide(asked(url, token=billing, scopes=audit))[0].outcome == "forbidden_scope"
    assert decide(asked(url, token=both, scopes=audit))[0].outcome == "allow"
    # A bypass with scopes asked for in the query is a scopes check.
    health = "http://app.example.com/health"
    assert decide(asked(health, scopes=audit))[0].outcome == "unauthenticated"


def test_rules_about_networks_and_subjects_read_the_client_and_the_token(
    tokens: AccessTokens, rules: AccessControl
) -> None:
    decide = decision(tokens, rules).decide
    signed_in, service = token(tokens), token(tokens, kind="service")
    office = {"x-forwarded-for": "192.0.2.7"}
    home = {"x-forwarded-for": "198.51.100.7"}

    at_the_office = decide(asked("http://intranet.example.com/", token=signed_in, headers=office))
    at_home = decide(asked("http://intranet.example.com/", token=signed_in, headers=home))
    a_service = decide(asked("http://internal.example.com/", token=service))
    a_user = decide(asked("http://internal.example.com/", token=signed_in))
    nobody = decide(asked("http://internal.example.com/"))

    assert (at_the_office[0].outcome, at_the_office[1]) == ("allow", "office")
    assert (at_home[0].outcome, at_home[1]) == ("denied", DEFAULT)
    assert (a_service[0].outcome, a_service[1]) == ("allow", "services")
    assert (a_user[0].outcome, a_user[1]) == ("denied", DEFAULT)
    assert (nobody[0].outcome, nobody[1]) == ("unauthenticated", "services")


def test_envoys_shape_names_the_original_path_in_the_check_itself(
    tokens: AccessTokens, rules: AccessControl
) -> None:
    decide = decision(tokens, rules).decide
    check = Check("GET", {"host": "app.example.com"}, GATEWAY, "http", None, NOTHING, "/health?x=1")

    verdict, rule = decide(check)

    assert (verdict.outcome, rule) == ("bypass", "health")


def test_a_deny_rule_refuses_even_the_signed_in(tokens: AccessTokens, rules: AccessControl) -> None:
    decide = decision(tokens, rules).decide

    signed_in = decide(asked("http://app.example.com/blocked", token=token(tokens)))
    nobody = decide(asked("http://app.example.com/blocked"))

    assert (signed_in[0].outcome, signed_in[1]) == ("denied", "blocked")
    assert signed_in[0].claims is not None
    assert (nobody[0].outcome, nobody[0].claims) == ("denied", None)


@pytest.fixture
def method_rules(tmp_path: Path) -> AccessControl:
    """Rules of which one decides by method."""
    path = tmp_path / "methods.yaml"
    path.write_text(
        "default_policy: authenticated\n"
        "rules:\n  - {name: no-deletes, methods: [DELETE], policy: deny}\n"
    )
    return AccessControl.load(path)


@pytest.mark.parametrize("name", ["X-HTTP-Method-Override", "x-http-method", "X-Method-Override"])
def test_a_method_override_is_ambiguous_when_a_rule_decides_by_method(
    tokens: AccessTokens, rules: AccessControl, method_rules: AccessControl, name: str
) -> None:
    by_method = decision(tokens, method_rules).decide
    without_methods = decision(tokens, rules).decide  # RULES name no method
    signed_in = token(tokens)
    url = "https://app.example.com/orders/7"

    overridden = by_method(asked(url, token=signed_in, headers={name.lower(): "DELETE"}))
    plain = by_method(asked(url, token=signed_in))
    elsewhere = without_methods(
        asked("https://app.example.com/x", token=signed_in, headers={name.lower(): "DELETE"})
    )

    # A GET that the upstream would run as DELETE is refused, not decided as a GET.
    assert (overridden[0].outcome, overridden[1]) == ("ambiguous", AMBIGUOUS)
    assert plain[0].outcome == "allow"
    assert elsewhere[0].outcome == "allow"  # no rule names methods: nothing to get round


@pytest.mark.parametrize(
    "override",
    [
        {"x_http_method_override": "DELETE"},  # an alias a CGI, WSGI or PHP app reads as it
        {"x.method.override": "DELETE"},
        {"x-original-url": "https://app.example.com/orders/7?_method=DELETE"},
        {"x-original-url": "https://app.example.com/orders/7?a=1&_METHOD=delete"},
        {"x-original-url": "https://app.example.com/orders/7?%5Fmethod=DELETE"},
    ],
)
def test_aliases_and_a_method_in_the_query_are_ambiguous_too(
    tokens: AccessTokens, method_rules: AccessControl, override: dict[str, str]
) -> None:
    decide = decision(tokens, method_rules).decide
    signed_in = token(tokens)

    verdict, rule = decide(
        asked("https://app.example.com/orders/7", token=signed_in, headers=override)
    )
    innocent = decide(
        asked("https://app.example.com/orders/7?method=x&a_method=1", token=signed_in)
    )

    assert (verdict.outcome, rule) == ("ambiguous", AMBIGUOUS)
    assert innocent[0].outcome == "allow"
