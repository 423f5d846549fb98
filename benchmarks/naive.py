"""Baseline: the usual design, a full PyJWT decode and one Redis SISMEMBER on every request."""

from __future__ import annotations

import os
import sys

import jwt
import redis.asyncio as aioredis
import uvloop
from aiohttp import web

SECRET = os.environ["BENCH_JWT_SECRET"]
redis = aioredis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


async def verify(request: web.Request) -> web.Response:
    token = request.cookies.get("gateway_auth", "")
    try:
        claims = jwt.decode(
            token, SECRET, algorithms=["HS256"], audience="gateway-auth", issuer="gateway-auth"
        )
    except jwt.PyJWTError:
        return web.Response(status=401)
    if await redis.sismember("gateway-auth:suspended", claims["sub"]):
        return web.Response(status=403)
    return web.Response(headers={"X-Auth-User-Id": claims["sub"], "X-Auth-Email": claims["email"]})


def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/verify", verify)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
