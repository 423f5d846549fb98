"""Distinct, live access tokens for the benchmarks, signed with the benchmark server's key the way
gateway-auth signs them (each for its own client and session), one per line of a file."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway_auth.config.keys import load_key_ring
from gateway_auth.config.settings import Settings
from gateway_auth.models import Client
from gateway_auth.tokens import AccessTokens

LIFETIME = timedelta(hours=2)  # longer than any benchmark run


def mint(count: int, path: Path, secret: str) -> Path:
    """Write ``count`` tokens for ``count`` different clients to ``path``."""
    settings = Settings.from_env(
        {"GATEWAY_AUTH_JWT_SECRET": secret, "GATEWAY_AUTH_DATA_DIR": str(path.parent / "keys")}
    )
    tokens = AccessTokens(
        load_key_ring(settings),
        issuer=settings.issuer,
        audience=settings.jwt_audience,
        ttl=LIFETIME,
    )
    now = datetime.now(UTC)
    with path.open("w") as out:
        for n in range(count):
            client_id = secrets.token_hex(16)
            client = Client(
                client_id,
                f"user{n}@example.com",
                "user",
                (),
                None,
                None,
                False,
                None,
                None,
                now,
                now,
            )
            token, _ = tokens.issue(client, secrets.token_hex(16), now, not_after=now + LIFETIME)
            out.write(token + "\n")
    return path


def garbage(count: int, path: Path) -> Path:
    """Tokens of the right shape and length that no key signed."""
    with path.open("w") as out:
        for _ in range(count):
            parts = (
                secrets.token_urlsafe(27),
                secrets.token_urlsafe(300),
                secrets.token_urlsafe(32),
            )
            out.write(".".join(parts) + "\n")
    return path
