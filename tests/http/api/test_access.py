"""/verify with a rules file (RULES_FILE): each policy, the rule conditions as a gateway sends
the original request, ?scope= on top, bypass attempts, and reloads that keep a bad file out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from gateway_auth.access.verdict import IDENTITY_HEADERS
from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES
from tests.support.browser import PAGE_LOAD, Browser, Response
from tests.support.credentials import PASSWORD
from tests.support.project import COMPANY_RULES
from tests.support.waiting import eventually

OFFICE = "10.20.7.7"
ELSEWHERE = "198.51.100.7"
MakeBrowser = Callable[..., Awaitable[Browser]]


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(COMPANY_RULES.read_text())
    return path


@pytest.fixture
async def browser(make_browser: MakeBrowser, rules_file: Path) -> Browser:
    return await make_browser(RULES_FILE=str(rules_file))


async def ask(
    browser: Browser,
    url: str,
    method: str = "GET",
    *,
    verify: str = "/verify",
    **headers: str,
) -> Response:
    """/verify about ``url``, as nginx's recipe asks (X-Original-URL, X-Original-Method)."""
    sent = {"X-Original-URL": url, "X-Original-Method": method, **headers}
    return await browser.request("GET", verify, headers=sent)


async def user_with(browser: Browser, email: str, *scopes: str) -> Browser:
    """A signed-in user holding ``scopes``."""
    await browser.http.app[SERVICES].accounts.create(
        NewClient(email, PASSWORD, None, None), kind="user", scopes=list(scopes)
    )
    signed_in = Browser(browser.http)
    assert (await signed_in.login(email)).status == 200
    return signed_in


def problem_type(response: Response) -> str:
    return str(response.json()["type"]).removeprefix("urn:gateway-auth:problem:")


async def test_bypass_answers_200_with_every_identity_header_empty(browser: Browser) -> None:
    anonymous = await ask(browser, "https://app.example.com/health")
    ada = await user_with(browser, "ada@example.com")
    signed_in = await ask(ada, "https://api.example.com/healthz", "HEAD")

    for answer in (anonymous, signed_in):
        assert answer.status == 200
        assert [answer.headers.get(name) for name in IDENTITY_HEADERS] == [""] * 13


async def test_the_default_policy_decides_what_no_rule_names(browser: Browser) -> None:
    ada = await user_with(browser, "ada@example.com")

    api = await ask(ada, "https://unknown.example.com/")
    page = await ada.request(
        "GET",
        "/verify",
        headers={**PAGE_LOAD, "X-Original-URL": "https://unknown.example.com/x"},
    )

    assert api.status == 403
    assert problem_type(api) == "access-denied"
    assert page.status == 403
    assert page.headers["Content-Type"].startswith("text/html")
    assert "ada@example.com" in page.text  # the page says who is signed in


async def test_a_scopes_rule_lets_only_holders_through(browser: Browser) -> None:
    payer = await user_with(browser, "payer@example.com", "billing")
    ada = await user_with(browser, "ada@example.com")

    allowed = await ask(payer, "https://app.example.com/billing/invoices")
    refused = await ask(ada, "https://app.example.com/billing/invoices")
    nobody = await ask(browser, "https://app.example.com/billing")

    assert allowed.status == 200
    assert allowed.headers["X-Auth-Email"] == "payer@example.com"
    assert refused.status == 403
    assert problem_type(refused) == "insufficient-scope"
    assert nobody.status == 401


async def test_a_rule_about_who_asks_sends_nobody_to_sign_in(browser: Browser) -> None:
    ada = await user_with(browser, "ada@example.com")

    page = await browser.request(
        "GET",
        "/verify",
        headers={**PAGE_LOAD, "X-Original-URL": "https://app.example.com/home"},
    )
    allowed = await ask(ada, "https://app.example.com/home")

    assert page.status == 401
    assert page.headers["Location"].endswith("rd=https%3A%2F%2Fapp.example.com%2Fhome")
    assert allowed.status == 200


async def test_networks_are_the_original_clients_as_the_gateway_says(browser: Browser) -> None:
    root = await user_with(browser, "root@example.com", "admin")
    url = "https://api.example.com/api/admin/users/7"

    office = await ask(root, url, "DELETE", **{"X-Forwarded-For": f"{ELSEWHERE}, {OFFICE}"})
    outside = await ask(root, url, "DELETE", **{"X-Forwarded-For": f"{OFFICE}, {ELSEWHERE}"})
    reading = await ask(root, url, "GET", **{"X-Forwarded-For": ELSEWHERE})

    assert office.status == 200  # the nearest hop that is not a trusted proxy: the office
    assert outside.status == 403  # a client's own X-Forwarded-For entry counts for nothing
    assert problem_type(outside) == "access-denied"
    assert reading.status == 200


async def test_a_network_rule_never_matches_a_client_the_gateway_does_not_name(
    make_browser: MakeBrowser, tmp_path: Path
) -> None:
    """The gateway itself (127.0.0.1, a trusted proxy) is inside the rule's network; its
    requests are not the office's unless it names an office client."""
    rules = tmp_path / "office.yaml"
    rules.write_text(
        "default_policy: deny\nrules:\n"
        "  - {name: office, networks: [127.0.0.0/8, 10.20.0.0/16], policy: bypass}\n"
    )
    browser = await make_browser(RULES_FILE=str(rules))
    url = "https://app.example.com/"

    named = [
        (await ask(browser, url, **{"X-Forwarded-For": hop})).status
        for hop in (OFFICE, f"::ffff:{OFFICE}", f"{OFFICE}:51234", f"[::ffff:{OFFICE}]:443")
    ]
    unknown = [
        (await ask(browser, url, **headers)).status
        for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}, {"X-Forwarded-For": "office"})
    ]

    assert named == [200] * 4
    assert unknown == [403] * 3


async def test_a_scope_in_the_query_must_pass_as_well(browser: Browser) -> None:
    ada = await user_with(browser, "ada@example.com")

    staff_only = await ask(ada, "https://app.example.com/reports", verify="/verify?scope=reports")
    health = await ask(browser, "https://app.example.com/health", verify="/verify?scope=ops")

    assert staff_only.status == 403
    assert problem_type(staff_only) == "insufficient-scope"
    assert health.status == 401  # a bypass with a scope asked for needs someone who holds it


@pytest.mark.parametrize(
    ("path", "status", "problem"),
    [
        # A dot segment: billing to some upstreams, below the health check to others.
        ("/health/../billing", 403, "ambiguous-request"),
        ("/health/%2e%2e/billing", 403, "ambiguous-request"),
        ("//health/..//billing", 403, "ambiguous-request"),
        ("/health/..;/billing", 403, "ambiguous-request"),
        ("/billing/invoices/..;/..;/health", 403, "ambiguous-request"),
        ("/billing/invoices/%2e%2e/%2e%2e/health", 403, "ambiguous-request"),
        ("/%68ealth", 200, None),  # it is the health check
        ("/health%2F..%2Fbilling", 403, "ambiguous-request"),
        ("/health%5C..%5Cbilling", 403, "ambiguous-request"),
        ("/health%00", 403, "ambiguous-request"),
        ("/health%ff", 403, "ambiguous-request"),
        ("/%2568ealth", 403, "ambiguous-request"),
        ("/HEALTH", 401, "unauthenticated"),  # paths are case-sensitive here: not the check
    ],
)
async def test_bypass_attempts_reach_the_rule_for_the_path_the_upstream_serves(
    browser: Browser, path: str, status: int, problem: str | None
) -> None:
    answer = await ask(browser, f"https://app.example.com{path}", Accept="application/json")

    assert answer.status == status, answer.text
    if problem is not None:
        assert problem_type(answer) == problem


async def test_queries_never_fill_the_rules_decisions_cache(browser: Browser) -> None:
    for n in range(50):
        answer = await ask(browser, f"https://app.example.com/health?n={n}&x=/billing")
        assert answer.status == 200
    access = browser.http.app[SERVICES].access
    assert access is not None
    assert len(access.rules._cache) == 1


async def test_without_a_trusted_description_of_the_request_nothing_is_decided(
    make_browser: MakeBrowser, rules_file: Path
) -> None:
    trusted = await make_browser(RULES_FILE=str(rules_file))
    untrusted = await make_browser(RULES_FILE=str(rules_file), TRUSTED_PROXIES="10.0.0.0/8")

    no_url = await trusted.request("GET", "/verify")
    spoofed = await ask(untrusted, "https://app.example.com/health")

    for answer in (no_url, spoofed):
        assert answer.status == 403
        assert problem_type(answer) == "ambiguous-request"


async def test_envoys_shape_names_the_path_in_the_check_url(browser: Browser) -> None:
    health = await browser.request("GET", "/verify/health", headers={"Host": "app.example.com"})
    billing = await browser.request(
        "GET", "/verify/billing/x?y=1", headers={"Host": "app.example.com", **PAGE_LOAD}
    )

    assert health.status == 200
    assert billing.status == 302  # Envoy's shape redirects a page load to sign in


async def test_a_description_naming_two_hosts_is_believed_for_neither(browser: Browser) -> None:
    """nginx: an absolute-form request line routes by its own host, while X-Original-URL
    carries the Host header; the recipe sends the routed host as X-Forwarded-Host."""
    root = await user_with(browser, "root@example.com", "admin")
    url = "https://app.example.com:8443/home"

    same = await ask(root, url, **{"X-Forwarded-Host": "App.example.com"})
    other = await ask(root, url, **{"X-Forwarded-Host": "api.example.com"})

    assert same.status == 200
    assert other.status == 401
    assert problem_type(other) == "unauthenticated"


async def test_envoys_shape_with_verify_spelt_encoded_is_not_found(browser: Browser) -> None:
    """Where the original path would begin in such a target is a guess: none is made."""
    spelt = URL("/%76erify/billing%2F..%2Fhealth", encoded=True)
    answer = await browser.request("GET", spelt, headers={"Host": "app.example.com"})  # type: ignore[arg-type]

    assert answer.status == 404


@pytest.mark.no_parity
async def test_decisions_are_counted_by_rule_and_outcome(browser: Browser) -> None:
    ada = await user_with(browser, "ada@example.com")
    await ask(ada, "https://app.example.com/billing/")
    await ask(ada, "https://app.example.com/billing/")
    await ask(browser, "https://app.example.com/health")
    await ask(browser, "https://nowhere.example.com/")
    await browser.request("GET", "/verify")

    samples = await metrics(browser)

    def decisions(rule: str, outcome: str) -> float:
        key = ("gateway_auth_access_decisions_total", (("outcome", outcome), ("rule", rule)))
        return samples.get(key, 0)

    assert decisions("billing", "forbidden_scope") == 2
    assert decisions("health-checks", "bypass") == 1
    assert decisions("(default)", "denied") == 1
    assert decisions("(ambiguous)", "ambiguous") == 1
    assert samples[("gateway_auth_access_rules_in_force", ())] == 7
    assert samples[("gateway_auth_access_rules_file_invalid", ())] == 0


# The file changes between an answer and its twin's (the parity check asks a second time), so
# the two may rightly differ for one request while the rules are swapped.
@pytest.mark.no_parity
async def test_a_changed_file_is_in_force_within_seconds_and_a_bad_one_never(
    browser: Browser, rules_file: Path
) -> None:
    url = "https://unknown.example.com/"
    assert (await ask(browser, url)).status == 403

    rules_file.write_text(
        rules_file.read_text().replace("default_policy: deny", "default_policy: bypass")
    )
    await eventually(lambda: is_(ask_status(browser, url), 200), what="the new rules")

    rules_file.write_text("default_policy: deny\nrules:\n  - name: x\n    policy: maybe\n")
    await eventually(lambda: is_(invalid_gauge(browser), 1), what="the bad file noticed")
    still = await ask(browser, url)
    ready = await browser.request("GET", "/readyz")

    assert still.status == 200  # the rules loaded before stay in force
    assert ready.status == 200  # and the instance stays ready
    state = ready.json()["accessRules"]
    assert state["state"] == "file invalid, previous rules in force"
    assert state["rules"] == 7
    assert state["problems"] == [
        f"{rules_file}:4: rule 1 (x): policy: one of 'bypass', 'deny', 'authenticated' or"
        " 'two_factor'"
    ]

    rules_file.write_text(COMPANY_RULES.read_text())
    await eventually(lambda: is_(invalid_gauge(browser), 0), what="the good file read")
    assert (await ask(browser, url)).status == 403


async def is_(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def ask_status(browser: Browser, url: str) -> int:
    return (await ask(browser, url)).status


async def invalid_gauge(browser: Browser) -> float:
    return (await metrics(browser))[("gateway_auth_access_rules_file_invalid", ())]


async def metrics(browser: Browser) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await browser.request("GET", "/metrics")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
