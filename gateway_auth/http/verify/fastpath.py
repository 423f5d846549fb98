"""The fast ``/verify`` listener: a minimal HTTP/1.1 protocol on llhttp (through ``httptools``)
in front of aiohttp, on the same port.

Every connection starts here. A bodiless ``/verify`` request is answered at once from bytes
prepared when its token was first verified (refusals from templates made at start-up): it is
decided through ``ForwardAuth``, as aiohttp's handler decides. Anything else (another path, a
request with a body, an Upgrade, a form of HTTP this listener does not serve) is handed to
aiohttp with its bytes intact, on the same connection, which aiohttp then keeps:
``transport.set_protocol`` to a protocol from aiohttp's own factory, fed the buffered bytes
from the start of that request. A ``/verify`` request decided here that only aiohttp can
answer (a person's page to render) is passed with its decision (``handed_over``), so aiohttp
renders it without deciding again.

The request boundary is what makes the hand-over safe. This listener reads one request head
at a time (up to the first blank line) and parses exactly those bytes; llhttp refuses bare
LF, bare CR and obs-fold, so a valid head always ends at the first CRLFCRLF. A head that
completes a message there is bodiless and served; one that does not (a body follows) is handed
over from its first byte, so aiohttp sees the request whole, and every request before it has
already been answered, in order.

A head llhttp refuses (smuggling shapes: Content-Length with Transfer-Encoding, two
Content-Lengths, bare CR, obs-fold; a bad method, version or token), a bare LF in a head still
arriving, and bytes after a last request (``Connection: close``, HTTP/1.0) go to aiohttp from
the request's first byte, with the connection: its parser refuses the same bytes, so the
answer (400, and the close) is word for word the one without this listener. HTTP/0.9 and 2.0
request lines, and HTTP/1.0 with Transfer-Encoding, are aiohttp's too (its middleware answers
505 and 400). Over-long request lines get 414 and heads beyond the limits 431 here.
Connections are capped (503 beyond ``MAX_CONNECTIONS``), and a
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
from aiohttp.http_parser import SINGLETON_HEADERS
from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from gateway_auth.access.forwarded import Peer
from gateway_auth.access.verdict import Verdict
from gateway_auth.config.settings import Settings
from gateway_auth.http.appkeys import FORWARD_AUTH, SERVICES, SETTINGS
from gateway_auth.http.middlewares import SECURITY_HEADERS, SERVER
from gateway_auth.http.request_log import LOGGER, QUIET_VERIFY_STATUSES, log_request
from gateway_auth.http.verify.answers import Answer, ForwardAuth, HandedOver, Refusal
from gateway_auth.logging import chosen_request_id, log_event, new_request_id
from gateway_auth.metrics import LATENCY_BUCKETS, METHODS, Metrics

log = logging.getLogger(LOGGER)
MAX_REQUEST_LINE = 8190  # aiohttp's own limits
MAX_FIELD_LINE = 8190
MAX_HEADERS = 128
MAX_HEAD = 64 * 1024
MAX_SERIES = 256  # (method, status) pairs kept at hand; beyond, looked up each time
TICK = 1.0  # seconds between sweeps for idle and slow connections (and Date updates)
_END = b"\r\n\r\n"
_perf_counter = time.perf_counter
# A request repeating one of these is aiohttp's: RFC 9110's singletons, which aiohttp refuses,
# and X-Forwarded-For, whose values the access rules read all of (this listener keeps one).
ONE_VALUE_ONLY = SINGLETON_HEADERS | {"x-forwarded-for"}
_SERVER = f"Server: {SERVER}\r\n".encode()
_REASONS = {
    200: b"OK",
    302: b"Found",
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
        self.allowed_tail = b""
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

    def counted(self, method: str, status: int) -> list[float]:
        """The request counts of ``/verify`` answers of ``method`` and ``status``, kept at
        hand (a method metrics do not name is counted as "other", and kept under that)."""
        known = method if method in METHODS else "other"
        series = self.series.get((known, status))
        if series is None:
            series = self.series[known, status] = self.metrics.requests.series(
                self.route, known, status
            )
        if len(self.series) < MAX_SERIES:
            self.series[method, status] = series
        return series

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
        # What follows the request id in the usual answer (an allowed, kept-alive HTTP/1.1 GET).
        self.allowed_tail = b"\r\n" + _SERVER + b"Content-Length: 0\r\n" + self.date + b"\r\n"
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
        "_handed_over",
        "_head_since",
        "_headers",
        "_http10",
        "_keep_alive",
        "_large",
        "_parser",
        "_partial",
        "_paused_since",
        "_peer",
        "_reading_paused",
        "_remaining",
        "_repeated",
        "_scanned",
        "_since",
        "_too_large",
        "_transport",
        "_trusted",
        "_upgrade",
        "_url",
        "_who",
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
        # The request head being read: its headers by lower-case name (the first of each),
        # the names that came again, and what llhttp said of it.
        self._headers: dict[str, str] = {}
        self._repeated: list[str] = []  # names that came again
        self._url = b""
        self._complete = False
        self._upgrade = False
        self._keep_alive = False
        self._http10 = False
        self._large = False  # a head long enough to hold a field line over the limit
        self._too_large = False
        self._peer: str | None = None
        self._trusted = False  # whether the peer is one of TRUSTED_PROXIES
        self._who = Peer(None, False)
        self._handed_over: HandedOver | None = None  # a decision aiohttp is to answer
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
        self._trusted = front.gate.trusts(self._peer)
        self._who = Peer(self._peer, self._trusted)
        # The gateways themselves (TRUSTED_PROXIES) are never turned away by the cap.
        full = front.open_connections() >= front.max_connections
        if full and not self._trusted:
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
            self._scanned = 0
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
            if size > MAX_REQUEST_LINE and buffer.find(b"\r\n", 0, size) > MAX_REQUEST_LINE:
                self._refuse(buffer, 414, "The request line is too long.")
                return
            self._head_since = None
            buffer = self._next(buffer, size)
            self._since = self._front.now

    # httptools callbacks (only these: each costs a call into Python per request or header)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        if self._large and len(name) + len(value) > MAX_FIELD_LINE:
            self._too_large = True
        elif key in self._headers:
            self._repeated.append(key)  # the first value counts, as aiohttp's headers.get
        else:  # llhttp strips the whitespace before a value, not after it (aiohttp does)
            self._headers[key] = value.rstrip(b" \t").decode("utf-8", "surrogateescape")

    def on_message_complete(self) -> None:
        self._complete = True
        # Read now: llhttp forgets the Connection header once the next message begins.
        self._keep_alive = self._parser.should_keep_alive()

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
            self._scanned = 0
            return
        if self._head_since is None:
            self._head_since = time.monotonic()  # a new head starts arriving
        if _bare_lf(partial, max(self._scanned - 1, 0)):
            # This listener reads heads ending in CRLFCRLF only: aiohttp's parser reads the
            # rest (it refuses a bare LF in a head at once, and accepts a leading one).
            self._hand_over(self._attach(), bytes(partial))
            partial.clear()
            self._scanned = 0
            return
        self._scanned = len(partial)
        line_end = partial.find(b"\r\n")
        if (line_end < 0 and len(partial) > MAX_REQUEST_LINE) or line_end > MAX_REQUEST_LINE:
            self._refuse(bytes(partial), 414, "The request line is too long.")
        elif len(partial) > MAX_HEAD:
            self._refuse(bytes(partial), 431, "The request head is too large.")

    def _next(self, buffer: bytes, size: int) -> bytes:
        """Deal with the request whose head is ``buffer[:size]``; what is left of ``buffer``."""
        started = _perf_counter()
        headers = self._parse(buffer, size)
        if headers is False:
            return b""  # refused, or passed on with the rest of the connection
        if self._complete and not self._keep_alive and len(buffer) > size:
            # Bytes after a last request (Connection: close, or HTTP/1.0): aiohttp refuses
            # them all with 400, answering nothing of the first; so does this listener.
            self._hand_over(self._attach(), buffer)
            return b""
        if headers is not None and self._aiohttp is not None and _idle(self._aiohttp):
            self._detach()
        if headers is None or self._aiohttp is not None:
            # Undecided: aiohttp decides it, and no decision made here may stay for it (a
            # request aiohttp answered without its handler would leave one on the connection).
            self._handed_over = None
            return self._pass(buffer, size)
        method = self._parser.get_method().decode("ascii")
        status = self._verify(method, headers)
        if not status:
            return self._pass(buffer, size)  # a page to render, or a header to check: aiohttp's
        front = self._front
        seconds = _perf_counter() - started
        series = front.series.get((method, status))
        if series is None:
            series = front.counted(method, status)
        series[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series[-1] += seconds
        if status not in QUIET_VERIFY_STATUSES:
            self._log(method, self._url, status, seconds)
        if not self._keep_alive:
            self.close()
            return b""
        return buffer[size:]

    def _parse(self, buffer: bytes, size: int) -> dict[str, str] | Literal[False] | None:
        """The headers (by lower-case name) of the bodiless ``/verify`` request in
        ``buffer[:size]``; None when aiohttp is to answer it; False when it was refused here
        (and the connection closed)."""
        self._url, self._headers = b"", {}
        if self._repeated:
            self._repeated = []
        self._complete = self._upgrade = self._too_large = False
        self._large = size > MAX_FIELD_LINE
        parser = self._parser
        try:
            parser.feed_data(buffer[:size])
        except HttpParserUpgrade:
            self._upgrade = True  # not one plain message: aiohttp takes the connection over
            return None
        except HttpParserError:
            # aiohttp's parser (llhttp too) refuses the same bytes: it answers, in its words.
            self._hand_over(self._attach(), buffer)
            return False
        headers, repeated = self._headers, self._repeated
        if self._too_large or len(headers) + len(repeated) > MAX_HEADERS:
            self._refuse(buffer, 431, "A request header is too large, or there are too many.")
            return False
        url, path = self._url, self._front.verify_path
        version = parser.get_http_version()
        if (
            not self._complete
            or not url.startswith(path)
            or url[len(path) : len(path) + 1] not in (b"", b"?", b"/")
            or b"#" in url  # no target has a fragment; aiohttp's reading of one stands
            or version not in ("1.1", "1.0")
            # aiohttp refuses an HTTP/1.1 request without one Host, and a second Host,
            # Content-Type, User-Agent... (RFC 9110's singletons) in any request
            or (version == "1.1" and "host" not in headers)
            or (repeated and not ONE_VALUE_ONLY.isdisjoint(repeated))
        ):
            return None
        self._http10 = version == "1.0"
        return headers

    def _verify(self, method: str, headers: dict[str, str]) -> int:
        """Decide and answer the ``/verify`` request just parsed; its status, or 0 when aiohttp
        is to answer it (a page to render, an identity header that cannot be sent as it is),
        which then gets the decision with it."""
        front = self._front
        gate = front.gate
        rest = self._url[len(front.verify_path) :]
        if rest[-1:] == b"?" and rest.find(b"?") == len(rest) - 1:
            rest = rest[:-1]  # an empty query is no query (as aiohttp reads it)
        target = rest.decode("utf-8", "surrogateescape")
        check = gate.check(method, headers, self._who, "http", target)
        verdict, _ = gate.decide(check)
        given = headers.get("x-request-id")
        rid = (new_request_id() if given is None else chosen_request_id(given)).encode()
        lines = verdict.lines
        if lines is not None and self._keep_alive and not self._http10 and method != "HEAD":
            # The usual answer, at once: it was prepared when the token was first verified.
            self._transport.write(  # type: ignore[union-attr]  # connected: it just read
                b"".join(
                    (b"HTTP/1.1 200 OK\r\n", lines, b"X-Request-ID: ", rid, front.allowed_tail)
                )
            )
            return 200
        answer = None
        if verdict.headers is None:
            answer = gate.refuse(check, target, verdict)
        if (answer is None and lines is None) or (answer is not None and answer.page):
            url = self._url.decode("utf-8", "surrogateescape")
            self._handed_over = HandedOver(method, url, verdict, answer)
            return 0
        self._respond(verdict, answer, rid, method == "HEAD")
        return 200 if answer is None else answer.refusal.status

    def handed_over(self, protocol: object, method: str, target: str) -> HandedOver | None:
        """The decision on the request aiohttp's ``protocol`` is answering, when this listener
        made it: it was the one request passed since, to that protocol, with that method and
        raw target; anything else is decided afresh."""
        handed, self._handed_over = self._handed_over, None
        if (
            handed is None
            or protocol is not self._aiohttp
            or handed.method != method
            or handed.target != target
        ):
            return None
        return handed

    def _pass(self, buffer: bytes, size: int) -> bytes:
        """Give aiohttp the request whose head is ``buffer[:size]``, and as much of its body
        as has come; what is left of ``buffer`` (the next request)."""
        handler = self._attach()
        if self._upgrade or not (self._complete or self._content_length() is not None):
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
        value = self._headers.get("content-length")
        if value is None or "content-length" in self._repeated or not value.isdigit():
            return None
        return int(value)

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
        self._handed_over = None  # its requests are answered: nothing of theirs may stay
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
        self._handed_over = None
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

    def _respond(self, verdict: Verdict, answer: Answer | None, rid: bytes, head: bool) -> None:
        """Any other answer: a refusal, or an answer to HTTP/1.0, HEAD or a last request."""
        front = self._front
        transport = self._transport
        assert transport is not None  # noqa: S101 - only called while connected
        http10, keep = self._http10, self._keep_alive
        refusal = None if answer is None else answer.refusal
        if refusal is None:
            before = b" 200 OK\r\n" + (verdict.lines or b"")
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


def _bare_lf(partial: bytearray, start: int) -> bool:
    """Whether ``partial`` holds a LF not preceded by CR at or after ``start``."""
    at = partial.find(b"\n", start)
    while at >= 0:
        if at == 0 or partial[at - 1] != 0x0D:
            return True
        at = partial.find(b"\n", at + 1)
    return False


def _idle(handler: asyncio.Protocol) -> bool:
    """Whether aiohttp's protocol has answered everything it was given and waits for more.

    Read from its private state (pinned aiohttp; tests/http/verify/test_fastpath.py notices a
    change):
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
        return FrontServer(inner, app[FORWARD_AUTH], app[SERVICES].metrics, settings)
