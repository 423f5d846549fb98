"""The whole API suite runs once per store: SQLite, the MongoDB emulation, and a real mongod when
GATEWAY_AUTH_TEST_MONGODB_URI is set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway_auth.stores.configured import StoreOpener
from tests.support.stores import STORES
from tests.support.stores import store_opener as opener_for


@pytest.fixture(params=STORES)
async def store_opener(request: pytest.FixtureRequest) -> AsyncIterator[StoreOpener]:
    async with opener_for(request.param) as opener:
        yield opener
