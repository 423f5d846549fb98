"""gateway-auth and the echo upstream behind the real gateways, as the gateway tests reach them."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError, ClientSession, web

from tests.support.credentials import PASSWORD
from tests.support.recipes import BASE_PATH
from tests.support.waiting import eventually

ACCESS_COOKIE = "gateway_auth"  # COOKIE_SECURE=false: plain http on loopback without prefixes
SPOOFS = {
    "X-Auth-User-Id": "evil",
    "X-Auth-Email": "evil@example.com",
    "X-Auth-Scopes": "admin",
    "Remote-User": "evil",
    "Remote-Name": "Evil",
    "Remote-Groups": "admin",
    "X-Auth-Groups": "admin",
}
API_CALL = {"Accept": "application/json"}
METHOD_OVERRIDES = {
    "X-HTTP-Method-Override": "DELETE",
    "X-HTTP-Method": "DELETE",
    "X-Method-Override": "DELETE",
}


@dataclass
class Stack:
    """gateway-auth and the echo upstream, both listening on real ports."""

    auth_port: int
    upstream_port: int
    app: web.Application
    http: ClientSession

    @property
    def base(self) -> str:
        """gateway-auth itself, reached directly (not through a gateway)."""
        return f"http://127.0.0.1:{self.auth_port}{BASE_PATH}"

    async def login(self, email: str = "ada@example.com") -> str:
        """Register and log in directly at gateway-auth; the access cookie's ``name=value``."""
        await self.http.post(f"{self.base}/register", json={"email": email, "password": PASSWORD})
        async with self.http.post(
            f"{self.base}/login", json={"email": email, "password": PASSWORD}
        ) as response:
            assert response.status == 200
            return f"{ACCESS_COOKIE}={response.cookies[ACCESS_COOKIE].value}"

    async def logout(self, cookie: str) -> None:
        url = f"{self.base}/logout"
        async with self.http.post(url, headers={"Cookie": cookie}) as response:
            assert response.status == 204


async def fetch(stack: Stack, url: str, **headers: str) -> tuple[int, Any, dict[str, Any]]:
    async with stack.http.get(url, headers=headers, allow_redirects=False) as response:
        json = response.status == 200 and response.content_type == "application/json"
        body = await response.json() if json else {"text": await response.text()}
        return response.status, response.headers, body


async def wait_for_route(http: ClientSession, port: int) -> None:
    """Traefik accepts connections before its routers are loaded (404 until then). Asked
    without blocking: gateway-auth answers from this same event loop."""

    async def routed() -> bool:
        with contextlib.suppress(ClientError):
            async with http.get(f"http://127.0.0.1:{port}/auth/healthz") as response:
                return response.status == 200
        return False

    await eventually(routed, within=10, what=f"Traefik on port {port} routing /auth/healthz")
