"""The shipped company rules (deploy/rules/company.yaml) decided through real nginx and Caddy:
public health checks, a billing area, the staff app, an office-only admin API, and attempts to
reach a rule meant for another path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, TCPConnector
from yarl import URL

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES
from tests.support.browser import PAGE_LOAD
from tests.support.credentials import PASSWORD
from tests.support.gateways import API_CALL, SPOOFS, Stack, fetch
from tests.support.project import COMPANY_RULES

# The client connects from 127.0.0.2, the gateways reach gateway-auth from 127.0.0.1: only
# they are trusted, so a client's own X-Forwarded-For entries count for nothing.
CLIENT_ADDRESS = "127.0.0.2"


@pytest.fixture
def stack_settings(tmp_path: Path) -> dict[str, str]:
    """The company rules, with the staff app on the address the tests reach the gateways at."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(COMPANY_RULES.read_text().replace("app.example.com", "127.0.0.1"))
    return {"RULES_FILE": str(rules), "TRUSTED_PROXIES": "127.0.0.1/32"}


@pytest.fixture(params=["nginx", "caddy"])
def gateway(request: pytest.FixtureRequest) -> str:
    port: int = request.getfixturevalue(request.param)
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def client_http(stack: Stack) -> AsyncIterator[ClientSession]:
    """The test's browser or API client, from its own address."""
    connector = TCPConnector(local_addr=(CLIENT_ADDRESS, 0))
    session = ClientSession(connector=connector)
    stack.http = session  # fetch() and login() go through it
    yield session
    await session.close()


async def user(stack: Stack, email: str, *scopes: str) -> str:
    """A user holding ``scopes``, signed in: the access cookie."""
    await stack.app[SERVICES].accounts.create(
        NewClient(email, PASSWORD, None, None), kind="user", scopes=list(scopes)
    )
    return await stack.login(email)


async def test_health_checks_need_no_sign_in_and_carry_no_identity(
    stack: Stack, client_http: ClientSession, gateway: str
) -> None:
    status, _, body = await fetch(stack, f"{gateway}/healthz", **SPOOFS)

    assert status == 200
    assert body["path"] == "/healthz"
    for name in ("x-auth-user-id", "x-auth-scopes", "remote-user", "remote-groups"):
        assert body["headers"].get(name, [""]) == [""], name  # no spoofed value survives


async def test_billing_is_for_holders_of_the_scope_and_the_app_for_people(
    stack: Stack, client_http: ClientSession, gateway: str
) -> None:
    payer = await user(stack, "payer@example.com", "billing")
    ada = await user(stack, "ada@example.com")

    paid, _, body = await fetch(stack, f"{gateway}/billing/invoices", Cookie=payer)
    refused, _, page = await fetch(stack, f"{gateway}/billing/invoices", Cookie=ada, **PAGE_LOAD)
    home, _, _ = await fetch(stack, f"{gateway}/home", Cookie=ada)
    nobody, headers, _ = await fetch(stack, f"{gateway}/home", **PAGE_LOAD)

    assert paid == 200
    assert body["headers"]["x-auth-scopes"] == ["billing"]
    assert refused == 403
    assert "<strong>ada@example.com</strong>" in page["text"]
    assert home == 200
    assert nobody == 302
    assert headers["Location"].startswith(f"{gateway}/auth/login?rd=")


@pytest.mark.parametrize(
    "path",
    [
        "/health/../billing/x",
        "/health/%2e%2e/billing/x",
        "/health/..;/billing/x",
        "//billing/x",
        # The other way: nginx and Caddy pass dot segments on, and an upstream that routes
        # /billing/{tail} serves these as billing, not as the public health check.
        "/billing/invoices/../../health",
        "/billing/invoices/%2e%2e/%2e%2e/health",
        "/billing/invoices/..;/..;/health",
    ],
)
async def test_a_bypass_attempt_meets_the_rule_of_the_path_the_upstream_serves(
    stack: Stack, client_http: ClientSession, gateway: str, path: str
) -> None:
    ada = await user(stack, "ada@example.com")
    # Sent as written: no client library between us and the gateway resolves the dots.
    async with client_http.get(
        URL(f"{gateway}{path}", encoded=True),
        headers={"Cookie": ada, **API_CALL},
        allow_redirects=False,
    ) as response:
        status, text = response.status, await response.text()

    assert status == 403, text  # billing's rule, or a dot segment: ambiguous
    assert '"path"' not in text  # the upstream never answered


async def test_an_encoded_slash_is_refused_through_the_gateway(
    stack: Stack, client_http: ClientSession, gateway: str
) -> None:
    async with client_http.get(
        URL(f"{gateway}/health%2F..%2Fbilling", encoded=True),
        headers=API_CALL,
        allow_redirects=False,
    ) as response:
        assert response.status == 403  # ambiguous-request
        assert '"path"' not in await response.text()


async def test_admin_api_changes_only_from_the_office(
    stack: Stack, client_http: ClientSession, nginx: int
) -> None:
    root = await user(stack, "root@example.com", "admin")
    base = f"http://127.0.0.1:{nginx}"
    headers = {"Host": "api.example.com", "Cookie": root, **API_CALL}

    async with client_http.get(f"{base}/api/admin/users", headers=headers) as read:
        read_status = read.status
    # The client claims the office network; nginx adds its real address after that claim.
    spoofed = {**headers, "X-Forwarded-For": "10.20.0.5"}
    async with client_http.delete(f"{base}/api/admin/users/7", headers=spoofed) as deleted:
        delete_status, delete_body = deleted.status, await deleted.text()

    assert read_status == 200
    assert delete_status == 403
    assert "root@example.com" in delete_body  # the refusal page names who asked


async def test_a_request_line_naming_another_host_is_judged_by_that_host(
    stack: Stack, client_http: ClientSession, gateway: str
) -> None:
    """An absolute-form request line: nginx and Caddy route by its host (the admin API here),
    whatever the Host header says (the staff app, open to every user)."""
    ada = await user(stack, "ada@example.com")
    port = int(gateway.rpartition(":")[2])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=(CLIENT_ADDRESS, 0)
    )
    writer.write(
        b"DELETE http://api.example.com/api/admin/users/7 HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nAccept: application/json\r\nConnection: close\r\n"
        + f"Cookie: {ada}\r\n\r\n".encode()
    )
    answer = (await reader.read()).decode("latin-1")
    writer.close()
    await writer.wait_closed()

    # nginx: 401 (the two hosts disagree); Caddy: no site of its own is api.example.com.
    assert '"path"' not in answer, answer  # the upstream never answered
