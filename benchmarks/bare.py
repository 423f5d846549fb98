"""Baseline: the cheapest aiohttp handler there is, on the same event loop the service uses."""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web


async def ok(request: web.Request) -> web.Response:
    return web.Response()


def main() -> None:
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
