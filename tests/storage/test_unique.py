"""Creates conditional on a unique value (``Storage.create(unique=)``), on every backend, and across processes.

A value clashes with a stored string equal to it ignoring case (``str.lower`` on both sides, Unicode
included); a clash is ``ValueTaken`` and leaves nothing behind. On SQLite and PostgreSQL the check
holds across OS processes: several processes, each with its own storage, Service and Accounts,
register one email in different spellings at the same moment, round after round; exactly one of
them gets the account (registration's ``EmailTaken`` for the others, json-server-auth's 400).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import multiprocessing
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jsonserve import testing
from jsonserve.errors import Conflict, ValueTaken
from jsonserve.query.model import Query
from jsonserve.storage import MemoryStorage, Storage, Unique
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.sql.postgres import PostgresStorage
from jsonserve.storage.sql.sqlite import SqliteStorage
from tests.api.conftest import require_postgres
from tests.storage.conftest import drop_schema, new_schema
from tests.support import racer

DATA: dict[str, Any] = {
    "users": [
        {"id": 1, "email": "Ada@Example.com"},
        {"id": 2, "email": 42},  # not a string: never clashes
        {"id": 3, "email": "élodie@exemple.fr"},
        {"id": 4, "email": "İnci@example.com"},  # lower-cases to "i̇nci" (an i and a combining dot)
        {"id": 5, "email": "straße@example.com"},
    ],
    "posts": [{"id": 1, "email": "grace@example.com"}],
}
BACKENDS = ("memory", "jsonfile", "sqlite", "postgres")
PROCESSES = 3
ROUNDS = 12


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    kind = str(request.param)
    if kind == "postgres":
        require_postgres()
    schema = new_schema()
    store = _build(kind, tmp_path, schema)
    await store.open()
    try:
        yield store
    finally:
        with contextlib.suppress(Exception):
            await store.aclose()
        if kind == "postgres":
            await drop_schema(schema)


def _build(kind: str, folder: Path, schema: str) -> Storage:
    data = copy.deepcopy(DATA)
    if kind == "memory":
        return MemoryStorage(data)
    if kind == "jsonfile":
        (folder / "db.json").write_bytes(encode_document(data))
        return JsonFileStorage(folder / "db.json")
    if kind == "sqlite":
        return SqliteStorage(str(folder / "db.sqlite"), seed=data)
    return PostgresStorage(testing.POSTGRES_URL, schema=schema, pool_size=2, seed=data)


async def create(storage: Storage, collection: str, email: str, **options: Any) -> int | str | None:
    change = await storage.create(collection, {"email": email}, unique=Unique("email", email), **options)
    return change.id


@pytest.mark.anyio
async def test_a_value_taken_in_any_case_is_refused_and_leaves_nothing(storage: Storage) -> None:
    start = await storage.changes.latest()
    for taken in ("ada@example.com", "ADA@EXAMPLE.COM", "ÉLODIE@EXEMPLE.FR", "i̇nci@example.com", "STRAßE@example.com"):
        with pytest.raises(ValueTaken) as refused:
            await create(storage, "users", taken)
        assert isinstance(refused.value, Conflict) and refused.value.code == "value_taken"
        assert [(error.path, error.code) for error in refused.value.errors] == [("email", "value_taken")]
    assert await storage.changes.since(start) == []
    assert await storage.count("users") == len(DATA["users"])
    # Free: a longer or shorter text, a number's text, a value held in another collection, ß is not ss.
    for free in ("xada@example.com", "ada@example.co", "42", "grace@example.com", "STRASSE@example.com"):
        await create(storage, "users", free)
    with pytest.raises(ValueTaken):
        await create(storage, "users", "Grace@Example.COM")  # the new record counts at once
    await storage.create("users", {"email": "ada@example.com"})  # a create without the condition is unchanged
    assert await storage.count("users") == len(DATA["users"]) + 6


@pytest.mark.anyio
async def test_a_new_collection_and_concurrent_creates_keep_one_record(storage: Storage) -> None:
    await create(storage, "members", "first@example.com", new_collection=True)
    with pytest.raises(ValueTaken):
        await create(storage, "members", "FIRST@example.com", new_collection=True)
    spellings = [racer.spelling("racer@example.com", index) for index in range(8)]
    outcomes = await asyncio.gather(*(create(storage, "members", email) for email in spellings), return_exceptions=True)
    assert sum(not isinstance(outcome, BaseException) for outcome in outcomes) == 1
    assert sum(isinstance(outcome, ValueTaken) for outcome in outcomes) == len(spellings) - 1
    emails = [str(record["email"]) for record in (await storage.find(Query("members"))).items]
    assert sorted(email.lower() for email in emails) == ["first@example.com", "racer@example.com"]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_processes_registering_one_email_at_once_create_one_user(kind: str, tmp_path: Path) -> None:
    if kind == "postgres":
        require_postgres()
    schema = new_schema() if kind == "postgres" else None
    location = str(tmp_path / "db.sqlite") if kind == "sqlite" else testing.POSTGRES_URL
    asyncio.run(_seed(kind, location, schema))  # no users collection yet: round 0 also races to create it
    try:
        outcomes = _race(kind, location, schema)
        users = asyncio.run(_users(kind, location, schema))
    finally:
        if schema is not None:
            asyncio.run(drop_schema(schema))
    for round_number in range(ROUNDS):
        this_round = sorted(outcomes[index][round_number] for index in range(PROCESSES))
        assert this_round == ["created"] + ["taken"] * (PROCESSES - 1), (round_number, this_round)
    assert sorted(email.lower() for email in users) == sorted(racer.email_of(n) for n in range(ROUNDS))


def _race(kind: str, location: str, schema: str | None) -> dict[int, list[str]]:
    """Run the contenders (``tests/support/racer.py``) to the end; what each reported, by index."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=racer.contend, args=(kind, location, schema, index, ROUNDS, barrier, results))
        for index in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        reported = dict(results.get(timeout=60) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return reported


async def _seed(kind: str, location: str, schema: str | None) -> None:
    storage = _sql(kind, location, schema, seed={"posts": []})
    await storage.open()
    await storage.aclose()


async def _users(kind: str, location: str, schema: str | None) -> list[str]:
    storage = _sql(kind, location, schema)
    await storage.open()
    try:
        return [str(user["email"]) for user in (await storage.find(Query("users"))).items]
    finally:
        await storage.aclose()


def _sql(kind: str, location: str, schema: str | None, **options: Any) -> Storage:
    if kind == "sqlite":
        return SqliteStorage(location, **options)
    return PostgresStorage(location, schema=schema, pool_size=1, **options)
