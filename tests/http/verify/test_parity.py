"""Malformed and unusual requests get the same bytes from the fast listener as from aiohttp
alone (the README's promise): request lines, versions, header names and values, framing. Each
is sent to both, and every answer is compared (the date and the request id's counter aside),
with whether the connection closed. The fast listener's own refusals (414, 431, 408, 503:
limits aiohttp words differently) are tested in test_fastpath.py."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.support.browser import AppClient
from tests.support.wire import READ_TIMEOUT, GatewayTestServer

HOST = b"Host: auth.example\r\n"
CORPUS = {
    # request lines
    "bare LF line ends": b"GET /verify HTTP/1.1\nHost: a\n\n",
    "a bare LF after one header": b"GET /verify HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
    "a bare LF ending the head": b"GET /verify HTTP/1.1\r\nHost: a\r\n\n",
    "a leading CRLF": b"\r\nGET /verify HTTP/1.1\r\n" + HOST + b"\r\n",
    "a leading LF": b"\nGET /verify HTTP/1.1\r\n" + HOST + b"\r\n",
    "a lower-case method": b"get /verify HTTP/1.1\r\n" + HOST + b"\r\n",
    "an unknown method": b"FOO /verify HTTP/1.1\r\n" + HOST + b"\r\n",
    "a method with a bad token": b"GE(T /verify HTTP/1.1\r\n" + HOST + b"\r\n",
    "a NUL in the method": b"G\x00T /verify HTTP/1.1\r\n" + HOST + b"\r\n",
    "an 8-bit byte in the query": b"GET /verify?x=\xff HTTP/1.1\r\n" + HOST + b"\r\n",
    "an 8-bit byte in the path": b"GET /verify\xff HTTP/1.1\r\n" + HOST + b"\r\n",
    "a control character in the path": b"GET /ver\x01ify HTTP/1.1\r\n" + HOST + b"\r\n",
    "two spaces": b"GET  /verify HTTP/1.1\r\n" + HOST + b"\r\n",
    "a space after the version": b"GET /verify HTTP/1.1 \r\n" + HOST + b"\r\n",
    "absolute form": b"GET http://auth.example/verify HTTP/1.1\r\n" + HOST + b"\r\n",
    "asterisk form": b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n",
    "CONNECT": b"CONNECT auth.example:443 HTTP/1.1\r\n" + HOST + b"\r\n",
    # versions
    "HTTP/0.9": b"GET /verify HTTP/0.9\r\n" + HOST + b"\r\n",
    "HTTP/2.0": b"GET /verify HTTP/2.0\r\n" + HOST + b"\r\n",
    "HTTP/1.2": b"GET /verify HTTP/1.2\r\n" + HOST + b"\r\n",
    "HTTP/3.0": b"GET /verify HTTP/3.0\r\n" + HOST + b"\r\n",
    "a lower-case version": b"GET /verify http/1.1\r\n" + HOST + b"\r\n",
    "no version": b"GET /verify\r\n\r\n",
    "HTTP/1.0 without Host": b"GET /verify HTTP/1.0\r\n\r\n",
    # header names and values
    "a space before the colon": b"GET /verify HTTP/1.1\r\nHost : a\r\n\r\n",
    "a tab in a name": b"GET /verify HTTP/1.1\r\n" + HOST + b"X\t: b\r\n\r\n",
    "an empty name": b"GET /verify HTTP/1.1\r\n" + HOST + b": x\r\n\r\n",
    "no colon": b"GET /verify HTTP/1.1\r\nHost a\r\n\r\n",
    "a space before the first name": b"GET /verify HTTP/1.1\r\n Host: a\r\n\r\n",
    "a NUL in a value": b"GET /verify HTTP/1.1\r\n" + HOST + b"X: a\x00b\r\n\r\n",
    "a DEL in a value": b"GET /verify HTTP/1.1\r\n" + HOST + b"X: a\x7fb\r\n\r\n",
    "obs-fold": b"GET /verify HTTP/1.1\r\n" + HOST + b"X: a\r\n b\r\n\r\n",
    "a bare CR": b"GET /verify HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
    "two Hosts": b"GET /verify HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    # framing
    "bytes after Connection: close": (
        b"GET /verify HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\nXYZ"
    ),
    "a request after Connection: close": (
        b"GET /verify HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
        b"GET /verify HTTP/1.1\r\n" + HOST + b"\r\n"
    ),
    "a request after an HTTP/1.0 one": (
        b"GET /verify HTTP/1.0\r\n\r\nGET /verify HTTP/1.1\r\n" + HOST + b"\r\n"
    ),
    "HTTP/1.0 with Transfer-Encoding": (
        b"GET /verify HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "HTTP/1.0 keep-alive with Transfer-Encoding": (
        b"POST /verify HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /verify HTTP/1.0\r\n\r\n"
    ),
    "Content-Length with Transfer-Encoding": (
        b"GET /verify HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "two Content-Lengths": (
        b"GET /verify HTTP/1.1\r\n" + HOST + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    ),
    "a negative Content-Length": b"GET /verify HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n\r\n",
    "a signed Content-Length": b"GET /verify HTTP/1.1\r\n" + HOST + b"Content-Length: +1\r\n\r\nx",
    "a final encoding other than chunked": (
        b"POST /verify HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n\r\n"
    ),
    "chunked twice": (
        b"POST /verify HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked, chunked\r\n\r\n"
        b"0\r\n\r\n"
    ),
}


async def conversation(port: int, request: bytes) -> bytes:
    """What the server answers to ``request`` (every case here gets one answer), then whether
    the connection was closed (when the answer says it will be; all that follows is kept) or
    left open."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        except asyncio.IncompleteReadError as end:
            return end.partial + b"<closed>"
        length = re.search(rb"\r\nContent-Length: (\d+)", head)
        transcript = head + await reader.readexactly(int(length.group(1)) if length else 0)
        if b"\r\nConnection: close" in head or (
            head.startswith(b"HTTP/1.0") and b"\r\nConnection: keep-alive" not in head
        ):
            transcript += await asyncio.wait_for(reader.read(), READ_TIMEOUT) + b"<closed>"
        else:
            transcript += b"<open>"
    finally:
        writer.close()
    transcript = re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: D", transcript)
    return re.sub(rb"(\r\nX-Request-ID: [^\r]*-)[0-9a-f]+", rb"\1N", transcript)


@pytest.mark.parametrize("request_bytes", list(CORPUS.values()), ids=list(CORPUS))
async def test_both_listeners_answer_alike(http: AppClient, request_bytes: bytes) -> None:
    server = http.server
    assert isinstance(server, GatewayTestServer)
    assert server.twin_port is not None

    fast = await conversation(server.port or 0, request_bytes)
    aiohttp_alone = await conversation(server.twin_port, request_bytes)

    assert fast == aiohttp_alone
    assert fast.startswith(b"HTTP/1.")


async def answer_without_closing(port: int, request: bytes) -> tuple[bytes, bool]:
    """The first answer, read within READ_TIMEOUT, and whether the server then closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        length = re.search(rb"Content-Length: (\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        rest = await asyncio.wait_for(reader.read(), READ_TIMEOUT)
    finally:
        writer.close()
    return head, rest == b""


@pytest.mark.parametrize("which", ["fast", "aiohttp"])
async def test_faulty_framing_and_other_versions_are_refused_and_the_connection_closed(
    http: AppClient, which: str
) -> None:
    server = http.server
    assert isinstance(server, GatewayTestServer)
    port = server.port if which == "fast" else server.twin_port
    assert port is not None

    bare_lf = await answer_without_closing(port, b"GET /verify HTTP/1.1\nHost: a\n\n")
    http10_te = await answer_without_closing(
        port,
        b"GET /verify HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    http2 = await answer_without_closing(port, b"GET /verify HTTP/2.0\r\n" + HOST + b"\r\n")

    # A bare LF at once (never held until the head timeout), and each connection closed.
    assert bare_lf[0].startswith(b"HTTP/1.0 400 ")
    assert http10_te[0].startswith(b"HTTP/1.0 400 ")
    assert b"urn:gateway-auth:problem:faulty-framing" not in http10_te[0]  # (the body's)
    assert http2[0].startswith(b"HTTP/1.1 505 HTTP Version Not Supported\r\n")
    assert (bare_lf[1], http10_te[1], http2[1]) == (True, True, True)
