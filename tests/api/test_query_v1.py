"""json-server 1.x query parameters over HTTP (json-server.md §4).

The 1.x grammar (``field:op=``, ``_sort=-a``, ``_per_page``, ``_where``, ``_embed=<singular>``) is
accepted on every request; ``--compat 1`` only changes what ``_page`` alone returns (the envelope).
Our documented differences (docs/compat.md): typed equality (``?id=1`` works with string ids),
repeated keys OR, ``_where`` ANDed with the other filters and 400 on bad JSON, ``_per_page`` alone
gives the envelope, ``q``/``_expand`` in both modes, unknown operators and malformed pages are 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

OPS = "eq, ne, lt, lte, gt, gte, in, contains, startsWith, endsWith"
ITEMS: dict[str, Any] = {"items": [{"id": i, "even": i % 2 == 0} for i in range(1, 26)]}
STRING_IDS: dict[str, Any] = {
    "posts": [{"id": "1", "title": "a"}, {"id": "2", "title": "b"}, {"id": "10", "title": "c"}],
    "comments": [{"id": "x", "postId": "1"}, {"id": "y", "postId": "10"}, {"id": "z", "postId": 2}],
}


@pytest.fixture(params=["0.17", "1"])
async def either(request: pytest.FixtureRequest, db: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """The sample database in each compat line: the 1.x grammar works in both."""
    async with serve(db, compat=request.param) as http:
        yield http


@pytest.fixture
async def items_v1() -> AsyncIterator[httpx.AsyncClient]:
    """25 records with ids 1..25, ``--compat 1``."""
    async with serve(ITEMS, compat="1") as http:
        yield http


def ids(response: httpx.Response) -> list[Any]:
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()]


def envelope(data_ids: list[int], **fields: int | None) -> dict[str, Any]:
    return {**fields, "data": [{"id": i, "even": i % 2 == 0} for i in data_ids]}


# -- field:op= -------------------------------------------------------------------------------------

FILTERS: list[tuple[str, list[int]]] = [
    ("views:eq=100", [1]),
    ("views:eq=100.0", [1]),
    ("views:ne=100", [2, 3]),
    ("views:lt=100", [3]),
    ("views:lte=100", [1, 3]),
    ("views:gt=100", [2]),
    ("views:gte=100", [1, 2]),
    ("views:gt=abc", []),
    ("author:lt=u", [1, 3]),
    ("author:gte=u", [2]),
    ("views:gt=10&views:lt=200", [1]),
    ("views:gte=7&views:lte=250", [1, 2, 3]),
    ("id:in=1,3", [1, 3]),
    ("id:in=2", [2]),
    ("id:in=9,x", []),
    ("author:in=us,typicode", [1, 2, 3]),
    ("title:contains=SERVE", [1, 2]),
    ("title:contains=-", [1]),
    ("title:startsWith=JSON", [1, 2]),
    ("title:startsWith=another", [3]),
    ("title:endsWith=POST", [3]),
    ("title:endsWith=server", [1]),
    ("views:contains=1", []),  # strings only
    ("views:startsWith=1", []),
    ("meta.lang:eq=fr", [2]),
    ("meta.lang:ne=fr", [1]),  # a missing field never matches
    ("meta.lang:in=en,fr", [1, 2]),
    ("meta.lang:startsWith=E", [1]),
    ("tags.0:eq=a", [3]),
    ("title:like=^json", [1, 2]),
    # legacy 0.17-style suffixes for the same operator names
    ("views_gt=100", [2]),
    ("views_lt=100", [3]),
    ("views_eq=7", [3]),
    ("id_in=1,2", [1, 2]),
    ("title_contains=NOTHER", [3]),
    ("title_startsWith=json-", [1]),
    ("title_endsWith=serve", [2]),
    # combinations
    ("author=typicode&views:gt=50", [1]),
    ("userId:eq=1&title:contains=server", [1]),
    # repeated keys: OR (not 1.x's last-wins), except ne: AND
    ("author=us&author=typicode", [1, 2, 3]),
    ("id=1&id=2", [1, 2]),
    ("views:lt=10&views:lt=200", [1, 3]),
    ("views:ne=100&views:ne=7", [2]),
    # unknown fields match nothing
    ("nosuch=1", []),
    ("nosuch:gt=1", []),
    ("nosuch:ne=1", []),
    # q works in 1.x mode too
    ("q=TYPICODE", [1, 3]),
    ("q=fr&views:gt=1", [2]),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS)
async def test_filters(either: httpx.AsyncClient, query: str, expected: list[int]) -> None:
    assert ids(await either.get(f"/posts?{query}")) == expected


async def test_typed_values() -> None:
    data: dict[str, Any] = {
        "todos": [
            {"id": 1, "done": True, "due": None, "n": 0},
            {"id": 2, "done": False, "due": "2024-05-01", "n": "0"},
            {"id": 3, "done": "false"},
        ]
    }
    async with serve(data, compat="1") as http:
        assert ids(await http.get("/todos?done=true")) == [1]
        assert ids(await http.get("/todos?done:eq=false")) == [2, 3]
        assert ids(await http.get("/todos?done:ne=false")) == [1]
        assert ids(await http.get("/todos?due=null")) == [1]
        assert ids(await http.get("/todos?due:ne=null")) == [2]
        assert ids(await http.get("/todos?due:in=null,2024-05-01")) == [1, 2]
        assert ids(await http.get("/todos?n=0")) == [1, 2]
        assert ids(await http.get("/todos?n:gte=0")) == [1, 2]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("id=1", ["1"]),
        ("id=10", ["10"]),
        ("id:in=1,10", ["1", "10"]),
        ("id:eq=2", ["2"]),
        ("id=1&id=2", ["1", "2"]),
        ("id:gt=10", ["2"]),  # strings compare by code point: "2" > "10"
        ("id:lt=2", ["1", "10"]),
        ("_sort=id", ["1", "10", "2"]),
        ("_sort=-id", ["2", "10", "1"]),
    ],
)
async def test_string_ids(query: str, expected: list[str]) -> None:
    # The 1.x pitfall (json-server.md §4): `?id=1` never matched string ids; here it does.
    async with serve(STRING_IDS, compat="1") as http:
        assert ids(await http.get(f"/posts?{query}")) == expected


async def test_numeric_looking_foreign_keys() -> None:
    async with serve(STRING_IDS, compat="1") as http:
        assert ids(await http.get("/comments?postId=1")) == ["x"]
        assert ids(await http.get("/comments?postId=2")) == ["z"]
        assert ids(await http.get("/comments?postId:in=2,10")) == ["y", "z"]


# -- unknown operators and other 400s -------------------------------------------------------------


@pytest.mark.parametrize("query", ["views:foo=1", "views:like2=1", "views:GT=1", "meta.lang:equals=fr", "views:=1"])
async def test_unknown_operator_is_400_listing_the_valid_ones(either: httpx.AsyncClient, query: str) -> None:
    response = await either.get(f"/posts?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid_query"
    assert OPS in body["detail"]
    assert body["errors"][0]["code"] == "unknown_operator"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("_page=abc", "_page"),
        ("_page=-1", "_page"),
        ("_page=0", "_page"),
        ("_per_page=0", "_per_page"),
        ("_per_page=-5", "_per_page"),
        ("_per_page=x", "_per_page"),
        ("_page=1&_per_page=2.5", "_per_page"),
        ("_where={bad", "_where"),
        ("_where=[1,2]", "_where"),
        ('_where={"or":{"id":1}}', "or"),
        ('_where={"title":{"like":"("}}', "regular expression"),
        ("_embed=coment", "coment"),
        ("_wehre={}", "_wehre"),
    ],
)
async def test_malformed_is_400(either: httpx.AsyncClient, query: str, named: str) -> None:
    response = await either.get(f"/posts?{query}")
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["code"]) == (400, "invalid_query")
    assert named in body["detail"]


# -- sort ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("_sort=views", [3, 1, 2]),
        ("_sort=-views", [2, 1, 3]),
        ("_sort=author,-views", [1, 3, 2]),
        ("_sort=-author,views", [2, 3, 1]),
        ("_sort=-author,-views", [2, 1, 3]),
        ("_sort=userId,-id", [2, 1, 3]),
        ("_sort=-meta.lang", [3, 2, 1]),
        ("_sort=meta.lang", [1, 2, 3]),
        ("_sort=-author", [2, 1, 3]),  # stable
        ("_sort=-views&author=typicode", [1, 3]),
    ],
)
async def test_sort(either: httpx.AsyncClient, query: str, expected: list[int]) -> None:
    assert ids(await either.get(f"/posts?{query}")) == expected


# -- the envelope ----------------------------------------------------------------------------------

PAGES: list[tuple[str, dict[str, Any]]] = [
    ("_page=1", envelope(list(range(1, 11)), first=1, prev=None, next=2, last=3, pages=3, items=25)),
    ("_page=2", envelope(list(range(11, 21)), first=1, prev=1, next=3, last=3, pages=3, items=25)),
    ("_page=3", envelope(list(range(21, 26)), first=1, prev=2, next=None, last=3, pages=3, items=25)),
    # clamped to 1..pages
    ("_page=4", envelope(list(range(21, 26)), first=1, prev=2, next=None, last=3, pages=3, items=25)),
    ("_page=99", envelope(list(range(21, 26)), first=1, prev=2, next=None, last=3, pages=3, items=25)),
    ("_page=2&_per_page=5", envelope([6, 7, 8, 9, 10], first=1, prev=1, next=3, last=5, pages=5, items=25)),
    ("_page=5&_per_page=5", envelope([21, 22, 23, 24, 25], first=1, prev=4, next=None, last=5, pages=5, items=25)),
    ("_page=1&_per_page=25", envelope(list(range(1, 26)), first=1, prev=None, next=None, last=1, pages=1, items=25)),
    ("_page=1&_per_page=100", envelope(list(range(1, 26)), first=1, prev=None, next=None, last=1, pages=1, items=25)),
    ("_page=2&_per_page=1", envelope([2], first=1, prev=1, next=3, last=25, pages=25, items=25)),
    # _per_page alone: page 1 in the envelope (1.x returns a plain array)
    ("_per_page=4", envelope([1, 2, 3, 4], first=1, prev=None, next=2, last=7, pages=7, items=25)),
    # with a filter and a sort: counts are after filtering, the page after sorting
    (
        "even=true&_sort=-id&_page=2&_per_page=5",
        envelope([14, 12, 10, 8, 6], first=1, prev=1, next=3, last=3, pages=3, items=12),
    ),
    ("id:gt=20&_page=1", envelope([21, 22, 23, 24, 25], first=1, prev=None, next=None, last=1, pages=1, items=5)),
    # _limit sets the page size when there is no _per_page
    ("_page=2&_limit=4", envelope([5, 6, 7, 8], first=1, prev=1, next=3, last=7, pages=7, items=25)),
]


@pytest.mark.parametrize(("query", "expected"), PAGES)
async def test_envelope(items_v1: httpx.AsyncClient, query: str, expected: dict[str, Any]) -> None:
    response = await items_v1.get(f"/items?{query}")
    assert response.status_code == 200
    assert response.json() == expected
    assert "link" not in response.headers


async def test_envelope_of_nothing() -> None:
    # json-server 1.x's paginate(): pages = max(1, ceil(items / per_page)), so an empty result is
    # one empty page, and `last` is never below `first`.
    async with serve(ITEMS, compat="1") as http:
        response = await http.get("/items?id=999&_page=1")
        assert response.json() == {
            "first": 1,
            "prev": None,
            "next": None,
            "last": 1,
            "pages": 1,
            "items": 0,
            "data": [],
        }


async def test_envelope_on_a_nested_route(client_v1: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client_v1.get("/posts/1/comments?_page=2&_per_page=1")
    assert response.json() == {
        "first": 1,
        "prev": 1,
        "next": None,
        "last": 2,
        "pages": 2,
        "items": 2,
        "data": [db["comments"][1]],
    }


async def test_without_paging_the_list_is_a_plain_array(items_v1: httpx.AsyncClient) -> None:
    response = await items_v1.get("/items?even=true")
    assert ids(response) == list(range(2, 26, 2))


async def test_017_page_alone_is_a_plain_array(client: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client.get("/posts?_page=1")
    assert response.json() == db["posts"]
    assert response.headers["x-total-count"] == "3"


async def test_per_page_is_clamped_on_a_big_collection() -> None:
    async with serve(compat="1") as demo:  # the demo data: 5000 photos
        body = (await demo.get("/photos?_per_page=5000")).json()
        assert {key: value for key, value in body.items() if key != "data"} == {
            "first": 1,
            "prev": None,
            "next": 2,
            "last": 5,
            "pages": 5,
            "items": 5000,
        }
        assert [photo["id"] for photo in body["data"]] == list(range(1, 1001))
        body = (await demo.get("/photos?_page=5&_per_page=1001")).json()
        assert (body["prev"], body["next"], body["last"], len(body["data"])) == (4, None, 5, 1000)
        body = (await demo.get("/photos?_page=1")).json()  # default 10 per page
        assert (body["pages"], body["items"], len(body["data"])) == (500, 5000, 10)


# -- _where ----------------------------------------------------------------------------------------

WHERE: list[tuple[str, list[int]]] = [
    ('{"views":{"gt":100}}', [2]),
    ('{"views":{"gte":7,"lt":250}}', [1, 3]),
    ('{"title":"jsonserve"}', [2]),  # a plain value means eq
    ('{"views":100}', [1]),
    ('{"views":"100"}', [1]),
    ('{"id":{"in":[1,3]}}', [1, 3]),
    ('{"id":{"in":["1","3"]}}', [1, 3]),
    ('{"author":{"ne":"us"}}', [1, 3]),
    ('{"title":{"contains":"SERVE"}}', [1, 2]),
    ('{"title":{"startsWith":"another"}}', [3]),
    ('{"title":{"endsWith":"VE"}}', [2]),
    ('{"title":{"like":"^json-?s"}}', [1, 2]),
    ('{"meta":{"lang":{"eq":"fr"}}}', [2]),
    ('{"meta":{"lang":"en"}}', [1]),
    ('{"or":[{"id":1},{"views":{"gt":200}}]}', [1, 2]),
    ('{"or":[{"meta":{"lang":"fr"}},{"tags":{"0":"a"}}]}', [2, 3]),
    ('{"author":"typicode","or":[{"views":{"lt":10}},{"views":{"gt":1000}}]}', [3]),
    ('{"or":[]}', []),
    ("{}", [1, 2, 3]),
    ('{"nosuch":{"eq":1}}', []),
    ('{"userId":1,"views":{"lt":200}}', [1]),
]


@pytest.mark.parametrize(("where", "expected"), WHERE)
async def test_where(either: httpx.AsyncClient, where: str, expected: list[int]) -> None:
    assert ids(await either.get("/posts", params={"_where": where})) == expected


async def test_where_is_anded_with_the_other_filters(either: httpx.AsyncClient) -> None:
    response = await either.get("/posts", params={"author": "typicode", "_where": '{"views":{"lt":50}}'})
    assert ids(response) == [3]
    response = await either.get("/posts", params={"q": "json", "_where": '{"or":[{"id":2},{"id":3}]}'})
    assert ids(response) == [2]


async def test_where_with_string_ids() -> None:
    async with serve(STRING_IDS, compat="1") as http:
        for where in ('{"id":{"in":["1","10"]}}', '{"id":{"in":[1,10]}}'):
            assert ids(await http.get("/posts", params={"_where": where})) == ["1", "10"]


async def test_where_with_sort_and_pages(client_v1: httpx.AsyncClient) -> None:
    params = {"_where": '{"views":{"gt":1}}', "_sort": "-views", "_page": "1", "_per_page": "2"}
    body = (await client_v1.get("/posts", params=params)).json()
    assert ([post["id"] for post in body["data"]], body["pages"], body["items"]) == ([2, 1], 2, 3)


# -- _embed (both directions) and _expand ----------------------------------------------------------


async def test_embed_children(either: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await either.get("/posts?_embed=comments")
    assert [post["comments"] for post in response.json()] == [db["comments"][:2], [db["comments"][2]], []]


async def test_embed_singular_name_adds_the_parent(either: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await either.get("/comments?_embed=post")
    assert [comment["post"] for comment in response.json()] == [db["posts"][0], db["posts"][0], db["posts"][1]]
    item = await either.get("/posts/3?_embed=user")
    assert item.json() == {**db["posts"][2], "user": db["users"][1]}


async def test_expand_works_in_v1(client_v1: httpx.AsyncClient, db: dict[str, Any]) -> None:
    response = await client_v1.get("/comments/1?_expand=post")
    assert response.json() == {**db["comments"][0], "post": db["posts"][0]}


async def test_embed_with_string_and_numeric_keys() -> None:
    async with serve(STRING_IDS, compat="1") as http:
        posts = (await http.get("/posts?_embed=comments&_sort=id")).json()
        assert [[c["id"] for c in post["comments"]] for post in posts] == [["x"], ["y"], ["z"]]
        comments = (await http.get("/comments?_embed=post")).json()
        assert [c["post"]["title"] for c in comments] == ["a", "c", "b"]


async def test_embed_with_envelope(client_v1: httpx.AsyncClient, db: dict[str, Any]) -> None:
    body = (await client_v1.get("/posts?_embed=comments&_page=1&_per_page=1")).json()
    assert body["data"] == [{**db["posts"][0], "comments": db["comments"][:2]}]
    assert body["items"] == 3


async def test_unknown_embed_is_400_naming_the_valid_relations(either: httpx.AsyncClient) -> None:
    body = (await either.get("/posts?_embed=likes")).json()
    assert body["status"] == 400
    assert "likes" in body["detail"]
    assert "comments" in body["detail"]


# -- HEAD in 1.x ---------------------------------------------------------------------------------


async def test_head_is_not_400_in_v1(client_v1: httpx.AsyncClient) -> None:
    response = await client_v1.head("/posts?_page=1")
    assert (response.status_code, response.content) == (200, b"")
