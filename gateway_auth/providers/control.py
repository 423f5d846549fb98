"""The identity providers in force: IDENTITY_PROVIDERS_FILE read at start and again on SIGHUP
(a file that no longer loads keeps the providers in force, and says why, as the rules file
does); one ProviderClient per provider, its discovery and keys cached."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx2

from gateway_auth.errors import ProviderNotFound
from gateway_auth.logging import log_event
from gateway_auth.providers.client import ProviderClient
from gateway_auth.providers.file import ProvidersFileError, load_providers
from gateway_auth.providers.provider import Provider

log = logging.getLogger(__name__)


class ProviderControl:
    """Which providers people may sign in with, and the client for each."""

    def __init__(
        self,
        path: Path | None,
        providers: tuple[Provider, ...],
        clock: Callable[[], datetime],
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.path = path
        self.problems: list[str] = []
        self._clock = clock
        self._transport = transport
        self._clients = {p.id: ProviderClient(p, clock, transport=transport) for p in providers}
        self._retired: list[ProviderClient] = []  # replaced by a reload, closed at the end

    @classmethod
    def load(
        cls,
        path: Path | None,
        clock: Callable[[], datetime],
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> ProviderControl:
        """The providers of ``path`` (none without one); ProvidersFileError when it cannot
        be used."""
        providers = load_providers(path) if path is not None else ()
        return cls(path, providers, clock, transport=transport)

    @property
    def providers(self) -> tuple[Provider, ...]:
        """In the file's order."""
        return tuple(client.provider for client in self._clients.values())

    def client(self, provider_id: str) -> ProviderClient:
        """The provider of that id; ProviderNotFound when the file has none."""
        found = self._clients.get(provider_id)
        if found is None:
            raise ProviderNotFound
        return found

    def reload(self, reason: str) -> bool:
        """Read the file again; True when the new providers are in force. A provider whose
        entry did not change keeps its client (and what it learnt)."""
        if self.path is None:
            return False
        try:
            providers = load_providers(self.path)
        except ProvidersFileError as exc:
            self.problems = exc.problems
            log_event(
                log,
                "identity_providers_invalid",
                level=logging.ERROR,
                file=str(self.path),
                reason=reason,
                problems=exc.problems,
                kept=f"the {len(self._clients)} providers loaded before stay in force",
            )
            return False
        clients = {}
        for provider in providers:
            current = self._clients.get(provider.id)
            if current is not None and current.provider == provider:
                clients[provider.id] = current
            else:
                clients[provider.id] = ProviderClient(
                    provider, self._clock, transport=self._transport
                )
        self._retired += [c for c in self._clients.values() if c not in clients.values()]
        self._clients, self.problems = clients, []
        log_event(
            log,
            "identity_providers_loaded",
            file=str(self.path),
            reason=reason,
            providers=[p.id for p in providers],
        )
        return True

    async def close(self) -> None:
        """Close every client's connections."""
        for client in [*self._clients.values(), *self._retired]:
            await client.close()

    def state(self) -> dict[str, object]:
        """For ``/readyz``: the providers in force, and whether the file on disk is usable."""
        state: dict[str, object] = {
            "file": str(self.path),
            "providers": [p.id for p in self.providers],
            "state": "current"
            if not self.problems
            else "file invalid, previous providers in force",
        }
        if self.problems:
            state["problems"] = self.problems[:20]
        return state
