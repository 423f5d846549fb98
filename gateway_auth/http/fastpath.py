"""The fast ``/verify`` listener: a minimal HTTP/1.1 protocol on llhttp (through ``httptools``)
in front of aiohttp, on the same port.

Every connection starts here. A bodiless ``/verify`` request is answered at once from bytes
prepared when its token was first verified (refusals from templates made at start-up): the
decision is ``ForwardAuth``'s, the same one aiohttp's handler uses. Anything else (another
path, a request with a body, an Upgrade, a person's page that must be rendered, a form of
HTTP this listener does not serve) is handed to aiohttp with its bytes intact, on the same
connection, which aiohttp then keeps: ``transport.set_protocol`` to a protocol from aiohttp's
own factory, fed the buffered bytes from the start of that request.

The request boundary is what makes the hand-over safe. This listener reads one request head
at a time (up to the first blank line) and parses exactly those bytes; llhttp refuses bare
LF, bare CR and obs-fold, so a valid head always ends at the first CRLFCRLF. A head that
completes a message there is bodiless and served; one that does not (a body follows) is handed
over from its first byte, so aiohttp sees the request whole, and every request before it has
already been answered, in order.

Smuggling shapes (Content-Length with Transfer-Encoding, two Content-Lengths, bare CR,
obs-fold) are refused with 400 and the connection closed; over-long request lines get 414 and
heads beyond the limits 431. Connections are capped (503 beyond ``MAX_CONNECTIONS``), and a
request head must arrive within ``HEADER_TIMEOUT`` (slowloris), an idle keep-alive connection
is closed after ``KEEPALIVE_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from email.utils import formatdate
from typing import Any, Literal, cast

from aiohttp import web
from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser
from multidict import CIMultiDict

from gateway_auth.http.access_log import QUIET_VERIFY_STATUSES, log_request
from gateway_auth.http.appkeys import FORWARD_AUTH, METRICS, SETTINGS
from gateway_auth.http.forward_auth import Answer, ForwardAuth, Refusal
from gateway_auth.http.middlewares import REQUEST_ID_HEADER, SECURITY_HEADERS, SERVER
from gateway_auth.logging import chosen_request_id, log_event
from gateway_auth.metrics import LATENCY_BUCKETS, METHODS, Metrics
from gateway_auth.settings import Settings

log = logging.getLogger("gateway_auth.access")
MAX_REQUEST_LINE = 8190  # aiohttp's own limits
MAX_FIELD_LINE = 8190
MAX_HEADERS = 128
MAX_HEAD = 64 * 1024
TICK = 1.0  # seconds between sweeps for idle and slow connections (and Date updates)
_END = b"\r\n\r\n"
_SERVER = f"Server: {SERVER}\r\n".encode()
_REASONS = {
    200: b"OK",
    302: b"Found",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


class FrontServer(web.Server):
    """The listening socket's protocol factory: each connection starts on ``FastVerify``.

    It stands in for aiohttp's ``Server`` (runners and sites call it as one) and passes
    everything about aiohttp's connections to that server, ``inner``, which made them.
    """

    def __init__(
        self, inner: web.Server, gate: ForwardAuth, metrics: Metrics, settings: Settings
    ) -> None:
        # No super().__init__(): this object owns no aiohttp connection; ``inner`` does.
        self.inner = inner
        self.gate = gate
        self.metrics = metrics
        self.open: set[FastVerify] = set()
        self.attached = 0  # aiohttp protocols working for a FastVerify, counted in both
        self.max_connections = settings.max_connections
        self.keepalive_timeout = settings.keepalive_timeout.total_seconds()
        self.header_timeout = settings.header_timeout.total_seconds()
        self.verify_path = gate.path.encode()
        self.route = gate.path
        self.now = time.monotonic()
        self.date = b""
        self._tick: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        # The fixed refusals, encoded once; one with a Location is encoded for its request.
        self._refusals = {id(r): (r, *self._encode(r)) for r in gate.fixed_refusals()}
        # The request counts of /verify, by method and status, at hand (bounded: metrics
        # fold unknown methods into "other", and only a few statuses are answered here).
        self.series: dict[tuple[str, int], list[float]] = {}
        self._sweep()

    @property
    def connections(self) -> list[Any]:
        """aiohttp's connections (those handed over)."""
        return self.inner.connections

    @property
    def requests_count(self) -> int:  # type: ignore[override]
        """Requests aiohttp has answered."""
        return self.inner.requests_count

    def __call__(self) -> FastVerify:  # type: ignore[override]
        return FastVerify(self)

    def pre_shutdown(self) -> None:
        """Stop taking requests: connections without a request in flight close now."""
        for connection in list(self.open):
            connection.close_if_idle()
        self.inner.pre_shutdown()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - aiohttp's
        """Close every connection; aiohttp's get ``timeout`` to finish their requests."""
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        for connection in list(self.open):
            connection.close_if_idle()
        await self.inner.shutdown(timeout)

    def open_connections(self) -> int:
        """Connections open now, on this listener and aiohttp's."""
        return len(self.open) + len(self.inner.connections) - self.attached

    def encoded(self, refusal: Refusal) -> tuple[bytes, bytes]:
        """A refusal's status line tail and header lines up to the request id, and the lines
        after it, as aiohttp's handler and middleware send them."""
        cached = self._refusals.get(id(refusal))
        if cached is not None and cached[0] is refusal:
            return cached[1], cached[2]
        return self._encode(refusal)

    @staticmethod
    def _encode(refusal: Refusal) -> tuple[bytes, bytes]:
        status = refusal.status
        before = f" {status} ".encode() + _REASONS[status] + b"\r\n"
        before += "".join(f"{n}: {v}\r\n" for n, v in refusal.headers).encode()
        after = f"Server: {SERVER}\r\n"
        present = {name.lower() for name, _ in refusal.headers}
        after += "".join(f"{n}: {v}\r\n" for n, v in SECURITY_HEADERS if n.lower() not in present)
        if refusal.body and "content-type" not in present:
            after += "Content-Type: application/octet-stream\r\n"
        return before, after.encode()

    def _sweep(self) -> None:
        """Once a second: the clock the connections read, the Date header, and closing
        connections that are idle too long or too slow to send a request head."""
        self.now = now = time.monotonic()
        self.date = f"Date: {formatdate(usegmt=True)}\r\n".encode()
        idle, slow = self.keepalive_timeout, self.header_timeout
        for connection in list(self.open):
            connection.expire(now, idle, slow)
        self._tick = self._loop.call_later(TICK, self._sweep)


class FastVerify(asyncio.Protocol):
    """One connection: bodiless ``/verify`` requests answered here, the others passed to an
    aiohttp protocol attached to the same transport while it has work."""

    __slots__ = (
        "_aiohttp",
        "_aiohttp_paused",
        "_complete",
        "_front",
        "_head_since",
        "_headers",
        "_hosts",
        "_keep_alive",
        "_messages",
        "_parser",
        "_partial",
        "_paused_since",
        "_peer",
        "_reading_paused",
        "_remaining",
        "_scanned",
        "_since",
        "_too_large",
        "_transport",
        "_url",
    )

    def __init__(self, front: FrontServer) -> None:
        self._front = front
        self._transport: asyncio.Transport | None = None
        self._aiohttp: asyncio.Protocol | None = None  # attached while it has requests
        self._aiohttp_paused = False  # it was told to stop writing, and not yet to resume
        self._reading_paused = False  # by this protocol, for a client that does not read
        self._paused_since: float | None = None  # when writing last stalled
        self._remaining = 0  # body bytes still to pass to aiohttp
        self._partial = bytearray()  # a request head still arriving
        self._scanned = 0  # how much of it holds no CRLFCRLF
        self._parser = HttpRequestParser(self)
        self._headers: list[tuple[str, str]] = []
        self._hosts = 0
        self._url = b""
        self._complete = False
        self._keep_alive = False
        self._messages = 0
        self._too_large = 0
        self._peer: str | None = None
        self._since = front.now  # the last sign of progress: a request, or body bytes
        # When the head being waited for started (a new connection waits for its first).
        self._head_since: float | None = time.monotonic()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream server's (uvloop's transports are not asyncio.Transport subclasses).
        self._transport = cast(asyncio.Transport, transport)
        front = self._front
        peer = self._transport.get_extra_info("peername")
        self._peer = peer[0] if isinstance(peer, tuple) else None
        # The gateways themselves (TRUSTED_PROXIES) are never turned away by the cap.
        full = front.open_connections() >= front.max_connections
        if full and not front.gate.trusts(self._peer):
            self._send(503, "Too many connections.")
            return
        front.open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._front.open.discard(self)
        self._transport = None
        if self._aiohttp is not None:
            self._front.attached -= 1
            self._aiohttp.connection_lost(exc)
            self._aiohttp = None

    def eof_received(self) -> bool | None:
        return None  # close our side too; a half-sent request cannot be finished

    def pause_writing(self) -> None:
        """A client that sends requests without reading the answers waits for itself."""
        self._paused_since = time.monotonic()
        if self._aiohttp is not None:
            self._aiohttp.pause_writing()
            self._aiohttp_paused = True
        elif self._transport is not None and not self._reading_paused:
            self._transport.pause_reading()
            self._reading_paused = True

    def resume_writing(self) -> None:
        self._paused_since = None
        if self._reading_paused:
            self._reading_paused = False
            if self._transport is not None:
                self._transport.resume_reading()
        if self._aiohttp is not None and self._aiohttp_paused:
            self._aiohttp_paused = False
            self._aiohttp.resume_writing()

    def data_received(self, data: bytes) -> None:
        if self._remaining:
            data = self._pass_body(data)
            if not data:
                return
        if self._partial:
            self._partial += data
            end = self._partial.find(_END, max(self._scanned - 3, 0))
            if end < 0:
                self._wait_for_more()
                return
            buffer = bytes(self._partial)
            self._partial.clear()
        else:
            buffer = data
        while buffer and self._transport is not None:
            end = buffer.find(_END)
            if end < 0:
                self._partial += buffer
                self._wait_for_more()
                return
            size = end + 4
            if size > MAX_HEAD:
                self._refuse(buffer, 431, "The request head is too large.")
                return
            if buffer.find(b"\r\n", 0, size) > MAX_REQUEST_LINE:
                self._refuse(buffer, 414, "The request line is too long.")
                return
            self._head_since = None
            buffer = self._next(buffer, size)
            self._since = self._front.now

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._messages += 1

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > MAX_FIELD_LINE or len(self._headers) >= MAX_HEADERS:
            self._too_large += 1
            return
        if len(name) == 4 and name.lower() == b"host":
            self._hosts += 1
        self._headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        # Read now: llhttp forgets the Connection header once the message is complete.
        self._keep_alive = self._parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self._complete = True

    # the rest

    def close(self) -> None:
        """Close the connection; at once when answers the client does not read are queued."""
        transport = self._transport
        if transport is not None:
            if transport.get_write_buffer_size():
                transport.abort()
            else:
                transport.close()

    def close_if_idle(self) -> None:
        """Close the connection unless aiohttp is answering a request on it (it closes the
        connection itself once done: the server is shutting down)."""
        if self._aiohttp is None and not self._remaining:
            self.close()

    def expire(self, now: float, idle: float, slow: float) -> None:
        """Close a connection that waits too long: for a request head (or the first one), for
        the rest of a body, for a client to read its answers, or idle. Not while aiohttp is
        answering one of its requests."""
        if self._paused_since is not None and now - self._paused_since > slow:
            self._abort()
        elif self._remaining:
            if now - self._since > slow:
                self._abort()  # the body stopped arriving
        elif self._aiohttp is not None and not _idle(self._aiohttp):
            return
        elif self._head_since is not None and now - self._head_since > slow:
            if self._partial:
                self._send(408, "The request head took too long to arrive.")
            else:
                self.close()  # connected, and never said anything
        elif self._head_since is None and now - self._since > idle:
            self.close()

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _wait_for_more(self) -> None:
        partial = self._partial
        if not partial.strip(b"\r\n"):
            partial.clear()  # blank lines between requests (RFC 9112 2.2) count for nothing
            return
        if self._head_since is None:
            self._head_since = time.monotonic()  # a new head starts arriving
        self._scanned = len(partial)
        line_end = partial.find(b"\r\n")
        if (line_end < 0 and len(partial) > MAX_REQUEST_LINE) or line_end > MAX_REQUEST_LINE:
            self._refuse(bytes(partial), 414, "The request line is too long.")
        elif len(partial) > MAX_HEAD:
            self._refuse(bytes(partial), 431, "The request head is too large.")

    def _next(self, buffer: bytes, size: int) -> bytes:
        """Deal with the request whose head is ``buffer[:size]``; what is left of ``buffer``."""
        started = time.perf_counter()
        headers = self._parse(buffer, size)
        if headers is False:
            return b""  # refused, or passed on with the rest of the connection
        if headers is not None and self._aiohttp is not None and _idle(self._aiohttp):
            self._detach()
        if headers is None or self._aiohttp is not None:
            return self._pass(buffer, size)
        front, parser, url = self._front, self._parser, self._url
        method = parser.get_method().decode("ascii")
        rest = url[len(front.verify_path) :]
        if rest[:1] == b"/":  # Envoy's shape: the original path follows
            answer = front.gate.answer(
                method,
                headers,
                self._peer,
                "http",
                original_path=rest.decode("utf-8", "surrogateescape"),
            )
        else:
            query = rest[1:].decode("utf-8", "surrogateescape")
            answer = front.gate.answer(method, headers, self._peer, "http", query=query)
        if answer.page or (answer.refusal is None and answer.verdict.lines is None):
            return self._pass(buffer, size)  # a page to render: aiohttp's
        keep_alive = self._keep_alive
        http10 = parser.get_http_version() == "1.0"
        self._respond(answer, headers, http10, method == "HEAD", keep_alive)
        status = answer.refusal.status if answer.refusal else 200
        front.metrics.verify_decisions[answer.verdict.outcome].inc()
        seconds = time.perf_counter() - started
        counted = method if method in METHODS else "other"  # a bounded key
        series = front.series.get((counted, status))
        if series is None:
            series = front.series[counted, status] = front.metrics.requests.series(
                front.route, counted, status
            )
        series[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series[-1] += seconds
        if status not in QUIET_VERIFY_STATUSES:
            self._log(method, url, status, seconds)
        if not keep_alive:
            self.close()
            return b""
        return buffer[size:]

    def _parse(self, buffer: bytes, size: int) -> CIMultiDict[str] | Literal[False] | None:
        """The headers of the bodiless ``/verify`` request in ``buffer[:size]``; None when
        aiohttp is to answer it; False when it was refused here (and the connection closed)."""
        self._url, self._headers, self._complete, self._messages = b"", [], False, 0
        self._too_large = self._hosts = 0
        try:
            self._parser.feed_data(buffer[:size])
        except HttpParserUpgrade:
            self._messages = 0  # not one plain message: aiohttp takes the connection over
            return None
        except HttpParserError as exc:
            self._refuse(buffer, 400, str(exc) or "Malformed request.")
            return False
        if self._too_large:
            self._refuse(buffer, 431, "A request header is too large, or there are too many.")
            return False
        url, path = self._url, self._front.verify_path
        if not (
            self._complete
            and self._messages == 1
            and url.startswith(path)
            and url[len(path) : len(path) + 1] in (b"", b"?", b"/")
        ):
            return None
        version = self._parser.get_http_version()
        if (version == "1.1" and self._hosts != 1) or version not in ("1.1", "1.0"):
            return None  # aiohttp answers these as it always has
        return CIMultiDict(self._headers)

    def _pass(self, buffer: bytes, size: int) -> bytes:
        """Give aiohttp the request whose head is ``buffer[:size]``, and as much of its body
        as has come; what is left of ``buffer`` (the next request)."""
        handler = self._attach()
        if self._messages != 1 or not (self._complete or self._content_length() is not None):
            # An upgrade, a chunked body, or something llhttp stopped at: the connection is
            # aiohttp's from here on, as it would be without this listener.
            return self._hand_over(handler, buffer)
        if self._complete:
            handler.data_received(buffer[:size])
            return buffer[size:]
        self._parser = HttpRequestParser(self)  # the old one waits for a body it never gets
        self._remaining = self._content_length() or 0
        handler.data_received(buffer[:size])
        return self._pass_body(buffer[size:])

    def _pass_body(self, data: bytes) -> bytes:
        """Pass body bytes to aiohttp; what follows the body."""
        body, rest = data[: self._remaining], data[self._remaining :]
        self._remaining -= len(body)
        if body:
            self._since = self._front.now
            if self._aiohttp is not None:
                self._aiohttp.data_received(body)
        return rest

    def _content_length(self) -> int | None:
        values = [v for n, v in self._headers if n.lower() == "content-length"]
        return int(values[0]) if len(values) == 1 and values[0].isdigit() else None

    def _attach(self) -> asyncio.Protocol:
        if self._aiohttp is None:
            assert self._transport is not None  # noqa: S101 - only called while connected
            handler = self._aiohttp = self._front.inner()
            self._front.attached += 1
            handler.connection_made(self._transport)
            if self._paused_since is not None:  # writing is stalled: it must know
                handler.pause_writing()
                self._aiohttp_paused = True
        return self._aiohttp

    def _detach(self) -> None:
        """Let an idle aiohttp protocol go, leaving the connection open."""
        handler = self._aiohttp
        assert handler is not None  # noqa: S101 - only called while attached
        self._aiohttp = None
        self._aiohttp_paused = False
        self._front.attached -= 1
        handler.transport = None  # type: ignore[attr-defined]  # so it does not close it
        handler.connection_lost(None)

    def _hand_over(self, handler: asyncio.Protocol, buffer: bytes) -> bytes:
        """Give aiohttp the connection for good, from the start of the request in ``buffer``."""
        transport = self._transport
        assert transport is not None  # noqa: S101 - only called while connected
        self._front.open.discard(self)
        self._front.attached -= 1
        self._transport = self._aiohttp = None
        transport.set_protocol(handler)
        if self._reading_paused:  # aiohttp keeps its own account from here
            transport.resume_reading()
        handler.data_received(bytes(buffer))
        return b""

    def _refuse(self, buffer: bytes, status: int, detail: str) -> None:
        """Refuse a request this listener cannot parse, and close; while aiohttp still owes an
        answer to an earlier request, the bytes go to it instead (it refuses them in turn)."""
        if self._aiohttp is not None and not _idle(self._aiohttp):
            self._hand_over(self._aiohttp, buffer)
        else:
            self._send(status, detail)

    def _respond(
        self, answer: Answer, headers: CIMultiDict[str], http10: bool, head: bool, keep: bool
    ) -> None:
        front = self._front
        transport = self._transport
        assert transport is not None  # noqa: S101 - only called while connected
        rid = chosen_request_id(headers.get(REQUEST_ID_HEADER)).encode()
        refusal = answer.refusal
        if refusal is None:
            before = b" 200 OK\r\n" + (answer.verdict.lines or b"")
            after = _SERVER
            body = b""
        else:
            before, after = front.encoded(refusal)
            body = refusal.body
        transport.write(
            b"".join(
                (
                    b"HTTP/1.0" if http10 else b"HTTP/1.1",
                    before,
                    b"X-Request-ID: ",
                    rid,
                    b"\r\n",
                    after,
                    # As aiohttp: a HEAD answer with nothing to describe names no length.
                    b"Content-Length: %d\r\n" % len(body) if body or not head else b"",
                    front.date,
                    b"" if keep and not http10 else _connection(http10, keep),
                    b"\r\n",
                    b"" if head else body,
                )
            )
        )

    def _send(self, status: int, detail: str) -> None:
        """A plain-text error of this listener's own (as aiohttp sends its parser's), then
        the connection is closed."""
        transport = self._transport
        if transport is None:
            return
        body = f"{status}, message:\n  {detail}".encode()
        transport.write(
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])
            + b"Content-Type: text/plain; charset=utf-8\r\n"
            + b"Content-Length: %d\r\n" % len(body)
            + self._front.date
            + _SERVER
            + b"Connection: close\r\n\r\n"
            + body
        )
        transport.close()
        self._partial.clear()
        if status != 503:
            log_event(log, "malformed_request", status=status, reason=detail, remote=self._peer)

    def _log(self, method: str, url: bytes, status: int, seconds: float) -> None:
        log_request(
            log,
            method=method,
            route=self._front.route,
            path=url.split(b"?", 1)[0].decode("utf-8", "replace"),
            status=status,
            seconds=seconds,
            remote=self._peer,
        )


def _idle(handler: asyncio.Protocol) -> bool:
    """Whether aiohttp's protocol has answered everything it was given and waits for more.

    Read from its private state (pinned aiohttp; tests/test_fastpath.py notices a change):
    when the state cannot be read, it counts as busy, which is always correct, only slower.
    """
    waiter = getattr(handler, "_waiter", None)
    return waiter is not None and not waiter.done() and not getattr(handler, "_messages", True)


def _connection(http10: bool, keep_alive: bool) -> bytes:
    """The Connection header aiohttp sends: only when it differs from the version's default."""
    if http10:
        return b"Connection: keep-alive\r\n" if keep_alive else b""
    return b"" if keep_alive else b"Connection: close\r\n"


class GatewayRunner(web.AppRunner):
    """aiohttp's runner, whose server puts the fast listener in front when FAST_VERIFY is on.

    Any site (TCP, a given socket, the test server's) listens through it.
    """

    async def _make_server(self) -> web.Server:
        inner = await super()._make_server()
        app = self.app
        settings = app[SETTINGS]
        if not settings.fast_verify:
            return inner
        return FrontServer(inner, app[FORWARD_AUTH], app[METRICS], settings)
