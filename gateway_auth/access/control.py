"""The access rules in force, and the file they come from: reloaded on SIGHUP and whenever the
file changes, without dropping a request (the compiled rules are swapped in one assignment).

A file that no longer loads keeps the rules already in force: the problems are logged, the
``gateway_auth_access_rules_file_invalid`` gauge turns 1, and ``/readyz`` says so (it stays
ready: every instance would fail at once on one bad push, and the old rules still hold).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from gateway_auth.access.rules import AccessRules
from gateway_auth.access.rules_file import RulesFileError, parse_rules, read_rules_file
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25  # a change is read within two looks: the one that sees it, and a still one


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the file looked like when last read: enough to notice any change, including a
    ConfigMap's symlink being swapped."""

    real_path: str
    inode: int
    size: int
    mtime_ns: int


class AccessControl:
    """Holds the compiled rules for ``/verify``; ``reload`` and ``watch`` keep them current."""

    def __init__(self, path: Path, rules: AccessRules, seen: _Seen | None, digest: str) -> None:
        self.path = path
        self.rules = rules
        self.problems: list[str] = []  # of the file on disk, when it does not load
        self.loaded_at = time.time()
        self.reloads = {"ok": 0, "invalid": 0}
        self._seen = seen  # the file's look when last read
        self._digest = digest  # of the bytes the rules in force were read from
        self._changing: _Seen | None = None  # a change the watcher saw once, still settling

    @classmethod
    def load(cls, path: Path) -> AccessControl:
        """The rules at ``path``; RulesFileError when the file cannot be used."""
        seen = _seen(path)  # before reading: a change made while reading is seen later
        data = read_rules_file(path)
        return cls(path, parse_rules(data, str(path)), seen, _digest(data))

    def reload(self, reason: str) -> bool:
        """Read the file again; True when new rules are in force."""
        self._seen = _seen(self.path)
        try:
            data = read_rules_file(self.path)
            if _digest(data) == self._digest and not self.problems:
                return False  # touched, not changed
            rules = parse_rules(data, str(self.path))
        except RulesFileError as exc:
            self.problems = exc.problems
            self.reloads["invalid"] += 1
            log_event(
                log,
                "access_rules_invalid",
                level=logging.ERROR,
                file=str(self.path),
                reason=reason,
                problems=exc.problems,
                kept=f"the {len(self.rules.rules)} rules loaded before stay in force",
            )
            return False
        self.rules, self.problems, self._digest = rules, [], _digest(data)
        self.loaded_at = time.time()
        self.reloads["ok"] += 1
        log_event(
            log, "access_rules_loaded", file=str(self.path), reason=reason, rules=len(rules.rules)
        )
        return True

    def changed(self) -> bool:
        """Whether the file looks different from when it was last read, and the same as at the
        last look: a file being written (``cat > rules.yaml``) is read once it is still, not
        while its last rules are missing."""
        seen = _seen(self.path)
        if seen == self._seen:
            self._changing = None
            return False
        settled = seen == self._changing
        self._changing = seen
        return settled

    async def watch(self, interval: float = POLL_SECONDS) -> None:
        """Reload whenever the file changes (a stat four times a second: no inotify, so it works
        on any file system and with Kubernetes' ConfigMap symlinks)."""
        while True:
            await asyncio.sleep(interval)
            try:
                if self.changed():
                    self.reload("file changed")
            except Exception:  # a bug here must not end the watching: the rules stay in force
                log.exception("access_rules_watch_failed")

    def state(self) -> dict[str, object]:
        """For ``/readyz``: which rules are in force, and whether the file on disk is usable."""
        state: dict[str, object] = {
            "file": str(self.path),
            "rules": len(self.rules.rules),
            "loadedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at)),
            "state": "current" if not self.problems else "file invalid, previous rules in force",
        }
        if self.problems:
            state["problems"] = self.problems[:20]
        return state


def _seen(path: Path) -> _Seen | None:
    try:
        stat = path.stat()
        return _Seen(os.path.realpath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    except OSError:
        return None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
