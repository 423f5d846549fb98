"""PasswordHasher: the pre-hash, the dummy hash, and the bounded pool off the event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator

import pytest

from gateway_auth.errors import ServiceBusy
from gateway_auth.signin.passwords import HASHING_NICENESS, PasswordHasher, default_workers


@pytest.fixture
async def hasher() -> AsyncIterator[PasswordHasher]:
    hasher = PasswordHasher(rounds=4, workers=1)
    await hasher.start()
    yield hasher
    hasher.close()


async def test_long_passwords_differ_beyond_72_bytes(hasher: PasswordHasher) -> None:
    password = "a" * 200
    stored = await hasher.hash(password)

    assert await hasher.verify(password, stored)
    assert not await hasher.verify(password[:72], stored)
    assert not await hasher.verify(password[:72] + "x", stored)
    assert not await hasher.verify(password[:-1] + "b", stored)


async def test_multibyte_passwords_and_unicode_normalisation(hasher: PasswordHasher) -> None:
    composed = "caf\u00e9-pässwörd"
    decomposed = "cafe\u0301-pa\u0308sswo\u0308rd"
    stored = await hasher.hash(composed)

    assert await hasher.verify(decomposed, stored)  # same text, typed on another keyboard
    assert not await hasher.verify("cafe-passwort", stored)


async def test_the_prehash_keeps_bcrypt_input_short_and_depends_on_the_pepper() -> None:
    plain = PasswordHasher(rounds=4, workers=1)
    peppered = PasswordHasher(rounds=4, workers=1, pepper=b"a-site-specific-pepper")
    try:
        assert len(plain.prehash("x" * 1024)) == 44
        assert plain.prehash("secret") != peppered.prehash("secret")
    finally:
        plain.close()
        peppered.close()


async def test_no_stored_hash_spends_a_check_and_fails(hasher: PasswordHasher) -> None:
    assert not await hasher.verify("anything at all", None)


async def test_a_corrupt_stored_hash_fails_closed(hasher: PasswordHasher) -> None:
    assert not await hasher.verify("anything at all", "$2b$04$not-a-real-hash")


async def test_needs_rehash_when_the_cost_changes(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("some password")

    assert not hasher.needs_rehash(stored)
    assert PasswordHasher(rounds=12, workers=1).needs_rehash(stored)


class _ThreadRecordingHasher(PasswordHasher):
    threads: list[str]

    def _hash_sync(self, password: str) -> bytes:
        self.threads.append(threading.current_thread().name)
        return super()._hash_sync(password)


async def test_bcrypt_never_runs_on_the_event_loop_thread() -> None:
    hasher = _ThreadRecordingHasher(rounds=4, workers=1)
    hasher.threads = []
    try:
        await hasher.start()
        await hasher.hash("some password")
    finally:
        hasher.close()

    assert hasher.threads
    assert all(name.startswith("bcrypt") for name in hasher.threads)
    assert threading.current_thread().name not in hasher.threads


async def test_a_full_queue_refuses_at_once_and_frees_up_afterwards() -> None:
    hasher = PasswordHasher(rounds=10, workers=1, queue_per_worker=1)  # room for two
    try:
        running = [asyncio.ensure_future(hasher.hash(f"password {i}")) for i in range(2)]
        await asyncio.sleep(0)
        assert hasher.in_flight == 2

        with pytest.raises(ServiceBusy):
            await hasher.hash("one too many")

        await asyncio.gather(*running)
        assert hasher.in_flight == 0
        assert await hasher.hash("now there is room")
    finally:
        hasher.close()


async def test_a_cancelled_caller_keeps_its_place_until_the_thread_finishes() -> None:
    hasher = PasswordHasher(rounds=12, workers=1, queue_per_worker=0)
    try:
        waiter = asyncio.ensure_future(hasher.hash("slow"))
        await asyncio.sleep(0.01)
        waiter.cancel()
        await asyncio.sleep(0)
        # The bcrypt call is still running in its thread, so the pool is still full.
        with pytest.raises(ServiceBusy):
            await hasher.hash("another")
    finally:
        hasher.close()


def test_workers_default_to_one_fewer_than_the_usable_cores() -> None:
    assert default_workers() == max(1, len(os.sched_getaffinity(0)) - 1)


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread priority is Linux's")
async def test_hashing_threads_run_below_the_event_loops_priority() -> None:
    """On two cores, a login's bcrypt round must not delay the gateways' /verify calls."""
    hasher = PasswordHasher(rounds=4, workers=1)
    try:
        await hasher.hash("correct horse battery staple")  # the thread now exists
        niceness = await asyncio.get_running_loop().run_in_executor(
            hasher._executor, lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        )
    finally:
        hasher.close()

    assert niceness >= HASHING_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < niceness
