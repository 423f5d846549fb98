"""The revocation mirror: suspended clients and revoked sessions/clients, checked in memory.

The store is the source of truth; this mirror lets ``/verify`` answer without I/O. An entry for
a revoked session or deleted client is kept only as long as an access token issued before the
revocation could still be accepted; after that, the token's own expiry does the job.

Every change reaches a mirror as a ``Delta`` (applied locally, and carried between instances
over Redis), and a periodic resync replaces the whole state with what the shared source says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gateway_auth.models import Delta, MirrorState
from gateway_auth.tokens import LEEWAY_SECONDS


@dataclass(slots=True)
class RevocationMirror:
    """In-memory sets answering "is this token's session or client still good?" in O(1)."""

    access_token_ttl: timedelta
    suspended: set[str] = field(default_factory=set)
    revoked: dict[str, float] = field(default_factory=dict)  # "session:<id>"/"client:<id>" → until
    synced_at: float | None = None  # monotonic time of the last complete sync with the source
    _during_resync: list[Delta] | None = None
    _prune_above: int = 1024

    @property
    def retention(self) -> float:
        """Seconds an entry must outlive its revocation: the longest an old token stays valid."""
        return self.access_token_ttl.total_seconds() + LEEWAY_SECONDS

    def is_revoked(self, session_id: str, client_id: str, now: float) -> bool:
        """True when the session was revoked or the client deleted, while tokens can live."""
        revoked = self.revoked
        return (
            revoked.get("session:" + session_id, 0.0) > now
            or revoked.get("client:" + client_id, 0.0) > now
        )

    def is_suspended(self, client_id: str) -> bool:
        """True while the client is suspended."""
        return client_id in self.suspended

    def age(self, monotonic_now: float) -> float | None:
        """Seconds since the last complete sync, or None if there never was one."""
        return None if self.synced_at is None else monotonic_now - self.synced_at

    def revocation(self, keys: Iterable[str], at: datetime) -> Delta:
        """The delta revoking ``keys`` (``session:<id>``/``client:<id>``) from ``at`` on."""
        return Delta("revoke", keys=tuple(keys), until=at.timestamp() + self.retention)

    def apply(self, delta: Delta) -> None:
        """Apply one change (and remember it if a resync is reading older state meanwhile)."""
        if self._during_resync is not None:
            self._during_resync.append(delta)
        if delta.op == "suspend":
            self.suspended.add(delta.client_id)
        elif delta.op == "unsuspend":
            self.suspended.discard(delta.client_id)
        else:
            revoked = self.revoked
            for key in delta.keys:
                if delta.until > revoked.get(key, 0.0):
                    revoked[key] = delta.until
            if len(revoked) > self._prune_above:
                self.prune(delta.until - self.retention)
                self._prune_above = max(1024, 2 * len(self.revoked))

    def begin_resync(self) -> None:
        """Start reading the source; deltas applied meanwhile are replayed by ``finish_resync``."""
        self._during_resync = []

    def finish_resync(self, state: MirrorState, monotonic_now: float) -> None:
        """Replace the suspended set and merge revocations from ``state``, then replay deltas.

        Revocations are only ever added (a revoked session never comes back), so merging is
        safe; suspension can be lifted, so that set is replaced, and changes that arrived while
        the source was being read are applied again on top of it.
        """
        replay, self._during_resync = self._during_resync or [], None
        self.suspended = set(state.suspended)
        for key, until in state.revoked.items():
            if until > self.revoked.get(key, 0.0):
                self.revoked[key] = until
        for delta in replay:
            self.apply(delta)
        self.synced_at = monotonic_now

    def mark_fresh(self, monotonic_now: float) -> None:
        """The live channel shows nothing changed unseen since the last sync."""
        if self.synced_at is not None:
            self.synced_at = max(self.synced_at, monotonic_now)

    def abort_resync(self) -> None:
        """The source could not be read; keep serving what we have (its age keeps growing)."""
        self._during_resync = None

    def prune(self, now: float) -> None:
        """Forget entries no token can outlive any more."""
        self.revoked = {key: until for key, until in self.revoked.items() if until > now}
