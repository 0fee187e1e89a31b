"""The GraphQL schema's names and types, from the catalogue: safe names, collisions, scalars, relations, limits.

Table tests on the pure parts (``gql/names.py``, ``gql/fields.py``, ``gql/limits.py``) and on the
plan and the printed schema of small data sets (memory backend): the same data always gives the
same schema, and every name is a valid GraphQL name.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from graphql import (
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    parse,
    print_schema,
    validate_schema,
)
from graphql import build_schema as from_sdl
from hypothesis import given, settings
from hypothesis import strategies as st

from jsonserve.gql import GraphQL, Outcome
from jsonserve.gql.fields import scalar_for
from jsonserve.gql.limits import GraphQLLimits, TooComplex, check_document, check_operation
from jsonserve.gql.names import Namespace, camel, pascal, safe_name
from jsonserve.realtime.hub import Hub
from jsonserve.schema.declared import RecordSchema
from jsonserve.schema.infer import infer
from jsonserve.service import Service
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.file.memory import MemoryStorage

pytestmark = pytest.mark.anyio
NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


@pytest.mark.parametrize(
    ("text", "safe", "type_name", "field"),
    [
        ("posts", "posts", "Posts", "posts"),
        ("first-name", "first_name", "FirstName", "firstName"),
        ("2fa", "_2fa", "_2fa", "_2fa"),
        ("__v", "_v", "V", "v"),
        ("a.b c", "a_b_c", "ABC", "aBC"),
        ("文章", "__", "_", "_"),
        ("", "_", "_", "_"),
        ("Été", "_t_", "T", "t"),
    ],
)
def test_safe_names(text: str, safe: str, type_name: str, field: str) -> None:
    assert (safe_name(text), pascal(text), camel(text)) == (safe.replace("__", "_"), type_name, field)
    for name in (safe_name(text), pascal(text), camel(text)):
        assert NAME.match(name) and not name.startswith("__")


def test_a_namespace_numbers_what_is_taken() -> None:
    names = Namespace({"String"})
    claimed = [names.claim("String"), names.claim("String"), names.claim("post", "postById")]
    assert [*claimed, names.claim("post", "postById")] == ["String_2", "String_3", "post", "postById"]
    assert names.claim("post", "postById") == "postById_2"


@pytest.mark.parametrize(
    ("types", "wide", "scalar"),
    [
        ({"integer"}, False, "Int"),
        ({"integer", "null"}, False, "Int"),
        ({"integer"}, True, "Float"),
        ({"integer", "number"}, False, "Float"),
        ({"number"}, False, "Float"),
        ({"string"}, False, "String"),
        ({"boolean", "null"}, False, "Boolean"),
        ({"string", "integer"}, False, "JSON"),
        ({"object"}, False, "JSON"),
        ({"array"}, False, "JSON"),
        ({"null"}, False, "JSON"),
        (set(), False, "JSON"),
    ],
)
def test_scalars_for_json_types(types: set[str], wide: bool, scalar: str) -> None:
    assert scalar_for(types, wide) == scalar


def test_a_shape_remembers_integers_beyond_32_bits() -> None:
    shape = infer([{"n": 2**31 - 1}])
    before = shape.fields["n"].wide
    widened = shape.observe({"n": -(2**31) - 1})
    assert (before, widened, shape.fields["n"].wide) == (False, True, True)
    assert shape.observe({"n": 2**40}) is False  # already wide: no change


async def sdl(data: dict[str, Any], **schemas: dict[str, Any]) -> str:
    declared = {name: RecordSchema(name, schema) for name, schema in schemas.items()}
    service = Service(MemoryStorage(data), Hub(), schemas=declared)
    async with service:
        return print_schema(await GraphQL(service).schema())


async def test_collisions_are_resolved_the_same_way_every_time() -> None:
    data: dict[str, Any] = {
        "strings": [{"id": 1, "value": "x"}],  # String is built in
        "posts": [{"id": 1, "a-b": 1, "a_b": 2, "post": {"x": 1}, "userId": 1}],
        "post": [{"id": 1, "and": 1, "2nd": True}],  # its list is `post`: posts' record by id must move
        "postWheres": [{"id": 1}],  # PostWhere is posts' filter input
        "users": [{"id": 1, "name": "a", "comments": 3}],
        "comments": [{"id": 1, "postId": 1, "userId": 1}],
        "news": [{"id": 1}],  # singular and plural alike
        "profile": {"name": "x"},
        "Profile": {"name": "y"},
    }
    first = await sdl(data)
    assert first == await sdl(dict(reversed(data.items())))
    schema = from_sdl(first)  # printed SDL that parses back: every name is valid
    types: dict[str, Any] = schema.type_map
    query: dict[str, Any] = types["Query"].fields
    assert query["posts"].type.of_type.of_type.of_type.name == "Post"  # the plural name keeps the plain name
    assert query["post"].type.of_type.of_type.of_type.name == "Post_2"  # ... its singular twin is numbered
    assert query["postById"].type.name == "Post" and query["postById_2"].type.name == "Post_2"
    assert query["postWheres"].type.of_type.of_type.of_type.name == "PostWhere_2"  # PostWhere is posts' filter
    assert query["strings"].type.of_type.of_type.of_type.name == "String_2"  # String is built in
    assert query["newsById"].type.name == "News" and "news" in query
    assert {"profile", "profile_2"} <= set(query)
    # In the data's order; a_b keeps its own name, a-b made safe is numbered.
    assert list(types["Post"].fields) == ["id", "a_b_2", "a_b", "post", "userId", "user", "comments"]
    assert list(types["Post_2"].fields) == ["id", "and", "_2nd"]
    assert str(types["Post_2Where"].fields["and"].type) == "[Post_2Where!]"  # `and` is the filter's own
    assert list(types["User"].fields) == ["id", "name", "comments", "comments_2", "posts"]  # data before relations
    assert "updatePostWhere_2" not in types["Mutation"].fields  # nothing to patch: only the id


async def test_declared_schemas_and_hidden_fields() -> None:
    declared = {
        "type": "object",
        "required": ["title", "tags"],
        "properties": {
            "title": {"type": "string"},
            "tags": {"type": ["array", "null"]},
            "rank": {"type": "integer", "maximum": 2**40},
            "email": {"format": "email"},
        },
    }
    printed = await sdl({"posts": [{"id": 1, "title": "x", "tags": None, "rank": 1, "extra": 2.5}]}, posts=declared)
    assert "title: String!" in printed.split("input PostInput")[0]  # required and always there
    assert "tags: JSON\n" in printed  # nullable by its declared type
    assert "rank: Float" in printed  # a declared bound beyond 32 bits
    assert "email: JSON" in printed  # declared without a type, never seen
    assert "extra: Float" in printed  # seen, not declared
    post_input = printed.split("input PostInput {")[1].split("}")[0]
    assert "title: String!" in post_input and "id: ID" in post_input
    post_patch = printed.split("input PostPatch {")[1].split("}")[0]
    assert "title: String\n" in post_patch and "id" not in post_patch


async def test_an_empty_database_has_a_valid_schema() -> None:
    printed = await sdl({})
    assert from_sdl(printed).query_type is not None


# -- limits --------------------------------------------------------------------------------------

LIMITS = GraphQLLimits(max_depth=4, max_aliases=2, max_cost=300, max_page_size=10)
SCHEMA = from_sdl("""
type Query { posts(limit: Int): [Post!]! post: Post count: Int }
type Post { id: ID comments(limit: Int): [Comment!]! author: Post }
type Comment { id: ID post: Post }
""")


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ count }", 0),
        ("{ posts { id } }", 10),
        ("{ post { id } }", 1),
        ("{ posts(limit: 3) { comments(limit: 2) { id } } }", 3 + 6),
        ("{ posts(limit: 500) { id } }", 10),
        ("{ posts(limit: 0) { comments { id } } }", 0),
        ("query ($n: Int) { posts(limit: $n) { comments { post { id } } } }", 4 + 40 + 40),
        ("{ posts(limit: 1) { ...F } } fragment F on Post { comments(limit: 2) { id } }", 1 + 2),
        ("{ posts(limit: 1) { ... on Post { author { id } } } }", 1 + 1),
        ("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }", 0),
        (
            '{ __type(name: "Post") { ...T } } fragment T on __Type { fields { type { ofType { ofType { name } } } } }',
            0,
        ),
    ],
)
def test_cost_is_the_product_of_list_sizes(query: str, cost: int) -> None:
    document = parse(query)
    check_document(document, LIMITS)
    operation = document.definitions[0]
    assert check_operation(SCHEMA, document, operation, {"n": 4}, LIMITS) == cost  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ posts { comments { post { author { id } } } } }", "5 fields deep"),
        ("{ a: count b: count c: count }", "3 aliases"),
        ("{ posts { ...F } } fragment F on Post { comments { post { author { id } } } }", "5 fields deep"),
        ("{ posts { comments { post { id } } } a: posts { comments { id } } }", "about 320 records"),
    ],
)
def test_over_a_limit(query: str, message: str) -> None:
    document = parse(query)
    with pytest.raises(TooComplex, match=message):
        check_document(document, LIMITS)
        check_operation(SCHEMA, document, document.definitions[0], {}, LIMITS)  # type: ignore[arg-type]


async def test_each_field_reads_its_own_data_field() -> None:
    data: dict[str, Any] = {"posts": [{"id": 1, "a-b": "dash", "a_b": "underscore", "2nd": 2}]}
    service = Service(MemoryStorage(data), Hub())
    async with service:
        outcome = await GraphQL(service).run({"query": '{ post(id: "1") { a_b a_b_2 _2nd } }'})
    assert outcome.body == {"data": {"post": {"a_b": "underscore", "a_b_2": "dash", "_2nd": 2}}}


keys = st.text(min_size=1, max_size=12)
names = keys.filter(lambda name: name.isprintable() and "/" not in name and not name.startswith("$"))  # routable
records = st.dictionaries(keys, st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)), max_size=4)


@settings(max_examples=60, deadline=None)
@given(data=st.dictionaries(names, st.lists(records, max_size=3) | records, max_size=5))
def test_any_data_gives_a_valid_schema(data: dict[str, Any]) -> None:
    for value in data.values():
        for index, record in enumerate(value if isinstance(value, list) else []):
            record["id"] = index + 1
    printed = asyncio.run(sdl(data))
    schema = from_sdl(printed)
    assert validate_schema(schema) == []
    outcome = asyncio.run(every_field(data, schema))
    assert outcome.status == 200 and "errors" not in outcome.body, outcome.body


async def every_field(data: dict[str, Any], schema: GraphQLSchema) -> Outcome:
    """Every scalar field of every list of the data, asked once (no value may fail to show)."""
    query: dict[str, Any] = schema.type_map["Query"].fields  # type: ignore[attr-defined]
    selections = []
    for name, field in query.items():
        record = get_named_type(field.type)
        if isinstance(record, GraphQLObjectType) and is_list_type(get_nullable_type(field.type)):
            leaves = [leaf for leaf, value in record.fields.items() if is_leaf_type(get_named_type(value.type))]
            selections.append(f"{name} {{ {' '.join(leaves)} }}")
        elif not field.args:
            selections.append(name)
    service = Service(MemoryStorage(data), Hub())
    async with service:
        return await GraphQL(service).run({"query": "{ " + " ".join(selections) + " }"})


async def test_an_edit_reloaded_under_watch_shows_in_the_next_request(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_bytes(orjson.dumps({"posts": [{"id": 1, "title": "a"}]}))
    storage = JsonFileStorage(path)
    service = Service(storage, Hub())
    async with service:
        engine = GraphQL(service)
        before = await engine.run({"query": "{ widgets { id size } }"})
        path.write_bytes(orjson.dumps({"posts": [{"id": 1, "title": "a"}], "widgets": [{"id": 1, "size": 3}]}))
        await storage._reload("edited")  # what --watch's watcher does on an edit
        after = await engine.run({"query": "{ widgets { id size } }"})
    assert before.status == 400 and after.body == {"data": {"widgets": [{"id": "1", "size": 3}]}}
