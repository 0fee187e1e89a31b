"""Queries as large as a client can send (issue 13): a 2xx or a 400 naming the limit, alike on every backend.

Before, the SQL backends answered 500 where a database limit was reached: SQLite's expression depth
(1,000: about 500 repeated ``views_gt`` keys, or one ``id`` repeated a few hundred times), PostgreSQL's
32,767 parameters (100 conditions on a long dotted path), both backends' ORDER BY limits (600 ``_sort``
fields), and a path of Arabic-Indic digit segments compiled into an expression of 2^n terms on
PostgreSQL. Long lists of values are now one condition bound as one array parameter; the number of
conditions, values, sort fields and path segments is bounded by ``query/limits.py`` before any
backend sees the query.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from jsonserve.query.limits import MAX_CONDITIONS, MAX_PATH_SEGMENTS, MAX_SORT_KEYS, MAX_VALUES
from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

POSTS: dict[str, Any] = {
    "posts": [
        {"id": n, "title": f"t{n}", "views": n * 10, "tag": "even" if n % 2 == 0 else "odd", "ref": str(n)}
        for n in range(1, 41)
    ]
}
URL_BUDGET = 60_000  # the HTTP parser (and httpx) refuse a request line past 64 KiB


async def ids(client: httpx.AsyncClient, query: str) -> list[int]:
    response = await client.get(f"/posts?{query}")
    assert response.status_code == 200, response.text[:500]
    return [post["id"] for post in response.json()]


async def assert_400(client: httpx.AsyncClient, query: str, code: str, fragment: str) -> None:
    response = await client.get(f"/posts?{query}")
    assert response.status_code == 400, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [error["code"] for error in problem["errors"]] == [code]
    assert fragment in problem["detail"]


async def test_a_long_list_of_repeated_keys_is_one_condition() -> None:
    wanted = list(range(1, 41, 3))
    values = [*map(str, wanted), *map(str, range(1000, 5000))]  # 4,000 ids that match nothing, as well
    query = "&".join(f"id={value}" for value in values)
    assert len(query) < URL_BUDGET
    async with serve(POSTS) as client:
        assert await ids(client, query) == wanted
        assert await ids(client, query + "&_sort=-id&_limit=2") == [40, 37]
        excluded = "&".join(f"id_ne={value}" for value in values)
        assert await ids(client, excluded) == [n for n in range(1, 41) if n not in wanted]


async def test_long_in_lists_of_mixed_types_match_like_equality() -> None:
    texts = ["1", "2.0", "x", "true", "null", "t3", "7", *map(str, range(100, 900))]
    async with serve(POSTS) as client:
        assert await ids(client, "id:in=" + ",".join(texts)) == [1, 2, 7]
        assert await ids(client, "ref:in=" + ",".join(texts)) == [1, 7]  # the string "2" is not "2.0"
        assert await ids(client, "title:in=" + ",".join(texts)) == [3]
        assert await ids(client, "ref_ne=" + "&ref_ne=".join(texts)) == [n for n in range(1, 41) if n not in (1, 7)]
        where = json.dumps({"views": {"in": [20, "30", 40.0, *range(1000, 1300)]}})
        assert await ids(client, "_where=" + where) == [2, 3, 4]


async def test_as_many_conditions_as_the_limit_and_one_more() -> None:
    async with serve(POSTS) as client:
        repeated = "&".join(f"views_gt={n * 10}" for n in range(1, MAX_CONDITIONS + 1))  # an OR: views > 10
        assert await ids(client, repeated) == list(range(2, 41))
        too_many = repeated + "&views_gt=0"
        await assert_400(client, too_many, "too_many_conditions", f"at most {MAX_CONDITIONS}")
        await assert_400(client, "&".join(f"f{n}=1" for n in range(3000)), "too_many_conditions", "3000")
        await assert_400(client, "&".join(f"title_ne=a&views_lt={n}" for n in range(2000)), "too_many_conditions", "")
        groups = json.dumps({"or": [{"views": {"lt": n}} for n in range(MAX_CONDITIONS + 1)]})
        await assert_400(client, "_where=" + groups, "too_many_conditions", f"at most {MAX_CONDITIONS}")


async def test_values_past_the_limit_are_400() -> None:
    async with serve(POSTS) as client:
        numbers = [str(n) for n in range(MAX_VALUES + 1)]
        lists: list[list[str]] = []
        current: list[str] = []  # `id:in` lists of at most 4,096 characters each (a value's limit)
        for number in numbers:
            if len(",".join([*current, number])) > 4096:
                lists.append(current)
                current = []
            current.append(number)
        query = "&".join(f"id:in={','.join(items)}" for items in [*lists, current])
        assert len(query) < URL_BUDGET
        await assert_400(client, query, "too_many_values", f"at most {MAX_VALUES} values")


async def test_sort_fields_past_the_limit_are_400() -> None:
    async with serve(POSTS) as client:
        fields = ["tag", "-views", *[f"f{n}" for n in range(MAX_SORT_KEYS - 2)]]
        assert (await ids(client, "_sort=" + ",".join(fields)))[:3] == [40, 38, 36]
        await assert_400(client, "&".join(f"_sort=f{n}" for n in range(600)), "too_many_sort_fields", "at most 10")


@pytest.mark.parametrize("segment", ["a", "-1", "\u0661", "1"])
async def test_the_longest_path_in_every_condition(segment: str) -> None:
    """PostgreSQL bound one parameter per path segment (100 conditions on a 120-segment path needed
    37,700, past 32,767), and a path of Arabic-Indic digits (keys or array indexes in Python) doubled
    its SQL at every segment: paths now have at most 20 segments, bound as one parameter."""
    path = ".".join([segment] * MAX_PATH_SEGMENTS)
    query = "&".join(quote(f"{path}_lt={n}", safe="=") for n in range(MAX_CONDITIONS))
    async with serve(POSTS) as client:
        assert await ids(client, query) == []
        assert await ids(client, f"_sort={quote(path)}&_limit=2") == [1, 2]
        longer = quote(f"{path}.{segment}")
        await assert_400(client, f"{longer}=1", "path_too_long", f"at most {MAX_PATH_SEGMENTS} segments")
        await assert_400(client, f"_sort={longer}", "path_too_long", f"at most {MAX_PATH_SEGMENTS} segments")
