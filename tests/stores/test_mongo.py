"""What only the MongoDB store does: its indexes, literal matching, and failing fast with the
real driver when no server answers (the contract suite covers the behaviour it shares)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo.asynchronous.database import AsyncDatabase

from gateway_auth.emails import email_key, email_skeleton
from gateway_auth.errors import ConfigurationError
from gateway_auth.models import DeletionEvent
from gateway_auth.stores.mongo import MongoStore
from gateway_auth.stores.mongo.clients import client_doc
from tests.support.credentials import ENCRYPTION_KEY, JWT_SECRET
from tests.support.processes import free_port, server_environment
from tests.support.records import T0, a_client, a_mail_event, a_session, an_account_token


@pytest.fixture
def emulation() -> Any:
    return AsyncMongoMockClient(tz_aware=True)["gateway_auth"]


@pytest.fixture
async def store(emulation: Any) -> AsyncIterator[MongoStore]:
    store = await MongoStore.on(cast(AsyncDatabase[dict[str, Any]], emulation))
    yield store
    await store.close()


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers, like a hung server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def test_indexes_are_made_at_start_and_again_without_harm(
    store: MongoStore, emulation: Any
) -> None:
    await MongoStore.on(emulation)  # a second instance starting: same definitions, no error

    clients = await emulation["clients"].index_information()
    sessions = await emulation["sessions"].index_information()
    outbox = await emulation["outbox"].index_information()
    assert clients["email_key_1"]["unique"] is True
    assert sessions["client_id_1"]["key"] == [("client_id", 1)]
    week = 7 * 24 * 3600
    assert sessions["absolute_expires_at_1"]["expireAfterSeconds"] == week
    assert outbox["delivered_at_1"]["expireAfterSeconds"] == week
    one_per_client = outbox["one_deletion_per_client"]
    assert one_per_client["unique"] is True
    assert one_per_client["partialFilterExpression"] == {
        "payload.type": "client-data-deletion-request"
    }
    assert "client_id_1" not in outbox
    tokens = await emulation["account_tokens"].index_information()
    assert tokens["expires_at_1"]["expireAfterSeconds"] == week


async def test_an_outbox_index_from_before_mail_events_is_replaced(emulation: Any) -> None:
    await emulation["outbox"].create_index("client_id", unique=True)  # an older release's

    store = await MongoStore.on(emulation)
    for n in range(2):  # two mail events of one client: the old index would refuse the second
        await store.queue_event(a_mail_event(f"m{n}", "c1"))

    assert len(await store.pending_events(10)) == 2
    assert "client_id_1" not in await emulation["outbox"].index_information()


async def test_clients_stored_before_skeletons_get_them_and_look_alikes_keep_working(
    emulation: Any,
) -> None:
    legacy = [
        ("c0", "ada@example.com"),
        ("c1", "\N{CYRILLIC SMALL LETTER A}da@example.com"),
        ("c2", "Bob@Bücher.example"),
    ]
    for n, (client_id, email) in enumerate(legacy):
        doc = client_doc(a_client(client_id, email=email), "hash", None)
        doc.pop("email_skeleton")
        doc["email_key"] = email.casefold()  # the old rule
        doc["created_at"] = doc["created_at"] + timedelta(seconds=n)
        await emulation["clients"].insert_one(doc)

    store = await MongoStore.on(emulation)
    try:
        found = await store.get_credentials(email_key("bob@xn--bcher-kva.example"))
    finally:
        await store.close()

    docs = {d["_id"]: d async for d in emulation["clients"].find({})}
    assert docs["c0"]["email_skeleton"] == email_skeleton("ada@example.com")
    assert docs["c1"]["email_skeleton"] == "kept:c1"  # the later look-alike keeps working
    assert found is not None
    assert found.client.id == "c2"
    indexes = await emulation["clients"].index_information()
    assert indexes["email_skeleton_1"]["unique"] is True


async def test_a_skeleton_given_twice_by_a_start_up_race_is_separated(emulation: Any) -> None:
    # Two processes rekeying at once can give one skeleton to two clients; the index then
    # cannot be made, and the next start repairs the pair instead of failing for good.
    for n, client_id in enumerate(("c0", "c1")):
        doc = client_doc(a_client(client_id, email=f"user{n}@example.com"), "hash", None)
        doc["email_skeleton"] = "shared"
        doc["created_at"] = doc["created_at"] + timedelta(seconds=n)
        await emulation["clients"].insert_one(doc)

    store = await MongoStore.on(emulation)
    await store.close()

    docs = {d["_id"]: d async for d in emulation["clients"].find({})}
    assert (docs["c0"]["email_skeleton"], docs["c1"]["email_skeleton"]) == ("shared", "kept:c1")


async def test_an_operator_object_is_matched_literally_never_run(store: MongoStore) -> None:
    await store.add_client(a_client(), "hash")
    await store.add_session(a_session(), "h0")
    operator: Any = {"$ne": ""}

    assert await store.get_credentials(operator) is None
    assert await store.get_client(operator) is None
    assert await store.get_password_hash(operator) is None
    assert await store.list_sessions(operator, a_session().created_at) == []
    assert await store.revoke_client_sessions(operator, a_session().created_at) == []


async def test_a_hung_server_fails_start_up_within_a_few_seconds(black_hole: int) -> None:
    uri = f"mongodb://ada:hunter2-secret@127.0.0.1:{black_hole}/?directConnection=true"
    started = time.monotonic()

    with pytest.raises(ConfigurationError) as refused:
        await MongoStore.open(uri, "gateway_auth")

    assert time.monotonic() - started < 10  # default timeouts: 3 s to connect and select
    message = str(refused.value)
    assert f"MongoDB at 127.0.0.1:{black_hole} did not answer" in message
    assert "hunter2" not in message


def test_serve_on_an_unreachable_mongodb_exits_with_a_clear_message(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: connections are refused at once
    uri = f"mongodb://ada:hunter2-secret@127.0.0.1:{port}/?serverSelectionTimeoutMS=300"
    environment = server_environment(
        MONGODB_URI=uri,
        PUBLIC_URL="https://auth.example.com",
        JWT_SECRET=JWT_SECRET,
        ENCRYPTION_KEY=ENCRYPTION_KEY,
        DATA_DIR=str(tmp_path / "data"),
    )

    done = subprocess.run(
        [sys.executable, "-m", "gateway_auth", "serve"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 1  # not a mistake in the settings: the same command may work later
    assert done.stderr.splitlines()[-1] == (
        f"gateway-auth: GATEWAY_AUTH_MONGODB_URI: MongoDB at 127.0.0.1:{port} did not answer"
    )
    assert "hunter2" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://ada:hunter2-secret@127.0.0.1:notaport/",
        "mongodb://ada:hunter2-secret@127.0.0.1/?serverSelectionTimeoutMS=soon",
    ],
)
async def test_a_malformed_uri_is_a_configuration_problem_without_the_password(uri: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        await MongoStore.open(uri, "gateway_auth")

    assert refused.value.problems[0].startswith("GATEWAY_AUTH_MONGODB_URI: ")
    assert "hunter2" not in str(refused.value)


async def test_the_mail_slots_keep_no_address_and_go_with_the_client(
    store: MongoStore, emulation: Any
) -> None:
    await store.add_client(a_client(), "h")
    await store.add_account_token(an_account_token("h1"), timedelta(minutes=1))
    kept = await emulation["guards"].find().to_list(None)

    await store.delete_client("c1", DeletionEvent("e1", "c1", "user", T0))

    assert [doc["_id"] for doc in kept] == ["mail:c1:password-reset"]
    assert "ada@example.com" not in str(kept)  # only the address's SHA-256
    assert await emulation["guards"].find().to_list(None) == []  # (no lease: not an admin)
