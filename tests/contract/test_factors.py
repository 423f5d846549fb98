"""The store contract for second factors: a confirmed TOTP secret stays until removed, each
time step is accepted once, recovery codes are spent once, and deletion and transfer keep them
straight, on every backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from gateway_auth.models import DeletionEvent, Passkey, SecondFactors, TotpFactor
from gateway_auth.stores.base import FactorRecord, Store
from tests.support.records import T0, a_client, a_session

LATER = T0 + timedelta(minutes=1)


def a_secret(sealed: str = "v1.k.sealed-1", client_id: str = "c1") -> TotpFactor:
    """A secret confirmed by its first code, of time step 100."""
    return TotpFactor(client_id, sealed, T0, LATER, 100)


async def test_a_confirmed_secret_is_kept_until_it_is_removed(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    assert await store.second_factors("c1") == SecondFactors()

    assert await store.put_totp(a_secret("v1.k.first"))
    assert not await store.put_totp(a_secret("v1.k.second"))  # a confirmed one stays

    factors = await store.second_factors("c1")
    assert factors.enrolled
    assert factors.totp == TotpFactor("c1", "v1.k.first", T0, LATER, 100)


async def test_each_time_step_is_accepted_once_and_never_an_older_one(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.put_totp(a_secret())

    assert not await store.use_totp_step("c1", 100)  # the confirming code's step
    assert await store.use_totp_step("c1", 101)
    assert not await store.use_totp_step("c1", 101)
    assert not await store.use_totp_step("c1", 99)
    results = await asyncio.gather(*(store.use_totp_step("c1", 102) for _ in range(5)))
    assert results.count(True) == 1
    assert (await store.second_factors("c1")).totp == TotpFactor(
        "c1", "v1.k.sealed-1", T0, LATER, 102
    )


async def test_recovery_codes_are_spent_once_and_replaced_as_a_set(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")
    await store.replace_recovery_codes("c1", ["h1", "h2", "h3"])

    assert (await store.second_factors("c1")).recovery_codes_left == 3
    assert not await store.use_recovery_code("c2", "h1")  # another client's code
    results = await asyncio.gather(*(store.use_recovery_code("c1", "h1") for _ in range(4)))
    assert results.count(True) == 1
    assert (await store.second_factors("c1")).recovery_codes_left == 2

    await store.replace_recovery_codes("c1", ["h4"])
    assert not await store.use_recovery_code("c1", "h2")
    assert await store.use_recovery_code("c1", "h4")
    assert (await store.second_factors("c1")).recovery_codes_left == 0


async def test_removing_the_secret_leaves_nothing_to_use(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.put_totp(a_secret())

    assert await store.remove_totp("c1")
    assert not await store.remove_totp("c1")
    assert not await store.use_totp_step("c1", 200)
    assert (await store.second_factors("c1")).totp is None
    assert await store.put_totp(a_secret("v1.k.again"))  # and a new one can be set up


async def test_deleting_a_client_drops_its_second_factors(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.put_totp(a_secret())
    await store.replace_recovery_codes("c1", ["h1"])

    await store.delete_client("c1", DeletionEvent("e1", "c1", "user", LATER))

    assert await store.second_factors("c1") == SecondFactors()
    assert [r async for r in store.export_records() if isinstance(r, FactorRecord)] == []


async def test_second_factors_and_session_amr_survive_an_export_and_import(
    store: Store,
) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(replace(a_session(), amr=("pwd", "otp", "mfa")), "refresh-hash")
    await store.put_totp(a_secret())
    await store.replace_recovery_codes("c1", ["h2", "h1"])
    records = [record async for record in store.export_records()]
    factors = [r for r in records if isinstance(r, FactorRecord)]
    assert factors == [
        FactorRecord("c1", TotpFactor("c1", "v1.k.sealed-1", T0, LATER, 100), ("h1", "h2"))
    ]

    await store.remove_totp("c1")
    await store.replace_recovery_codes("c1", [])
    await store.import_records(records)

    assert (await store.second_factors("c1")).totp == factors[0].totp
    assert await store.use_recovery_code("c1", "h2")
    session = await store.get_session(a_session().id)
    assert session is not None
    assert session.amr == ("pwd", "otp", "mfa")


async def test_wrong_codes_in_a_row_are_counted_until_a_right_one(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    assert await store.count_code_failure("c1") == 0  # no app, nothing to count
    await store.put_totp(a_secret())

    counts = [await store.count_code_failure("c1") for _ in range(3)]
    at_once = await asyncio.gather(*(store.count_code_failure("c1") for _ in range(5)))
    assert (await store.second_factors("c1")).totp.failures == 8  # type: ignore[union-attr]
    await store.use_totp_step("c1", 101)
    after_a_code = (await store.second_factors("c1")).totp
    await store.count_code_failure("c1")
    await store.clear_code_failures("c1")
    cleared = (await store.second_factors("c1")).totp

    assert counts == [1, 2, 3]
    assert sorted(at_once) == [4, 5, 6, 7, 8]
    assert after_a_code is not None
    assert after_a_code.failures == 0
    assert cleared is not None
    assert cleared.failures == 0


def a_passkey(credential_id: str = "cred-1", client_id: str = "c1", **changes: object) -> Passkey:
    """A passkey registered at T0 whose authenticator counts signatures."""
    key = Passkey(
        credential_id, client_id, b"\xa5\x01\x02cose", 7, "Laptop", T0, None, True, ("internal",)
    )
    return replace(key, **changes)  # type: ignore[arg-type]


async def test_a_passkey_is_found_by_its_id_and_belongs_to_one_account(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")

    assert await store.add_passkey(a_passkey())
    assert not await store.add_passkey(a_passkey(client_id="c2"))  # the id is taken
    assert await store.add_passkey(a_passkey("cred-2", created_at=LATER, name="Phone"))

    assert await store.passkey("cred-1") == a_passkey()
    assert await store.passkey("unknown") is None
    factors = await store.second_factors("c1")
    assert factors.enrolled
    assert not factors.has_app
    assert [key.name for key in factors.passkeys] == ["Laptop", "Phone"]
    assert (await store.second_factors("c2")).passkeys == ()


async def test_a_counter_moves_only_from_the_value_read(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_passkey(a_passkey())

    results = await asyncio.gather(*(store.use_passkey("cred-1", 7, 8, LATER) for _ in range(4)))
    assert results.count(True) == 1
    assert not await store.use_passkey("cred-1", 7, 9, LATER)  # read before the last use
    assert await store.passkey("cred-1") == a_passkey(sign_count=8, last_used_at=LATER)


async def test_only_the_owner_renames_or_removes_a_passkey(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_client(a_client("c2", "eve@example.com"), "hash")
    await store.add_passkey(a_passkey())
    await store.add_passkey(a_passkey("cred-2"))

    assert not await store.rename_passkey("c2", "cred-1", "Mine now")
    assert not await store.remove_passkey("c2", "cred-1")
    assert await store.rename_passkey("c1", "cred-1", "Work laptop")
    assert (await store.passkey("cred-1")) == a_passkey(name="Work laptop")
    assert await store.remove_passkey("c1", "cred-1")
    assert not await store.remove_passkey("c1", "cred-1")
    assert await store.passkey("cred-1") is None
    assert await store.remove_passkeys("c1") == 1
    assert await store.second_factors("c1") == SecondFactors()


async def test_deleting_a_client_drops_its_passkeys(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_passkey(a_passkey())

    await store.delete_client("c1", DeletionEvent("e1", "c1", "user", LATER))

    assert await store.passkey("cred-1") is None
    assert [r async for r in store.export_records() if isinstance(r, FactorRecord)] == []


async def test_passkeys_survive_an_export_and_import(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_passkey(a_passkey())
    await store.add_passkey(a_passkey("cred-2", last_used_at=LATER, synced=False, aaguid="x"))
    records = [record async for record in store.export_records()]
    factors = [r for r in records if isinstance(r, FactorRecord)]
    expected = (a_passkey(), a_passkey("cred-2", last_used_at=LATER, synced=False, aaguid="x"))
    assert factors == [FactorRecord("c1", None, (), expected)]

    await store.remove_passkeys("c1")
    await store.import_records(records)

    assert (await store.second_factors("c1")).passkeys == expected


async def test_a_session_proved_with_a_second_factor_keeps_its_new_amr(store: Store) -> None:
    await store.add_client(a_client(), "hash")
    session = replace(a_session(), amr=("pwd",))
    await store.add_session(session, "refresh-hash")

    proved = await store.prove_session(session.id, ("pwd", "otp", "mfa"), T0)
    await store.revoke_session(session.id, T0)
    after_revocation = await store.prove_session(session.id, ("pwd",), T0)

    assert proved is not None
    assert proved.amr == ("pwd", "otp", "mfa")
    assert after_revocation is None
    stored = await store.get_session(session.id)
    assert stored is not None
    assert stored.amr == ("pwd", "otp", "mfa")
    assert await store.prove_session("unknown", ("pwd",), T0) is None
