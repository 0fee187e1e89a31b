"""``--index COLLECTION.FIELD``: expression indexes the SQL backends create at open, and that filters use."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from jsonserve import testing
from jsonserve.query.params import parse_params
from jsonserve.storage.sql.base import SqlStorage
from jsonserve.storage.sql.compile import compile_order, compile_where, records
from jsonserve.storage.sql.indexes import index_name, parse_index
from jsonserve.storage.sql.postgres import PostgresStorage
from jsonserve.storage.sql.sqlite import SqliteStorage

pytestmark = pytest.mark.anyio

POSTS = {"posts": [{"id": i, "userId": i % 50, "meta": {"lang": f"l{i % 7}"}} for i in range(1, 2001)]}


class Explain(Executable, ClauseElement):
    """``EXPLAIN`` (PostgreSQL) / ``EXPLAIN QUERY PLAN`` (SQLite) of a statement, with its real parameters."""

    inherit_cache = False

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement


@compiles(Explain)
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + str(compiler.process(element.statement, **kw))


async def plan(storage: SqlStorage, *params: tuple[str, str], setup: str | None = None) -> str:
    """The plan of the SELECT ``find`` runs for ``/posts?params``."""
    query = parse_params("posts", params)
    where = sa.and_(records.c.collection == "posts", compile_where(query.where, storage.access))
    select = sa.select(records.c.doc).where(where).order_by(*compile_order(query.sort, storage.access))
    async with storage.engine.connect() as connection:
        if setup:
            await connection.exec_driver_sql(setup)
        rows = (await connection.execute(Explain(select))).all()
    return "\n".join(str(row[-1] if storage.engine.dialect.name == "sqlite" else row[0]) for row in rows)


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("posts.userId", ("posts", ("userId",))),
        ("posts.author.name", ("posts", ("author", "name"))),
        ("my-posts.user id", ("my-posts", ("user id",))),
    ],
)
def test_parse_index(spec: str, parsed: tuple[str, tuple[str, ...]]) -> None:
    assert parse_index(spec) == parsed


@pytest.mark.parametrize("spec", ["posts", "posts.", ".userId", "posts..x", ""])
def test_parse_index_refuses_what_is_not_collection_dot_field(spec: str) -> None:
    with pytest.raises(ValueError, match=r"COLLECTION\.FIELD"):
        parse_index(spec)


def test_index_names_are_deterministic_safe_and_short() -> None:
    name = index_name("posts", ("userId",))
    assert name == index_name("posts", ("userId",))
    assert name.startswith("jsonserve_idx_posts_userId_")
    assert index_name("a", ("b_c",)) != index_name("a_b", ("c",))  # the hash tells them apart
    long = index_name("x" * 100, ('we"ird', "ünï", "y" * 100))
    assert len(long) <= 63
    assert long.replace("_", "").isalnum()
    assert long.isascii()


async def seeded_sqlite(path: Path, indexes: list[str]) -> SqliteStorage:
    seeding = SqliteStorage(str(path), seed=POSTS)
    await seeding.open()
    await seeding.aclose()
    storage = SqliteStorage(str(path), indexes=indexes)
    await storage.open()
    return storage


async def test_sqlite_creates_the_indexes_at_open_once(tmp_path: Path) -> None:
    storage = await seeded_sqlite(tmp_path / "app.db", ["posts.userId", "posts.meta.lang", "posts.userId"])
    await storage.aclose()
    again = SqliteStorage(str(tmp_path / "app.db"), indexes=["posts.userId"])
    await again.open()
    await again.aclose()
    with sqlite3.connect(tmp_path / "app.db") as connection:
        names = {
            row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE name LIKE 'jsonserve_idx%'")
        }
        analyzed = connection.execute("SELECT count(*) FROM sqlite_stat1 WHERE idx LIKE 'jsonserve_idx%'").fetchone()
    assert names == {index_name("posts", ("userId",)), index_name("posts", ("meta", "lang"))}
    assert analyzed == (2,)


async def test_an_index_changes_no_answer(tmp_path: Path) -> None:
    plain = await seeded_sqlite(tmp_path / "plain.db", [])
    indexed = await seeded_sqlite(tmp_path / "indexed.db", ["posts.userId", "posts.meta.lang"])
    try:
        for params in ([("userId", "3")], [("userId", "03")], [("meta.lang", "l2")], [("userId_gte", "48")]):
            expected = await plain.find(parse_params("posts", params))
            assert await indexed.find(parse_params("posts", params)) == expected
            assert expected.total > 0 or params == [("userId", "03")]
    finally:
        await plain.aclose()
        await indexed.aclose()


async def test_sqlite_filter_on_an_indexed_field_uses_the_index(tmp_path: Path) -> None:
    storage = await seeded_sqlite(tmp_path / "app.db", ["posts.userId"])
    try:
        explained = await plan(storage, ("userId", "3"))
    finally:
        await storage.aclose()
    assert f"USING INDEX {index_name('posts', ('userId',))} (collection=? AND <expr>=?)" in explained


async def test_postgres_filter_on_an_indexed_field_uses_the_index(pg_schema: str) -> None:
    seeding = PostgresStorage(testing.POSTGRES_URL, schema=pg_schema, pool_size=1, seed=POSTS)
    await seeding.open()
    await seeding.aclose()
    storage = PostgresStorage(testing.POSTGRES_URL, schema=pg_schema, pool_size=1, indexes=["posts.userId"])
    await storage.open()
    try:
        # enable_seqscan=off: on 2,000 rows a scan may be cheapest; the question is whether the index matches.
        explained = await plan(storage, ("userId", "3"), setup="SET enable_seqscan = off")
        unindexed = await plan(storage, ("title", "x"), setup="SET enable_seqscan = off")
    finally:
        await storage.aclose()
    name = index_name("posts", ("userId",)).lower()
    assert name in explained
    assert "Index Cond" in explained
    assert "(doc #> '{userId}'::text[])" in explained.split("Index Cond")[1]
    assert not [line for line in unindexed.splitlines() if "Index Cond" in line and "{title}" in line]
