"""json-server 0.17 query parameters over HTTP (json-server.md §3), default settings.

Where we differ on purpose (docs/compat.md) the test pins OUR behaviour: an unknown field matches
nothing, unknown operators/params and malformed pages are 400, ``_start`` alone slices, ``_limit``
is clamped to 1000, ``_embed``/``_expand`` compare keys by the typed rule.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:3000"
ITEMS: dict[str, Any] = {"items": [{"id": i, "even": i % 2 == 0} for i in range(1, 26)]}


def ids(response: httpx.Response) -> list[Any]:
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()]


@pytest.fixture
async def items() -> AsyncIterator[httpx.AsyncClient]:
    """25 records with ids 1..25."""
    async with serve(ITEMS) as http:
        yield http


# -- filters -------------------------------------------------------------------------------------

FILTERS: list[tuple[str, list[int]]] = [
    ("", [1, 2, 3]),
    ("title=jsonserve", [2]),
    ("title=JSONSERVE", []),
    ("title=json", []),
    ("author=typicode", [1, 3]),
    ("id=1", [1]),
    ("id=1&id=3", [1, 3]),
    ("id=3&id=1&id=99", [1, 3]),
    ("views=100", [1]),
    ("views=100.0", [1]),
    ("userId=1&author=us", [2]),
    ("author=typicode&author=us&views=7", [3]),
    ("meta.lang=fr", [2]),
    ("meta.lang=fr&meta.lang=en", [1, 2]),
    ("tags.1=b", [3]),
    ("views_gte=100", [1, 2]),
    ("views_lte=100", [1, 3]),
    ("views_gte=50&views_lte=200", [1]),
    ("views_gte=abc", []),
    ("author_gte=u", [2]),
    ("author_lte=typicode", [1, 3]),
    ("views_ne=100", [2, 3]),
    ("views_ne=100&views_ne=7", [2]),
    ("meta.lang_ne=en", [2]),  # a missing field never matches, not even _ne
    ("title_like=^json", [1, 2]),
    ("title_like=POST", [3]),
    ("title_like=server$", [1]),
    ("title_like=^json-?serv", [1, 2]),
    ("title_like=^a.*t$", [3]),
    ("title_like=x&title_like=^A", [3]),
    ("views_like=^1", [1]),
    ("meta.lang_like=^E", [1]),
    ("q=typicode", [1, 3]),
    ("q=TYPICODE", [1, 3]),
    ("q=fr", [2]),
    ("q=250", [2]),
    ("q=b", [3]),
    ("q=lang", []),
    ("q=json&author=us", [2]),
    ("q=another&q=json", [3]),
    ("nosuchfield=1", []),
    ("nosuchfield_ne=1", []),
    ("nosuchfield_like=.", []),
    ("_=1700000000000", [1, 2, 3]),
    ("author=typicode&_=123", [1, 3]),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS)
async def test_filters(client: httpx.AsyncClient, query: str, expected: list[int]) -> None:
    assert ids(await client.get(f"/posts?{query}")) == expected


async def test_filters_on_other_types() -> None:
    data: dict[str, Any] = {
        "todos": [
            {"id": 1, "done": True, "due": None, "score": 1.5},
            {"id": 2, "done": False, "due": "2024-05-01", "score": 10},
            {"id": 3, "done": "true", "score": "10"},
        ]
    }
    async with serve(data) as http:
        assert ids(await http.get("/todos?done=true")) == [1, 3]
        assert ids(await http.get("/todos?done=false")) == [2]
        assert ids(await http.get("/todos?due=null")) == [1]
        assert ids(await http.get("/todos?due_ne=null")) == [2]
        assert ids(await http.get("/todos?due_ne=x")) == [1, 2]
        assert ids(await http.get("/todos?score=10")) == [2, 3]
        assert ids(await http.get("/todos?score=1.5")) == [1]
        assert ids(await http.get("/todos?score_gte=9")) == [2]  # "10" < "9" as strings
        assert ids(await http.get("/todos?due_gte=2024-01-01")) == [2]


@pytest.mark.parametrize(
    ("data", "query", "expected"),
    [
        ({"things": [{"id": 1}, {"id": 2}]}, "id=1", [1]),
        ({"things": [{"id": "1"}, {"id": "2"}]}, "id=1", ["1"]),
        ({"things": [{"id": "1"}, {"id": "2"}]}, "id=1&id=2", ["1", "2"]),
        ({"things": [{"id": "a"}, {"id": 1}]}, "id=1", [1]),
        ({"things": [{"id": "x7"}, {"id": "7"}]}, "id=x7", ["x7"]),
    ],
)
async def test_id_filter_numeric_and_string_ids(data: dict[str, Any], query: str, expected: list[Any]) -> None:
    async with serve(data) as http:
        assert ids(await http.get(f"/things?{query}")) == expected


# -- sort ----------------------------------------------------------------------------------------

SORTS: list[tuple[str, list[int]]] = [
    ("_sort=views", [3, 1, 2]),
    ("_sort=views&_order=asc", [3, 1, 2]),
    ("_sort=views&_order=desc", [2, 1, 3]),
    ("_sort=views&_order=DESC", [2, 1, 3]),
    ("_sort=title", [3, 1, 2]),  # case-sensitive, by code point: "A" < "j", "-" < "s"
    ("_sort=author", [1, 3, 2]),  # stable
    ("_sort=author&_order=desc", [2, 1, 3]),  # stable when descending
    ("_sort=author,views", [3, 1, 2]),
    ("_sort=author,views&_order=asc,desc", [1, 3, 2]),
    ("_sort=author,views&_order=desc,desc", [2, 1, 3]),
    ("_sort=userId,id&_order=desc,desc", [3, 2, 1]),
    ("_sort=-views", [2, 1, 3]),
    ("_sort=-author,views", [2, 3, 1]),
    ("_sort=meta.lang", [1, 2, 3]),  # missing last ascending
    ("_sort=meta.lang&_order=desc", [3, 2, 1]),  # and first descending
    ("_sort=nosuchfield", [1, 2, 3]),
    ("_sort=views&author=typicode", [3, 1]),
]


@pytest.mark.parametrize(("query", "expected"), SORTS)
async def test_sort(client: httpx.AsyncClient, query: str, expected: list[int]) -> None:
    assert ids(await client.get(f"/posts?{query}")) == expected


# -- pages, slices and headers --------------------------------------------------------------------


def link(path: str, **pages: int) -> str:
    """The expected ``Link`` value: ``path`` ends with the query before ``_page``."""
    sep = "&" if "?" in path else "?"
    return ", ".join(f'<{BASE}{path}{sep}_page={number}>; rel="{rel}"' for rel, number in pages.items())


PAGES: list[tuple[str, list[int], str, str | None]] = [
    ("_page=1", list(range(1, 11)), "25", link("/items", first=1, next=2, last=3)),
    ("_page=2", list(range(11, 21)), "25", link("/items", first=1, prev=1, next=3, last=3)),
    ("_page=3", list(range(21, 26)), "25", link("/items", first=1, prev=2, last=3)),
    ("_limit=5&_page=2", [6, 7, 8, 9, 10], "25", link("/items?_limit=5", first=1, prev=1, next=3, last=5)),
    ("_limit=5&_page=5", [21, 22, 23, 24, 25], "25", link("/items?_limit=5", first=1, prev=4, last=5)),
    ("_limit=25&_page=1", list(range(1, 26)), "25", None),  # one page: no Link
    ("_limit=30&_page=1", list(range(1, 26)), "25", None),
    (
        "even=true&_limit=4&_page=2",
        [10, 12, 14, 16],
        "12",
        link("/items?even=true&_limit=4", first=1, prev=1, next=3, last=3),
    ),
    ("id=99&_page=1", [], "0", None),
    ("_limit=5", [1, 2, 3, 4, 5], "25", None),
    ("_limit=0", [], "25", None),
    ("_limit=100", list(range(1, 26)), "25", None),
    ("_start=5&_limit=3", [6, 7, 8], "25", None),
    ("_start=5&_end=8", [6, 7, 8], "25", None),
    ("_end=3", [1, 2, 3], "25", None),
    ("_end=0", [], "25", None),
    ("_start=8&_end=2", [], "25", None),
    ("_start=23", [24, 25], "25", None),  # compat.md: `_start` alone skips
    ("_start=99&_limit=5", [], "25", None),
    ("even=false&_start=1&_limit=2", [3, 5], "13", None),
    ("_sort=id&_order=desc&_limit=3", [25, 24, 23], "25", None),
    (
        "_sort=id&_order=desc&_page=3",
        [5, 4, 3, 2, 1],
        "25",
        link("/items?_sort=id&_order=desc", first=1, prev=2, last=3),
    ),
]


@pytest.mark.parametrize(("query", "expected", "total", "link_header"), PAGES)
async def test_pages_and_slices(
    items: httpx.AsyncClient, query: str, expected: list[int], total: str, link_header: str | None
) -> None:
    response = await items.get(f"/items?{query}")
    assert ids(response) == expected
    assert response.headers["x-total-count"] == total
    assert response.headers.get("link") == link_header


async def test_plain_list_has_no_paging_headers(items: httpx.AsyncClient) -> None:
    response = await items.get("/items?even=true")
    assert len(ids(response)) == 12
    assert "x-total-count" not in response.headers
    assert "link" not in response.headers


async def test_page_past_the_end_is_empty(items: httpx.AsyncClient) -> None:
    # json-server.md §3: `_page=n` past the end -> [] (0.17 does not clamp; only 1.x's envelope does).
    response = await items.get("/items?_page=4")
    assert ids(response) == []
    assert response.headers["x-total-count"] == "25"
    response = await items.get("/items?_limit=5&_page=99")
    assert ids(response) == []


async def test_link_keeps_the_request_host(items: httpx.AsyncClient) -> None:
    response = await items.get("/items?_limit=10&_page=2", headers={"Host": "api.example:8080"})
    pages = response.headers["link"].split(", ")
    assert pages[0] == '<http://api.example:8080/items?_limit=10&_page=1>; rel="first"'
    assert len(pages) == 4


def links(response: httpx.Response) -> dict[str, str]:
    """``{rel: url}`` from a ``Link`` header."""
    result = {}
    for part in response.headers["link"].split(", "):
        url, rel = part.split(">; rel=")
        result[rel.strip('"')] = url.removeprefix("<")
    return result


async def test_link_urls_lead_to_the_pages_they_name(items: httpx.AsyncClient) -> None:
    response = await items.get("/items?even=true&_limit=4&_page=1")
    seen = ids(response)
    while "next" in links(response):
        response = await items.get(links(response)["next"].removeprefix(BASE))
        seen += ids(response)
    assert seen == list(range(2, 26, 2))
    assert links(response)["first"] == f"{BASE}/items?even=true&_limit=4&_page=1"


async def test_limit_is_clamped_on_a_big_collection() -> None:
    async with serve() as demo:  # the demo data: 5000 photos
        response = await demo.get("/photos?_limit=5000")
        assert len(ids(response)) == 1000
        assert response.headers["x-total-count"] == "5000"
        response = await demo.get("/photos?_page=2&_limit=5000")
        assert ids(response)[:2] == [1001, 1002]
        assert len(ids(response)) == 1000
        assert response.headers["link"] == link("/photos?_limit=5000", first=1, prev=1, next=3, last=5)
        response = await demo.get("/photos?albumId=1&_limit=5000")
        assert (len(ids(response)), response.headers["x-total-count"]) == (50, "50")


async def test_per_page_gives_the_envelope_even_in_017(client: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client.get("/posts?_page=2&_per_page=2")
    assert response.json() == {
        "first": 1,
        "prev": 1,
        "next": None,
        "last": 2,
        "pages": 2,
        "items": 3,
        "data": [db["posts"][2]],
    }
    assert "link" not in response.headers


# -- malformed parameters --------------------------------------------------------------------------

BAD: list[tuple[str, str]] = [
    ("_page=abc", "_page"),
    ("_page=-1", "_page"),
    ("_page=0", "_page"),
    ("_page=1.5", "_page"),
    ("_page=", "_page"),
    ("_limit=-1", "_limit"),
    ("_limit=ten", "_limit"),
    ("_start=-1", "_start"),
    ("_end=x", "_end"),
    ("_per_page=0", "_per_page"),
    ("_order=sideways&_sort=id", "_order"),
    ("_foo=1", "_foo"),
    ("_sort=id&_odrer=desc", "_odrer"),
    ("callback=fn", "JSONP"),
    ("title_like=(", "title_like"),
    (f"title_like={'a' * 257}", "title_like"),
    ("_embed=nosuch", "nosuch"),
    ("_expand=nosuch", "nosuch"),
    ("views:foo=1", "eq, ne, lt, lte, gt, gte, in, contains, startsWith, endsWith"),
]


@pytest.mark.parametrize(("query", "named"), BAD)
async def test_malformed_parameters_are_400(client: httpx.AsyncClient, query: str, named: str) -> None:
    response = await client.get(f"/posts?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (400, "invalid_query")
    assert named in body["detail"]


async def test_malformed_parameters_are_400_on_items_and_nested_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/posts/1?_page=abc")).status_code == 400
    assert (await client.get("/posts/1/comments?_page=0")).status_code == 400
    assert (await client.get("/posts/1?_embed=nosuch")).status_code == 400


# -- _embed and _expand ----------------------------------------------------------------------------


async def test_embed_children(client: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client.get("/posts?_embed=comments")
    assert [post["comments"] for post in response.json()] == [db["comments"][:2], [db["comments"][2]], []]
    assert [{k: v for k, v in post.items() if k != "comments"} for post in response.json()] == db["posts"]


async def test_embed_on_an_item(client: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client.get("/posts/1?_embed=comments")
    assert response.json() == {**db["posts"][0], "comments": db["comments"][:2]}


async def test_embed_does_not_change_the_stored_records(client: httpx.AsyncClient, db: dict[str, Any]) -> None:
    await client.get("/posts?_embed=comments")
    assert (await client.get("/posts")).json() == db["posts"]


async def test_embed_combines_with_filters_and_pages(client: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client.get("/posts?_embed=comments&userId=1&_limit=1")
    assert response.json() == [{**db["posts"][0], "comments": db["comments"][:2]}]
    assert response.headers["x-total-count"] == "2"


async def test_expand_parent(client: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client.get("/comments?_expand=post")
    assert [comment["post"] for comment in response.json()] == [db["posts"][0], db["posts"][0], db["posts"][1]]
    item = await client.get("/comments/3?_expand=post")
    assert item.json() == {**db["comments"][2], "post": db["posts"][1]}


async def test_embed_and_expand_together(client: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client.get("/posts/1?_embed=comments&_expand=user")
    assert response.json() == {**db["posts"][0], "comments": db["comments"][:2], "user": db["users"][0]}


async def test_repeated_embed(client: httpx.AsyncClient) -> None:
    one = (await client.get("/users/1?_embed=posts&_embed=posts")).json()
    assert [post["id"] for post in one["posts"]] == [1, 2]


async def test_joins_compare_keys_by_the_typed_rule() -> None:
    data: dict[str, Any] = {
        "posts": [{"id": 1}, {"id": "2"}],
        "comments": [{"id": 1, "postId": "1"}, {"id": 2, "postId": 2}, {"id": 3, "postId": None}],
    }
    async with serve(data) as http:
        posts = (await http.get("/posts?_embed=comments")).json()
        assert [[c["id"] for c in post["comments"]] for post in posts] == [[1], [2]]
        comments = (await http.get("/comments?_expand=post")).json()
        assert [c.get("post") for c in comments] == [{"id": 1}, {"id": "2"}, None]
        assert "post" not in comments[2]  # a null foreign key: the key is absent, no 500


async def test_unknown_embed_lists_the_valid_names(client: httpx.AsyncClient) -> None:
    detail = (await client.get("/posts?_embed=coments")).json()["detail"]
    assert "coments" in detail
    assert "comments" in detail
