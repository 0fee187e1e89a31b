"""The fast lane (``jsonserve.gql.lane``) answers exactly as graphql-core does, or hands the query over.

Each query runs through two engines over the same data, one with the lane and one without; the
answers must be equal, key order included. The lane must also have answered the simple ones itself
(one storage read), and handed over the rest.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from jsonserve.gql import GraphQL, GraphQLOptions
from jsonserve.realtime.hub import Hub
from jsonserve.schema.declared import load_schemas
from jsonserve.service import Service
from jsonserve.storage.file.memory import MemoryStorage

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {
    "posts": [
        {"id": 1, "title": "a", "views": 5, "score": 1.5, "meta": {"x": [1]}, "big": 2**40, "ok": True},
        {"id": "two", "title": None, "views": 7, "score": 2, "meta": "text", "ok": False},
        {"id": 3, "views": 2**31 - 1, "score": -0.5, "big": 1},
    ],
    "tags": [{"id": 1, "name": "t"}, {"id": 2}],
    "profile": {"name": "typicode", "nested": {"a": None}},
}
SCHEMAS = {"tags": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}

LANE = {  # query: the storage finds it makes
    "{ posts { id title views score meta big ok } }": 1,
    "{ __typename p: posts(orderBy: [{views: DESC}]) { __typename views i: id } postsCount }": 2,
    "query ($w: PostWhere, $n: Int) { posts(where: $w, limit: $n) { id } c: postsCount(where: $w) }": 2,
    '{ post(id: "two") { id title } profile }': 0,
    '{ posts(q: "a") { title } }': 1,
    "{ tags { name } }": 1,  # declared required, but a record lacks it: nullable in Tag
}
HANDED_OVER = [
    '{ post(id: "9") { id } }',  # not found: an error to report
    '{ posts(where: {title: {like: "("}}) { id } }',  # a refused argument
    "{ posts { ... on Post { id } } }",  # a fragment
    "{ posts { id @include(if: true) } }",  # a directive
    "{ posts { id id } }",  # a repeated response name
    "{ posts { id } posts { title } }",
]
VARIABLES = {"w": {"views": {"gte": 5}}, "n": 2}


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[tuple[GraphQL, GraphQL, dict[str, int]]]:
    schema_file = tmp_path / "schemas.json"
    schema_file.write_bytes(orjson.dumps(SCHEMAS))
    service = Service(MemoryStorage(copy.deepcopy(DATA)), Hub(), schemas=load_schemas(schema_file))
    async with service:
        lane, plain = GraphQL(service), GraphQL(service, GraphQLOptions(fast_lane=False))
        await lane.schema()
        await plain.schema()
        reads = {"find": 0}
        find = service.storage.find

        async def counted(query: Any) -> Any:
            reads["find"] += 1
            return await find(query)

        service.storage.find = counted  # type: ignore[method-assign]
        yield lane, plain, reads


@pytest.mark.parametrize("query", [*LANE, *HANDED_OVER])
async def test_the_lane_answers_as_graphql_core(engines: tuple[GraphQL, GraphQL, dict[str, int]], query: str) -> None:
    lane, plain, reads = engines
    expected = await plain.run({"query": query, "variables": VARIABLES})
    reads["find"] = 0
    got = await lane.run({"query": query, "variables": VARIABLES})
    assert orjson.dumps(got.body) == orjson.dumps(expected.body)
    assert got.status == expected.status == 200
    if query in LANE:
        assert reads["find"] == LANE[query], "the lane should have answered alone"
