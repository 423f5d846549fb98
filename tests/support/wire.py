"""HTTP/1.1 on the wire for the tests: raw exchanges, and the test server that listens the way
``gateway-auth serve`` does, with an aiohttp-only twin on the same application to compare."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import TraceConfig, TraceRequestEndParams
from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from gateway_auth.http.verify.fastpath import FrontServer, GatewayRunner

READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class Exchange:
    """One answer as it came over the wire."""

    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.status_line.split(" ")[1])

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def comparable(self) -> tuple[str, list[tuple[str, str]], bytes]:
        """Everything but the values that differ between any two answers: the time, the
        request id a server makes up, and a page's fresh form-token nonce."""
        headers = [(n, _MASKS.get(n, _same)(v)) for n, v in self.headers if n != "Date"]
        return self.status_line, headers, re.sub(rb"\b[0-9a-f]{64}\b", b"T", self.body)


def _same(value: str) -> str:
    return value


_MASKS = {
    "X-Request-ID": lambda v: re.sub(r"-[0-9a-f]+$", "-N", v),
    "Set-Cookie": lambda v: re.sub(r"=[^;]*", "=V", v, count=1),
}


class Connection:
    """A raw client connection: write bytes, read answers one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self, *, head: bool = False) -> Exchange:
        """The next answer (``head``: to a HEAD request, so no body follows)."""
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        lines = raw.decode("utf-8", "surrogateescape").split("\r\n")[:-2]
        headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
        exchange = Exchange(lines[0], [(n, v) for n, v in headers], b"")
        length = int(exchange.header("Content-Length") or 0)
        if length and not head:
            body = await asyncio.wait_for(self.reader.readexactly(length), READ_TIMEOUT)
            exchange = Exchange(exchange.status_line, exchange.headers, body)
        return exchange

    async def closed(self) -> bool:
        """True once the server has closed the connection (waits for it)."""
        try:
            rest = await asyncio.wait_for(self.reader.read(), READ_TIMEOUT)
        except (ConnectionError, TimeoutError):
            return False
        return rest == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def exchange(port: int, request: bytes, *, head: bool = False) -> Exchange:
    """Send one request on a new connection and read its answer."""
    connection = await Connection.open(port)
    try:
        await connection.send(request)
        return await connection.answer(head=head)
    finally:
        await connection.close()


class GatewayTestServer(TestServer):
    """aiohttp's test server listening the way ``gateway-auth serve`` does: through the fast
    ``/verify`` listener (unless FAST_VERIFY is off), which hands everything else to aiohttp,
    so every HTTP test crosses the hand-over. ``twin_port`` serves the same application
    through aiohttp alone."""

    twin_port: int | None = None
    _twin: asyncio.Server | None = None

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return GatewayRunner(self.app, **kwargs)

    async def start_server(
        self, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any
    ) -> None:
        await super().start_server(loop=loop, **kwargs)
        assert self.runner is not None
        front = self.runner.server
        if isinstance(front, FrontServer):
            self._twin = await asyncio.get_running_loop().create_server(front.inner, "127.0.0.1", 0)
            self.twin_port = self._twin.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._twin is not None:
            self._twin.close()
            self._twin = None
        await super().close()


def parity_check(server: GatewayTestServer, verify_path: str = "/verify") -> TraceConfig:
    """A client trace that sends every ``/verify`` request it sees again to the aiohttp-only
    twin and fails the request unless both answers have the same status, headers and body."""

    async def compare(_session: Any, _context: Any, params: TraceRequestEndParams) -> None:
        path = params.url.raw_path
        if server.twin_port is None or not (
            path == verify_path or path.startswith(verify_path + "/")
        ):
            return
        fast = Exchange(
            f"HTTP/1.1 {params.response.status} {params.response.reason}",
            [(n.decode(), v.decode()) for n, v in params.response.raw_headers],
            await params.response.read(),
        )
        lines = [f"{params.method} {params.url.raw_path_qs} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in params.headers.items()]
        if "Host" not in params.headers:
            lines.append(f"Host: {params.url.raw_authority}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        twin = await exchange(server.twin_port, request, head=params.method == "HEAD")
        assert fast.comparable() == twin.comparable(), (params.method, path, fast, twin)

    trace = TraceConfig()
    trace.on_request_end.append(compare)
    return trace
