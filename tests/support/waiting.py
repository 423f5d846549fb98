"""Waiting for a condition, never for a fixed time: ``eventually`` polls until the condition
holds and fails the test, saying what it waited for, when it does not within ``within``
seconds (``until`` is the same for tests that are not async)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import pytest

T = TypeVar("T")
EVERY = 0.05  # seconds between looks (less for a short wait)


@overload
async def eventually(
    condition: Callable[[], Awaitable[T | None]], *, within: float = ..., what: str = ...
) -> T: ...


@overload
async def eventually(
    condition: Callable[[], T | None], *, within: float = ..., what: str = ...
) -> T: ...


async def eventually(
    condition: Callable[[], Any], *, within: float = 10.0, what: str = "the condition"
) -> Any:
    """The first truthy value ``condition`` returns (it may be async); fails after ``within``."""
    deadline = time.monotonic() + within
    pause = min(EVERY, within / 20)
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not hold within {within} s (last: {value!r})")
        await asyncio.sleep(pause)


def until(
    condition: Callable[[], T | None], *, within: float = 10.0, what: str = "the condition"
) -> T:
    """``eventually`` for synchronous tests: blocks between looks."""
    deadline = time.monotonic() + within
    pause = min(EVERY, within / 20)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not hold within {within} s (last: {value!r})")
        time.sleep(pause)
