"""Our HTTP contract: ETags, problem+json, CORS, gzip, caching, delay, read-only, base, routes, static, home.

What the storage plays no part in (CORS, gzip, caching headers, delay, base path, static files) runs on
the memory backend (``ABOVE_STORAGE``); ETags, conditional writes, errors, routes and ``/db`` on every backend.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jsonserve.config import Settings
from jsonserve.service import build_service
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.testing import serve
from jsonserve.web.app import create_app
from jsonserve.web.inprocess import open_client
from tests.api.conftest import ABOVE_STORAGE
from tests.support.asgi import raw_get

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:3000"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


# -- ETag and conditional requests -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/posts/1", "/posts", "/posts?_sort=-views", "/profile", "/db"])
async def test_etag_and_if_none_match(client: httpx.AsyncClient, path: str) -> None:
    first = await client.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"')  # strong
    assert etag.endswith('"')
    assert (await client.get(path)).headers["etag"] == etag  # stable
    cached = await client.get(path, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    assert (await client.get(path, headers={"If-None-Match": f'"other", {etag}'})).status_code == 304
    assert (await client.get(path, headers={"If-None-Match": "*"})).status_code == 304
    assert (await client.get(path, headers={"If-None-Match": '"other"'})).status_code == 200


async def test_etag_changes_with_the_record(client: httpx.AsyncClient) -> None:
    before = (await client.get("/posts/1")).headers["etag"]
    list_before = (await client.get("/posts")).headers["etag"]
    await client.patch("/posts/1", json={"views": 1})
    after = await client.get("/posts/1", headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.headers["etag"] != before
    assert (await client.get("/posts", headers={"If-None-Match": list_before})).status_code == 200


async def test_etags_differ_between_records(client: httpx.AsyncClient) -> None:
    tags = {(await client.get(f"/posts/{n}")).headers["etag"] for n in (1, 2, 3)}
    assert len(tags) == 3


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_if_match_mismatch_is_412_and_changes_nothing(client: httpx.AsyncClient, method: str) -> None:
    before = (await client.get("/posts/1")).json()
    body = None if method == "DELETE" else {"title": "lost update"}
    response = await client.request(method, "/posts/1", json=body, headers={"If-Match": '"not-the-etag"'})
    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "precondition_failed"
    assert (await client.get("/posts/1")).json() == before


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_if_match_with_the_current_etag_succeeds(client: httpx.AsyncClient, method: str) -> None:
    etag = (await client.get("/posts/1")).headers["etag"]
    body = None if method == "DELETE" else {"title": "checked"}
    response = await client.request(method, "/posts/1", json=body, headers={"If-Match": etag})
    assert response.status_code == 200, response.text
    if method != "DELETE":
        assert response.json()["title"] == "checked"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_if_match_star_matches_an_existing_record(client: httpx.AsyncClient, method: str) -> None:
    body = None if method == "DELETE" else {"title": "any"}
    assert (await client.request(method, "/posts/1", json=body, headers={"If-Match": "*"})).status_code == 200


async def test_if_match_with_a_stale_etag_is_412(client: httpx.AsyncClient) -> None:
    etag = (await client.get("/posts/1")).headers["etag"]
    assert (await client.patch("/posts/1", json={"views": 1}, headers={"If-Match": etag})).status_code == 200
    stale = await client.patch("/posts/1", json={"views": 2}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert (await client.get("/posts/1")).json()["views"] == 1


async def test_if_match_on_the_singular_resource(client: httpx.AsyncClient) -> None:
    etag = (await client.get("/profile")).headers["etag"]
    assert (await client.put("/profile", json={"n": 1}, headers={"If-Match": '"x"'})).status_code == 412
    assert (await client.put("/profile", json={"n": 1}, headers={"If-Match": etag})).status_code == 200


async def test_write_responses_carry_the_new_etag(client: httpx.AsyncClient) -> None:
    patched = await client.patch("/posts/1", json={"views": 5})
    assert patched.headers["etag"] == (await client.get("/posts/1")).headers["etag"]


# -- problem+json -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/posts/999", None, 404, "not_found"),
        ("GET", "/nothing", None, 404, "not_found"),
        ("GET", "/posts?_page=0", None, 400, "invalid_query"),
        ("GET", "/posts?views:foo=1", None, 400, "invalid_query"),
        ("POST", "/posts", b"{", 400, "invalid_body"),
        ("POST", "/posts", b"", 400, "invalid_body"),
        ("POST", "/posts", b"[1]", 400, "invalid_body"),
        ("POST", "/posts", b'{"id": 1}', 409, "conflict"),
        ("PUT", "/posts", b"{}", 405, "method_not_allowed"),
    ],
)
async def test_errors_are_problem_json(
    client: httpx.AsyncClient, method: str, path: str, body: bytes | None, status: int, code: str
) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    response = await client.request(method, path, content=body, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert PROBLEM_KEYS <= problem.keys() <= PROBLEM_KEYS | {"errors"}
    assert problem["status"] == status
    assert problem["code"] == code
    assert isinstance(problem["type"], str)
    assert isinstance(problem["title"], str)
    assert problem["title"]
    assert isinstance(problem["detail"], str)
    assert problem["detail"]
    assert "Traceback" not in response.text


async def test_field_errors_are_listed(client: httpx.AsyncClient) -> None:
    problem = (await client.get("/posts?_nope=1")).json()
    assert problem["errors"] == [{"path": "_nope", "message": "unknown parameter", "code": "unknown_parameter"}]


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts", content=b'{"a": 1}', headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    form = await client.post("/posts", data={"a": "1"})
    assert form.status_code == 415
    assert len((await client.get("/posts")).json()) == 3


# -- CORS ----------------------------------------------------------------------------------------------


@ABOVE_STORAGE
async def test_default_cors_is_any_origin_without_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/posts?_page=1&_limit=1", headers={"Origin": "https://evil.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-total-count", "link", "location", "etag"} <= exposed


@ABOVE_STORAGE
async def test_default_preflight_allows_writes_and_headers(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/posts/1",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "content-type, authorization, if-match",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization", "if-match"} <= allowed


@ABOVE_STORAGE
async def test_configured_origins_are_echoed_with_credentials(db: dict[str, Any]) -> None:
    origins = ("https://a.example", "https://b.example")
    async with serve(db, cors_origins=origins) as client:
        for origin in origins:
            response = await client.get("/posts", headers={"Origin": origin})
            assert response.headers["access-control-allow-origin"] == origin
            assert response.headers["access-control-allow-credentials"] == "true"
            assert "origin" in response.headers["vary"].lower()
        preflight = await client.options(
            "/posts", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "PATCH"}
        )
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == "https://a.example"


@ABOVE_STORAGE
async def test_a_foreign_origin_gets_no_allow_origin(db: dict[str, Any]) -> None:
    async with serve(db, cors_origins=("https://a.example",)) as client:
        response = await client.get("/posts", headers={"Origin": "https://evil.example"})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers
        preflight = await client.options(
            "/posts/1", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"}
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert (await client.get("/posts/1")).status_code == 200


@ABOVE_STORAGE
async def test_no_cors_sends_no_cors_headers(db: dict[str, Any]) -> None:
    async with serve(db, cors_origins=None) as client:
        response = await client.get("/posts", headers={"Origin": "https://a.example"})
        preflight = await client.options(
            "/posts", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "DELETE"}
        )
        for answer in (response, preflight):
            assert not [name for name in answer.headers if name.lower().startswith("access-control-")]


# -- compression, caching ----------------------------------------------------------------------------------


@ABOVE_STORAGE
async def test_large_responses_are_gzipped() -> None:
    async with serve() as client:  # the demo data
        response = await client.get("/photos", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in response.headers["vary"].lower()
        assert len(response.json()) == 5000
        plain = await client.get("/photos", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers


@ABOVE_STORAGE
async def test_tiny_responses_are_not_gzipped(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/1", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers
    assert response.json() == {"id": 1, "name": "Ada"}


@ABOVE_STORAGE
@pytest.mark.parametrize("path", ["/posts", "/posts/1", "/profile", "/db"])
async def test_cache_control_no_cache(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).headers["cache-control"] == "no-cache"


@ABOVE_STORAGE
async def test_json_content_type_and_indent(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/1")
    assert response.headers["content-type"] == "application/json"
    assert response.text == '{\n  "id": 1,\n  "name": "Ada"\n}'


async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    get = await client.get("/posts/1")
    head = await client.head("/posts/1")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]


# -- cross-site doors: method override, JSONP ---------------------------------------------------------------


@ABOVE_STORAGE
@pytest.mark.parametrize("header", ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"])
async def test_no_method_override(client: httpx.AsyncClient, header: str) -> None:
    response = await client.post("/posts", json={"title": "stays a post"}, headers={header: "DELETE"})
    assert response.status_code == 201
    assert response.json()["title"] == "stays a post"
    on_item = await client.post("/posts/1", json={"title": "x"}, headers={header: "DELETE"})
    assert on_item.status_code == 405
    assert (await client.get("/posts/1")).status_code == 200


@ABOVE_STORAGE
async def test_no_method_override_by_query(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts/1?_method=DELETE", json={"title": "x"})
    assert response.status_code >= 400
    assert (await client.get("/posts/1")).json()["title"] == "json-server"


@ABOVE_STORAGE
@pytest.mark.parametrize("path", ["/posts?callback=x", "/posts/1?callback=cb", "/posts?_page=1&callback=x"])
async def test_no_jsonp(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "x(" not in response.text


# -- delay ----------------------------------------------------------------------------------------------------


@ABOVE_STORAGE
async def test_delay_parameter(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await client.get("/posts?_delay=200")
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 200
    assert len(response.json()) == 3  # `_delay` is not a filter


@ABOVE_STORAGE
async def test_delay_setting(db: dict[str, Any]) -> None:
    async with serve(db, delay_ms=200) as client:
        started = time.monotonic()
        assert (await client.get("/posts/1")).status_code == 200
        assert time.monotonic() - started >= 0.2


@ABOVE_STORAGE
@pytest.mark.parametrize("value", ["abc", "-1", "60001"])
async def test_bad_delay_is_400(client: httpx.AsyncClient, value: str) -> None:
    assert (await client.get(f"/posts?_delay={value}")).status_code == 400


# -- read-only -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/posts"),
        ("PUT", "/posts/1"),
        ("PATCH", "/posts/1"),
        ("DELETE", "/posts/1"),
        ("DELETE", "/posts/999"),
        ("POST", "/posts/1/comments"),
        ("PUT", "/profile"),
        ("PATCH", "/profile"),
        ("POST", "/profile"),
    ],
)
async def test_read_only_refuses_writes_with_403(db: dict[str, Any], method: str, path: str) -> None:
    async with serve(db, read_only=True) as client:
        before = (await client.get("/db")).json()
        response = await client.request(method, path, json=None if method == "DELETE" else {"title": "x"})
        assert response.status_code == 403
        assert response.json()["code"] == "read_only"
        assert (await client.get("/db")).json() == before


async def test_read_only_allows_reads(db: dict[str, Any]) -> None:
    async with serve(db, read_only=True) as client:
        assert (await client.get("/posts/1")).status_code == 200
        assert (await client.get("/posts?_embed=comments")).status_code == 200
        assert (await client.head("/posts")).status_code == 200
        assert (await client.get("/db")).status_code == 200
        preflight = await client.options(
            "/posts", headers={"Origin": "https://a", "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code in (200, 204)


# -- --base ---------------------------------------------------------------------------------------------------


@ABOVE_STORAGE
async def test_base_path(db: dict[str, Any]) -> None:
    async with serve(db, base="/api/v1") as client:
        assert (await client.get("/api/v1/posts/1")).json()["title"] == "json-server"
        assert len((await client.get("/api/v1/posts")).json()) == 3
        assert (await client.get("/api/v1/posts/1/comments")).status_code == 200
        assert (await client.get("/api/v1/db")).status_code == 200
        assert (await client.get("/api/v1/profile")).json() == {"name": "typicode"}
        assert (await client.get("/posts/1")).status_code == 404
        assert (await client.get("/posts")).status_code == 404


@ABOVE_STORAGE
async def test_home_page_under_base_links_to_the_base(db: dict[str, Any]) -> None:
    async with serve(db, base="/api/v1") as client:
        home = await client.get("/api/v1/")
        assert home.status_code == 200
        assert f'href="{ORIGIN}/api/v1/posts"' in home.text
        assert f'href="{ORIGIN}/posts"' not in home.text


# -- --routes ---------------------------------------------------------------------------------------------------

RULES = {
    "/api/*": "/$1",
    "/:resource/:id/show": "/:resource/:id",
    "/posts/:category": "/posts?category=:category",
    "/articles?id=:id": "/posts/:id",
}


@pytest.fixture
async def routed(db: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    for post in db["posts"]:
        post["category"] = "life" if post["id"] == 2 else "tech"
    async with serve(db, routes=RULES) as client:
        yield client


async def test_routes_wildcard(routed: httpx.AsyncClient) -> None:
    assert (await routed.get("/api/users/1")).json() == {"id": 1, "name": "Ada"}
    assert [p["id"] for p in (await routed.get("/api/posts")).json()] == [1, 2, 3]
    assert (await routed.get("/api/users?name=Linus")).json() == [{"id": 2, "name": "Linus"}]  # query kept


async def test_routes_named_segments(routed: httpx.AsyncClient) -> None:
    assert (await routed.get("/users/2/show")).json() == {"id": 2, "name": "Linus"}
    assert (await routed.get("/api/users/1/show")).json() == {"id": 1, "name": "Ada"}  # rules chain


async def test_routes_segment_to_query(routed: httpx.AsyncClient) -> None:
    assert [p["id"] for p in (await routed.get("/posts/life")).json()] == [2]
    assert [p["id"] for p in (await routed.get("/posts/tech")).json()] == [1, 3]


async def test_routes_query_to_path(routed: httpx.AsyncClient) -> None:
    assert (await routed.get("/articles?id=3")).json()["title"] == "Another Post"


async def test_routes_rules_listing(routed: httpx.AsyncClient) -> None:
    response = await routed.get("/__rules")
    assert response.status_code == 200
    assert response.json() == RULES


async def test_routes_apply_to_writes(routed: httpx.AsyncClient) -> None:
    created = await routed.post("/api/users", json={"name": "Grace"})
    assert created.status_code == 201
    assert (await routed.get("/users/3")).json() == {"name": "Grace", "id": 3}


async def test_no_rules_listing_without_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/__rules")).status_code == 404


# -- static files -------------------------------------------------------------------------------------------------


@pytest.fixture
def public(tmp_path: Path) -> Path:
    root = tmp_path / "public"
    (root / "css").mkdir(parents=True)
    (root / "hello.txt").write_text("hello from public")
    (root / "css" / "app.css").write_text("body { color: red }")
    (tmp_path / "secret.txt").write_text("TOP SECRET outside")
    (tmp_path / "public-private").mkdir()
    (tmp_path / "public-private" / "key.txt").write_text("TOP SECRET sibling")
    return root


@ABOVE_STORAGE
async def test_static_files_are_served_beside_the_api(db: dict[str, Any], public: Path) -> None:
    async with serve(db, static_dir=public) as client:
        assert (await client.get("/hello.txt")).text == "hello from public"
        assert (await client.get("/css/app.css")).text == "body { color: red }"
        assert (await client.get("/posts/1")).json()["id"] == 1
        assert (await client.get("/nothing.txt")).status_code == 404


@ABOVE_STORAGE
@pytest.mark.parametrize(
    "raw_path",
    [
        b"/../secret.txt",
        b"/css/../../secret.txt",
        b"/%2e%2e/secret.txt",
        b"/%2E%2E/secret.txt",
        b"/..%2fsecret.txt",
        b"/%2e%2e%2fsecret.txt",
        b"/css/..%2f..%2fsecret.txt",
        b"/..%5csecret.txt",
        b"/%252e%252e/secret.txt",
        b"/../public-private/key.txt",
        b"/%2e%2e/public-private/key.txt",
        b"/posts/..%2f..%2fsecret.txt",
        b"//secret.txt",
        b"//etc/passwd",
    ],
)
async def test_static_path_traversal_never_leaves_the_root(db: dict[str, Any], public: Path, raw_path: bytes) -> None:
    settings = Settings(static_dir=public)
    app = create_app(settings, build_service(settings, MemoryStorage(copy.deepcopy(db))))
    async with open_client(app):
        status, ok_body = await raw_get(app, b"/hello.txt")
        assert (status, ok_body) == (200, b"hello from public")  # the helper reaches the static folder
        status, body = await raw_get(app, raw_path)
        assert b"TOP SECRET" not in body
        assert b"root:" not in body
        assert status in (400, 404), (status, body[:200])


# -- home page and /db -----------------------------------------------------------------------------------------------


async def test_home_page_lists_resources_with_counts(client: httpx.AsyncClient) -> None:
    home = await client.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"].startswith("text/html")
    for name, count in (("posts", "3 records"), ("comments", "3 records"), ("users", "2 records")):
        assert f'href="{ORIGIN}/{name}">/{name}</a> <span class="count">{count}</span>' in home.text
    assert '/profile</a> <span class="count">object</span>' in home.text


async def test_home_page_counts_follow_writes(client: httpx.AsyncClient) -> None:
    await client.post("/users", json={"name": "Grace"})
    assert '/users</a> <span class="count">3 records</span>' in (await client.get("/")).text


@ABOVE_STORAGE
async def test_home_page_escapes_resource_names() -> None:
    async with serve({"<script>x": [], "ok": []}) as client:
        home = (await client.get("/")).text
        assert "<script>x" not in home
        assert "&lt;script&gt;x" in home


@ABOVE_STORAGE
async def test_home_page_is_index_html_when_present(db: dict[str, Any], public: Path) -> None:
    async with serve(db, static_dir=public) as client:
        assert "jsonserve" in (await client.get("/")).text  # no index.html yet: the home page
        (public / "index.html").write_text("<h1>my app</h1>")
        home = await client.get("/")
        assert home.status_code == 200
        assert home.text == "<h1>my app</h1>"
        assert (await client.get("/posts/1")).status_code == 200


async def test_db_dumps_the_database(client: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client.get("/db")
    assert response.status_code == 200
    assert response.json() == db
    await client.delete("/comments/3")
    assert [c["id"] for c in (await client.get("/db")).json()["comments"]] == [1, 2]


async def test_db_in_compat_1(client_v1: httpx.AsyncClient, db: dict[str, Any]) -> None:
    assert (await client_v1.get("/db")).json() == db


async def test_db_is_read_only(client: httpx.AsyncClient) -> None:
    response = await client.post("/db", json={"posts": []})
    assert response.status_code == 405
    assert len((await client.get("/posts")).json()) == 3


async def test_a_collection_named_db_takes_precedence() -> None:
    async with serve({"db": [{"id": 1}], "posts": []}) as client:
        assert (await client.get("/db")).json() == [{"id": 1}]
        assert (await client.post("/db", json={"x": 1})).status_code == 201


@pytest.mark.parametrize(
    "query",
    [
        "_sort=%00",
        "_sort=a%00b",
        "a%00=1",
        "userId=%00",
        "q=%00",
        "title_like=%00",
        "_where=%7B%22a%22%3A%22%5Cu0000%22%7D",
    ],
)
async def test_a_nul_character_in_the_query_is_a_400_on_every_backend(client: httpx.AsyncClient, query: str) -> None:
    # PostgreSQL refuses U+0000 in text and SQLite in JSON paths: it was a 500 there, an empty list in memory.
    response = await client.get(f"/posts?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["code"] == "invalid_character"
