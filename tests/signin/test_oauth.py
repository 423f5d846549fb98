"""OAuth by the standards, driven by a real OAuth client library (Authlib) against a real server:
RFC 8414 metadata, scope on every grant, RFC 7009 revocation, RFC 7662 introspection."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from gateway_auth.cli.main import main
from tests.support.credentials import PASSWORD
from tests.support.processes import start_server, stop_server


@dataclass
class Server:
    base: str
    environ: dict[str, str]
    process: subprocess.Popen[str]

    def service(self, *scopes: str, email: str = "svc@services.example") -> tuple[str, str]:
        """A new service client holding ``scopes``: its id and secret."""
        args = ["clients", "create", "--kind", "service", "--email", email]
        for scope in scopes:
            args += ["--scope", scope]
        out = io.StringIO()
        saved, sys.stdout = sys.stdout, out
        try:
            assert main(args, self.environ) == 0
        finally:
            sys.stdout = saved
        created = json.loads(out.getvalue())
        return created["id"], created["clientSecret"]

    def user(self, *scopes: str) -> None:
        args = ["clients", "create", "--email", "ada@example.com", "--password-stdin"]
        for scope in scopes:
            args += ["--scope", scope]
        saved, sys.stdin = sys.stdin, io.StringIO(PASSWORD + "\n")
        try:
            assert main(args, self.environ) == 0
        finally:
            sys.stdin = saved

    def session(self, client_id: str | None = None, secret: str | None = None) -> OAuth2Session:
        return OAuth2Session(
            client_id,
            secret,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
        )

    def verify(self, token: str, scope: str = "") -> int:
        query = f"?scope={scope}" if scope else ""
        request = urllib.request.Request(  # noqa: S310 - http to the test server
            f"{self.base}/verify{query}", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain HTTP on loopback, in tests
    issuer = "https://auth.example.com"
    port, process = start_server(tmp_path, BCRYPT_ROUNDS="4", PUBLIC_URL=issuer)
    environ = {
        "GATEWAY_AUTH_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_AUTH_BCRYPT_ROUNDS": "4",
        "GATEWAY_AUTH_PUBLIC_URL": issuer,
    }
    try:
        yield Server(f"http://127.0.0.1:{port}", environ, process)
    finally:
        stop_server(process)


def _metadata(server: Server) -> dict[str, object]:
    url = f"{server.base}/.well-known/oauth-authorization-server"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        assert response.headers["Cache-Control"] == "public, max-age=300"
        body: dict[str, object] = json.load(response)
    return body


def test_the_metadata_names_every_endpoint_under_the_public_url(server: Server) -> None:
    metadata = _metadata(server)

    assert metadata["issuer"] == "https://auth.example.com"
    assert metadata["token_endpoint"] == "https://auth.example.com/token"
    assert metadata["revocation_endpoint"] == "https://auth.example.com/revoke"
    assert metadata["introspection_endpoint"] == "https://auth.example.com/introspect"
    assert metadata["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"
    assert metadata["grant_types_supported"] == ["client_credentials", "refresh_token", "password"]
    assert "client_secret_basic" in metadata["token_endpoint_auth_methods_supported"]  # type: ignore[operator]


def test_the_metadata_passes_a_strict_clients_validation(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata = _metadata(server)
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT")  # every URL in it must be https

    AuthorizationServerMetadata(metadata).validate()  # raises ValueError naming what is wrong

    assert metadata["issuer"] == "https://auth.example.com"  # PUBLIC_URL, with no JWT_ISSUER
    assert metadata["response_types_supported"] == ["none"]  # no authorization endpoint


def test_client_credentials_are_narrowed_by_scope_and_carry_rfc_9068_claims(
    server: Server,
) -> None:
    client_id, secret = server.service("read", "write")
    oauth = server.session(client_id, secret)

    token = oauth.fetch_token(f"{server.base}/token", grant_type="client_credentials", scope="read")
    everything = oauth.fetch_token(f"{server.base}/token", grant_type="client_credentials")
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    with pytest.raises(OAuthError) as refused:
        oauth.fetch_token(
            f"{server.base}/token", grant_type="client_credentials", scope="read admin"
        )

    assert token["scope"] == "read"
    assert everything["scope"] == "read write"
    assert claims["client_id"] == claims["sub"] == client_id
    assert claims["scope"] == "read"
    assert claims["iss"] == "https://auth.example.com"
    assert jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"
    assert server.verify(token["access_token"], "read") == 200
    assert server.verify(token["access_token"], "write") == 403
    assert server.verify(everything["access_token"], "write") == 200
    assert refused.value.error == "invalid_scope"


def test_a_password_grant_and_its_refreshes_stay_within_the_scope_asked_for(
    server: Server,
) -> None:
    server.user("read", "write", "billing")
    oauth = server.session()

    token = oauth.fetch_token(
        f"{server.base}/token", username="ada@example.com", password=PASSWORD, scope="read write"
    )
    narrowed = oauth.refresh_token(f"{server.base}/token", scope="read")
    again = oauth.refresh_token(f"{server.base}/token")
    with pytest.raises(OAuthError) as refused:
        oauth.refresh_token(f"{server.base}/token", scope="billing")

    assert token["scope"] == "read write"
    assert narrowed["scope"] == "read"
    assert again["scope"] == "read write"  # the grant, not the last narrowing
    assert refused.value.error == "invalid_scope"


def test_introspection_answers_live_and_changes_at_once_after_revocation(
    server: Server,
) -> None:
    resource_id, resource_secret = server.service("introspect", email="api@services.example")
    server.user("read")
    user = server.session()
    token = user.fetch_token(f"{server.base}/token", username="ada@example.com", password=PASSWORD)
    resource = server.session(resource_id, resource_secret)

    live = resource.introspect_token(f"{server.base}/introspect", token=token["access_token"])
    refresh = resource.introspect_token(
        f"{server.base}/introspect", token=token["refresh_token"], token_type_hint="refresh_token"
    )
    revoked = user.revoke_token(
        f"{server.base}/revoke", token=token["refresh_token"], token_type_hint="refresh_token"
    )
    after = resource.introspect_token(f"{server.base}/introspect", token=token["access_token"])
    again = user.revoke_token(f"{server.base}/revoke", token=token["refresh_token"])
    garbage = resource.introspect_token(f"{server.base}/introspect", token="not-a-token")

    assert live.status_code == 200
    assert live.json()["active"] is True
    assert live.json()["scope"] == "read"
    assert live.json()["username"] == "ada@example.com"
    assert live.json()["token_type"] == "Bearer"
    assert live.headers["Cache-Control"] == "no-store"
    assert refresh.json()["active"] is True
    assert refresh.json()["token_type"] == "refresh_token"
    assert revoked.status_code == 200, revoked.text
    assert after.json() == {"active": False}
    assert server.verify(token["access_token"]) == 401
    assert again.status_code == 200  # RFC 7009: a dead token is no error
    assert garbage.json() == {"active": False}


def test_only_introspect_holders_may_introspect_and_services_revoke_their_own(
    server: Server,
) -> None:
    plain_id, plain_secret = server.service("read")
    other_id, other_secret = server.service("read", email="other@services.example")
    plain = server.session(plain_id, plain_secret)
    token = plain.fetch_token(f"{server.base}/token", grant_type="client_credentials")

    no_scope = plain.introspect_token(f"{server.base}/introspect", token=token["access_token"])
    anonymous = server.session().introspect_token(
        f"{server.base}/introspect", token=token["access_token"]
    )
    unauthenticated_revoke = server.session().revoke_token(
        f"{server.base}/revoke", token=token["access_token"]
    )
    foreign_revoke = server.session(other_id, other_secret).revoke_token(
        f"{server.base}/revoke", token=token["access_token"]
    )
    still = server.verify(token["access_token"])
    own_revoke = plain.revoke_token(f"{server.base}/revoke", token=token["access_token"])

    assert no_scope.status_code == 403
    assert no_scope.json()["error"] == "insufficient_scope"
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    assert unauthenticated_revoke.status_code == 401
    assert foreign_revoke.status_code == 400
    assert still == 200
    assert own_revoke.status_code == 200
    assert server.verify(token["access_token"]) == 401


def test_a_bearer_token_holding_introspect_may_introspect(server: Server) -> None:
    resource_id, resource_secret = server.service("introspect")
    bearer = server.session(resource_id, resource_secret).fetch_token(
        f"{server.base}/token", grant_type="client_credentials"
    )["access_token"]
    request = urllib.request.Request(  # noqa: S310 - http to the test server
        f"{server.base}/introspect",
        data=f"token={bearer}".encode(),
        headers={"Authorization": f"Bearer {bearer}"},
    )

    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        answer = json.load(response)

    assert answer["active"] is True
    assert answer["client_id"] == resource_id
    assert answer["kind"] == "service"


def test_a_token_narrowed_by_scope_cannot_do_what_it_left_out(server: Server) -> None:
    client_id, secret = server.service("admin", "introspect", "read")
    oauth = server.session(client_id, secret)
    narrowed = oauth.fetch_token(
        f"{server.base}/token", grant_type="client_credentials", scope="read"
    )
    full = oauth.fetch_token(f"{server.base}/token", grant_type="client_credentials")

    def call(token: str, path: str, data: bytes | None = None) -> int:
        request = urllib.request.Request(  # noqa: S310 - http to the test server
            f"{server.base}{path}", data=data, headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)

    introspect = f"token={full['access_token']}".encode()
    assert call(narrowed["access_token"], "/admin/stats") == 403
    assert call(narrowed["access_token"], "/introspect", introspect) == 403
    assert call(full["access_token"], "/admin/stats") == 200
    assert call(full["access_token"], "/introspect", introspect) == 200
