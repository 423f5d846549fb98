"""The revocation mirror: suspended clients and revoked sessions/clients, checked in memory.

The store is the source of truth; this mirror lets a token check answer without I/O. An entry
for a revoked session or deleted client is kept only as long as an access token issued before
the revocation could still be accepted; after that, signature expiry does the job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway_auth.tokens import LEEWAY_SECONDS


@dataclass(frozen=True, slots=True)
class RevocationSnapshot:
    """What the store says is revoked, as read at start-up (and, later, on every resync)."""

    suspended_clients: frozenset[str] = frozenset()
    revoked_sessions: tuple[tuple[str, datetime], ...] = ()
    deleted_clients: tuple[tuple[str, datetime], ...] = ()


@dataclass(slots=True)
class RevocationMirror:
    """In-memory sets answering "is this token's session or client still good?" in O(1)."""

    access_token_ttl: timedelta
    suspended: set[str] = field(default_factory=set)
    revoked: dict[str, float] = field(default_factory=dict)  # "session:<id>"/"client:<id>" → until
    _prune_above: int = 1024

    @property
    def retention(self) -> float:
        """Seconds an entry must outlive its revocation: the longest an old token stays valid."""
        return self.access_token_ttl.total_seconds() + LEEWAY_SECONDS

    def is_revoked(self, session_id: str, client_id: str, now: float) -> bool:
        """True when the session was revoked or the client deleted, while tokens can live."""
        revoked = self.revoked
        until = revoked.get("session:" + session_id) or revoked.get("client:" + client_id)
        return until is not None and until > now

    def is_suspended(self, client_id: str) -> bool:
        """True while the client is suspended."""
        return client_id in self.suspended

    def revoke_sessions(self, session_ids: Iterable[str], at: datetime) -> None:
        """Remember that these sessions were revoked at ``at``."""
        self._add((f"session:{sid}" for sid in session_ids), at)

    def revoke_client(self, client_id: str, at: datetime) -> None:
        """Remember that every token of this client stops at ``at`` (deletion)."""
        self._add((f"client:{client_id}",), at)

    def load(self, snapshot: RevocationSnapshot) -> None:
        """Add everything a store snapshot knows about."""
        self.suspended |= snapshot.suspended_clients
        for session_id, at in snapshot.revoked_sessions:
            self._add((f"session:{session_id}",), at)
        for client_id, at in snapshot.deleted_clients:
            self.revoke_client(client_id, at)

    def prune(self, now: float) -> None:
        """Forget entries no token can outlive any more."""
        self.revoked = {key: until for key, until in self.revoked.items() if until > now}

    def _add(self, keys: Iterable[str], at: datetime) -> None:
        until = at.timestamp() + self.retention
        for key in keys:
            if until > self.revoked.get(key, 0.0):
                self.revoked[key] = until
        if len(self.revoked) > self._prune_above:
            self.prune(at.timestamp())
            self._prune_above = max(1024, 2 * len(self.revoked))
