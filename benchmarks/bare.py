"""Baseline: the cheapest aiohttp handler there is, on the same event loop the service uses.

With ``--identity`` it answers with the same headers an allowed ``/verify`` answer carries (the
nine identity headers, Cache-Control, Server): the ceiling any aiohttp handler of that answer
can reach, which shows how much of the gap to ``bare`` is aiohttp writing headers.
"""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web

IDENTITY = {
    "X-Auth-User-Id": "bf7a5315b93f447d9c81a5b2d38fc60f",
    "X-Auth-Email": "bench@example.com",
    "X-Auth-Kind": "user",
    "X-Auth-Scopes": "",
    "X-Auth-Session-Id": "f1efc6b8053363ad2e8a481d7be6794f",
    "Remote-User": "bf7a5315b93f447d9c81a5b2d38fc60f",
    "Remote-Email": "bench@example.com",
    "Remote-Name": "",
    "X-Auth-Groups": "",
    "Remote-Groups": "",
    "Cache-Control": "no-store",
    "Server": "gateway-auth",
}


def main() -> None:
    headers = IDENTITY if "--identity" in sys.argv else None

    async def ok(request: web.Request) -> web.Response:
        return web.Response(headers=headers)

    app = web.Application()
    app.router.add_route("*", "/verify", ok)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        reuse_port=True,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
