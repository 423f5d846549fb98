"""An HTTP client of the app under test that keeps cookies as a browser does, checks every
answer for leaks and against the OpenAPI document, and fills in the portal's forms."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from http.cookies import Morsel, SimpleCookie
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from gateway_auth.accounts.clients import NewClient
from gateway_auth.http.appkeys import SERVICES, SETTINGS
from gateway_auth.stores.base import Suspension
from tests.support import conformance
from tests.support.credentials import PASSWORD

# Text that must never reach a caller: bcrypt hashes, tracebacks, driver and library messages.
LEAKS = ("$2b$", "$2a$", "Traceback", "sqlite", "pymongo", "E11000", 'File "', "Error:")

AppClient = TestClient[Any, Any]


# What a browser sends when a person loads a page or submits a form.
PAGE_LOAD = {
    "Accept": "text/html,application/xhtml+xml",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}
_FORM_TOKEN = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@dataclass
class Browser:
    """Keeps cookies by name and path as a browser does, and checks every answer for leaks."""

    http: AppClient
    cookies: dict[str, Morsel[str]] = field(default_factory=dict)
    last_set_cookies: list[Morsel[str]] = field(default_factory=list)

    async def request(self, method: str, path: str, **kwargs: Any) -> Response:
        headers = dict(kwargs.pop("headers", {}))
        sendable = [m for m in self.cookies.values() if path.startswith(m["path"] or "/")]
        if sendable:
            headers["Cookie"] = "; ".join(f"{m.key}={m.value}" for m in sendable)
        async with self.http.request(
            method, path, headers=headers, allow_redirects=False, **kwargs
        ) as raw:
            response = await Response.read(raw)
        # Every answer must be one the OpenAPI document describes (tests/conformance.py).
        undocumented = conformance.problems(
            self.http.app[SETTINGS].base_path,
            method,
            str(path),
            response.status,
            response.headers.get("Content-Type", ""),
            response.text,
        )
        assert not undocumented, undocumented
        self.last_set_cookies = response.set_cookies
        for morsel in response.set_cookies:
            if morsel["max-age"] == "0":
                self.cookies.pop(morsel.key, None)
            else:
                self.cookies[morsel.key] = morsel
        return response

    async def register(
        self, email: str = "ada@example.com", password: str = PASSWORD, **extra: Any
    ) -> Response:
        return await self.request(
            "POST", "/register", json={"email": email, "password": password, **extra}
        )

    async def login(self, email: str = "ada@example.com", password: str = PASSWORD) -> Response:
        return await self.request("POST", "/login", json={"email": email, "password": password})

    async def logged_in(self, email: str = "ada@example.com") -> Browser:
        """Register ``email`` with the test password and log in, as most tests begin."""
        await self.register(email=email)
        response = await self.login(email)
        assert response.status == 200, response.text
        return self

    async def page(self, path: str, **headers: str) -> Response:
        """Load a page the way a person does."""
        return await self.request("GET", path, headers={**PAGE_LOAD, **headers})

    @property
    def origin(self) -> str:
        """The origin this browser's pages come from."""
        return str(self.http.make_url("/")).rstrip("/")

    async def submit(
        self, page: Response, action: str, fields: dict[str, str], **headers: str
    ) -> Response:
        """Submit a form of ``page`` as the browser would: its token, this origin, no JS."""
        match = _FORM_TOKEN.search(page.text)
        assert match, f"no form token on the page: {page.text[:300]}"
        sent = {**PAGE_LOAD, "Origin": self.origin, "Sec-Fetch-Site": "same-origin", **headers}
        return await self.request("POST", action, data={"csrf": match[1], **fields}, headers=sent)

    async def signed_in_by_form(
        self, email: str = "ada@example.com", *, remember: bool = False
    ) -> Response:
        """Sign in through the sign-in page's form; the answer (a 303 on success)."""
        page = await self.page("/login")
        fields = {"email": email, "password": PASSWORD} | ({"remember": "on"} if remember else {})
        return await self.submit(page, "/login", fields)

    def access_cookie(self) -> str:
        return next(
            m.value for m in self.cookies.values() if not m.key.endswith(("_refresh", "_csrf"))
        )

    def refresh_cookie(self) -> str:
        return next(m.value for m in self.cookies.values() if m.key.endswith("_refresh"))


async def store_suspends(http: AppClient, client_id: str) -> None:
    """Set the suspended flag in the store only, as another instance's write would land."""
    await http.app[SERVICES].store.set_suspended(
        client_id, Suspension(True, http.app[SERVICES].clock())
    )


async def admin(http: AppClient, browser: Browser) -> Browser:
    """Log ``browser`` in as root@example.com, holding the admin and billing scopes."""
    new = NewClient("root@example.com", PASSWORD, "Ada", "Lovelace")
    await http.app[SERVICES].accounts.create(new, kind="user", scopes=["admin", "billing"])
    response = await browser.login("root@example.com")
    assert response.status == 200
    return browser


async def registrations_from_many_addresses(browser: Browser, count: int) -> list[Response]:
    """``count`` registrations at once, each from its own address (the test client is a
    trusted proxy), so the per-address limits stay out of the way."""
    return await asyncio.gather(
        *(
            browser.request(
                "POST",
                "/register",
                json={"email": f"user{i}@example.com", "password": PASSWORD},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            for i in range(count)
        )
    )


@dataclass
class Response:
    """What a test looks at: status, headers, text, parsed JSON and the Set-Cookie morsels."""

    status: int
    headers: Any
    text: str
    set_cookies: list[Morsel[str]]

    @classmethod
    async def read(cls, raw: ClientResponse) -> Response:
        text = await raw.text()
        for leak in LEAKS:
            assert leak not in text, f"response leaks {leak!r}: {text[:300]}"
        morsels: list[Morsel[str]] = []
        for header in raw.headers.getall("Set-Cookie", []):
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            morsels.extend(parsed.values())
        return cls(raw.status, raw.headers, text, morsels)

    def json(self) -> Any:
        return json.loads(self.text)

    def cookie(self, name: str) -> Morsel[str]:
        return next(m for m in self.set_cookies if m.key == name)
