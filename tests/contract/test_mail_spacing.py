"""At most one mail of a kind a minute to an address, decided by the store, so that several
instances (or workers) asked at once still send one link."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from gateway_auth.stores.base import Store
from tests.support.records import T0, a_client, an_account_token

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


async def test_a_second_link_within_the_spacing_is_not_stored(
    stores: tuple[Store, Store],
) -> None:
    store, other = stores
    await store.add_client(a_client(), "h")

    first = await store.add_account_token(an_account_token("h1"), MINUTE)
    soon = await other.add_account_token(
        an_account_token("h2", created_at=T0 + 30 * SECOND), MINUTE
    )
    new_address = await other.add_account_token(
        replace(an_account_token("h3", created_at=T0 + 31 * SECOND), email_key="ada@new.example"),
        MINUTE,
    )
    operators = await store.add_account_token(an_account_token("h4", created_at=T0 + 32 * SECOND))
    later = await other.add_account_token(
        an_account_token("h5", purpose="email-verification", created_at=T0 + 33 * SECOND), MINUTE
    )

    assert (first, soon, new_address, operators, later) == (True, False, True, True, True)
    last = await store.last_account_token("c1", "password-reset")
    assert last is not None
    assert last.token_hash == "h4"  # the refused one was never stored


async def test_after_the_spacing_a_new_link_is_stored(stores: tuple[Store, Store]) -> None:
    store, other = stores
    await store.add_client(a_client(), "h")
    await store.add_account_token(an_account_token("h1"), MINUTE)

    again = await other.add_account_token(
        an_account_token("h2", created_at=T0 + MINUTE + SECOND), MINUTE
    )

    assert again is True


async def test_two_instances_asked_at_once_store_one_link(stores: tuple[Store, Store]) -> None:
    await stores[0].add_client(a_client(), "h")
    for round_ in range(10):
        moment = T0 + round_ * 2 * MINUTE
        outcomes = await asyncio.gather(
            *(
                store.add_account_token(
                    an_account_token(f"r{round_}-{n}", created_at=moment), MINUTE
                )
                for n, store in enumerate(stores * 2)
            )
        )

        assert sorted(outcomes) == [False, False, False, True], round_
