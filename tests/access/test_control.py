"""The rules in force and their file: a change is read once the file is still, a touch is not a
change, a bad file keeps the rules in force, and the watcher reloads by itself."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from gateway_auth.access.control import AccessControl

DENY = "default_policy: deny\n"
RULES = DENY + "rules:\n  - {name: health, paths: [/health], policy: bypass}\n"


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def test_a_change_is_read_once_the_file_is_still(rules_file: Path) -> None:
    control = AccessControl.load(rules_file)
    assert not control.changed()

    rules_file.write_text(DENY)  # a writer that has not finished, say
    assert not control.changed()  # seen moving: wait for a still look
    rules_file.write_text(RULES + "  - {name: more, paths: [/more], policy: bypass}\n")
    assert not control.changed()
    assert control.changed()  # the same as at the last look
    assert control.reload("file changed")
    assert [rule.name for rule in control.rules.rules] == ["health", "more"]
    assert not control.changed()


def test_a_touched_file_is_not_read_again(rules_file: Path) -> None:
    control = AccessControl.load(rules_file)
    rules = control.rules
    os.utime(rules_file, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert not control.reload("SIGHUP")
    assert control.rules is rules
    assert control.reloads == {"ok": 0, "invalid": 0}


def test_a_bad_file_keeps_the_rules_in_force_until_a_good_one(rules_file: Path) -> None:
    control = AccessControl.load(rules_file)
    rules_file.write_text("default_policy: maybe\n")
    assert not control.reload("SIGHUP")
    assert [rule.name for rule in control.rules.rules] == ["health"]
    assert control.state()["state"] == "file invalid, previous rules in force"
    assert control.problems == [
        f"{rules_file}:1: default_policy: one of 'bypass', 'deny', 'authenticated' or 'two_factor'"
    ]
    rules_file.write_text(RULES)  # back to what is in force: no longer invalid
    assert control.reload("SIGHUP")
    assert control.problems == []
    assert control.reloads == {"ok": 1, "invalid": 1}


async def test_the_watcher_reloads_a_changed_file(rules_file: Path) -> None:
    control = AccessControl.load(rules_file)
    watcher = asyncio.create_task(control.watch(interval=0.01))
    try:
        rules_file.write_text(DENY)
        deadline = time.monotonic() + 10
        while control.rules.rules:
            assert time.monotonic() < deadline, "the change was never read"
            await asyncio.sleep(0.01)
        rules_file.write_text("default_policy: [\n")
        while not control.problems:
            assert time.monotonic() < deadline, "the bad file was never noticed"
            await asyncio.sleep(0.01)
        assert not watcher.done()  # still watching
    finally:
        watcher.cancel()
