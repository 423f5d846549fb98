"""Linking identities from other providers, attacked as the review of issue 27 did: a round
trip or a waiting link planted in another browser, an address the provider never verified,
a link asked for long after the sign-in, guests, sessions that outlive their identity, and
what a provider may put in a name. Against the real ``oidc-provider`` (tests/support/oidc.py),
on every store."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import PAGES, SERVICES
from gateway_auth.models import LinkedIdentity
from tests.support.browser import AppClient, Browser, Response
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD
from tests.support.oidc import (
    CALLBACK,
    CLIENT_ID,
    CLIENT_SECRET,
    PORTAL,
    OpenIdProvider,
    come_back,
    post_logout,
    providers_file,
    registered_client,
    running_provider,
    sign_in_with,
    signed_in_session,
    start,
    through_provider,
)

Maker = Callable[..., Awaitable[AppClient]]
SECOND = "gateway-auth-second"  # the same provider registered twice: "corp" and "corp2"
SECOND_CALLBACK = f"{PORTAL}/providers/corp2/callback"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    clients = [
        registered_client([CALLBACK], backchannel=f"{PORTAL}/providers/corp/backchannel-logout"),
        registered_client([SECOND_CALLBACK], client_id=SECOND),
    ]
    with running_provider(tmp_path_factory.mktemp("oidc"), clients) as running:
        yield running


async def portal_with(make_client: Maker, path: Path, **env: str) -> AppClient:
    """The app on PORTAL with the providers file at ``path`` and these settings."""
    return await make_client(PUBLIC_URL=PORTAL, IDENTITY_PROVIDERS_FILE=str(path), **env)


@pytest.fixture
async def portal(make_client: Maker, provider: OpenIdProvider, tmp_path: Path) -> AppClient:
    return await portal_with(make_client, providers_file(tmp_path, provider))


def link_cookie(browser: Browser) -> str | None:
    return next((m.key for m in browser.cookies.values() if m.key.endswith("_link")), None)


async def ada(portal: AppClient, email: str = "alice@corp.example") -> str:
    """An account with a password, of the address the provider's "alice" has."""
    client = await portal.app[SERVICES].accounts.create(
        NewClient(email, PASSWORD, "Ada"), kind="user", scopes=[]
    )
    return str(client.id)


async def test_a_waiting_link_planted_in_another_browser_links_nothing(
    portal: AppClient,
) -> None:
    victim_id = await ada(portal)
    attacker = Browser(portal)
    assert (await sign_in_with(attacker, "alice")).headers["Location"].startswith("/login")
    name = link_cookie(attacker)
    assert name is not None
    victim = Browser(portal)
    page = await victim.page("/login")  # the victim's own form-token cookie
    victim.cookies[name] = attacker.cookies[name]  # planted, as a sibling subdomain could

    signed = await victim.submit(page, "/login", {"email": "alice@corp.example",
                                                  "password": PASSWORD})  # fmt: skip

    assert signed.status == 303
    assert signed.headers["Location"] == "/"  # no question asked, nothing linked
    assert link_cookie(victim) is None
    home = await victim.page("/")
    forced = await victim.submit(home, "/account/identities/link", {"answer": "link"})
    assert forced.status == 400
    assert await portal.app[SERVICES].external.identities(victim_id) == []


async def test_a_round_trip_planted_in_another_browser_is_refused(portal: AppClient) -> None:
    attacker = Browser(portal)
    started = await start(attacker)
    answer = await through_provider(started.headers["Location"], "bob", callback_prefix=CALLBACK)
    victim = Browser(portal)
    await victim.page("/login")
    trip = next(m for m in attacker.cookies.values() if m.key.endswith("_idp"))
    victim.cookies[trip.key] = trip  # login CSRF: the victim would be signed in as bob

    refused = await come_back(victim, answer)

    assert refused.status == 400
    assert "did not start in this browser" in refused.text
    assert (await victim.request("GET", "/verify")).status == 401
    assert (await come_back(attacker, answer)).status == 303  # its own browser goes on


@pytest.fixture
async def open_portal(make_client: Maker, provider: OpenIdProvider, tmp_path: Path) -> AppClient:
    """No domain policy: the provider's word on an address is all there is."""
    path = providers_file(tmp_path, provider, allowed_email_domains=[])
    return await portal_with(make_client, path)


async def test_an_address_the_provider_has_not_verified_is_never_offered_a_link(
    open_portal: AppClient,
) -> None:
    owner = await ada(open_portal, "ada@corp.example")
    browser = Browser(open_portal)

    refused = await sign_in_with(browser, "unverified")

    assert refused.status == 403
    assert "Corp SSO has not verified that address" in refused.text
    assert "link Corp SSO on your account page" in refused.text
    assert link_cookie(browser) is None
    assert await open_portal.app[SERVICES].external.identities(owner) == []


async def test_no_account_is_made_for_an_address_the_provider_has_not_verified(
    open_portal: AppClient,
) -> None:
    refused = await sign_in_with(Browser(open_portal), "unverified")

    assert refused.status == 403
    assert "Corp SSO has not verified your email address" in refused.text
    assert await open_portal.app[SERVICES].store.get_credentials("ada@corp.example") is None
    assert await open_portal.app[SERVICES].store.identity("corp", "unverified") is None


def link_url(home: Response, provider_id: str = "corp") -> str:
    found = re.findall(rf'href="(/providers/{provider_id}/link\?csrf=[0-9a-f]+)"', home.text)
    assert found, home.text[-2000:]
    url: str = found[0]
    return url


async def test_linking_from_the_account_page_takes_its_own_token_and_a_recent_proof(
    make_client: Maker, provider: OpenIdProvider, tmp_path: Path, clock: FakeClock
) -> None:
    portal = await portal_with(make_client, providers_file(tmp_path, provider), ELEVATION_TTL="2m")
    owner = await ada(portal, "ada@example.com")
    browser = Browser(portal)
    assert (await browser.signed_in_by_form()).status == 303
    home = await browser.page("/account/security")
    url = link_url(home)
    form_token = re.findall(r'name="csrf" value="([0-9a-f]+)"', home.text)[0]
    assert form_token not in url  # the forms' token is not in a URL

    for wrong in (f"/providers/corp/link?csrf={form_token}", url.replace("/corp/", "/other/")):
        assert (await browser.page(wrong)).status == 403, wrong
    clock.advance(minutes=3)  # the sign-in is no longer recent
    asked = await browser.page(url)
    assert asked.status == 303
    assert asked.headers["Location"].startswith("/elevate?rd=")
    elevate = await browser.page(asked.headers["Location"])
    confirmed = await browser.submit(elevate, "/elevate", {"password": PASSWORD, "rd": url})
    assert confirmed.headers["Location"] == url
    started = await browser.page(url)
    assert started.status == 303
    assert urlsplit(started.headers["Location"]).netloc == urlsplit(provider.issuer).netloc

    back = await come_back(
        browser,
        await through_provider(started.headers["Location"], "alice", callback_prefix=CALLBACK),
    )

    assert back.headers["Location"] == "/account/security?done=identity_linked#providers"
    linked = await portal.app[SERVICES].external.identities(owner)
    assert [(i.provider, i.subject) for i in linked] == [("corp", "alice")]


async def test_a_link_outlives_the_access_token_expiring_during_the_round_trip(
    make_client: Maker, provider: OpenIdProvider, tmp_path: Path, clock: FakeClock
) -> None:
    portal = await portal_with(
        make_client, providers_file(tmp_path, provider), ACCESS_TOKEN_TTL="1m"
    )
    owner = await ada(portal, "ada@example.com")
    browser = Browser(portal)
    await browser.signed_in_by_form()
    started = await browser.page(link_url(await browser.page("/account/security")))
    answer = await through_provider(started.headers["Location"], "alice", callback_prefix=CALLBACK)
    clock.advance(minutes=2)  # the person took their time at the provider

    back = await come_back(browser, answer)

    assert back.headers["Location"] == "/account/security?done=identity_linked#providers"
    assert len(await portal.app[SERVICES].external.identities(owner)) == 1


async def test_a_link_whose_session_ended_meanwhile_is_refused(portal: AppClient) -> None:
    owner = await ada(portal, "ada@example.com")
    browser = Browser(portal)
    await browser.signed_in_by_form()
    started = await browser.page(link_url(await browser.page("/account/security")))
    answer = await through_provider(started.headers["Location"], "alice", callback_prefix=CALLBACK)
    await portal.app[SERVICES].sessions.revoke_all(
        await portal.app[SERVICES].sessions.authenticate(browser.access_cookie())
    )

    refused = await come_back(browser, answer)

    assert refused.status == 400
    assert await portal.app[SERVICES].external.identities(owner) == []


async def test_an_account_without_a_password_proves_itself_through_its_provider_to_link(
    make_client: Maker, provider: OpenIdProvider, tmp_path: Path
) -> None:
    path = providers_file(tmp_path, provider)
    entries = json.loads(path.read_text())["providers"]
    second = {**entries[0], "id": "corp2", "name": "Corp Two", "client_id": SECOND}
    path.write_text(json.dumps({"providers": [*entries, second]}))
    portal = await portal_with(make_client, path)
    first = Browser(portal)
    await sign_in_with(first, "alice")  # made by "corp", no password
    owner = (await first.request("GET", "/me")).json()["id"]
    browser = Browser(portal)
    started = await browser.page("/providers/corp2/start")
    back = await come_back(
        browser,
        await through_provider(
            started.headers["Location"], "alice", callback_prefix=SECOND_CALLBACK
        ),
    )
    assert back.headers["Location"] == "/login"

    proved = await sign_in_with(browser, "alice", rd="/reports")  # through "corp"

    assert proved.headers["Location"] == "/account/identities/link?rd=%2Freports"
    question = await browser.page(proved.headers["Location"])
    assert "Link Corp Two?" in question.text
    done = await browser.submit(question, "/account/identities/link", {"answer": "link"})
    assert done.headers["Location"] == "/account/security?done=identity_linked#providers"
    linked = await portal.app[SERVICES].external.identities(owner)
    assert sorted(i.provider for i in linked) == ["corp", "corp2"]


async def test_not_now_forgets_the_waiting_link(portal: AppClient) -> None:
    owner = await ada(portal)
    browser = Browser(portal)
    await sign_in_with(browser, "alice")
    signed = await browser.submit(
        await browser.page("/login"), "/login",
        {"email": "alice@corp.example", "password": PASSWORD},
    )  # fmt: skip
    question = await browser.page(signed.headers["Location"])

    skipped = await browser.submit(question, "/account/identities/link", {"answer": "skip"})

    assert skipped.headers["Location"] == "/"
    assert link_cookie(browser) is None
    assert await portal.app[SERVICES].external.identities(owner) == []


async def test_guests_can_neither_link_nor_sign_in_through_a_provider(
    make_client: Maker, provider: OpenIdProvider, tmp_path: Path
) -> None:
    portal = await portal_with(
        make_client, providers_file(tmp_path, provider), GUESTS="true", REGISTRATION="open"
    )
    guest = Browser(portal)
    started = await guest.request("POST", "/guests", json={"cookies": True})
    guest_id = started.json()["client"]["id"]
    page = await guest.page("/account/security")
    assert "/providers/corp/link" not in page.text  # not offered
    # Asked for anyway, with the browser's own token (a forged page could not make it).
    tokens = portal.app[PAGES].tokens
    nonce = guest.cookies[tokens.cookie_name].value
    url = f"/providers/corp/link?csrf={tokens.sign_for(nonce, 'link:corp')}"
    started_link = await guest.page(url)
    answer = await through_provider(
        started_link.headers["Location"], "alice", callback_prefix=CALLBACK
    )

    refused = await come_back(guest, answer)

    assert refused.status == 403
    assert "Only user accounts can sign in with Corp SSO" in refused.text
    assert await portal.app[SERVICES].external.identities(guest_id) == []
    # An identity linked to a guest by other means signs nobody in either.
    now = portal.app[SERVICES].clock()
    await portal.app[SERVICES].store.link_identity(
        LinkedIdentity("corp", "bob", guest_id, "bob@corp.example", now)
    )
    assert (await sign_in_with(Browser(portal), "bob")).status == 403


async def test_a_logout_token_naming_an_unknown_subject_still_ends_the_session_its_sid_names(
    portal: AppClient, provider: OpenIdProvider
) -> None:
    browser, session_id = await signed_in_session(portal)
    session = await portal.app[SERVICES].store.get_session(session_id)
    assert session is not None
    assert session.provider_sid

    ended = await post_logout(
        portal, provider.logout_token(sub="not-linked-here", sid=session.provider_sid)
    )

    assert ended.status == 200
    assert (await browser.request("GET", "/verify")).status == 401


async def test_unlinking_ends_the_other_sessions_that_came_through_it(portal: AppClient) -> None:
    here, _ = await signed_in_session(portal)
    elsewhere, _ = await signed_in_session(portal)
    me = (await here.request("GET", "/me")).json()
    services = portal.app[SERVICES]
    await services.store.set_password_hash(me["id"], "$2b$12$" + "x" * 53, services.clock())

    unlinked = await here.submit(
        await here.page("/"), "/account/identities/unlink",
        {"provider": "corp", "subject": "alice"},
    )  # fmt: skip

    assert unlinked.status == 303
    assert (await elsewhere.request("GET", "/verify")).status == 401
    assert (await here.request("GET", "/verify")).status == 200  # the person doing it stays


async def test_an_identity_at_a_provider_no_longer_configured_is_no_way_in(
    portal: AppClient,
) -> None:
    browser = Browser(portal)
    await sign_in_with(browser, "alice")
    me = (await browser.request("GET", "/me")).json()
    services = portal.app[SERVICES]
    gone = LinkedIdentity("removed-from-the-file", "x", me["id"], "", services.clock())
    assert await services.store.link_identity(gone)

    refused = await browser.submit(
        await browser.page("/"), "/account/identities/unlink",
        {"provider": "corp", "subject": "alice"},
    )  # fmt: skip

    assert refused.status == 409
    assert len(await services.external.identities(me["id"])) == 2


async def test_names_from_the_provider_lose_line_breaks_and_direction_controls(
    portal: AppClient,
) -> None:
    browser = Browser(portal)

    assert (await sign_in_with(browser, "carol")).status == 303

    me = (await browser.request("GET", "/me")).json()
    assert me["firstName"] == "Carol"
    assert me["lastName"] == "Line X-Injected: yes"
    home = await browser.page("/")
    assert "\u202e" not in home.text
    assert "Carol Line X-Injected: yes" in home.text


async def test_a_provider_without_signed_tokens_refuses_back_channel_logout_clearly(
    make_client: Maker, tmp_path: Path
) -> None:
    path = tmp_path / "providers.yaml"
    entry = {"id": "gh", "type": "github", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    path.write_text(json.dumps({"providers": [entry]}))
    portal = await portal_with(make_client, path)

    refused = await post_logout(portal, "a.b.c", "gh")

    assert refused.status == 400
    assert refused.json()["error"] == "invalid_request"
