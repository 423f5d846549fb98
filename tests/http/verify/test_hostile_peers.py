"""Peers that misbehave at the connection level, against a real ``gateway-auth serve`` process
(the in-process test server cancels handlers on disconnect, which hides what production does)."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

from tests.support.processes import server_output, start_server, stop_server


def _login_lines(port: int) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return [
        line
        for line in text.splitlines()
        if line.startswith("gateway_auth_http_requests_total") and 'route="/login"' in line
    ]


def test_a_client_that_leaves_mid_body_is_counted_as_its_fault_not_a_500(tmp_path: Path) -> None:
    port, process = start_server(tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", port)) as peer:
            peer.sendall(
                b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"email": '
            )
            time.sleep(0.1)  # the handler is waiting for the rest of the body

        deadline = time.monotonic() + 10
        while not (lines := _login_lines(port)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        output = stop_server(process)

    assert lines, "the abandoned request was not counted"
    assert all('status="400"' in line for line in lines), lines
    assert "unhandled_error" not in output
    assert "Traceback" not in output


def test_a_request_aiohttp_cannot_parse_is_one_quiet_log_line(tmp_path: Path) -> None:
    port, process = start_server(tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", port)) as peer:
            peer.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Probe: \x00\r\n\r\n")
            answer = peer.recv(4096).decode(errors="replace")
        deadline = time.monotonic() + 10
        while "malformed_request" not in server_output(process) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        output = stop_server(process)

    assert answer.split(" ", 2)[1] == "400"
    assert "Server: gateway-auth" in answer.split("\r\n")
    (line,) = [json.loads(line) for line in output.splitlines() if "malformed_request" in line]
    assert (line["level"], line["status"]) == ("info", 400)
    assert "Traceback" not in output
    assert "Unhandled exception" not in output
