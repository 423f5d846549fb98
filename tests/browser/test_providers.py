"""Signing in with another identity provider in real Chromium through nginx, against a real
OpenID Provider (``oidc-provider``) and its own login and consent pages: a new account with a
verified address and the identity headers at the app, an existing account linked only after
its password, an address outside the allowed domains refused, a group that maps to the scope a
rule requires, the provider's back-channel logout ending the session at /verify, and a key the
provider rotated between two sign-ins."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway_auth.http.appkeys import SERVICES
from tests.support.chromium import Site, check_page, sign_in, upstream_saw
from tests.support.credentials import PASSWORD
from tests.support.oidc import (
    OpenIdProvider,
    corp_entry,
    registered_client,
    running_provider,
)
from tests.support.processes import free_port
from tests.support.waiting import until

pytestmark = pytest.mark.parametrize("site", ["nginx"], indirect=True)
RULES = """\
default_policy: authenticated
rules:
  - name: billing
    paths: [/billing]
    scopes: [billing]
"""
ACCOUNTS = {
    "alice": {"email": "alice@corp.example", "email_verified": True, "name": "Alice Liddell",
              "given_name": "Alice", "family_name": "Liddell", "groups": ["staff", "billing-team"]},
    "bob": {"email": "bob@corp.example", "email_verified": True, "name": "Bob Builder",
            "groups": ["staff"]},
    "carol": {"email": "carol@corp.example", "email_verified": True, "name": "Carol",
              "groups": ["staff"]},
    "dave": {"email": "dave@corp.example", "email_verified": True, "name": "Dave",
             "groups": ["staff"]},
    "erin": {"email": "erin@corp.example", "email_verified": True, "name": "Erin",
             "groups": ["staff"]},
    "mallory": {"email": "mallory@elsewhere.example", "email_verified": True,
                "name": "Mallory", "groups": ["staff"]},
}  # fmt: skip
PROVIDER_PORT = free_port()


@pytest.fixture(scope="module")
def site_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("providers")
    (directory / "rules.yaml").write_text(RULES)
    entry = corp_entry(f"http://127.0.0.1:{PROVIDER_PORT}")
    (directory / "providers.yaml").write_text(json.dumps({"providers": [entry]}))
    return {
        "RULES_FILE": str(directory / "rules.yaml"),
        "IDENTITY_PROVIDERS_FILE": str(directory / "providers.yaml"),
        "REGISTRATION": "open",
    }


@pytest.fixture(scope="module")
def provider(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    """The provider, with gateway-auth registered at the gateway's address (known only once
    the gateway runs; the providers file named the provider's port beforehand)."""
    client = registered_client(
        [f"{site.url}/auth/providers/corp/callback"],
        backchannel=f"{site.url}/auth/providers/corp/backchannel-logout",
    )
    directory = tmp_path_factory.mktemp("oidc")
    with running_provider(directory, [client], accounts=ACCOUNTS, port=PROVIDER_PORT) as running:
        yield running


def through_the_provider(page: Page, login: str) -> None:
    """On the provider's own pages: its login form, then its consent page."""
    expect(page.locator("input[name=login]")).to_be_visible()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def start(page: Page, site: Site, path: str = "/app") -> None:
    page.goto(f"{site.url}{path}")
    expect(page.get_by_role("link", name="Sign in with Corp SSO")).to_be_visible()
    page.get_by_role("link", name="Sign in with Corp SSO").click()


def test_a_new_person_signs_in_at_the_provider_and_reaches_the_app(
    page: Page, site: Site, provider: OpenIdProvider
) -> None:
    page.goto(f"{site.url}/app?from=provider")
    check_page(page, site, "sign-in-providers")
    page.get_by_role("link", name="Sign in with Corp SSO").click()
    through_the_provider(page, "alice")

    expect(page).to_have_url(f"{site.url}/app?from=provider")
    headers = upstream_saw(page)["headers"]
    assert headers["x-auth-email"] == ["alice@corp.example"]
    assert headers["x-auth-email-verified"] == ["true"]
    assert headers["x-auth-provider"] == ["corp"]
    assert headers["x-auth-amr"] == ["fed"]
    page.goto(f"{site.url}/billing")  # billing-team is the billing scope the rule asks for
    assert upstream_saw(page)["headers"]["x-auth-scopes"] == ["billing"]
    page.goto(f"{site.url}/auth/")
    page.get_by_role("link", name="Sign-in and security").click()
    expect(page.get_by_role("heading", name="Sign-in providers")).to_be_visible()
    check_page(page, site, "home-providers")


def test_a_group_without_the_scope_a_rule_requires_is_refused_there(
    page: Page, site: Site, provider: OpenIdProvider
) -> None:
    start(page, site)
    through_the_provider(page, "carol")
    expect(page).to_have_url(f"{site.url}/app")

    answer = page.goto(f"{site.url}/billing")

    assert answer is not None
    assert answer.status == 403


def test_an_existing_account_is_linked_only_after_its_password(
    page: Page, site: Site, provider: OpenIdProvider
) -> None:
    site.account("bob@corp.example")
    start(page, site, "/app?linked=1")
    through_the_provider(page, "bob")

    expect(page.get_by_text("Sign in to it once to link your Corp SSO account")).to_be_visible()
    check_page(page, site, "sign-in-to-link")
    services = site.stack.app[SERVICES]  # type: ignore[index]
    bob = site.stack.call(services.store.get_credentials("bob@corp.example"))
    assert bob is not None
    assert site.stack.call(services.external.identities(bob.client.id)) == []
    sign_in(page, "bob@corp.example", password=PASSWORD)
    expect(page.get_by_role("heading", name="Link Corp SSO?")).to_be_visible()
    expect(page.get_by_text("as bob@corp.example")).to_be_visible()
    check_page(page, site, "link-confirm")
    assert site.stack.call(services.external.identities(bob.client.id)) == []  # not unseen
    page.get_by_role("button", name="Link Corp SSO").click()

    expect(page).to_have_url(f"{site.url}/app?linked=1")
    linked = site.stack.call(services.external.identities(bob.client.id))
    assert [(i.provider, i.subject) for i in linked] == [("corp", "bob")]


def test_an_address_outside_the_allowed_domains_is_refused(
    page: Page, site: Site, provider: OpenIdProvider
) -> None:
    start(page, site)
    through_the_provider(page, "mallory")

    expect(page.get_by_role("heading", name="Sign-in not completed")).to_be_visible()
    expect(page.get_by_text("cannot sign in with Corp SSO here")).to_be_visible()
    check_page(page, site, "provider-refused")
    services = site.stack.app[SERVICES]  # type: ignore[index]
    assert site.stack.call(services.store.get_credentials("mallory@elsewhere.example")) is None


def test_the_providers_back_channel_logout_ends_the_session_at_verify(
    page: Page, site: Site, provider: OpenIdProvider
) -> None:
    start(page, site)
    through_the_provider(page, "dave")
    expect(page).to_have_url(f"{site.url}/app")

    page.goto(f"{provider.issuer}/session/end")  # signing out at the provider itself
    page.get_by_role("button", name="Yes, sign me out").click()

    def refused() -> bool:
        answer = page.request.get(f"{site.url}/app", max_redirects=0)
        return answer.status in (302, 401)

    until(refused, within=10, what="the session ended by the provider's logout token")
    page.goto(f"{site.url}/app")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_key_the_provider_rotated_between_two_sign_ins_is_fetched(
    chromium: Browser, site: Site, provider: OpenIdProvider
) -> None:
    first = chromium.new_context().new_page()
    start(first, site)
    through_the_provider(first, "erin")
    expect(first).to_have_url(f"{site.url}/app")
    old_kid = provider.key.kid

    provider.rotate()
    assert provider.key.kid != old_kid
    second = chromium.new_context().new_page()
    start(second, site)
    through_the_provider(second, "erin")

    expect(second).to_have_url(f"{site.url}/app")
    assert upstream_saw(second)["headers"]["x-auth-email"] == ["erin@corp.example"]
