"""The fast /verify listener at the protocol level: raw HTTP/1.1 over a socket, as a gateway
(or an attacker) speaks it, against the real server the test client talks to."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gateway_auth.access.decision import Check
from gateway_auth.access.verdict import Verdict
from gateway_auth.http.appkeys import FORWARD_AUTH, SERVICES, SETTINGS
from gateway_auth.http.verify.fastpath import FastVerify, FrontServer
from gateway_auth.logging import FIELDS
from tests.support.browser import AppClient, Browser, admin
from tests.support.credentials import PASSWORD
from tests.support.waiting import eventually
from tests.support.wire import Connection, Exchange, GatewayTestServer, exchange

VERIFY = b"GET /verify HTTP/1.1\r\nHost: auth.example\r\n\r\n"
LOGIN = b'{"email": "root@example.com", "password": "%s"}' % PASSWORD.encode()


def front_of(http: AppClient) -> FrontServer:
    server = http.server
    assert isinstance(server, GatewayTestServer)
    assert server.runner is not None
    front = server.runner.server
    assert isinstance(front, FrontServer)
    return front


def verify_with(cookie: str, *extra: str) -> bytes:
    lines = ["GET /verify HTTP/1.1", "Host: auth.example", f"Cookie: {cookie}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def login_request() -> bytes:
    return (
        b"POST /login HTTP/1.1\r\nHost: auth.example\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(LOGIN), LOGIN)
    )


@pytest.fixture
async def signed_in(http: AppClient, browser: Browser) -> str:
    """The access cookie of a signed-in administrator, as a gateway forwards it."""
    await admin(http, browser)
    name = http.app[SETTINGS].cookie_name
    return f"{name}={browser.cookies[name].value}"


@pytest.fixture
async def connect_to() -> AsyncIterator[Callable[[AppClient], Awaitable[Connection]]]:
    """Raw connections to a server of the test's choosing, closed after the test."""
    opened: list[Connection] = []

    async def open_one(http: AppClient) -> Connection:
        connection = await Connection.open(http.server.port or 0)
        opened.append(connection)
        return connection

    yield open_one
    for connection in opened:
        await connection.close()


@pytest.fixture
def connect(
    http: AppClient, connect_to: Callable[[AppClient], Awaitable[Connection]]
) -> Callable[[], Awaitable[Connection]]:
    """Raw connections to the test's server, closed after the test."""
    return lambda: connect_to(http)


def assert_ours(answer: Exchange) -> None:
    """Every answer names gateway-auth and no framework or version."""
    assert answer.header("Server") == "gateway-auth"
    text = str(answer.headers).lower() + answer.body.decode("utf-8", "replace").lower()
    assert "aiohttp" not in text
    assert "python" not in text


async def test_keep_alive_answers_many_requests_on_one_connection_from_the_fast_path(
    http: AppClient, signed_in: str, connect: Callable[[], Awaitable[Connection]]
) -> None:
    front = front_of(http)
    before = (front.attached, len(front.open))  # the test client's own connection among them
    connection = await connect()
    for _ in range(3):
        await connection.send(verify_with(signed_in))
        answer = await connection.answer()
        assert answer.status == 200
        assert answer.header("X-Auth-Email") == "root@example.com"
        assert_ours(answer)
    assert (front.attached, len(front.open)) == (before[0], before[1] + 1)  # aiohttp took no part


async def test_pipelined_requests_are_answered_in_order_across_the_hand_over(
    http: AppClient, signed_in: str, connect: Callable[[], Awaitable[Connection]]
) -> None:
    front = front_of(http)
    attached = front.attached
    connection = await connect()
    await connection.send(
        verify_with(signed_in)
        + b"GET /healthz HTTP/1.1\r\nHost: auth.example\r\n\r\n"
        + login_request()
        + VERIFY
        + verify_with(signed_in)
    )

    answers = [await connection.answer() for _ in range(5)]

    assert [a.status for a in answers] == [200, 200, 200, 401, 200]
    assert answers[1].body == b'{"status":"ok"}'
    assert b'"client"' in answers[2].body
    assert answers[2].header("Set-Cookie") is not None
    assert answers[4].header("X-Auth-Email") == "root@example.com"
    for answer in answers:
        assert_ours(answer)
    # Once aiohttp has answered, the connection comes back to the fast path.
    await connection.send(verify_with(signed_in))
    assert (await connection.answer()).status == 200
    assert front.attached == attached


async def test_a_request_with_a_body_arriving_in_pieces_is_passed_whole(
    signed_in: str, connect: Callable[[], Awaitable[Connection]]
) -> None:
    connection = await connect()
    request = login_request()
    for piece in (request[:10], request[10:60], request[60:-5], request[-5:]):
        await connection.send(piece)
        await asyncio.sleep(0)
    assert (await connection.answer()).status == 200
    await connection.send(verify_with(signed_in))
    assert (await connection.answer()).status == 200


async def test_http_1_0_and_connection_close_end_the_connection_after_the_answer(
    http: AppClient, connect: Callable[[], Awaitable[Connection]]
) -> None:
    plain = await connect()
    await plain.send(b"GET /verify HTTP/1.0\r\n\r\n")
    answer = await plain.answer()
    assert answer.status_line == "HTTP/1.0 401 Unauthorized"
    assert answer.header("Connection") is None
    assert await plain.closed()

    kept = await connect()
    await kept.send(b"GET /verify HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert (await kept.answer()).header("Connection") == "keep-alive"
    await kept.send(b"GET /verify HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert (await kept.answer()).status == 401

    closing = await connect()
    await closing.send(b"GET /verify HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    answer = await closing.answer()
    assert answer.header("Connection") == "close"
    assert await closing.closed()


async def test_head_gets_the_headers_and_no_body(
    signed_in: str, connect: Callable[[], Awaitable[Connection]]
) -> None:
    connection = await connect()
    await connection.send(b"HEAD /verify HTTP/1.1\r\nHost: a\r\n\r\n" + VERIFY)

    head = await connection.answer(head=True)
    after = await connection.answer()

    assert head.status == 401
    assert head.header("Content-Length") == "137"
    assert after.status == 401
    assert after.body.startswith(b'{"type"')


async def test_expect_100_continue(connect: Callable[[], Awaitable[Connection]]) -> None:
    bodiless = await connect()
    await bodiless.send(b"GET /verify HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n")
    assert (await bodiless.answer()).status == 401  # no body to wait for: the answer at once

    with_body = await connect()
    await with_body.send(
        b"POST /login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(LOGIN)
    )
    interim = await asyncio.wait_for(with_body.reader.readuntil(b"\r\n\r\n"), 10)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    await with_body.send(LOGIN)
    assert (await with_body.answer()).status == 401  # no such account, answered by aiohttp


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /verify HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"POST /verify HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabc",
        b"POST /verify HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /verify HTTP/1.1\r\nHost: a\rX-Smuggled: 1\r\n\r\n",
        b"GET /verify HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET /verify HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        b"GET /verify HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET /verify HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    ],
    ids=[
        "cl-and-te",
        "two-lengths",
        "two-equal-lengths",
        "bare-cr",
        "obs-fold",
        "te-not-chunked-last",
        "space-before-colon",
        "nul",
    ],
)
async def test_request_smuggling_shapes_are_refused_with_400_and_the_connection_closed(
    request_bytes: bytes, signed_in: str, connect: Callable[[], Awaitable[Connection]]
) -> None:
    connection = await connect()
    # Behind a request of its own on the connection, as a smuggler would put it.
    await connection.send(verify_with(signed_in) + request_bytes + verify_with(signed_in))

    first = await connection.answer()
    refused = await connection.answer()

    assert first.status == 200
    # aiohttp's own answer (the listener hands it the bytes): an HTTP/1.0 status line, which
    # says the connection closes, in the same words as without the fast listener.
    assert refused.status_line.startswith("HTTP/1.0 400 ")
    assert_ours(refused)
    assert await connection.closed()  # the request behind it is never answered


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /verify?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET /verify?" + b"a" * 9000, 414),  # still arriving: refused before the end
        (b"GET /verify HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (
            b"GET /verify HTTP/1.1\r\nHost: a\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
            + b"\r\n",
            431,
        ),
        (b"GET /verify HTTP/1.1\r\nHost: a\r\n" + b"X-Many: " + b"c" * 8000 * 9, 431),
    ],
    ids=["long-line", "long-line-partial", "long-header", "many-headers", "huge-head"],
)
async def test_limits_on_the_request_line_and_headers(
    request_bytes: bytes, status: int, connect: Callable[[], Awaitable[Connection]]
) -> None:
    connection = await connect()
    await connection.send(request_bytes)

    answer = await connection.answer()

    assert answer.status == status
    assert_ours(answer)
    assert await connection.closed()


@pytest.mark.parametrize("gateway_is_trusted", [False, True])
async def test_connections_beyond_the_cap_get_503_except_the_gateways(
    make_client: Callable[..., Awaitable[AppClient]], gateway_is_trusted: bool
) -> None:
    trusted = "127.0.0.1/32" if gateway_is_trusted else "192.0.2.1/32"
    http = await make_client(MAX_CONNECTIONS="16", TRUSTED_PROXIES=trusted)
    port = http.server.port or 0
    held = [await Connection.open(port) for _ in range(16)]
    try:
        await held[0].send(VERIFY)
        assert (await held[0].answer()).status == 401  # every one of them accepted

        extra = await exchange(port, VERIFY)

        assert extra.status == (401 if gateway_is_trusted else 503)
        assert_ours(extra)
    finally:
        for connection in held:
            await connection.close()
    front = front_of(http)
    await eventually(lambda: not front.open)
    assert (await exchange(port, VERIFY)).status == 401  # room again


async def test_a_slow_request_head_is_cut_off_and_an_idle_connection_closed(
    make_client: Callable[..., Awaitable[AppClient]],
) -> None:
    http = await make_client(HEADER_TIMEOUT="1s", KEEPALIVE_TIMEOUT="2s")
    port = http.server.port or 0
    slow = await Connection.open(port)
    idle = await Connection.open(port)
    after_aiohttp = await Connection.open(port)  # slow after a request aiohttp answered
    silent = await Connection.open(port)  # never says anything
    stalled = await Connection.open(port)  # a body that stops arriving
    try:
        await stalled.send(login_request()[:-5])
        await slow.send(b"GET /verify HTTP/1.1\r\nHost: a\r\n")  # and never the blank line
        await idle.send(VERIFY)
        assert (await idle.answer()).status == 401
        await after_aiohttp.send(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        assert (await after_aiohttp.answer()).status == 200
        await after_aiohttp.send(b"GET /verify HTTP/1.1\r\nHost: a\r\n")

        timed_out = await slow.answer()

        assert timed_out.status == 408
        assert await slow.closed()
        assert await idle.closed()
        assert (await after_aiohttp.answer()).status == 408
        assert await silent.closed()
        assert await stalled.closed()
    finally:
        for connection in (slow, idle, after_aiohttp, silent, stalled):
            await connection.close()


async def test_a_client_that_disconnects_mid_request_leaves_nothing_behind(
    http: AppClient, signed_in: str
) -> None:
    front = front_of(http)
    port = http.server.port or 0
    before = (len(front.open), len(front.connections), front.attached)
    for partial in (b"GET /verify HTTP/1.1\r\nHost: a\r\nCookie: x", login_request()[:-10]):
        connection = await Connection.open(port)
        await connection.send(partial)
        await connection.close()
    await eventually(lambda: (len(front.open), len(front.connections), front.attached) == before)
    assert (await exchange(port, verify_with(signed_in))).status == 200


async def test_other_requests_are_answered_exactly_as_aiohttp_answers_them(
    http: AppClient, connect: Callable[[], Awaitable[Connection]]
) -> None:
    connection = await connect()
    await connection.send(
        b"GET /verify HTTP/1.1\r\n\r\n"  # HTTP/1.1 without Host
        b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    no_host = await connection.answer()
    assert no_host.status == 400
    assert_ours(no_host)

    other = await connect()
    await other.send(b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n")
    missing = await other.answer()
    assert missing.status == 404
    assert_ours(missing)


@pytest.mark.parametrize(
    "head",
    [
        # llhttp keeps the whitespace after a value, aiohttp strips it
        "X-Forwarded-Proto: https \t\r\nX-Original-Method: GET ",
        "Accept: text/html \r\nSec-Fetch-Mode: navigate ",
        # a second singleton (RFC 9110) is refused by aiohttp, in HTTP/1.0 as well
        "User-Agent: a\r\nUser-Agent: b",
        "Content-Type: text/plain\r\ncontent-type: text/html",
    ],
)
async def test_header_shapes_get_the_answer_aiohttp_gives(
    http: AppClient, signed_in: str, head: str
) -> None:
    server = http.server
    assert isinstance(server, GatewayTestServer)
    assert server.twin_port is not None
    for version in ("1.1", "1.0"):
        for cookie in (signed_in, ""):
            request = verify_with(cookie, head).replace(b"HTTP/1.1", f"HTTP/{version}".encode())
            fast = await exchange(server.port or 0, request)
            twin = await exchange(server.twin_port, request)
            assert fast.comparable() == twin.comparable(), (version, head, cookie)


@pytest.mark.parametrize(
    "target",
    [
        b"/verify?scope=#admin",  # a fragment: aiohttp drops it
        b"/verify/app/page?",  # Envoy's shape with an empty query
        b"/verify/app/page?x=1#part",
        b"/verify?",
    ],
)
async def test_odd_targets_get_the_answer_aiohttp_gives(
    http: AppClient, signed_in: str, target: bytes
) -> None:
    server = http.server
    assert isinstance(server, GatewayTestServer)
    assert server.twin_port is not None
    for cookie in (signed_in, ""):
        request = verify_with(cookie, "Accept: text/html").replace(b"/verify", target, 1)
        fast = await exchange(server.port or 0, request)
        twin = await exchange(server.twin_port, request)
        assert fast.comparable() == twin.comparable(), (target, cookie)


async def test_routine_answers_are_counted_not_logged_and_refusals_with_a_reason_are_logged(
    http: AppClient,
    browser: Browser,
    signed_in: str,
    connect: Callable[[], Awaitable[Connection]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    connection = await connect()
    caplog.set_level(logging.INFO, logger="gateway_auth.requests")
    await connection.send(verify_with(signed_in) + VERIFY)  # 200, and 401 with no token
    assert [(await connection.answer()).status for _ in range(2)] == [200, 401]
    assert not [r for r in caplog.records if r.name == "gateway_auth.requests"]

    await connection.send(
        b"GET /verify?scope=payroll HTTP/1.1\r\nHost: a\r\nCookie: "
        + signed_in.encode()
        + b"\r\n\r\n"
    )
    assert (await connection.answer()).status == 403

    logged = [r for r in caplog.records if r.name == "gateway_auth.requests"]
    assert len(logged) == 1
    assert logged[0].getMessage() == "request"
    assert getattr(logged[0], FIELDS)["status"] == 403
    assert getattr(logged[0], FIELDS)["route"] == "/verify"


# The twin would ask the same decision a second time.
@pytest.mark.no_parity
@pytest.mark.parametrize("fast_verify", ["true", "false"])
async def test_a_refused_page_load_is_decided_once_and_rendered_by_aiohttp(
    make_client: Callable[..., Awaitable[AppClient]],
    connect_to: Callable[[AppClient], Awaitable[Connection]],
    fast_verify: str,
) -> None:
    http = await make_client(FAST_VERIFY=fast_verify)
    browser = Browser(http)
    await admin(http, browser)
    name = http.app[SETTINGS].cookie_name
    cookie = f"{name}={browser.cookies[name].value}"
    gate = http.app[FORWARD_AUTH]
    decided: list[str] = []
    decide = gate.decision.decide

    def counted(check: Check) -> tuple[Verdict, str | None]:
        verdict, rule = decide(check)
        decided.append(verdict.outcome)
        return verdict, rule

    gate.decision.decide = counted
    connection = await connect_to(http)

    await connection.send(
        verify_with(cookie, "Accept: text/html", "Sec-Fetch-Mode: navigate").replace(
            b"/verify", b"/verify?scope=payroll", 1
        )
    )
    answer = await connection.answer()

    assert answer.status == 403
    assert (answer.header("Content-Type") or "").startswith("text/html")
    assert b"root@example.com" in answer.body  # the page says who is signed in
    assert decided == ["forbidden_scope"]
    assert http.app[SERVICES].metrics.verify_decisions["forbidden_scope"].value == 1


@pytest.mark.no_parity
@pytest.mark.parametrize(
    "then",
    [
        b"",  # in the same write, while aiohttp still answers the first
        b"Content-Length: 2\r\n\r\nhi",  # later, with a body: straight to aiohttp
    ],
)
async def test_a_decision_aiohttp_never_used_is_never_applied_to_another_request(
    signed_in: str, connect: Callable[[], Awaitable[Connection]], then: bytes
) -> None:
    # aiohttp answers an Expect it does not know with 417 before any handler runs: the
    # decision this listener made for that page load must die with it.
    connection = await connect()
    page = "Accept: text/html\r\nSec-Fetch-Mode: navigate\r\n"
    first = (
        f"GET /verify?scope=nope HTTP/1.1\r\nHost: a\r\n{page}Cookie: {signed_in}\r\n"
        "Expect: bogus\r\n\r\n"
    ).encode()
    nobody = f"GET /verify?scope=nope HTTP/1.1\r\nHost: a\r\n{page}".encode()
    second = nobody + (then or b"\r\n")

    if then:
        await connection.send(first)
        refused = await connection.answer()
        await connection.send(second)
    else:
        await connection.send(first + second)
        refused = await connection.answer()
    answer = await connection.answer()

    assert refused.status == 417
    assert answer.status == 401  # nobody is signed in on this request
    assert b"root@example.com" not in answer.body


async def test_a_bad_request_behind_one_aiohttp_still_answers_waits_its_turn(
    connect: Callable[[], Awaitable[Connection]],
) -> None:
    connection = await connect()
    await connection.send(login_request())  # aiohttp hashes a password for a while
    await connection.send(b"GET /x HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n")

    first = await connection.answer()
    second = await connection.answer()

    assert first.status == 401  # the login's own answer (no such account), first
    assert second.status == 400
    assert await connection.closed()


async def test_a_head_sent_a_byte_at_a_time_is_read_whole(
    signed_in: str, connect: Callable[[], Awaitable[Connection]]
) -> None:
    connection = await connect()
    for byte in verify_with(signed_in):
        await connection.send(bytes([byte]))

    assert (await connection.answer()).status == 200


async def test_the_head_timeout_starts_with_the_heads_first_byte(
    http: AppClient, connect: Callable[[], Awaitable[Connection]]
) -> None:
    """Not with the previous request: a keep-alive connection idle for longer than the head
    timeout may still send a head in pieces. (The sweep is called here with chosen times.)"""
    front = front_of(http)
    before = set(front.open)
    connection = await connect()
    await connection.send(VERIFY)
    assert (await connection.answer()).status == 401
    await eventually(lambda: len(front.open - before) == 1)
    (fast,) = front.open - before
    slow, idle = front.header_timeout, front.keepalive_timeout

    await connection.send(b"GET /verify HTTP/1.1\r\n")
    await eventually(lambda: fast._head_since is not None)
    started = fast._head_since
    assert started is not None
    fast._since = started - 2 * idle  # the previous request is long past
    fast.expire(started + slow / 2, idle, slow)
    await connection.send(b"Host: a\r\n\r\n")
    assert (await connection.answer()).status == 401  # neither 408 nor closed

    await connection.send(b"GET /verify HTTP/1.1\r\n")
    await eventually(lambda: fast._head_since is not None)
    later = fast._head_since
    assert later is not None
    fast.expire(later + 2 * slow, idle, slow)
    assert (await connection.answer()).status == 408


def test_flow_control_survives_the_hand_over() -> None:
    """A client that stops reading pauses this listener; a request aiohttp then takes over
    must leave reading to be resumed, not stuck."""

    class Transport(asyncio.Transport):
        def __init__(self) -> None:
            super().__init__()
            self.reading = True
            self.written = b""

        def write(self, data: bytes | bytearray | memoryview) -> None:
            self.written += bytes(data)

        def pause_reading(self) -> None:
            self.reading = False

        def resume_reading(self) -> None:
            self.reading = True

        def is_reading(self) -> bool:
            return self.reading

        def get_extra_info(self, name: str, default: object = None) -> object:
            return ("192.0.2.7", 1234) if name == "peername" else default

        def is_closing(self) -> bool:
            return False

        def close(self) -> None:
            pass

        def get_write_buffer_size(self) -> int:
            return 0

    async def run() -> None:
        class Inner(asyncio.Protocol):
            paused = False

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                inner_made.append(self)

            def pause_writing(self) -> None:
                self.paused = True

            def resume_writing(self) -> None:
                assert self.paused  # as aiohttp's asserts
                self.paused = False

        inner_made: list[Inner] = []

        front = FrontServer.__new__(FrontServer)
        front.now = time.monotonic()
        front.open, front.attached = set(), 0
        front.inner = Inner  # type: ignore[assignment]
        front.verify_path = b"/verify"
        protocol = FastVerify(front)
        transport = Transport()
        protocol._transport = transport
        protocol.pause_writing()
        assert not transport.is_reading()
        protocol.data_received(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")  # to aiohttp
        protocol.resume_writing()

        assert transport.is_reading()
        assert inner_made
        assert not inner_made[0].paused

    asyncio.run(run())
