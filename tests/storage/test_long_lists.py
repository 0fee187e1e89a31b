"""An ``in`` (or a ``ne`` of a list) as long as anyone could send meets no database limit (issue 13).

The query parser bounds a request to 10,000 values (``query/limits.py``), but the storage must not
depend on that: each list is bound as one array parameter, so 40,000 values (past SQLite's 32,766
variables and PostgreSQL's 32,767 parameters, had each been one) are one statement like any other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jsonserve import testing
from jsonserve.query.model import AllOf, Condition, Op, Query
from jsonserve.storage.base import Storage
from jsonserve.storage.file.memory import MemoryStorage
from tests.api.conftest import require_postgres
from tests.storage.conftest import drop_schema, new_schema

pytestmark = pytest.mark.anyio

POSTS: dict[str, Any] = {"posts": [{"id": n, "ref": str(n), "score": n / 2} for n in range(1, 201)]}
MANY = 40_000


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    schema = None
    opened: Storage
    if request.param == "memory":
        opened = MemoryStorage(POSTS)
    elif request.param == "sqlite":
        from jsonserve.storage.sql.sqlite import SqliteStorage

        opened = SqliteStorage(str(tmp_path / "db.sqlite"), seed=POSTS)
    else:
        require_postgres()
        from jsonserve.storage.sql.postgres import PostgresStorage

        schema = new_schema()
        opened = PostgresStorage(testing.POSTGRES_URL, schema=schema, pool_size=1, seed=POSTS)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.aclose()
        if schema:
            await drop_schema(schema)


async def found(storage: Storage, where: Condition | AllOf) -> list[int]:
    page = await storage.find(Query("posts", where=where))
    return [record["id"] for record in page.items]  # type: ignore[misc]


async def test_forty_thousand_values_in_one_list(storage: Storage) -> None:
    texts = tuple(str(n) for n in range(150, 150 + MANY))  # numbers 150..40,149: records 150..200
    assert await found(storage, Condition(("id",), Op.IN, texts)) == list(range(150, 201))
    assert await found(storage, Condition(("ref",), Op.IN, texts)) == list(range(150, 201))  # strings
    assert await found(storage, Condition(("id",), Op.NE, texts)) == list(range(1, 150))
    halves = tuple(f"{n / 2}" for n in range(MANY))  # "0.0", "0.5" …: the scores, as floats
    both = AllOf((Condition(("score",), Op.IN, halves), Condition(("ref",), Op.NE, texts)))
    assert await found(storage, both) == list(range(1, 150))
