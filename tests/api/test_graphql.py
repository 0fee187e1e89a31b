"""GraphQL (reference/graphql.md) on every backend, through a real client over a real socket.

Python's ``gql`` (its httpx transport, with the schema fetched by introspection, so every query is
also validated by the client) talks to the app served on a loopback socket in a thread
(``tests/support/live.py``), over each storage backend in turn. REST, through httpx, is the
reference: a table of filters, orders and windows, and Hypothesis-made ones, must give the same
records both ways. The storage behind the server is counted to prove relations load per level,
not per record.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import orjson
import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.socket_server import SocketServer, socket_server

DATA: dict[str, Any] = {
    "users": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Linus"}],
    "posts": [
        {"id": 1, "title": "json-server", "views": 100, "userId": 1, "score": 1.5, "published": True, "tags": ["a"]},
        {"id": 2, "title": "jsonserve", "views": 250, "userId": 1, "score": 3.25, "published": False},
        {"id": 3, "title": "Another Post", "views": 7, "userId": 2, "published": True, "tags": ["b", "a"]},
        {"id": 4, "title": "graphql", "views": 100, "userId": 2, "score": -2.0},
        {"id": 5, "title": "REST", "userId": 3, "published": False, "tags": []},
        {"id": 6, "title": "json all the way", "views": 12, "score": 0.5},
    ],
    "comments": [
        {"id": 1, "body": "first", "postId": 1},
        {"id": 2, "body": "second", "postId": 1},
        {"id": 3, "body": "on two", "postId": 2},
        {"id": 4, "body": "orphan", "postId": 99},
        {"id": 5, "body": "text key", "postId": "3"},
    ],
    "profile": {"name": "typicode"},
}


@pytest.fixture
def live() -> Iterator[SocketServer]:
    with socket_server(copy.deepcopy(DATA)) as server:
        yield server


def client(server: SocketServer, headers: dict[str, str] | None = None) -> Client:
    """A ``gql`` client that fetches the schema first (so it validates every query it sends)."""
    transport = HTTPXTransport(url=f"{server.url}/graphql", headers=headers or {})
    return Client(transport=transport, fetch_schema_from_transport=True)


def run(session: Any, query: str, **variables: Any) -> dict[str, Any]:
    result: dict[str, Any] = session.execute(GraphQLRequest(query, variable_values=variables or None))
    return result


def failed(session: Any, query: str, **variables: Any) -> TransportQueryError:
    with pytest.raises(TransportQueryError) as caught:
        run(session, query, **variables)
    return caught.value


def codes(error: TransportQueryError) -> list[str]:
    return [item["extensions"]["code"] for item in error.errors or []]


# -- queries -------------------------------------------------------------------------------------


def test_lists_records_counts_relations_and_singulars(live: SocketServer) -> None:
    with client(live) as session:
        result = run(
            session,
            """query ($min: Int!) {
                 posts(where: {views: {gte: $min}}, orderBy: [{views: DESC}, {id: DESC}], limit: 2, offset: 1) {
                   id title views score published tags
                   user { id name }
                   comments(orderBy: [{id: DESC}]) { id body post { id } }
                 }
                 postsCount(where: {views: {gte: $min}})
                 post(id: "3") { title comments { body } user { name posts(limit: 1) { id } } }
                 users { name posts(where: {published: {eq: true}}) { id } }
                 profile
               }""",
            min=12,
        )
    assert result["posts"] == [
        {
            "id": "4", "title": "graphql", "views": 100, "score": -2.0, "published": None, "tags": None,
            "user": {"id": "2", "name": "Linus"}, "comments": [],
        },
        {
            "id": "1", "title": "json-server", "views": 100, "score": 1.5, "published": True, "tags": ["a"],
            "user": {"id": "1", "name": "Ada"},
            "comments": [
                {"id": "2", "body": "second", "post": {"id": "1"}}, {"id": "1", "body": "first", "post": {"id": "1"}},
            ],
        },
    ]  # fmt: skip
    assert result["postsCount"] == 4
    assert result["post"] == {
        "title": "Another Post",
        "comments": [{"body": "text key"}],
        "user": {"name": "Linus", "posts": [{"id": "3"}]},
    }
    assert result["users"] == [{"name": "Ada", "posts": [{"id": "1"}]}, {"name": "Linus", "posts": [{"id": "3"}]}]
    assert result["profile"] == {"name": "typicode"}


def test_a_missing_record_is_null_with_not_found_and_other_fields_resolve(live: SocketServer) -> None:
    response = httpx.post(f"{live.url}/graphql", json={"query": '{ post(id: "99") { id } comments(limit: 1) { id } }'})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"post": None, "comments": [{"id": "1"}]}
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["post"], "not_found")]


# -- mutations -----------------------------------------------------------------------------------


def test_mutations_write_as_rest_does(live: SocketServer) -> None:
    rest = httpx.Client(base_url=live.url)
    with client(live) as session:
        created = run(session, 'mutation { createPost(data: {title: "new", views: 3}) { id title views } }')[
            "createPost"
        ]
        given_id = run(session, 'mutation { createPost(data: {id: "70", title: "mine"}) { id } }')["createPost"]
        patched = run(session, 'mutation { updatePost(id: "1", data: {views: 101}) { id title views } }')["updatePost"]
        replaced = run(session, 'mutation { replacePost(id: "2", data: {title: "only"}) { title views } }')
        deleted = run(session, 'mutation { deletePost(id: "3") { id title } }')["deletePost"]
        profile = run(session, 'mutation { updateProfile(data: {site: "x"}) }')["updateProfile"]
        missing = failed(session, 'mutation { updatePost(id: "99", data: {views: 1}) { id } }')

    assert created["title"] == "new" and created["views"] == 3
    assert rest.get(f"/posts/{created['id']}").json()["title"] == "new"
    assert given_id == {"id": "70"} and rest.get("/posts/70").json()["id"] == 70  # an integer, as its neighbours
    assert patched == {"id": "1", "title": "json-server", "views": 101}
    assert replaced == {"replacePost": {"title": "only", "views": None}}
    assert rest.get("/posts/2").json() == {"id": 2, "title": "only"}
    assert deleted == {"id": "3", "title": "Another Post"} and rest.get("/posts/3").status_code == 404
    assert profile == {"name": "typicode", "site": "x"} == rest.get("/profile").json()
    assert codes(missing) == ["not_found"] and missing.data == {"updatePost": None}
    rest.close()


def test_a_failed_validation_lists_each_field_and_stores_nothing(tmp_path: Path) -> None:
    schemas = {
        "posts": {
            "type": "object",
            "required": ["title"],
            "properties": {"title": {"type": "string", "minLength": 3}, "views": {"type": "integer", "minimum": 0}},
        }
    }
    schema_file = tmp_path / "schemas.json"
    schema_file.write_bytes(orjson.dumps(schemas))
    with socket_server(copy.deepcopy(DATA), schema_file=schema_file) as server, client(server) as session:
        refused = failed(session, 'mutation { createPost(data: {title: "ab", views: -1}) { id } }')
        response = httpx.post(
            f"{server.url}/graphql", json={"query": "mutation { createPost(data: {views: 1}) { id } }"}
        )
        count = httpx.get(f"{server.url}/posts").json()
    assert codes(refused) == ["validation_failed"]
    assert refused.errors is not None
    assert refused.errors[0]["extensions"]["errors"] == [
        {"path": "/title", "message": "must be at least 3 characters long", "code": "min_length"},
        {"path": "/views", "message": "must be >= 0", "code": "minimum"},
    ]
    # A declared required field is non-null in PostInput: leaving it out is refused before anything runs.
    assert response.status_code == 400 and response.json()["errors"][0]["extensions"]["code"] == "invalid_query"
    assert len(count) == len(DATA["posts"])


# -- the schema follows the data -----------------------------------------------------------------


def test_the_next_request_sees_new_collections_and_widened_shapes(live: SocketServer) -> None:
    with socket_server(copy.deepcopy(DATA), auto_create=True) as server:
        url = f"{server.url}/graphql"
        before = httpx.post(url, json={"query": "{ widgets { id } }"}).json()
        httpx.post(f"{server.url}/widgets", json={"size": 3}).raise_for_status()
        httpx.patch(f"{server.url}/posts/1", json={"rating": 4.5}).raise_for_status()
        after = httpx.post(url, json={"query": '{ widgets { id size } post(id: "1") { rating } }'}).json()
    assert before["errors"][0]["extensions"]["code"] == "invalid_query"
    assert after == {"data": {"widgets": [{"id": "1", "size": 3}], "post": {"rating": 4.5}}}


# -- one read per level --------------------------------------------------------------------------


def test_nested_lists_read_storage_a_bounded_number_of_times() -> None:
    data: dict[str, Any] = {
        "users": [{"id": n, "name": f"u{n}"} for n in range(1, 11)],
        "posts": [{"id": n, "title": f"p{n}", "userId": n % 10 + 1} for n in range(1, 101)],
        "comments": [{"id": n, "body": f"c{n}", "postId": n % 100 + 1} for n in range(1, 301)],
    }
    query = """query ($n: Int) { posts(limit: $n) { id user { name } comments { id post { id } } } }"""
    with socket_server(data) as server:
        url = f"{server.url}/graphql"
        httpx.post(url, json={"query": query, "variables": {"n": 1}}).raise_for_status()  # the schema, built once
        reads = []
        for size in (1, 10, 100):
            calls = server.count_calls("find", "get")
            body = httpx.post(url, json={"query": query, "variables": {"n": size}}).json()
            assert "errors" not in body and len(body["data"]["posts"]) == size
            reads.append(dict(calls))
    posts = body["data"]["posts"]
    assert sum(len(post["comments"]) for post in posts) == 300
    assert all(comment["post"]["id"] == post["id"] for post in posts for comment in post["comments"])
    # One read for the posts, one for their users, one for their comments, one for the comments' posts.
    assert reads == [{"find": 4, "get": 0}] * 3


# -- REST and GraphQL give the same records ------------------------------------------------------

Params = list[tuple[str, str | int | float | bool | None]]
CASES: list[tuple[str, dict[str, Any], Params]] = [
    ("everything", {}, []),
    ("eq", {"where": {"views": {"eq": 100}}}, [("views", "100")]),
    ("gt and lte", {"where": {"views": {"gt": 7, "lte": 100}}}, [("views:gt", "7"), ("views:lte", "100")]),
    ("ne", {"where": {"title": {"ne": "REST"}}}, [("title:ne", "REST")]),
    ("in", {"where": {"id": {"in": ["1", "3", "9"]}}}, [("id:in", "1,3,9")]),
    ("contains", {"where": {"title": {"contains": "JSON"}}}, [("title:contains", "JSON")]),
    ("startsWith", {"where": {"title": {"startsWith": "js"}}}, [("title:startsWith", "js")]),
    ("endsWith", {"where": {"title": {"endsWith": "post"}}}, [("title:endsWith", "post")]),
    ("like on an array", {"where": {"tags": {"like": "^a$"}}}, [("tags_like", "^a$")]),
    ("boolean", {"where": {"published": {"eq": False}}}, [("published", "false")]),
    ("float", {"where": {"score": {"lt": 1.5}}}, [("score:lt", "1.5")]),
    (
        "or",
        {"where": {"or": [{"views": {"lt": 10}}, {"userId": {"eq": 2}}]}},
        [("_where", '{"or":[{"views":{"lt":10}},{"userId":2}]}')],
    ),
    ("not", {"where": {"not": {"views": {"gte": 100}}}}, [("_where", '{"not":{"views":{"gte":100}}}')]),
    ("q", {"q": "json"}, [("q", "json")]),
    ("sorted", {"orderBy": [{"views": "DESC"}, {"title": "ASC"}]}, [("_sort", "-views,title")]),
    (
        "window",
        {"orderBy": [{"score": "ASC"}], "limit": 2, "offset": 1},
        [("_sort", "score"), ("_start", 1), ("_end", 3)],
    ),
    ("past the end", {"limit": 5, "offset": 5}, [("_start", "5"), ("_limit", "5")]),
]  # fmt: skip
LIST = """query ($where: PostWhere, $orderBy: [PostOrderBy!], $limit: Int, $offset: Int, $q: String) {
  posts(where: $where, orderBy: $orderBy, limit: $limit, offset: $offset, q: $q) { id title views score }
  postsCount(where: $where, q: $q)
}"""


def both_ways(http: httpx.Client, arguments: dict[str, Any], params: Params) -> None:
    """GraphQL's records (and count) are REST's, in the same order."""
    graphql = http.post("/graphql", json={"query": LIST, "variables": arguments}).json()
    assert "errors" not in graphql, graphql
    response = http.get("/posts", params=params)
    rest = [
        {"id": str(record["id"]), **{key: record.get(key) for key in ("title", "views", "score")}}
        for record in response.json()
    ]
    assert graphql["data"]["posts"] == rest
    if "limit" not in arguments:
        assert graphql["data"]["postsCount"] == len(rest)


def test_graphql_and_rest_agree_on_a_table_of_queries(live: SocketServer) -> None:
    with httpx.Client(base_url=live.url) as http:
        for name, arguments, params in CASES:
            try:
                both_ways(http, arguments, params)
            except AssertionError as error:
                raise AssertionError(f"case {name!r}: {error}") from None


TITLES = st.sampled_from(["json", "JSON", "post", "REST", "a", "", "graphql"])
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "views": st.integers(-1, 260),
    "title": TITLES,
    "score": st.sampled_from([-2.0, 0.5, 1.5, 3.25, 0.0, 10.0]),
    "userId": st.integers(0, 3),
    "published": st.booleans(),
}
OPS = ["eq", "ne", "lt", "lte", "gt", "gte", "in"]
SORTABLE = ["id", *sorted(FIELDS)]


@st.composite
def where_trees(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for field in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=2, unique=True)):
        op = draw(st.sampled_from(OPS + (["contains", "startsWith", "like"] if field == "title" else [])))
        value = draw(st.lists(FIELDS[field], max_size=3)) if op == "in" else draw(FIELDS[field])
        tree[field] = {op: value}
    if depth < 2 and draw(st.booleans()):
        group = draw(st.sampled_from(["and", "or", "not"]))
        tree[group] = (
            draw(where_trees(depth + 1)) if group == "not" else draw(st.lists(where_trees(depth + 1), max_size=2))
        )
    return tree


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    where=where_trees(),
    order=st.lists(st.tuples(st.sampled_from(SORTABLE), st.booleans()), max_size=2, unique_by=lambda t: t[0]),
    window=st.none() | st.tuples(st.integers(0, 7), st.integers(0, 4)),
)  # fmt: skip
def test_graphql_and_rest_agree_on_generated_queries(
    live: SocketServer, where: dict[str, Any], order: list[tuple[str, bool]], window: tuple[int, int] | None
) -> None:
    arguments: dict[str, Any] = {"where": where, "orderBy": [{name: "DESC" if desc else "ASC"} for name, desc in order]}
    params: Params = [("_where", json.dumps(where))]
    if order:
        params.append(("_sort", ",".join(("-" if desc else "") + name for name, desc in order)))
    if window is not None:
        arguments.update(offset=window[0], limit=window[1])
        params += [("_start", str(window[0])), ("_limit", str(window[1]))]
    with httpx.Client(base_url=live.url) as http:
        both_ways(http, arguments, params)


# -- access rules (--auth) -----------------------------------------------------------------------

ADA_HASH = bcrypt.hashpw(b"ada-password", bcrypt.gensalt(rounds=4)).decode()
AUTH_DATA: dict[str, Any] = {
    "users": [
        {"id": 1, "email": "ada@example.com", "password": ADA_HASH, "name": "Ada"},
        {"id": 2, "email": "linus@example.com", "password": ADA_HASH, "name": "Linus"},
    ],
    "notes": [{"id": 1, "text": "ada's", "userId": 1}, {"id": 2, "text": "linus's", "userId": 2}],
    "posts": [{"id": 1, "title": "by ada", "userId": 1}],
}


def test_rules_filter_lists_hide_records_and_refuse_writes(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_bytes(orjson.dumps({"notes": "600", "posts": "644"}))
    with socket_server(copy.deepcopy(AUTH_DATA), auth=True, rules_file=rules) as server:
        ada, linus = (token(server, email) for email in ("ada@example.com", "linus@example.com"))
        anonymous = httpx.post(f"{server.url}/graphql", json={"query": "{ notes { id } }"}).json()
        anonymous_write = httpx.post(
            f"{server.url}/graphql", json={"query": 'mutation { createPost(data: {title: "x"}) { id } }'}
        ).json()
        with client(server, ada) as session:
            mine = run(session, '{ notes { id text } users { id name email } user(id: "2") { name notes { id } } }')
            hidden = failed(session, '{ note(id: "2") { text } }')
            denied = failed(session, 'mutation { updateNote(id: "2", data: {text: "mine now"}) { id } }')
            fields = run(session, '{ __type(name: "User") { fields { name } } }')
        linus_note = httpx.get(f"{server.url}/notes/2", headers=linus).json()
        posts = httpx.get(f"{server.url}/posts").json()
    assert anonymous["data"] is None and [e["extensions"]["code"] for e in anonymous["errors"]] == ["unauthorized"]
    assert anonymous_write["errors"][0]["extensions"]["code"] == "unauthorized" and len(posts) == 1
    assert mine["notes"] == [{"id": "1", "text": "ada's"}]
    assert mine["users"] == [
        {"id": "1", "name": "Ada", "email": "ada@example.com"},
        {"id": "2", "name": "Linus", "email": "linus@example.com"},
    ]
    assert mine["user"] == {"name": "Linus", "notes": []}  # a related list shows only what the caller may read
    assert codes(hidden) == ["forbidden"] and hidden.data == {"note": None}
    assert codes(denied) == ["forbidden"] and linus_note["text"] == "linus's"
    assert {field["name"] for field in fields["__type"]["fields"]} == {"id", "email", "name", "notes", "posts"}


def token(server: SocketServer, email: str) -> dict[str, str]:
    login = httpx.post(f"{server.url}/login", json={"email": email, "password": "ada-password"})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}
