"""Shutdown of the background work: a task that swallows a cancellation (as the outbox relay
did when a closing Redis connection turned the cancellation into StoreUnavailable) still
ends, so a server's shutdown never hangs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway_auth import services


async def test_a_task_that_swallows_its_cancellation_is_stopped_all_the_same(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(services, "STOP_RETRY_SECONDS", 0.05)
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # and carries on, as a retry loop that caught it would
        await asyncio.Event().wait()

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    await asyncio.wait_for(services._stop(task), timeout=10)

    assert swallowed.is_set()
    assert task.cancelled()
    assert "task_ignored_cancellation" in caplog.text
    assert logging.WARNING in {r.levelno for r in caplog.records}
