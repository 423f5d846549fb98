"""Two registrable domains, one sign-in, in Chromium through nginx, Caddy and Traefik running
deploy/domains' recipes: Chromium's host resolver maps app.example.com and shop.example.net
to the loopback address, where the gateway serves both sites on one port.

Plain http on those names is not a secure context, so these sites run with COOKIE_SECURE=false
(cookies without the __Host-/__Secure- prefixes); the HTTP suite (tests/http/api/
test_domains.py) holds the secure names."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect, sync_playwright

from gateway_auth.accounts.clients import NewClient
from gateway_auth.config.settings import Settings
from gateway_auth.http.appkeys import SERVICES
from tests.support.chromium import CHROMIUM_ARGS, LiveStack, sign_in, upstream_saw
from tests.support.clock import FakeClock
from tests.support.credentials import PASSWORD
from tests.support.processes import free_port, require_binary
from tests.support.project import DEPLOY
from tests.support.recipes import BASE_PATH, DOMAIN_HOSTS, GATEWAYS, gateway
from tests.support.waiting import until

APP, SHOP = DOMAIN_HOSTS
_accounts = itertools.count(1)


class TwoSites:
    """The live stack behind a gateway serving both sites on ``port``."""

    def __init__(self, kind: str, stack: LiveStack, port: int) -> None:
        self.kind, self.stack, self.port = kind, stack, port
        self.app = f"http://{APP}:{port}"
        self.shop = f"http://{SHOP}:{port}"

    def account(self) -> tuple[str, str]:
        """A new account of this test's own: its email and id."""
        email = f"domains{next(_accounts)}@example.com"
        services = self.stack.app[SERVICES] if self.stack.app else None
        assert services is not None
        client = self.stack.call(
            services.accounts.create(NewClient(email, PASSWORD), kind="user", scopes=[])
        )
        return email, client.id


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    rules = ", ".join(f"MAP {host} 127.0.0.1" for host in DOMAIN_HOSTS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=require_binary("chromium"),
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=GATEWAYS)
def sites(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoSites]:
    kind: str = request.param
    directory = tmp_path_factory.mktemp(f"{kind}-domains")
    port = free_port()
    shipped = (DEPLOY / "domains" / "domains.yaml").read_text()
    domains = directory / "domains.yaml"
    domains.write_text(
        shipped.replace(f"https://{APP}", f"http://{APP}:{port}").replace(
            f"https://{SHOP}", f"http://{SHOP}:{port}"
        )
    )
    settings = Settings.from_env(
        {
            "GATEWAY_AUTH_DATA_DIR": str(directory / "data"),
            "GATEWAY_AUTH_BCRYPT_ROUNDS": "4",
            "GATEWAY_AUTH_BASE_PATH": BASE_PATH,
            "GATEWAY_AUTH_COOKIE_SECURE": "false",
            "GATEWAY_AUTH_DOMAINS_FILE": str(domains),
            "GATEWAY_AUTH_RATE_LIMIT_PER_IP": "10000/minute",
        }
    )
    with (
        LiveStack(settings, FakeClock()) as stack,
        gateway(kind, directory, stack.auth_port, stack.upstream_port, port=port, domains=True),
    ):
        two = TwoSites(kind, stack, port)
        until(lambda: _routed(two), within=10, what=f"{kind} routing both sites")
        yield two


def _routed(sites: TwoSites) -> bool:
    import urllib.request  # noqa: PLC0415 - only to wait for Traefik's routes

    for host in DOMAIN_HOSTS:
        request = urllib.request.Request(
            f"http://127.0.0.1:{sites.port}{BASE_PATH}/healthz", headers={"Host": host}
        )
        try:
            with urllib.request.urlopen(request, timeout=1):  # noqa: S310 - loopback
                pass
        except OSError:
            return False
    return True


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context(viewport={"width": 1024, "height": 768})
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def test_signed_in_on_one_site_the_other_opens_without_a_prompt(
    page: Page, context: BrowserContext, sites: TwoSites
) -> None:
    email, _ = sites.account()
    sent: list[tuple[str, str]] = []

    def record(request: Request) -> None:
        sent.append((request.url, request.headers.get("cookie", "")))

    page.on("request", record)
    page.goto(f"{sites.app}/reports")
    sign_in(page, email)
    expect(page).to_have_url(f"{sites.app}/reports")
    app_token = next(c["value"] for c in context.cookies(sites.app) if c["name"] == "gateway_auth")

    page.goto(f"{sites.shop}/cart")

    expect(page).to_have_url(f"{sites.shop}/cart")  # no sign-in form on the way
    assert upstream_saw(page)["headers"]["x-auth-email"] == [email]
    shop_token = next(
        c["value"] for c in context.cookies(sites.shop) if c["name"] == "gateway_auth"
    )
    assert shop_token != app_token
    hops = [url for url, _ in sent]
    assert any("/auth/refresh/sso?" in url and url.startswith(sites.app) for url in hops)
    assert any("/auth/sso/callback?" in url and url.startswith(sites.shop) for url in hops)
    for url, cookies in sent:  # the cookies of one site never went to the other
        other = app_token if url.startswith(sites.shop) else shop_token
        assert other not in cookies, url


def test_signing_out_on_one_site_signs_out_on_the_other(page: Page, sites: TwoSites) -> None:
    email, _ = sites.account()
    page.goto(f"{sites.app}/reports")
    sign_in(page, email)
    page.goto(f"{sites.shop}/cart")
    expect(page).to_have_url(f"{sites.shop}/cart")

    page.goto(f"{sites.shop}{BASE_PATH}/logout")
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{sites.app}/reports")

    # The sign-in page asked the shop, where the family had ended too: the form.
    expect(page).to_have_url(
        f"{sites.app}{BASE_PATH}/login?sso=1&rd={quote(sites.app + '/reports', safe='')}"
    )
    expect(page.get_by_label("Password")).to_be_visible()


def test_a_return_url_on_an_unlisted_domain_lands_on_the_portal(
    page: Page, sites: TwoSites
) -> None:
    email, _ = sites.account()

    page.goto(f"{sites.shop}{BASE_PATH}/login?rd={quote('http://evil.example.org/', safe='')}")
    sign_in(page, email)

    expect(page).to_have_url(f"{sites.shop}/")  # the domain's default_redirect, not evil
    assert upstream_saw(page)["headers"]["x-auth-email"] == [email]


def test_a_suspension_is_refused_on_both_sites_at_once(page: Page, sites: TwoSites) -> None:
    email, client_id = sites.account()
    page.goto(f"{sites.app}/reports")
    sign_in(page, email)
    page.goto(f"{sites.shop}/cart")
    expect(page).to_have_url(f"{sites.shop}/cart")
    services = sites.stack.app[SERVICES] if sites.stack.app else None
    assert services is not None

    sites.stack.call(services.revocations.suspend_client(client_id))

    for url in (f"{sites.app}/reports", f"{sites.shop}/cart"):
        response = page.goto(url)
        assert response is not None
        assert response.status == 403, url
        expect(page.get_by_role("heading", name="This account is suspended")).to_be_visible()


def test_the_code_works_once_in_the_browser_that_asked(
    page: Page, context: BrowserContext, chromium: Browser, sites: TwoSites
) -> None:
    email, _ = sites.account()
    callbacks: list[str] = []
    page.on(
        "request",
        lambda r: (
            callbacks.append(r.url) if "/auth/sso/callback?" in r.url and "code=" in r.url else None
        ),
    )
    page.goto(f"{sites.app}/reports")
    sign_in(page, email)
    page.goto(f"{sites.shop}/cart")
    expect(page).to_have_url(f"{sites.shop}/cart")
    (callback,) = callbacks

    replayed = page.goto(callback)  # the same browser, once more
    other = chromium.new_context()
    try:
        stolen = other.new_page().goto(callback)  # another browser, without the verifier
    finally:
        other.close()

    assert replayed is not None
    assert replayed.status == 400
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert stolen is not None
    assert stolen.status == 400
