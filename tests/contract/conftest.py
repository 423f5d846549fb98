"""The ``store`` fixture: each contract test runs once per store in ``tests.backends.STORES``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from gateway_auth.config.settings import Settings
from gateway_auth.stores.base import Store
from tests.support.stores import STORES, store_opener


@pytest.fixture(params=STORES)
async def store(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> AsyncIterator[Store]:
    async with store_opener(request.param) as opener:
        store = await opener(make_settings())
        try:
            yield store
        finally:
            await store.close()


@pytest.fixture(params=STORES)
async def stores(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on the same data, as two instances have (two SQLite connections)."""
    async with store_opener(request.param) as opener:
        settings = make_settings()
        first = await opener(settings)
        second = await opener(settings)
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()
