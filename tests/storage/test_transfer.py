"""``transfer``: whole data sets copied between JSON files, SQLite and PostgreSQL, exactly."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from jsonserve import testing
from jsonserve.errors import StorageCorrupt, StorageLocked
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.file.journal import FileLock, encode_line, encode_meta, read_journal
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.file.meta import Meta, read_meta
from jsonserve.storage.sql.sqlite import SqliteStorage
from jsonserve.storage.transfer import BATCH, Endpoint, Tally, TargetNotEmpty, TransferError, transfer

pytestmark = pytest.mark.anyio

# Values that trip serializers: unicode, 64-bit edges, floats that need all 17 digits, nesting, escapes.
DOC: dict[str, Any] = {
    "posts": [
        {
            "id": 1,
            "title": "héllo wörld ✓ 😀 日本語",
            "userId": 3,
            "max": 2**63 - 1,
            "min": -(2**63),
            "umax": 2**64 - 1,
            "ratio": 0.1,
            "third": 1 / 3,
            "tiny": 5e-324,
            "huge": 1.5e300,
            "exp": 1e-7,
            "flag": True,
            "nothing": None,
            "tags": ["a", "ü", {"deep": [1, 2.5, {"x": None, "y": []}]}],
            "meta": {"author": {"name": "Ada", "empty": {}}},
        },
        {"id": "str-id", "title": 'quotes " \\ \n \t and \u2028', "userId": "3"},
        {"id": 7, "title": "seven", "userId": 4, "float_id_like": 7.0},
    ],
    "comments": [],
    "profile": {"name": "typicode", "nested": {"ok": True, "list": [1, "two"]}},
    "$schema": "./schema.json",
    "$meta": [1, {"a": "b"}],
}


def write_json(path: Path, document: dict[str, Any]) -> Path:
    path.write_bytes(encode_document(document))
    return path


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def pg(schema: str) -> Endpoint:
    return Endpoint(testing.POSTGRES_URL, {"schema": schema, "pool_size": 2})


async def test_round_trip_json_sqlite_postgres_json_preserves_every_value(tmp_path: Path, pg_schema: str) -> None:
    source = write_json(tmp_path / "a.json", DOC)
    await transfer(str(source), str(tmp_path / "b.db"))
    await transfer(str(tmp_path / "b.db"), pg(pg_schema))
    summary = await transfer(pg(pg_schema), str(tmp_path / "d.json"))
    assert summary.records == 3
    assert summary.resources == 5
    result = read_json(tmp_path / "d.json")
    assert result == DOC
    assert list(result) == list(DOC)  # resource order
    assert [p["id"] for p in result["posts"]] == [1, "str-id", 7]  # record order and id types
    assert orjson.dumps(result["posts"][0]["third"]) == orjson.dumps(DOC["posts"][0]["third"])


async def test_json_to_sqlite_to_json_is_byte_identical(tmp_path: Path) -> None:
    source = write_json(tmp_path / "a.json", DOC)
    await transfer(str(source), f"sqlite:///{tmp_path / 'b.db'}")
    await transfer(str(tmp_path / "b.db"), str(tmp_path / "c.json"))
    assert (tmp_path / "c.json").read_bytes() == source.read_bytes()


@pytest.mark.parametrize(
    "document",
    [DOC, {}, {"posts": []}, {"profile": {}}, {"$only": 1}, {"a": [{"id": 1}], "b": {"x": [1, {"y": {}}]}}],
    ids=["sample", "empty", "empty-collection", "empty-singular", "extra-only", "nested"],
)
async def test_json_output_is_what_encode_document_writes(tmp_path: Path, document: dict[str, Any]) -> None:
    source = write_json(tmp_path / "a.json", document)
    await transfer(str(source), str(tmp_path / "b.json"))
    assert (tmp_path / "b.json").read_bytes() == source.read_bytes()
    assert not (tmp_path / ".b.json.journal").exists()


async def test_high_water_marks_survive_every_hop(tmp_path: Path) -> None:
    source = write_json(tmp_path / "a.json", {"posts": [{"id": 1}, {"id": 2}]})
    (tmp_path / ".a.json.journal").write_bytes(encode_meta(9, {"posts": 50}))  # ids 3..50 were deleted
    await transfer(str(source), str(tmp_path / "b.db"))
    with sqlite3.connect(tmp_path / "b.db") as connection:
        assert connection.execute("SELECT high, int_ids FROM jsonserve_resources").fetchall() == [(50, 1)]
    await transfer(str(tmp_path / "b.db"), str(tmp_path / "c.json"))
    kept = read_meta(tmp_path / "c.json").merged(Meta(0, read_journal(tmp_path / ".c.json.journal").high))
    assert kept.high == {"posts": 50}  # in the file's attribute (or, where it can have none, a journal)
    served = JsonFileStorage(tmp_path / "c.json")
    await served.open()
    try:
        assert (await served.create("posts", {"title": "new"})).id == 51
    finally:
        await served.aclose()


async def test_records_without_an_id_get_the_next_integers_at_the_end(tmp_path: Path) -> None:
    source = write_json(tmp_path / "a.json", {"posts": [{"title": "a"}, {"id": 4}, {"title": "b"}]})
    await transfer(str(source), str(tmp_path / "b.db"))
    await transfer(str(tmp_path / "b.db"), str(tmp_path / "c.json"))
    assert read_json(tmp_path / "c.json") == {"posts": [{"id": 4}, {"title": "a", "id": 5}, {"title": "b", "id": 6}]}


async def test_order_is_kept_across_pages_and_after_later_inserts(tmp_path: Path) -> None:
    count = BATCH * 2 + 17
    posts = [{"id": count - i, "n": i} for i in range(count)]  # ids descending: order must come from position
    source = write_json(tmp_path / "a.json", {"posts": posts})
    await transfer(str(source), str(tmp_path / "b.db"))
    storage = SqliteStorage(str(tmp_path / "b.db"))
    await storage.open()
    try:
        created = await storage.create("posts", {"n": "new"})
    finally:
        await storage.aclose()
    assert created.id == count + 1
    await transfer(str(tmp_path / "b.db"), str(tmp_path / "c.json"))
    assert read_json(tmp_path / "c.json")["posts"] == [*posts, {"n": "new", "id": count + 1}]


async def test_a_non_empty_target_is_refused_without_force(tmp_path: Path) -> None:
    source = write_json(tmp_path / "a.json", {"posts": [{"id": 1}]})
    other = write_json(tmp_path / "other.json", {"users": [{"id": 9}]})
    await transfer(str(other), str(tmp_path / "b.db"))
    for target in ("b.db", "other.json"):
        before = (tmp_path / target).read_bytes()
        with pytest.raises(TargetNotEmpty, match="--force"):
            await transfer(str(source), str(tmp_path / target))
        assert (tmp_path / target).read_bytes() == before
    await transfer(str(source), str(tmp_path / "b.db"), force=True)
    await transfer(str(tmp_path / "b.db"), str(tmp_path / "other.json"), force=True)
    assert read_json(tmp_path / "other.json") == {"posts": [{"id": 1}]}


async def test_a_failed_load_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    await transfer(str(write_json(tmp_path / "ok.json", {"users": [{"id": 1}]})), str(tmp_path / "b.db"))
    posts = [{"id": i} for i in range(1, BATCH + 10)] + [{"id": 5}]
    bad = write_json(tmp_path / "bad.json", {"posts": posts})
    with pytest.raises(StorageCorrupt, match="two records with the same id"):
        await transfer(str(bad), str(tmp_path / "b.db"), force=True)
    with pytest.raises(StorageCorrupt, match="two records with id 5"):
        await transfer(str(bad), str(tmp_path / "c.json"))
    assert not (tmp_path / "c.json").exists()
    assert list(tmp_path.glob(".c.json.tmp-*")) == []
    await transfer(str(tmp_path / "b.db"), str(tmp_path / "d.json"))
    assert read_json(tmp_path / "d.json") == {"users": [{"id": 1}]}


async def test_integers_beyond_64_bits_become_floats_as_orjson_reads_them(tmp_path: Path) -> None:
    raw = b'{"posts": [{"id": 1, "n": 123456789012345678901234567890, "m": -9223372036854775808}]}'
    (tmp_path / "a.json").write_bytes(raw)
    await transfer(str(tmp_path / "a.json"), str(tmp_path / "b.db"))
    await transfer(str(tmp_path / "b.db"), str(tmp_path / "c.json"))
    assert read_json(tmp_path / "c.json") == orjson.loads(raw)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b'{"posts": [1]}', r"posts\[0\] is not an object"),
        (b'{"posts": [{"id": true}]}', "not a number or a string"),
        (b'{"posts": 3}', "must be an array or an object"),
        (b'{"a/b": []}', "cannot be routed"),
        (b'{"posts": [{"id": 1},', "not valid JSON"),
    ],
)
async def test_a_bad_json_source_is_reported(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "a.json").write_bytes(content)
    with pytest.raises(StorageCorrupt, match=message):
        await transfer(str(tmp_path / "a.json"), str(tmp_path / "b.db"))


async def test_writes_left_in_the_journal_are_copied(tmp_path: Path) -> None:
    source = write_json(tmp_path / "a.json", {"posts": [{"id": 1}]})
    journal = encode_meta(1, {"posts": 1}) + encode_line(2, [("put", "posts", {"id": 2, "late": True})])
    (tmp_path / ".a.json.journal").write_bytes(journal)  # as a kill -9 before compaction leaves it
    await transfer(str(source), str(tmp_path / "b.json"))
    assert read_json(tmp_path / "b.json") == {"posts": [{"id": 1}, {"id": 2, "late": True}]}


async def test_a_file_being_served_is_not_copied(tmp_path: Path) -> None:
    source = write_json(tmp_path / "a.json", {"posts": []})
    lock = FileLock(tmp_path / ".a.json.lock", source)
    lock.acquire()
    try:
        with pytest.raises(StorageLocked):
            await transfer(str(source), str(tmp_path / "b.db"))
    finally:
        lock.release()


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("a.json", "a.json", "the same"),
        ("missing.json", "b.db", "does not exist"),
        ("missing.db", "b.json", "does not exist"),
        ("a.txt", "b.db", "cannot copy"),
    ],
)
async def test_impossible_copies_are_refused(tmp_path: Path, source: str, target: str, message: str) -> None:
    write_json(tmp_path / "a.json", {"posts": []})
    with pytest.raises(TransferError, match=message):
        await transfer(str(tmp_path / source), str(tmp_path / target))


async def test_progress_is_reported_per_batch(tmp_path: Path) -> None:
    source = write_json(tmp_path / "a.json", {"posts": [{"id": i} for i in range(1, 2 * BATCH + 2)]})
    tallies: list[Tally] = []
    await transfer(str(source), str(tmp_path / "b.db"), progress=tallies.append)
    assert [t.records for t in tallies] == [BATCH, 2 * BATCH, 2 * BATCH + 1]
    assert tallies[-1].done == tallies[-1].total == source.stat().st_size
    assert tallies[-1].unit == "bytes"
    tallies.clear()
    await transfer(str(tmp_path / "b.db"), str(tmp_path / "c.json"), progress=tallies.append)
    assert tallies[-1] == Tally(2 * BATCH + 1, 2 * BATCH + 1, 2 * BATCH + 1, "records")


async def test_postgres_target_is_refused_when_not_empty_and_replaced_with_force(
    tmp_path: Path, pg_schema: str
) -> None:
    first = write_json(tmp_path / "a.json", {"posts": [{"id": 1}], "profile": {"v": 1}})
    second = write_json(tmp_path / "b.json", {"users": [{"id": "u"}]})
    await transfer(str(first), pg(pg_schema), indexes=["posts.userId"])
    with pytest.raises(TargetNotEmpty):
        await transfer(str(second), pg(pg_schema))
    await transfer(str(second), pg(pg_schema), force=True)
    await transfer(pg(pg_schema), str(tmp_path / "c.json"))
    assert read_json(tmp_path / "c.json") == {"users": [{"id": "u"}]}
    assert copy.deepcopy(DOC) == DOC  # the module's sample was never mutated
