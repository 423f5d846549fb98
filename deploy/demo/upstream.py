"""The compose demo's application: it answers every request with the headers it received,
so you can see the identity gateway-auth put there (and that a spoofed one never arrives)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHOWN = ("x-auth-", "remote-", "x-request-id")


class Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        identity = {k: v for k, v in self.headers.items() if k.lower().startswith(SHOWN)}
        body = json.dumps({"path": self.path, "identity": identity}, indent=2).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8080), Echo).serve_forever()  # noqa: S104 - in a container
