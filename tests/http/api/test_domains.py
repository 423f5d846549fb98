"""Several domains, one sign-in (DOMAINS_FILE), on every store: each domain's own cookies,
return URLs, origins and portal; a host none serves refused; a browser signed in on one domain
signed in on another without a prompt, through single-use codes that only the asking browser
can redeem, at the asking domain, once; and a session family that ends together.

The test client is a trusted proxy, so ``Visitor`` plays a browser on many hosts through
``X-Forwarded-Host``, keeping each cookie for the hosts its Domain (or its host) covers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import Morsel
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import pytest

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES, SETTINGS
from gateway_auth.logging import JsonFormatter
from tests.support import conformance
from tests.support.browser import PAGE_LOAD, AppClient, Response
from tests.support.credentials import PASSWORD

Maker = Callable[..., Awaitable[AppClient]]
ONE, TWO, THREE = "https://auth.one.test", "https://auth.two.test", "https://auth.three.test"
DOMAINS = f"""\
domains:
  - public_url: {ONE}
    cookie_domain: one.test
  - public_url: {TWO}
    cookie_domain: two.test
    default_redirect: https://app.two.test/welcome
  - public_url: {THREE}
    cookie_domain: three.test
"""


@dataclass
class Visitor:
    """One browser on many hosts: cookies by (name, domain or host, path), sent where a
    browser would send them; every answer checked against the OpenAPI document."""

    http: AppClient
    jar: dict[tuple[str, str, str], tuple[bool, Morsel[str]]] = field(default_factory=dict)
    sent: list[tuple[str, list[str]]] = field(default_factory=list)  # host, cookies' domains
    last: str = ""  # the URL of the last request, which relative redirects are read against

    def cookies_for(self, host: str, path: str) -> list[Morsel[str]]:
        return [morsel for _, morsel in self._held(host, path)]

    def _held(self, host: str, path: str) -> list[tuple[str, Morsel[str]]]:
        found = []
        for (_, where, cookie_path), (host_only, morsel) in self.jar.items():
            covers = host == where if host_only else host == where or host.endswith("." + where)
            if covers and path.startswith(cookie_path):
                found.append((where, morsel))
        return found

    async def go(self, method: str, url: str, **kwargs: Any) -> Response:
        self.last = url
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path or "/"
        target = path + (f"?{parts.query}" if parts.query else "")
        headers = {
            "X-Forwarded-Host": host,
            "X-Forwarded-Proto": "https",
            **kwargs.pop("headers", {}),
        }
        cookies = self.cookies_for(host, path)
        if cookies:
            headers["Cookie"] = "; ".join(f"{m.key}={m.value}" for m in cookies)
        self.sent.append((host, [where for where, _ in self._held(host, path)]))
        async with self.http.request(
            method, target, headers=headers, allow_redirects=False, **kwargs
        ) as raw:
            response = await Response.read(raw)
        assert not conformance.problems(
            "", method, target, response.status,
            response.headers.get("Content-Type", ""), response.text,
        )  # fmt: skip
        for morsel in response.set_cookies:
            domain = (morsel["domain"] or "").lstrip(".")
            key = (morsel.key, domain or host, morsel["path"] or "/")
            if morsel["max-age"] == "0":
                self.jar.pop(key, None)
            else:
                self.jar[key] = (not domain, morsel)
        return response

    async def page(self, url: str) -> Response:
        return await self.go("GET", url, headers=PAGE_LOAD)

    async def follow(self, response: Response, hops: int = 8) -> list[Response]:
        """Every answer of a chain of redirects, the first included."""
        chain = [response]
        while chain[-1].status in (302, 303) and len(chain) <= hops:
            chain.append(await self.page(urljoin(self.last, chain[-1].headers["Location"])))
        return chain

    async def sign_in(self, portal: str, email: str = "ada@example.com") -> Response:
        return await self.go(
            "POST", f"{portal}/login", json={"email": email, "password": PASSWORD},
            headers={"Origin": portal},
        )  # fmt: skip

    async def verify(self, app_url: str) -> Response:
        parts = urlsplit(app_url)
        cookies = self.cookies_for(parts.hostname or "", parts.path)
        headers = {
            **PAGE_LOAD,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": parts.hostname or "",
            "X-Forwarded-Uri": parts.path,
            "X-Forwarded-Method": "GET",
            **({"Cookie": "; ".join(f"{m.key}={m.value}" for m in cookies)} if cookies else {}),
        }
        async with self.http.get("/verify", headers=headers, allow_redirects=False) as raw:
            return await Response.read(raw)

    def access(self, domain: str) -> str:
        return next(
            m.value
            for (name, where, _), (_, m) in self.jar.items()
            if where == domain and name.endswith("gateway_auth")
        )


@pytest.fixture
async def domains(make_client: Maker, tmp_path: Path) -> AppClient:
    path = tmp_path / "domains.yaml"
    path.write_text(DOMAINS)
    http = await make_client(DOMAINS_FILE=str(path))
    await http.app[SERVICES].accounts.create(
        NewClient("ada@example.com", PASSWORD, "Ada"), kind="user", scopes=[]
    )
    return http


async def crossed(visitor: Visitor, portal: str, rd: str) -> list[Response]:
    """Open ``portal``'s sign-in page on the way to ``rd``, following every redirect."""
    return await visitor.follow(await visitor.page(f"{portal}/login?rd={quote(rd, safe='')}"))


async def test_each_domain_gets_cookies_of_its_own(domains: AppClient) -> None:
    visitor = Visitor(domains)

    one = await visitor.sign_in(ONE)
    two = await visitor.sign_in(TWO)

    assert (one.status, two.status) == (200, 200)
    assert one.cookie("__Secure-gateway_auth")["domain"] == "one.test"
    assert two.cookie("__Secure-gateway_auth")["domain"] == "two.test"
    assert one.cookie("__Secure-gateway_auth_refresh")["domain"] == "one.test"
    assert (await visitor.verify("https://app.one.test/")).status == 200
    assert (await visitor.verify("https://shop.two.test/cart")).status == 200


async def test_a_host_no_domain_serves_is_refused_with_a_page_and_a_log_line(
    domains: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    token = visitor.access("one.test")
    caplog.set_level(logging.WARNING)

    page = await visitor.page("https://auth.evil.test/login")
    form = await visitor.go(
        "POST", "https://evil.test/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    verify = await Visitor(domains).verify("https://evil.test/page")
    health = await visitor.go("GET", "https://evil.test/healthz")
    api = await visitor.go(
        "GET", "https://evil.test/me", headers={"Authorization": f"Bearer {token}"}
    )

    assert page.status == form.status == 421
    assert "not one this sign-in service serves" in page.text
    assert "<html" in page.text
    assert "Set-Cookie" not in form.headers
    assert verify.status == 403  # gateways relay 401 and 403 only
    assert "not one this sign-in service serves" in verify.text
    assert "Location" not in verify.headers
    assert (health.status, api.status) == (200, 200)  # programs need no domain
    lines = [JsonFormatter().format(r) for r in caplog.records if r.getMessage() == "unknown_host"]
    assert '"host": "auth.evil.test"' in lines[0]
    assert all('"host": "evil.test"' in line for line in lines[1:])
    assert len(lines) >= 3


async def test_verify_sends_each_domain_to_its_own_portal(domains: AppClient) -> None:
    visitor = Visitor(domains)

    one = await visitor.verify("https://app.one.test/page")
    two = await visitor.verify("https://shop.two.test/cart")

    assert one.headers["Location"] == (
        f"{ONE}/login?rd={quote('https://app.one.test/page', safe='')}"
    )
    assert two.headers["Location"] == (
        f"{TWO}/login?rd={quote('https://shop.two.test/cart', safe='')}"
    )


async def test_return_urls_and_origins_are_each_domains_own(domains: AppClient) -> None:
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    await visitor.sign_in(TWO)

    own = await visitor.page(f"{ONE}/login?rd={quote('https://app.one.test/x', safe='')}")
    other = await visitor.page(f"{ONE}/login?rd={quote('https://app.two.test/x', safe='')}")
    default = await visitor.page(f"{TWO}/login")
    foreign_form = await visitor.go(
        "POST", f"{ONE}/logout", data={}, headers={**PAGE_LOAD, "Origin": TWO}
    )

    assert own.headers["Location"] == "https://app.one.test/x"
    assert other.headers["Location"] == "/"  # another domain's app: the portal's home
    assert default.headers["Location"] == "https://app.two.test/welcome"
    assert foreign_form.status == 403
    assert (await visitor.verify("https://app.one.test/")).status == 200  # still signed in


async def test_signed_in_on_one_domain_arrives_signed_in_on_another(domains: AppClient) -> None:
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)

    chain = await crossed(visitor, TWO, "https://shop.two.test/cart")

    asked, answered, redeemed = chain[0], chain[1], chain[2]
    assert urlsplit(asked.headers["Location"]).netloc == "auth.one.test"
    assert asked.cookie("__Host-gateway_auth_sso")["path"] == "/"
    assert asked.cookie("__Host-gateway_auth_sso")["samesite"] == "Lax"
    assert urlsplit(answered.headers["Location"]).path == "/sso/callback"
    assert redeemed.headers["Location"] == "https://shop.two.test/cart"
    assert redeemed.cookie("__Secure-gateway_auth")["domain"] == "two.test"
    assert redeemed.cookie("__Host-gateway_auth_sso")["max-age"] == "0"
    assert (await visitor.verify("https://shop.two.test/cart")).status == 200
    # One family, one proof: the new session came from the first, which it names.
    sessions = await domains.app[SERVICES].store.list_sessions(
        (await visitor.go("GET", f"{TWO}/me")).json()["id"], domains.app[SERVICES].clock()
    )
    first, second = sorted(sessions, key=lambda s: s.family or "")
    assert second.family == first.id
    assert first.family is None
    assert second.amr == first.amr
    # The cookies of one domain never went to the other's hosts.
    for host, origins in visitor.sent:
        domain = ".".join(host.split(".")[-2:])
        assert all(where.endswith(domain) for where in origins), (host, origins)
    assert {host for host, origins in visitor.sent if origins} >= {"auth.one.test", "shop.two.test"}


async def test_the_question_goes_round_every_domain_before_the_form(domains: AppClient) -> None:
    signed_in_on_three = Visitor(domains)
    await signed_in_on_three.sign_in(THREE)
    nobody = Visitor(domains)

    through = await crossed(signed_in_on_three, TWO, "https://app.two.test/")
    nowhere = await crossed(nobody, TWO, "https://app.two.test/")

    hosts = [urlsplit(r.headers.get("Location", "")).netloc for r in through[:-1]]
    assert hosts == ["auth.one.test", "auth.three.test", "auth.two.test", "app.two.test"]
    assert (await signed_in_on_three.verify("https://app.two.test/")).status == 200
    assert nowhere[-1].status == 200  # the sign-in form, asked once round and no more
    assert 'name="password"' in nowhere[-1].text
    assert (
        urlsplit(nowhere[-2].headers["Location"]).query == "sso=1&rd=https%3A%2F%2Fapp.two.test%2F"
    )
    assert (await nobody.verify("https://app.two.test/")).status == 401


async def test_a_code_is_good_once_at_its_domain_in_its_browser(
    domains: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    asked = await visitor.page(f"{TWO}/login?rd={quote('https://app.two.test/', safe='')}")
    verifier = dict(visitor.jar)
    callback = (await visitor.page(asked.headers["Location"])).headers["Location"]
    # A second code for TWO, taken to THREE with a request of THREE's own.
    again = await Visitor(domains, jar=dict(visitor.jar)).page(
        f"{TWO}/login?rd={quote('https://app.two.test/', safe='')}"
    )
    other = Visitor(domains)
    started = await other.page(f"{THREE}/login")
    request = parse_qs(urlsplit(started.headers["Location"]).query)["request"][0]
    code_for_two = parse_qs(
        urlsplit((await visitor.page(again.headers["Location"])).headers["Location"]).query
    )["code"][0]
    caplog.set_level(logging.INFO)

    first = await visitor.page(callback)
    thief = Visitor(domains)  # the URL alone, in another browser
    stolen = await thief.page(callback)
    visitor.jar.update(verifier)  # the same browser, the same verifier, again
    replayed = await visitor.page(callback)
    elsewhere = await other.page(f"{THREE}/sso/callback?request={request}&code={code_for_two}")

    assert first.status == 303
    assert first.headers["Location"] == "https://app.two.test/"
    assert (stolen.status, replayed.status, elsewhere.status) == (400, 400, 400)
    assert "could not be carried over" in stolen.text
    reasons = [
        JsonFormatter().format(r) for r in caplog.records if r.getMessage() == "crossing_refused"
    ]
    assert '"reason": "used already"' in reasons[0]
    assert '"reason": "used already"' in reasons[1]
    assert '"reason": "for auth.two.test, redeemed at auth.three.test"' in reasons[2]
    assert (await thief.verify("https://app.two.test/")).status == 401
    assert (await other.verify("https://app.three.test/")).status == 401


async def test_a_code_presented_without_its_verifier_is_spent(domains: AppClient) -> None:
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    asked = await visitor.page(f"{TWO}/login?rd={quote('https://app.two.test/', safe='')}")
    callback = (await visitor.page(asked.headers["Location"])).headers["Location"]

    leaked = await Visitor(domains).page(callback)  # from a log, say: refused, and spent
    late = await visitor.page(callback)  # the browser that asked, too late

    assert (leaked.status, late.status) == (400, 400)
    assert (await visitor.verify("https://app.two.test/")).status == 401


async def test_a_family_ends_together(domains: AppClient) -> None:
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    await crossed(visitor, TWO, "https://app.two.test/")
    await crossed(visitor, THREE, "https://app.three.test/")
    assert (await visitor.verify("https://app.three.test/")).status == 200
    elsewhere = Visitor(domains)  # another browser's own sign-in
    await elsewhere.sign_in(ONE)

    page = await visitor.page(f"{TWO}/logout")
    token = page.text.split('name="csrf" value="')[1][:64]
    out = await visitor.go(
        "POST", f"{TWO}/logout", data={"csrf": token}, headers={**PAGE_LOAD, "Origin": TWO}
    )

    assert out.status == 303
    for app in ("https://app.one.test/", "https://app.two.test/", "https://app.three.test/"):
        assert (await visitor.verify(app)).status == 401
    assert (await elsewhere.verify("https://app.one.test/")).status == 200


async def test_an_operator_ending_one_session_ends_its_family(domains: AppClient) -> None:
    await domains.app[SERVICES].accounts.create(
        NewClient("root@example.com", PASSWORD), kind="user", scopes=["admin"]
    )
    operator = Visitor(domains)
    await operator.sign_in(ONE, "root@example.com")
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    await crossed(visitor, TWO, "https://app.two.test/")
    me = (await visitor.go("GET", f"{ONE}/me")).json()
    token = visitor.access("one.test")
    first = domains.app[SERVICES].sessions.session_of(token)

    ended = await operator.go(
        "DELETE", f"{ONE}/admin/clients/{me['id']}/sessions/{first}", headers={"Origin": ONE}
    )

    assert ended.status == 204
    assert (await visitor.verify("https://app.one.test/")).status == 401
    assert (await visitor.verify("https://app.two.test/")).status == 401


async def test_ending_other_sessions_keeps_only_this_one(domains: AppClient) -> None:
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    await crossed(visitor, TWO, "https://app.two.test/")
    elsewhere = Visitor(domains)
    await elsewhere.sign_in(ONE)

    home = await visitor.page(f"{TWO}/")
    token = home.text.split('name="csrf" value="')[1][:64]
    ended = await visitor.go(
        "POST", f"{TWO}/account/sessions/end-others", data={"csrf": token},
        headers={**PAGE_LOAD, "Origin": TWO},
    )  # fmt: skip

    assert ended.status == 303
    assert (await visitor.verify("https://app.two.test/")).status == 200
    # Nothing ties the other members to this browser: they end; this browser crosses again.
    assert (await visitor.verify("https://app.one.test/")).status == 401
    assert (await elsewhere.verify("https://app.one.test/")).status == 401
    back = await crossed(visitor, ONE, "https://app.one.test/")
    assert back[-2].headers["Location"] == "https://app.one.test/"
    assert (await visitor.verify("https://app.one.test/")).status == 200


async def test_an_access_token_alone_vouches_for_nobody(domains: AppClient) -> None:
    """An access token reaches every app of its domain (and their logs); the refresh cookie
    never does: without it, no code, however the token is presented."""
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    token = visitor.access("one.test")
    thief = Visitor(domains)
    thief.jar = {k: v for k, v in visitor.jar.items() if not k[0].endswith("_refresh")}
    bearer = Visitor(domains)

    as_cookie = await crossed(thief, TWO, "https://app.two.test/")
    started = await bearer.page(f"{TWO}/login")
    as_bearer = await bearer.go(
        "GET", started.headers["Location"], headers={"Authorization": f"Bearer {token}"}
    )

    assert 'name="password"' in as_cookie[-1].text  # asked round, no code: the form
    assert "code=" not in as_bearer.headers["Location"]  # on to the next domain
    assert as_bearer.headers["Location"].startswith(f"{THREE}/refresh/sso?request=")
    assert (await thief.verify("https://app.two.test/")).status == 401


async def test_a_family_member_was_signed_in_when_the_family_was(domains: AppClient) -> None:
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    domains.app[SERVICES].clock.advance(minutes=20)
    await crossed(visitor, TWO, "https://app.two.test/")
    me = (await visitor.go("GET", f"{TWO}/me")).json()

    first, second = sorted(
        await domains.app[SERVICES].store.list_sessions(me["id"], domains.app[SERVICES].clock()),
        key=lambda s: s.family or "",
    )

    assert second.created_at == first.created_at  # the token's auth_time says so too
    assert second.last_used_at > first.created_at
    assert second.provider is None


async def test_a_suspension_is_refused_on_every_domain_at_once(domains: AppClient) -> None:
    visitor = Visitor(domains)
    await visitor.sign_in(ONE)
    await crossed(visitor, TWO, "https://app.two.test/")
    me = (await visitor.go("GET", f"{ONE}/me")).json()

    await domains.app[SERVICES].revocations.suspend_client(me["id"])

    assert (await visitor.verify("https://app.one.test/")).status == 403
    assert (await visitor.verify("https://app.two.test/")).status == 403
    again = await crossed(Visitor(domains, jar=dict(visitor.jar)), THREE, "https://app.three.test/")
    assert 'name="password"' in again[-1].text  # a suspended session vouches for nobody


async def test_one_domain_in_the_file_keeps_todays_behaviour_but_the_host_check(
    make_client: Maker, tmp_path: Path
) -> None:
    path = tmp_path / "domains.yaml"
    path.write_text(f"domains:\n  - public_url: {ONE}\n")
    http = await make_client(DOMAINS_FILE=str(path))

    page = await Visitor(http).page(f"{ONE}/login")

    assert page.status == 200
    assert 'name="password"' in page.text
    assert http.app[SETTINGS].public_url == ONE
    assert http.app[SETTINGS].cookie_name == "__Host-gateway_auth"
