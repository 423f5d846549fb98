"""Signing in through another identity provider over HTTP, on every store, against a real
OpenID Provider (``oidc-provider``, tests/support/oidc.py) whose own login and consent pages a
test walks as a person would: accounts created and linked, policies, groups to scopes, and
every answer that must not be believed (a tampered state, a reused code, another nonce or
issuer, a mix-up, a replayed logout token) refused without an account or link left behind."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import DeletionEvent, Passkey
from tests.support.browser import AppClient, Browser, admin
from tests.support.credentials import PASSWORD
from tests.support.oidc import (
    CALLBACK,
    CLIENT_ID,
    PORTAL,
    OpenIdProvider,
    b64,
    come_back,
    post_logout,
    providers_file,
    registered_client,
    running_provider,
    sign_in_with,
    signed_in_session,
    start,
    through_provider,
    trip_claims,
)

Maker = Callable[..., Awaitable[AppClient]]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    clients = [
        registered_client([CALLBACK], backchannel=f"{PORTAL}/providers/corp/backchannel-logout")
    ]
    with running_provider(tmp_path_factory.mktemp("oidc"), clients) as running:
        yield running


@pytest.fixture
async def portal(make_client: Maker, provider: OpenIdProvider, tmp_path: Path) -> AppClient:
    return await make_client(
        PUBLIC_URL=PORTAL,
        IDENTITY_PROVIDERS_FILE=str(providers_file(tmp_path, provider)),
    )


async def test_the_round_trip_starts_with_pkce_a_nonce_and_a_browser_bound_state(
    portal: AppClient, provider: OpenIdProvider
) -> None:
    browser = Browser(portal)
    started = await start(browser)

    location = urlsplit(started.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}" == provider.issuer
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43
    assert len(query["nonce"]) >= 43
    assert set(query["scope"].split()) == {"openid", "email", "profile", "groups"}
    cookie = next(m for m in started.set_cookies if m.key.endswith("_idp"))
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/providers"
    assert int(cookie["max-age"]) == 600
    claims = trip_claims(browser)
    assert claims["st"] == query["state"]
    assert claims["nn"] == query["nonce"]


async def test_a_first_sign_in_creates_a_verified_account_with_its_groups_scopes(
    portal: AppClient,
) -> None:
    browser = Browser(portal)

    back = await sign_in_with(browser, "alice")

    assert back.status == 303, back.text
    assert back.headers["Location"] == "/reports"
    assert not any(m.key.endswith("_idp") for m in browser.cookies.values())  # trip over
    me = (await browser.request("GET", "/me")).json()
    assert me["email"] == "alice@corp.example"
    assert me["emailVerified"] is True
    assert me["firstName"] == "Alice"
    assert me["lastName"] == "Liddell"
    assert me["scopes"] == ["billing"]
    verified = await browser.request("GET", "/verify?scope=billing")
    assert verified.status == 200
    assert verified.headers["X-Auth-Provider"] == "corp"
    assert verified.headers["X-Auth-AMR"] == "fed"
    introspected = await portal.app[SERVICES].oauth.introspect(browser.access_cookie(), None)
    assert introspected["idp"] == "corp"
    assert introspected["amr"] == ["fed"]
    identities = await portal.app[SERVICES].external.identities(me["id"])
    assert [(i.provider, i.subject, i.email) for i in identities] == [
        ("corp", "alice", "alice@corp.example")
    ]


async def test_signing_in_again_finds_the_account_by_its_identity_not_its_address(
    portal: AppClient,
) -> None:
    first = Browser(portal)
    await sign_in_with(first, "alice")
    me = (await first.request("GET", "/me")).json()
    # The address changes here; the identity still leads to the same account.
    services = portal.app[SERVICES]
    client = await services.admin.get(me["id"])
    await services.accounts.amend(client, {"email": "alice.liddell@example.com"})

    again = Browser(portal)
    assert (await sign_in_with(again, "alice")).status == 303
    assert (await again.request("GET", "/me")).json()["id"] == me["id"]


async def test_an_existing_account_is_linked_only_after_its_password(portal: AppClient) -> None:
    services = portal.app[SERVICES]
    ada = await services.accounts.create(
        NewClient("alice@corp.example", PASSWORD, "Alice", "Own"), kind="user", scopes=[]
    )
    browser = Browser(portal)

    back = await sign_in_with(browser, "alice", rd="/reports")

    assert back.status == 303
    assert back.headers["Location"] == "/login?rd=%2Freports"
    assert await services.external.identities(ada.id) == []  # not on the address alone
    assert (await browser.request("GET", "/me")).status == 401  # and not signed in
    page = await browser.page(back.headers["Location"])
    assert "Sign in to it once to link your Corp SSO account" in page.text
    assert 'value="alice@corp.example"' in page.text
    wrong = await browser.submit(
        page, "/login", {"email": "alice@corp.example", "password": "x" * 12, "rd": "/reports"}
    )
    assert wrong.status == 401
    assert await services.external.identities(ada.id) == []

    signed = await browser.submit(
        page, "/login", {"email": "alice@corp.example", "password": PASSWORD, "rd": "/reports"}
    )

    assert signed.status == 303
    assert signed.headers["Location"] == "/account/identities/link?rd=%2Freports"
    assert await services.external.identities(ada.id) == []  # not unseen either
    confirm = await browser.page(signed.headers["Location"])
    assert confirm.status == 200
    assert "Link Corp SSO?" in confirm.text
    assert "as <strong>alice@corp.example</strong>" in confirm.text
    done = await browser.submit(
        confirm, "/account/identities/link", {"answer": "link", "rd": "/reports"}
    )
    assert done.status == 303
    assert done.headers["Location"] == "/reports"
    assert not any(m.key.endswith("_link") and m.value for m in browser.cookies.values())
    linked = await services.external.identities(ada.id)
    assert [(i.provider, i.subject) for i in linked] == [("corp", "alice")]
    later = Browser(portal)
    assert (await sign_in_with(later, "alice")).headers["Location"] == "/reports"
    assert (await later.request("GET", "/me")).json()["id"] == ada.id


async def test_a_pending_link_is_made_only_for_the_account_that_had_the_address(
    portal: AppClient,
) -> None:
    services = portal.app[SERVICES]
    await services.accounts.create(
        NewClient("alice@corp.example", PASSWORD), kind="user", scopes=[]
    )
    eve = await services.accounts.create(
        NewClient("eve@example.com", PASSWORD), kind="user", scopes=[]
    )
    browser = Browser(portal)
    back = await sign_in_with(browser, "alice")
    page = await browser.page(back.headers["Location"])

    signed = await browser.submit(
        page, "/login", {"email": "eve@example.com", "password": PASSWORD}
    )

    assert signed.status == 303
    assert await services.external.identities(eve.id) == []
    assert not any(m.key.endswith("_link") for m in browser.cookies.values())


async def test_an_address_outside_the_allowed_domains_is_refused_and_nothing_is_created(
    portal: AppClient,
) -> None:
    browser = Browser(portal)

    refused = await sign_in_with(browser, "mallory")

    assert refused.status == 403
    assert (
        "Accounts with an address at elsewhere.example cannot sign in with Corp SSO" in refused.text
    )
    assert (await portal.app[SERVICES].store.get_credentials("mallory@elsewhere.example")) is None


async def test_an_unverified_address_proves_no_domain(portal: AppClient) -> None:
    refused = await sign_in_with(Browser(portal), "unverified")

    assert refused.status == 403
    assert "has not verified your email address" in refused.text
    assert (await portal.app[SERVICES].store.get_credentials("ada@corp.example")) is None


async def test_consent_refused_at_the_provider_is_a_clear_page(portal: AppClient) -> None:
    browser = Browser(portal)
    started = await start(browser)

    back = await through_provider(
        started.headers["Location"], "alice", callback_prefix=CALLBACK, cancel=True
    )
    answer = await come_back(browser, back)

    assert answer.status == 403
    assert "The sign-in with Corp SSO was cancelled." in answer.text


async def test_a_tampered_state_or_a_second_return_is_refused(portal: AppClient) -> None:
    browser = Browser(portal)
    started = await start(browser)
    back = await through_provider(started.headers["Location"], "alice", callback_prefix=CALLBACK)
    parts = urlsplit(back)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}

    stranger = Browser(portal)  # the answer in a browser that never started the trip
    assert (await come_back(stranger, back)).status == 400
    saved = dict(browser.cookies)
    assert (await come_back(browser, back)).status == 303  # the right one, once
    browser.cookies.update(saved)  # even with the trip's cookie kept, a second return fails
    replayed = await come_back(browser, back)
    assert replayed.status == 400
    assert "was finished already" in replayed.text

    other = Browser(portal)
    await start(other)
    tampered = await other.page(f"{parts.path}?{urlencode({**query, 'state': 'x' * 43})}")
    assert tampered.status == 400
    assert "did not start in this browser" in tampered.text


async def test_a_code_used_once_is_refused_the_second_time(portal: AppClient) -> None:
    browser = Browser(portal)
    started = await start(browser)
    back = await through_provider(started.headers["Location"], "alice", callback_prefix=CALLBACK)
    assert (await come_back(browser, back)).status == 303
    old_code = parse_qs(urlsplit(back).query)["code"][0]

    second = Browser(portal)
    started = await start(second)
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    reused = await second.page(
        f"/providers/corp/callback?{urlencode({'code': old_code, 'state': state})}"
    )

    assert reused.status == 400
    assert "could not be verified" in reused.text


async def test_an_id_token_for_another_nonce_is_refused(portal: AppClient) -> None:
    browser = Browser(portal)
    started = await start(browser)
    location = urlsplit(started.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    forged = f"{location.scheme}://{location.netloc}{location.path}?" + urlencode(
        {**query, "nonce": "a-nonce-this-browser-never-got-" + "x" * 20}
    )

    back = await through_provider(forged, "alice", callback_prefix=CALLBACK)
    answer = await come_back(browser, back)

    assert answer.status == 400
    assert await portal.app[SERVICES].store.get_credentials("alice@corp.example") is None


async def test_an_answer_naming_another_issuer_is_refused(portal: AppClient) -> None:
    browser = Browser(portal)
    started = await start(browser)
    back = await through_provider(started.headers["Location"], "alice", callback_prefix=CALLBACK)

    answer = await come_back(browser, back + "&iss=" + "https%3A%2F%2Fevil.example")

    assert answer.status == 400
    assert await portal.app[SERVICES].store.get_credentials("alice@corp.example") is None


async def test_an_answer_for_one_provider_presented_to_another_is_refused(
    portal: AppClient,
) -> None:
    browser = Browser(portal)
    started = await start(browser)
    back = await through_provider(started.headers["Location"], "alice", callback_prefix=CALLBACK)

    mixed_up = await browser.page(f"/providers/other/callback?{urlsplit(back).query}")

    assert mixed_up.status == 400
    assert await portal.app[SERVICES].store.get_credentials("alice@corp.example") is None


async def test_a_provider_that_does_not_answer_is_a_clear_page(portal: AppClient) -> None:
    answer = await Browser(portal).page("/providers/other/start")

    assert answer.status == 502
    assert "Other SSO did not answer as expected" in answer.text


async def test_an_unknown_provider_is_not_found(portal: AppClient) -> None:
    assert (await Browser(portal).page("/providers/nobody/start")).status == 404


async def test_the_sign_in_page_offers_each_provider_keeping_the_return_url(
    portal: AppClient,
) -> None:
    page = await Browser(portal).page("/login?rd=%2Freports")

    assert 'href="/providers/corp/start?rd=%2Freports">Sign in with Corp SSO</a>' in page.text
    assert ">Sign in with Other SSO</a>" in page.text


async def test_a_back_channel_logout_ends_the_session_it_names_at_once(
    portal: AppClient, provider: OpenIdProvider
) -> None:
    browser, session_id = await signed_in_session(portal)
    other, other_session = await signed_in_session(portal)
    session = await portal.app[SERVICES].store.get_session(session_id)
    assert session is not None
    assert session.provider == "corp"
    assert session.provider_sid
    token = provider.logout_token(sid=session.provider_sid)

    ended = await post_logout(portal, token)

    assert ended.status == 200
    assert ended.headers["Cache-Control"] == "no-store"
    assert (await browser.request("GET", "/verify")).status == 401
    elsewhere = await portal.app[SERVICES].store.get_session(other_session)
    assert elsewhere is not None
    assert elsewhere.provider_sid != session.provider_sid
    assert (await other.request("GET", "/verify")).status == 200  # its own provider session
    replayed = await post_logout(portal, token)
    assert replayed.status == 400
    assert replayed.json()["error"] == "invalid_request"


async def test_a_logout_token_naming_the_subject_ends_every_session_through_the_provider(
    portal: AppClient, provider: OpenIdProvider
) -> None:
    first, _ = await signed_in_session(portal)
    second, _ = await signed_in_session(portal)
    bob, _ = await signed_in_session(portal, "bob")

    assert (await post_logout(portal, provider.logout_token(sub="alice"))).status == 200

    assert (await first.request("GET", "/verify")).status == 401
    assert (await second.request("GET", "/verify")).status == 401
    assert (await bob.request("GET", "/verify")).status == 200


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"events": None}, "no logout event"),
        ({"events": {"http://schemas.openid.net/event/other": {}}}, "another event"),
        ({"nonce": "n"}, "an ID token's nonce"),
        ({"aud": "someone-else"}, "another audience"),
        ({"iss": "https://evil.example"}, "another issuer"),
        ({"iat": 1_000_000}, "issued long ago"),
        ({"sid": None, "sub": None}, "names no one"),
        ({"jti": None}, "no jti"),
    ],
)
async def test_a_logout_token_that_does_not_hold_is_refused(
    portal: AppClient, provider: OpenIdProvider, change: dict[str, object], why: str
) -> None:
    browser, _ = await signed_in_session(portal)
    claims: dict[str, object] = {"sub": "alice", **change}

    refused = await post_logout(portal, provider.logout_token(**claims))

    assert refused.status == 400, why
    assert (await browser.request("GET", "/verify")).status == 200


async def test_a_logout_token_not_signed_by_the_provider_is_refused(
    portal: AppClient, provider: OpenIdProvider
) -> None:
    browser, _ = await signed_in_session(portal)
    genuine = provider.logout_token(sub="alice")
    header, payload, _ = genuine.split(".")
    unsigned = f"{b64(json.dumps({'alg': 'none', 'typ': 'logout+jwt'}))}.{payload}."
    public = json.dumps(provider.key.as_dict(private=False)).encode()
    hs_header = b64(json.dumps({"alg": "HS256", "kid": provider.key.kid}))
    mac = hmac.new(public, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest()
    with_public_key = f"{hs_header}.{payload}.{b64(mac)}"
    forged = f"{header}.{payload}.{b64(b'x' * 256)}"

    for token in (unsigned, with_public_key, forged, "not-a-token"):
        assert (await post_logout(portal, token)).status == 400, token[:40]
    assert (await post_logout(portal, genuine, "nobody")).status == 404
    assert (await browser.request("GET", "/verify")).status == 200


async def test_sign_out_goes_on_to_the_provider_when_it_asks_for_rp_initiated_logout(
    make_client: Maker, provider: OpenIdProvider, tmp_path: Path
) -> None:
    portal = await make_client(
        PUBLIC_URL=PORTAL,
        IDENTITY_PROVIDERS_FILE=str(providers_file(tmp_path, provider, rp_initiated_logout=True)),
    )
    browser, _ = await signed_in_session(portal)
    page = await browser.page("/logout")

    signed_out = await browser.submit(page, "/logout", {})

    assert signed_out.status == 200
    end = urlsplit(re.findall(r'url=([^"]+)"', signed_out.text)[0].replace("&amp;", "&"))
    assert f"{end.scheme}://{end.netloc}" == provider.issuer
    query = {k: v[0] for k, v in parse_qs(end.query).items()}
    assert query == {"client_id": CLIENT_ID, "post_logout_redirect_uri": f"{PORTAL}/login"}
    assert (await browser.request("GET", "/verify")).status == 401
    # A password sign-in signs out here only.
    await portal.app[SERVICES].accounts.create(
        NewClient("ada@example.com", PASSWORD), kind="user", scopes=[]
    )
    other = Browser(portal)
    assert (await other.signed_in_by_form()).status == 303
    plain = await other.submit(await other.page("/logout"), "/logout", {})
    assert plain.status == 303


async def test_an_account_with_a_second_factor_still_asks_for_it_after_the_provider(
    portal: AppClient,
) -> None:
    browser = Browser(portal)
    await sign_in_with(browser, "alice")
    me = (await browser.request("GET", "/me")).json()
    services = portal.app[SERVICES]
    client = await services.admin.get(me["id"])
    now = services.clock()
    key = Passkey("cred-1", client.id, b"\xa5\x01\x02cose", 0, "Laptop", now, synced=True)
    await services.store.add_passkey(key)  # a second factor, set up here
    await browser.submit(await browser.page("/logout"), "/logout", {})

    again = Browser(portal)
    back = await sign_in_with(again, "alice")

    assert back.status == 303
    assert back.headers["Location"].startswith("/login/second-factor")
    assert (await again.request("GET", "/verify")).status == 401  # no session yet


async def test_unlinking_never_removes_the_last_way_in(portal: AppClient) -> None:
    browser = Browser(portal)
    await sign_in_with(browser, "alice")
    home = await browser.page("/account/security")
    assert "Sign-in providers" in home.text
    assert "Corp SSO" in home.text
    assert "Link Other SSO" in home.text
    assert "Mail me a link to set a password" in home.text  # it has none to change
    assert "Change email" not in home.text

    refused = await browser.submit(
        home, "/account/identities/unlink", {"provider": "corp", "subject": "alice"}
    )

    assert refused.status == 409
    assert "This is the only way to sign in to this account" in refused.text
    me = (await browser.request("GET", "/me")).json()
    services = portal.app[SERVICES]
    assert len(await services.external.identities(me["id"])) == 1
    # With a password set (through a mailed reset, say), the link may go.
    await services.store.set_password_hash(me["id"], "$2b$12$" + "x" * 53, services.clock())
    unlinked = await browser.submit(
        home, "/account/identities/unlink", {"provider": "corp", "subject": "alice"}
    )
    assert unlinked.status == 303
    assert unlinked.headers["Location"] == "/account/security?done=identity_unlinked"
    assert await services.external.identities(me["id"]) == []
    notices = [p.event for p in await services.store.pending_events(20)]
    assert any(getattr(n, "reason", None) == "identity-unlinked" for n in notices)


async def test_operators_see_and_remove_links(portal: AppClient) -> None:
    browser = Browser(portal)
    await sign_in_with(browser, "alice")
    me = (await browser.request("GET", "/me")).json()
    operator = await admin(portal, Browser(portal))

    listed = await operator.request("GET", f"/admin/clients/{me['id']}/identities")
    assert listed.status == 200
    (shown,) = listed.json()["identities"]
    assert shown["provider"] == "corp"
    assert shown["subject"] == "alice"
    assert shown["email"] == "alice@corp.example"
    assert (await operator.request("GET", "/admin/clients/nobody/identities")).status == 404
    assert (
        await operator.request("DELETE", f"/admin/clients/{me['id']}/identities/corp/bob")
    ).status == 404

    removed = await operator.request("DELETE", f"/admin/clients/{me['id']}/identities/corp/alice")

    assert removed.status == 204
    assert (await operator.request("GET", f"/admin/clients/{me['id']}/identities")).json() == {
        "identities": []
    }
    # The sessions that came through that identity end with it, at every gateway.
    assert (await browser.request("GET", "/verify")).status == 401


async def test_deleting_an_account_names_its_identities_in_the_event_and_frees_them(
    portal: AppClient,
) -> None:
    browser = Browser(portal)
    await sign_in_with(browser, "alice")
    me = (await browser.request("GET", "/me")).json()

    assert (await browser.request("DELETE", "/me")).status == 204

    events = [p.event for p in await portal.app[SERVICES].store.pending_events(20)]
    (deletion,) = [e for e in events if isinstance(e, DeletionEvent)]
    assert deletion.to_json()["identities"] == [{"provider": "corp", "subject": "alice"}]
    assert deletion.client_id == me["id"]
    store = portal.app[SERVICES].store
    assert await store.identity("corp", "alice") is None  # freed
    # The address stays reserved until the event is out: no new account yet, and no link.
    again = await sign_in_with(Browser(portal), "alice")
    assert again.status == 403
    assert "was just deleted or created here" in again.text
    assert await store.identity("corp", "alice") is None


async def test_no_account_is_created_when_the_provider_may_not_create_one(
    make_client: Maker, provider: OpenIdProvider, tmp_path: Path
) -> None:
    portal = await make_client(
        PUBLIC_URL=PORTAL,
        IDENTITY_PROVIDERS_FILE=str(providers_file(tmp_path, provider, create_accounts=False)),
    )

    refused = await sign_in_with(Browser(portal), "alice")

    assert refused.status == 403
    assert "does not create one" in refused.text
    assert await portal.app[SERVICES].store.get_credentials("alice@corp.example") is None


async def test_a_group_taken_away_at_the_provider_takes_its_scope_and_sessions_away(
    make_client: Maker, provider: OpenIdProvider, tmp_path: Path
) -> None:
    portal = await make_client(
        PUBLIC_URL=PORTAL,
        IDENTITY_PROVIDERS_FILE=str(
            providers_file(
                tmp_path,
                provider,
                groups_to_scopes={"staff": ["staff"], "billing-team": ["billing"]},
            )
        ),
    )
    browser = Browser(portal)
    await sign_in_with(browser, "bob")
    me = (await browser.request("GET", "/me")).json()
    assert me["scopes"] == ["staff"]
    services = portal.app[SERVICES]
    client = await services.admin.get(me["id"])
    await services.accounts.amend(client, {}, ["staff", "billing", "reports"])  # by hand

    again = Browser(portal)
    await sign_in_with(again, "bob")

    # billing is the provider's to give and bob is not in billing-team; reports is not its own.
    assert (await again.request("GET", "/me")).json()["scopes"] == ["staff", "reports"]
    assert (await browser.request("GET", "/verify")).status == 401  # it took billing along
