"""Moving between stores: export, import, and the file format's checks."""

from __future__ import annotations

import io
import json
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from gateway_auth.cli.main import main
from gateway_auth.config.settings import Settings
from gateway_auth.errors import EmailTaken, InvalidExport
from gateway_auth.http.app import create_app
from gateway_auth.http.appkeys import SERVICES
from gateway_auth.models import DeletionEvent, NoticeEvent, Passkey, TotpFactor, iso
from gateway_auth.stores.base import Rotation, Store, Suspension
from gateway_auth.stores.export import export_to, import_into, read_export
from tests.support.browser import AppClient, Browser
from tests.support.clock import FakeClock
from tests.support.credentials import JWT_SECRET, PASSWORD
from tests.support.records import T0, a_client, a_mail_event, a_session
from tests.support.stores import store_opener


async def _populate(store: Store) -> None:
    """One of everything: kinds, hashes, a suspension, rotations, a revocation, a pending
    deletion and a purged client."""
    await store.add_client(
        replace(a_client(), last_name="Lovelace", email_verified=True, groups=("ops", "dev")),
        "$2b$04$pw",
    )
    service = replace(a_client("svc", "svc@example.com"), kind="service", scopes=())
    await store.add_client(service, None, secret_hash="f" * 64)
    await store.add_client(replace(a_client("g", "guest@example.com"), kind="guest"), None)
    await store.set_suspended("g", Suspension(True, T0, "spam"))
    await store.add_session(a_session("s1"), "h0")
    await store.rotate_refresh_token(Rotation("s1", "h0", "h1", T0, T0 + timedelta(days=14)))
    await store.add_session(a_session("s2"), "x")
    await store.revoke_session("s2", T0)
    for client_id in ("gone", "purged"):
        await store.add_client(a_client(client_id, f"{client_id}@example.com"), "h")
        await store.delete_client(client_id, DeletionEvent(f"e-{client_id}", client_id, "user", T0))
    purged = (await store.claim_events(T0, T0, 10))[-1].event
    await store.complete_event(purged, T0)
    await store.queue_event(a_mail_event("m1", "c1"))  # a mail event waiting too
    notice = NoticeEvent("n1", "c1", "ada@example.com", "Ada", "password-changed", None, T0)
    await store.queue_event(notice)  # and a security notice
    await store.add_session(replace(a_session("s3"), amr=("pwd", "otp", "mfa")), "h3")
    await store.put_totp(TotpFactor("c1", "v1.k.sealed", T0, T0, 7))
    await store.replace_recovery_codes("c1", ["r2", "r1"])
    await store.add_passkey(
        Passkey("cred-1", "c1", b"\xa5\x01\x02", 9, "Laptop", T0, T0, True, ("internal",), "aa")
    )


async def _export(store: Store) -> list[str]:
    out = io.StringIO()
    await export_to(store, out, T0)
    header, *records = out.getvalue().splitlines()
    assert json.loads(header) == {
        "format": "gateway-auth-export",
        "version": 1,
        "exportedAt": iso(T0),
    }
    return records


async def test_sqlite_to_mongodb_and_back_loses_nothing(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    async with store_opener("sqlite") as sqlite, store_opener("mongo-emulated") as mongo:
        source = await sqlite(settings)
        await _populate(source)
        first = await _export(source)
        await source.close()

        middle = await mongo(settings)
        await import_into(middle, _file(first))
        second = await _export(middle)

        back = await sqlite(make_settings(DATA_DIR=str(settings.data_dir.parent / "back")))
        await import_into(back, _file(second))
        third = await _export(back)
        await back.close()

    assert first == second == third
    types = [json.loads(line)["type"] for line in first]
    assert types.count("client") == 4  # ada, svc, g, and gone (deleted, its event pending)
    assert types.count("session") == 3
    assert types.count("outbox") == 3  # the deletion, the mail event and the notice
    assert types.count("tombstone") == 1
    assert types.count("second-factors") == 1
    ada = json.loads(first[0])
    assert ada["passwordHash"] == "$2b$04$pw"
    assert ada["emailVerified"] is True
    assert ada["groups"] == ["ops", "dev"]
    mail = next(json.loads(line)["event"] for line in first if "password-reset" in line)
    assert mail["link"].endswith("token=t-m1")
    session = next(json.loads(line) for line in first if '"id":"s1"' in line)
    assert session["refreshHash"] == "h1"
    assert session["rotated"] == [{"hash": "h0", "at": iso(T0)}]
    notice = next(json.loads(line)["event"] for line in first if "security-notice" in line)
    assert notice["reason"] == "password-changed"
    factors = next(json.loads(line) for line in first if "second-factors" in line)
    assert factors["totp"]["sealedSecret"] == "v1.k.sealed"
    assert factors["recoveryCodeHashes"] == ["r1", "r2"]
    assert factors["passkeys"] == [
        {
            "credentialId": "cred-1",
            "publicKey": "pQEC",
            "signCount": 9,
            "name": "Laptop",
            "createdAt": iso(T0),
            "lastUsedAt": iso(T0),
            "synced": True,
            "transports": ["internal"],
            "aaguid": "aa",
        }
    ]
    assert '"amr":["pwd","otp","mfa"]' in next(line for line in first if '"id":"s3"' in line)
    gone = next(json.loads(line) for line in first if '"id":"gone"' in line)
    assert (gone["firstName"], gone["passwordHash"]) == (None, None)  # scrubbed on deletion


async def test_an_export_from_before_groups_imports_with_none(
    make_settings: Callable[..., Settings],
) -> None:
    async with store_opener("sqlite") as sqlite:
        store = await sqlite(make_settings())
        await store.add_client(replace(a_client(), groups=("ops",)), "h")
        [line] = [line for line in await _export(store) if '"type":"client"' in line]
        older = json.loads(line)
        del older["groups"]  # as a release before groups wrote it
        await store.close()
    [record] = read_export(_file([json.dumps(older)]))

    assert record.client.groups == ()  # type: ignore[union-attr]


def _file(records: list[str]) -> list[str]:
    header = {"format": "gateway-auth-export", "version": 1, "exportedAt": "x"}
    return [json.dumps(header), *records]


async def test_after_the_move_clients_keep_their_password_and_their_session(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
    make_settings: Callable[..., Settings],
    clock: FakeClock,
) -> None:
    settings = make_settings(JWT_SECRET=JWT_SECRET)
    async with store_opener("sqlite") as sqlite, store_opener("mongo-emulated") as mongo:
        before = await aiohttp_client(create_app(settings, clock=clock, store_opener=sqlite))
        browser = await Browser(before).logged_in()
        records = await _export(before.app[SERVICES].store)
        await before.close()

        imported = await mongo(settings)
        await import_into(imported, _file(records))
        after = await aiohttp_client(create_app(settings, clock=clock, store_opener=mongo))
        moved = Browser(after, cookies=browser.cookies)

        assert (await moved.request("GET", "/verify")).status == 200
        assert (await moved.request("POST", "/refresh")).status == 200
        assert (await moved.request("GET", "/me")).json()["email"] == "ada@example.com"
        assert (await Browser(after).login("ada@example.com", PASSWORD)).status == 200


async def test_importing_again_changes_nothing_and_a_clash_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    async with store_opener("sqlite") as sqlite:
        store = await sqlite(settings)
        await _populate(store)
        records = await _export(store)

        await import_into(store, _file(records))
        assert await _export(store) == records

        clash = json.loads(records[0]) | {"id": "someone-else"}
        with pytest.raises(EmailTaken):
            await import_into(store, _file([json.dumps(clash)]))
        await store.close()


@pytest.mark.parametrize("kind", ["sqlite", "mongo-emulated"])
async def test_look_alikes_an_upgrade_kept_are_imported_too(
    make_settings: Callable[..., Settings], kind: str
) -> None:
    cyrillic = "\N{CYRILLIC SMALL LETTER A}da@example.com"
    records = [
        json.dumps(CLIENT),
        json.dumps(CLIENT | {"id": "c2", "email": cyrillic, "createdAt": iso(T0)}),
    ]
    async with store_opener(kind) as opener:
        store = await opener(make_settings())
        await import_into(store, _file(records))
        found = await store.get_client("c2")
        await store.close()

    assert found is not None
    assert found.email == cyrillic


GOOD_HEADER = '{"format": "gateway-auth-export", "version": 1, "exportedAt": "x"}'
CLIENT: dict[str, object] = {
    "type": "client",
    "id": "c1",
    "email": "ada@example.com",
    "kind": "user",
    "scopes": [],
    "firstName": None,
    "lastName": None,
    "suspended": False,
    "suspendedAt": None,
    "suspendReason": None,
    "createdAt": iso(T0),
    "updatedAt": iso(T0),
    "deletedAt": None,
    "passwordHash": None,
    "secretHash": None,
}
FACTORS: dict[str, object] = {
    "type": "second-factors",
    "clientId": "c1",
    "totp": None,
    "recoveryCodeHashes": [],
}
PASSKEY: dict[str, object] = {
    "credentialId": "cred-1",
    "publicKey": "pQEC",
    "signCount": 0,
    "name": "Laptop",
    "createdAt": iso(T0),
    "lastUsedAt": None,
    "synced": False,
    "transports": [],
    "aaguid": "",
}


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ([], "line 1: the file is empty"),
        (["not json"], "line 1: not valid JSON"),
        (['{"format": "something-else"}'], "line 1: not a gateway-auth export"),
        (['{"format": "gateway-auth-export", "version": 2}'], "line 1: export version 2"),
        ([GOOD_HEADER, "[1]"], "line 2: not a JSON object"),
        ([GOOD_HEADER, '{"type": "user"}'], "line 2: type must be client, session"),
        ([GOOD_HEADER, json.dumps(CLIENT | {"admin": True})], "line 2: unknown field admin"),
        ([GOOD_HEADER, json.dumps(CLIENT | {"kind": "root"})], "line 2: kind must be one of"),
        ([GOOD_HEADER, json.dumps(CLIENT | {"id": ""})], "line 2: id must not be empty"),
        ([GOOD_HEADER, json.dumps(CLIENT | {"id": {"$ne": ""}})], "line 2: id must be a str"),
        ([GOOD_HEADER, json.dumps(CLIENT | {"scopes": [1]})], "scopes must be a list of strings"),
        ([GOOD_HEADER, json.dumps(CLIENT | {"suspended": "no"})], "suspended must be a bool"),
        (
            [GOOD_HEADER, json.dumps(CLIENT | {"createdAt": "yesterday"})],
            "line 2: createdAt must be an RFC 3339 time",
        ),
        (
            [GOOD_HEADER, json.dumps(CLIENT | {"createdAt": iso(T0).removesuffix("Z")})],
            "createdAt must carry a time zone",
        ),
        ([GOOD_HEADER, '{"type": "client", "type": "client"}'], "line 2: a field appears twice"),
        (
            [GOOD_HEADER, '{"type": "tombstone", "id": "c9", "deletedAt": 5}'],
            "line 2: deletedAt must be a str",
        ),
        (
            [
                GOOD_HEADER,
                json.dumps(
                    {
                        "type": "session",
                        "id": "s1",
                        "clientId": "nobody",
                        "createdAt": iso(T0),
                        "lastUsedAt": iso(T0),
                        "expiresAt": iso(T0),
                        "absoluteExpiresAt": iso(T0),
                        "userAgent": "",
                        "ip": "",
                        "revokedAt": None,
                        "refreshHash": "h",
                        "rotated": [],
                    }
                ),
            ],
            "line 2: session s1 belongs to a client not in the file",
        ),
        (
            [
                GOOD_HEADER,
                '{"type": "outbox", "event": {"type": "other"}, "attempts": 0, "createdAt": "x"}',
            ],
            "line 2: event type must be one of client-data-deletion-request, password-reset-",
        ),
        (
            [GOOD_HEADER, json.dumps(CLIENT), json.dumps(FACTORS | {"passkeys": [{"name": "x"}]})],
            "line 3: publicKey must be a str",
        ),
        (
            [
                GOOD_HEADER,
                json.dumps(CLIENT),
                json.dumps(FACTORS | {"passkeys": [PASSKEY | {"publicKey": "***"}]}),
            ],
            "line 3: publicKey must be base64url",
        ),
        (
            [GOOD_HEADER, json.dumps(CLIENT | {"groups": ["staff,admin"]})],
            "line 2: groups: must be 1-64 letters, digits or _ . : / - each",
        ),
        (
            [GOOD_HEADER, json.dumps(CLIENT | {"scopes": ["read\r\nX-Auth-Scopes: admin"]})],
            "line 2: scopes: must be 1-64 letters",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_before_anything_is_written(
    lines: list[str], problem: str
) -> None:
    with pytest.raises(InvalidExport) as refused:
        read_export(lines)

    assert problem in refused.value.message


def test_the_cli_exports_to_a_new_private_file_and_imports_it_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = {"GATEWAY_AUTH_DATA_DIR": str(tmp_path / "a"), "GATEWAY_AUTH_BCRYPT_ROUNDS": "4"}
    target = {"GATEWAY_AUTH_DATA_DIR": str(tmp_path / "b"), "GATEWAY_AUTH_BCRYPT_ROUNDS": "4"}
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    create = ["clients", "create", "--email", "ada@example.com", "--password-stdin"]
    assert main(create, source) == 0
    export = tmp_path / "export.jsonl"
    capsys.readouterr()

    assert main(["export", "--output", str(export)], source) == 0
    assert (
        "exported 1 client, 0 sessions, 0 pending events, 0 tombstones" in capsys.readouterr().err
    )
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert main(["export", "--output", str(export)], source) == 1  # never overwrites
    refusal = capsys.readouterr().err
    assert "cannot be created (File exists)" in refusal
    assert "invalid configuration" not in refusal

    assert main(["import", str(export)], target) == 0
    assert "imported 1 client" in capsys.readouterr().err
    assert main(["clients", "list", "--json"], target) == 0
    assert json.loads(capsys.readouterr().out)["email"] == "ada@example.com"

    export.write_text(GOOD_HEADER + "\n" + '{"type": "nope"}\n')
    assert main(["import", str(export)], target) == 1
    assert "gateway-auth: line 2: type must be client" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing.jsonl")], target) == 1
    assert "cannot be read (No such file or directory)" in capsys.readouterr().err
