"""A real OpenID Provider for the tests: panva's ``oidc-provider`` (OpenID Certified), pinned
in ``tests/oidc/package.json`` with its lock file, run by the machine's Node.js on a free port.

The test owns its signing key (generated here, handed to the provider in its configuration),
so it can also sign tokens the provider never would (another audience, another nonce, a
logout token sent twice) and see them checked against the provider's real discovery and JWKS.
Restarting with a new key is how a test rotates the provider's keys.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.browser import AppClient, Browser, Response
from tests.support.processes import free_port, require_binary, spawned, stop
from tests.support.waiting import until

PACKAGE = Path(__file__).resolve().parents[1] / "oidc"
_INSTALL = threading.Lock()
CLIENT_ID, CLIENT_SECRET = "gateway-auth", "a-test-client-secret-of-the-provider"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {
        "email": "alice@corp.example",
        "email_verified": True,
        "name": "Alice Liddell",
        "given_name": "Alice",
        "family_name": "Liddell",
        "groups": ["staff", "billing-team"],
    },
    "bob": {
        "email": "bob@corp.example",
        "email_verified": True,
        "name": "Bob Builder",
        "given_name": "Bob",
        "family_name": "Builder",
        "groups": ["staff"],
    },
    "mallory": {
        "email": "mallory@elsewhere.example",
        "email_verified": True,
        "name": "Mallory",
        "groups": ["staff"],
    },
    "carol": {  # names no page or header may carry as sent
        "email": "carol@corp.example",
        "email_verified": True,
        "name": "Carol Line",
        "given_name": "Carol\u202e\u2066",
        "family_name": "Line\r\nX-Injected: yes",
        "groups": [],
    },
    "unverified": {
        "email": "ada@corp.example",
        "email_verified": False,
        "name": "Not Ada",
        "groups": [],
    },
}


def installed() -> Path:
    """``tests/oidc`` with its node_modules (``npm ci`` from the lock file the first time)."""
    node = require_binary("node")
    npm = require_binary("npm")
    with _INSTALL:
        if not (PACKAGE / "node_modules" / "oidc-provider").is_dir():
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=PACKAGE,
                check=True,
                timeout=600,
            )
    return Path(node)


def new_key() -> RSAKey:
    """A fresh RS256 signing key with a kid of its own."""
    return RSAKey.generate_key(
        2048, parameters={"kid": uuid.uuid4().hex[:12], "use": "sig", "alg": "RS256"}
    )


@dataclass
class OpenIdProvider:
    """A running provider: its issuer, its current key, and how to restart it."""

    directory: Path
    port: int
    clients: list[dict[str, Any]]
    accounts: dict[str, dict[str, Any]]
    key: RSAKey = field(default_factory=new_key)
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        node = installed()
        config = self.directory / f"oidc-{self.port}.json"
        config.write_text(
            json.dumps(
                {
                    "issuer": self.issuer,
                    "port": self.port,
                    "keys": [self.key.as_dict(private=True)],
                    "clients": self.clients,
                    "accounts": self.accounts,
                }
            )
        )
        with (self.directory / f"oidc-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(node), str(PACKAGE / "server.mjs"), str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PACKAGE,
            )
        until(self._answers, within=30, what="oidc-provider answering discovery")

    def rotate(self) -> None:
        """Start again with a new signing key (a new ``kid``): what a provider's key rotation
        looks like to its relying parties."""
        self.stop()
        self.key = new_key()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def sign(self, claims: dict[str, Any], *, typ: str | None = None) -> str:
        """A token signed with the provider's own key (one it would never issue itself)."""
        header: dict[str, Any] = {"alg": "RS256", "kid": self.key.kid}
        if typ:
            header["typ"] = typ
        return jwt.encode(header, claims, self.key)

    def logout_token(self, **claims: Any) -> str:
        """A back-channel logout token for the test client, as the provider would make one."""
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            **claims,
        }
        return self.sign({k: v for k, v in body.items() if v is not None}, typ="logout+jwt")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"oidc-provider exited: {self.log()}")
        url = f"{self.issuer}/.well-known/openid-configuration"
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=1) as answer,  # noqa: S310 - loopback
        ):
            return bool(answer.status == 200)
        return False

    def log(self) -> str:
        path = self.directory / f"oidc-{self.port}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def registered_client(
    redirect_uris: list[str], backchannel: str | None = None, client_id: str = CLIENT_ID
) -> dict[str, Any]:
    """The provider's registration of gateway-auth (a confidential web client)."""
    client: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": [uri.rsplit("/providers/", 1)[0] + "/login"
                                      for uri in redirect_uris],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }  # fmt: skip
    if backchannel:
        client["backchannel_logout_uri"] = backchannel
        client["backchannel_logout_session_required"] = True
    return client


@contextlib.contextmanager
def running_provider(
    directory: Path,
    clients: list[dict[str, Any]],
    *,
    accounts: dict[str, dict[str, Any]] | None = None,
    port: int | None = None,
) -> Iterator[OpenIdProvider]:
    """A provider for the duration of the block."""
    provider = OpenIdProvider(directory, port or free_port(), clients, accounts or ACCOUNTS)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


__all__ = [
    "ACCOUNTS",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "OpenIdProvider",
    "registered_client",
    "running_provider",
    "spawned",
]  # fmt: skip


_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


async def through_provider(
    authorization_url: str, login: str, *, callback_prefix: str, cancel: bool = False
) -> str:
    """Sign in at the provider as a person would on its own pages (login, then consent, or
    "Cancel"), with a cookie jar of the provider's own; the URL it sends the browser back to."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        url = authorization_url
        for _ in range(20):
            if url.startswith(callback_prefix):
                return url
            async with session.get(url, allow_redirects=False) as answer:
                if answer.status in (302, 303):
                    url = urljoin(url, answer.headers["Location"])
                    continue
                page = await answer.text()
                assert answer.status == 200, page[:500]
            if cancel:
                url = urljoin(url, re.findall(r'href="([^"]*/abort)"', page)[0])
                continue
            action = urljoin(url, _ACTION.findall(page)[0])
            fields = dict(_HIDDEN.findall(page))
            if 'name="login"' in page:
                fields |= {"login": login, "password": "any"}
            async with session.post(action, data=fields, allow_redirects=False) as answer:
                assert answer.status in (302, 303), (await answer.text())[:500]
                url = urljoin(url, answer.headers["Location"])
        raise AssertionError(f"the provider never sent the browser back: {url}")


# The app's side, over HTTP (tests/support/browser.py): one provider "corp" on the real
# provider above, and "other", where nobody answers.
PORTAL = "https://portal.example.com"
CALLBACK = f"{PORTAL}/providers/corp/callback"


def corp_entry(issuer: str, **changes: object) -> dict[str, object]:
    """The providers-file entry "corp" (Corp SSO) for the provider at ``issuer``."""
    return {
        "id": "corp",
        "name": "Corp SSO",
        "type": "oidc",
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": ["openid", "email", "profile", "groups"],
        "allowed_email_domains": ["corp.example"],
        "groups_to_scopes": {"billing-team": ["billing"]},
        "create_accounts": True,
        **changes,
    }


def providers_file(directory: Path, provider: OpenIdProvider, **corp: object) -> Path:
    """A providers file: "corp" on ``provider`` (its entries changed by ``corp``), "other"."""
    entry = corp_entry(provider.issuer, **corp)
    other = {
        "id": "other",
        "name": "Other SSO",
        "type": "oidc",
        "issuer": f"http://127.0.0.1:{free_port()}",  # nobody answers there
        "client_id": "other",
        "client_secret": "other-secret",
    }
    path = directory / "providers.yaml"
    path.write_text(json.dumps({"providers": [entry, other]}))  # JSON is YAML
    return path


async def start(browser: Browser, provider_id: str = "corp", rd: str = "/reports") -> Response:
    started = await browser.page(f"/providers/{provider_id}/start?{urlencode({'rd': rd})}")
    assert started.status == 303, started.text
    return started


async def come_back(browser: Browser, url: str) -> Response:
    """The browser follows the provider's redirect back to the callback."""
    parts = urlsplit(url)
    return await browser.page(f"{parts.path}?{parts.query}")


async def sign_in_with(browser: Browser, login: str = "alice", rd: str = "/reports") -> Response:
    started = await start(browser, rd=rd)
    back = await through_provider(started.headers["Location"], login, callback_prefix=CALLBACK)
    return await come_back(browser, back)


def trip_claims(browser: Browser) -> dict[str, object]:
    """What the round trip's cookie carries (signed, not secret from its own browser)."""
    token = next(m.value for m in browser.cookies.values() if m.key.endswith("_idp"))
    payload = token.split(".")[1]
    claims: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def signed_in_session(portal: AppClient, login: str = "alice") -> tuple[Browser, str]:
    """A browser signed in through the provider, and its session's id."""
    browser = Browser(portal)
    assert (await sign_in_with(browser, login)).status == 303
    verified = await browser.request("GET", "/verify")
    return browser, verified.headers["X-Auth-Session-Id"]


async def post_logout(portal: AppClient, token: str, provider_id: str = "corp") -> Response:
    return await Browser(portal).request(
        "POST",
        f"/providers/{provider_id}/backchannel-logout",
        data={"logout_token": token},
    )


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
