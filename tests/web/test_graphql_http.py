"""``/graphql`` as GraphQL over HTTP (reference/graphql.md): transport, statuses, errors, limits, GraphiQL.

On the memory backend, over a real loopback socket (``tests/support/live.py``), with httpx; the
storage-facing behaviour runs on every backend in ``tests/api/test_graphql.py``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jsonserve.web.docs import ASSETS_DIR
from tests.support.socket_server import SocketServer, socket_server

DATA: dict[str, Any] = {
    "posts": [{"id": n, "title": f"post {n}", "views": n * 10, "userId": 1 + n % 2} for n in range(1, 13)],
    "comments": [{"id": n, "body": f"comment {n}", "postId": 1 + n % 12} for n in range(1, 25)],
    "users": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Linus"}],
    "profile": {"name": "typicode"},
}
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture(scope="module")
def live() -> Iterator[SocketServer]:
    """One server for the module's read-only tests (max page size 5: the clamp shows on 12 posts)."""
    with socket_server(copy.deepcopy(DATA), backend="memory", max_page_size=5) as server:
        yield server


@pytest.fixture(scope="module")
def http(live: SocketServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url) as client:
        yield client


def post(http: httpx.Client, query: str, **extra: Any) -> httpx.Response:
    return http.post("/graphql", json={"query": query, **extra})


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json()["errors"]]


# -- transport -----------------------------------------------------------------------------------


def test_post_and_get_answer_json_or_graphql_response_json(http: httpx.Client) -> None:
    posted = post(http, "query One($id: ID!) { post(id: $id) { title } }", variables={"id": "2"}, operationName="One")
    got = http.get("/graphql", params={"query": "{ postsCount }"}, headers={"Accept": GRAPHQL_RESPONSE})
    got_variables = http.get(
        "/graphql", params={"query": "query ($n: Int) { posts(limit: $n) { id } }", "variables": '{"n": 2}'}
    )
    assert posted.status_code == 200 and posted.headers["content-type"] == "application/json"
    assert posted.json() == {"data": {"post": {"title": "post 2"}}}
    assert got.status_code == 200 and got.headers["content-type"] == GRAPHQL_RESPONSE
    assert got.json() == {"data": {"postsCount": 12}}
    assert got_variables.json() == {"data": {"posts": [{"id": "1"}, {"id": "2"}]}}


def test_a_mutation_over_get_is_405_and_changes_nothing(http: httpx.Client) -> None:
    response = http.get("/graphql", params={"query": 'mutation { deletePost(id: "1") { id } }'})
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert codes(response) == ["method_not_allowed"]
    assert http.get("/posts/1").status_code == 200


def body(query: object = None, **extra: object) -> dict[str, Any]:
    """A JSON request body (``query`` left out when ``None``)."""
    return {"json": {**({} if query is None else {"query": query}), **extra}}


def raw(content: bytes, content_type: str) -> dict[str, Any]:
    return {"content": content, "headers": {"content-type": content_type}}


COUNT = "{ postsCount }"
REQUEST_ERRORS: list[tuple[str, dict[str, Any], int, str]] = [
    ("no query", body(variables={}), 400, "bad_request"),
    ("empty query", body("  "), 400, "bad_request"),
    ("variables not an object", body(COUNT, variables=[1]), 400, "bad_request"),
    ("operationName not a string", body(COUNT, operationName=1), 400, "bad_request"),
    ("unparsable JSON", raw(b"{", "application/json"), 400, "invalid_body"),
    ("a JSON array (batching)", {"json": [{"query": COUNT}]}, 400, "invalid_body"),
    ("not JSON", raw(COUNT.encode(), "application/graphql"), 415, "unsupported_media_type"),
    ("syntax error", body("{ posts { id }"), 400, "invalid_query"),
    ("unknown field", body("{ posts { nope } }"), 400, "invalid_query"),
    ("unknown argument", body("{ posts(first: 1) { id } }"), 400, "invalid_query"),
    ("wrong variable type", body("query ($n: Int) { postsCount }", variables={"n": "x"}), 400, "invalid_query"),
    ("missing variable", body("query ($id: ID!) { post(id: $id) { id } }"), 400, "invalid_query"),
    ("unknown operation", body("query A { postsCount }", operationName="B"), 400, "invalid_query"),
    ("two operations, none named", body("query A { postsCount } query B { postsCount }"), 400, "invalid_query"),
    (
        "a subscription over HTTP (it takes the WebSocket)",
        body("subscription { postChanged { op } }"),
        400,
        "bad_request",
    ),
]


@pytest.mark.parametrize(("options", "status", "code"), [pytest.param(o, s, c, id=i) for i, o, s, c in REQUEST_ERRORS])
def test_requests_that_are_not_valid_graphql(
    http: httpx.Client, options: dict[str, Any], status: int, code: str
) -> None:
    response = http.post("/graphql", **options)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "data" not in response.json() and codes(response) == [code]


def test_other_methods_and_options(http: httpx.Client) -> None:
    put = http.put("/graphql", json={"query": "{ postsCount }"})
    options = http.options("/graphql")
    assert put.status_code == 405 and put.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert codes(put) == ["method_not_allowed"]
    assert options.status_code == 204 and options.headers["allow"] == "GET, HEAD, POST, OPTIONS"


def test_a_body_over_max_body_is_413(live: SocketServer) -> None:
    with socket_server(copy.deepcopy(DATA), backend="memory", max_body=100) as server:
        response = httpx.post(f"{server.url}/graphql", json={"query": "{ postsCount }" + " " * 200})
    assert response.status_code == 413 and response.json()["errors"][0]["extensions"]["code"] == "payload_too_large"


# -- errors and partial results ------------------------------------------------------------------


def test_a_failing_field_is_null_with_its_error_and_the_others_resolve(http: httpx.Client) -> None:
    response = post(http, '{ post(id: "99") { id } other: post(id: "3") { title } users { name } }')
    body = response.json()
    assert response.status_code == 200
    assert body["data"] == {"post": None, "other": {"title": "post 3"}, "users": [{"name": "Ada"}, {"name": "Linus"}]}
    assert [(error["path"], error["extensions"]["code"]) for error in body["errors"]] == [(["post"], "not_found")]


@pytest.mark.parametrize(
    "arguments",
    ['where: {title: {like: "("}}', "orderBy: [{title: ASC, views: DESC}]", "limit: -1", "offset: -2"],
)
def test_bad_arguments_are_invalid_query_errors(http: httpx.Client, arguments: str) -> None:
    response = post(http, f"{{ posts({arguments}) {{ id }} }}")
    body = response.json()
    assert response.status_code == 200  # valid GraphQL: the field failed (and, being non-null, voided the data)
    assert body["data"] is None and codes(response) == ["invalid_query"]
    assert body["errors"][0]["path"] == ["posts"]


def test_a_relation_error_is_reported_once(http: httpx.Client) -> None:
    body = post(http, '{ posts(limit: 3) { id comments(where: {body: {like: "["}}) { id } } }').json()
    assert body["data"] is None  # [Comment!]! cannot be null: the error reaches the root
    assert len(body["errors"]) == 1 and body["errors"][0]["extensions"]["code"] == "invalid_query"


def test_limit_is_clamped_like_limit_and_lists_hold_at_most_the_ceiling(http: httpx.Client) -> None:
    body = post(http, "{ a: posts(limit: 1000) { id } b: posts { id } c: posts(offset: 10) { id } postsCount }").json()
    assert [len(body["data"][key]) for key in "abc"] == [5, 5, 2] and body["data"]["postsCount"] == 12
    rest = http.get("/posts", params={"_limit": 1000}).json()
    assert len(rest) == 5  # the same clamp


# -- limits --------------------------------------------------------------------------------------

DEEP = "{ posts { comments { post { comments { post { comments { post { comments { post { id } } } } } } } } } }"
TOO_DEEP = DEEP.replace("{ id }", "{ comments { id } }")
SMALL_DEEP = DEEP.replace("posts {", "posts(limit: 1) {").replace("comments {", "comments(limit: 1) {")
ALIASES = "{ " + " ".join(f"a{n}: postsCount" for n in range(31)) + " }"
FRAGMENTS = "query { posts(limit: 1) { ...A } } fragment A on Post { comments { ...B } }"
FRAGMENTS += " fragment B on Comment { post { ...C } } fragment C on Post { comments { post { comments { post {"
FRAGMENTS += " comments { post { comments { id } } } } } } } }"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        pytest.param(SMALL_DEEP, None, id="depth 10"),
        pytest.param(TOO_DEEP, "too_complex", id="depth 11"),
        pytest.param(ALIASES.replace("a30: postsCount", ""), None, id="30 aliases"),
        pytest.param(ALIASES, "too_complex", id="31 aliases"),
        pytest.param(FRAGMENTS, "too_complex", id="depth through fragments"),
        pytest.param("{ posts { comments { post { comments { id } } } } }", None, id="cost 5 + 25 + 25 + 125"),
    ],
)  # fmt: skip
def test_depth_and_aliases_are_checked_before_execution(http: httpx.Client, query: str, code: str | None) -> None:
    response = post(http, query)
    if code is None:
        assert response.status_code == 200 and "errors" not in response.json(), response.text
    else:
        assert response.status_code == 400 and codes(response) == [code], response.text


def test_cost_counts_the_product_of_list_sizes() -> None:
    query = "query ($n: Int) { users(limit: 1000) { posts(limit: $n) { comments { id } } } }"
    with socket_server(copy.deepcopy(DATA), backend="memory") as server, httpx.Client(base_url=server.url) as http:
        post(http, "{ usersCount }")  # the schema, built once (its shapes read each collection)
        calls = server.count_calls("find")
        refused = post(http, query)  # 1,000 + 1,000,000 + 1,000,000,000
        reads = calls["find"]
        allowed = post(http, query, variables={"n": 2})  # 1,000 + 2,000 + 2,000,000
    assert refused.status_code == 400 and codes(refused) == ["too_complex"] and reads == 0
    assert "1,001,001,000" in refused.json()["errors"][0]["message"]
    assert allowed.status_code == 200 and "errors" not in allowed.json()


# -- switches ------------------------------------------------------------------------------------


def test_introspection_is_on_by_default_and_can_be_turned_off(http: httpx.Client) -> None:
    query = "{ __schema { queryType { name } } }"
    assert post(http, query).json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    with socket_server(copy.deepcopy(DATA), backend="memory", graphql_introspection=False) as server:
        refused = httpx.post(f"{server.url}/graphql", json={"query": query})
        typo = httpx.post(f"{server.url}/graphql", json={"query": "{ post { titl } }"})
        works = httpx.post(f"{server.url}/graphql", json={"query": "{ postsCount }"})
    assert refused.status_code == 400 and set(codes(refused)) == {"invalid_query"}
    assert "Did you mean" not in typo.text  # suggestions would tell what introspection hides
    assert works.json() == {"data": {"postsCount": 12}}


def test_no_graphql_and_a_collection_named_graphql(http: httpx.Client) -> None:
    with socket_server(copy.deepcopy(DATA), backend="memory", graphql=False) as server:
        assert httpx.post(f"{server.url}/graphql", json={"query": "{ postsCount }"}).status_code == 404
        assert httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"}).status_code == 404
    with socket_server({"graphql": [{"id": 1}]}, backend="memory") as server:
        assert httpx.get(f"{server.url}/graphql").json() == [{"id": 1}]


def test_under_base(http: httpx.Client) -> None:
    with socket_server(copy.deepcopy(DATA), backend="memory", base="/api/v1") as server:
        response = httpx.post(f"{server.url}/graphql", json={"query": "{ usersCount }"})
        page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
    assert response.json() == {"data": {"usersCount": 2}}
    assert (
        'data-endpoint="/api/v1/graphql"' in page.text and 'src="/api/v1/__docs/graphiql/graphiql.min.js"' in page.text
    )


# -- GraphiQL ------------------------------------------------------------------------------------


VENDORED = ("graphiql", "react", "react-dom", "graphql-ws")  # by scripts/vendor-graphiql.sh


def test_graphiql_is_served_from_the_package(http: httpx.Client) -> None:
    page = http.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "connect-src 'self'" in policy and "default-src 'none'" in policy
    assert "posts(limit: 5)" in page.text  # a first query over the data's first collection
    assets = [part.split('"')[0] for part in page.text.split('src="')[1:]]
    assets += [part.split('"')[0] for part in page.text.split('stylesheet" href="')[1:]]
    assert len(assets) == 7
    for path in assets:
        assert path.startswith("/__docs/")
        asset = http.get(path)
        assert asset.status_code == 200 and len(asset.content) > 40, path
    for folder in VENDORED:
        source = (ASSETS_DIR / folder / "SOURCE.txt").read_text()
        assert "licence:   MIT" in source and "registry.npmjs.org" in source
        (licence,) = (ASSETS_DIR / folder).glob("LICENSE*")
        assert "MIT License" in licence.read_text()[:40], folder
    bundle = (ASSETS_DIR / "graphiql" / "graphiql.min.js").read_text()
    assert "sourceMappingURL" not in bundle[-200:]
    sizes = sum(path.stat().st_size for folder in VENDORED for path in (ASSETS_DIR / folder).iterdir())
    assert sizes < 5_000_000


def test_a_json_client_gets_json_not_graphiql(http: httpx.Client) -> None:
    for accept in ("application/json", "*/*", f"{GRAPHQL_RESPONSE}, text/html"):
        response = http.get("/graphql", params={"query": "{ usersCount }"}, headers={"Accept": accept})
        assert json.loads(response.text) == {"data": {"usersCount": 2}}, accept


def test_writes_are_checked_as_rest_checks_them() -> None:
    with socket_server(copy.deepcopy(DATA), backend="memory", read_only=True) as server:
        refused = httpx.post(
            f"{server.url}/graphql", json={"query": 'mutation { createPost(data: {title: "x"}) { id } }'}
        )
        count = httpx.post(f"{server.url}/graphql", json={"query": "{ postsCount }"}).json()
    assert refused.status_code == 200 and refused.json()["errors"][0]["extensions"]["code"] == "read_only"
    assert count == {"data": {"postsCount": 12}}
    with socket_server(copy.deepcopy(DATA), backend="memory") as server:
        nul = httpx.post(
            f"{server.url}/graphql",
            json={"query": 'mutation { updatePost(id: "1", data: {title: "a\\u0000b"}) { id } }'},
        )
        title = httpx.get(f"{server.url}/posts/1").json()["title"]
    assert nul.json()["errors"][0]["extensions"]["code"] == "invalid_body" and title == "post 1"


def test_delay_slows_graphql_answers_as_rest_ones() -> None:
    with socket_server(copy.deepcopy(DATA), backend="memory", delay_ms=150) as server:
        started = time.monotonic()
        answer = httpx.post(f"{server.url}/graphql", json={"query": "{ usersCount }"})
        waited = time.monotonic() - started
        asked = httpx.post(f"{server.url}/graphql?_delay=0", json={"query": "{ usersCount }"})
        bad = httpx.post(f"{server.url}/graphql?_delay=x", json={"query": "{ usersCount }"})
    assert waited >= 0.15 and answer.json() == asked.json() == {"data": {"usersCount": 2}}
    assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"] == "invalid_query"
