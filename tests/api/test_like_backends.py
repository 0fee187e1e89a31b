"""`_like` on every backend: syntax RE2 accepts but PostgreSQL's engine does not (a 400 there, never a 500),
and arrays, which match when one of their elements does (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from jsonserve.testing import serve

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("pattern", [r"\pL", "(?P<name>a)"])
async def test_re2_only_syntax(backend: str, pattern: str) -> None:
    async with serve({"posts": [{"id": 1, "title": "abc"}]}) as client:
        response = await client.get("/posts", params={"title_like": pattern})
    if backend == "postgres":
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_query"
    else:
        assert response.status_code == 200
        assert [post["id"] for post in response.json()] == [1]


TAGGED: dict[str, Any] = {
    "posts": [
        {"id": 1, "tags": ["react", "vue"]},
        {"id": 2, "tags": ["svelte", 3, True]},
        {"id": 3, "tags": [None, {"name": "react"}, ["react"]]},
        {"id": 4, "tags": "react"},
        {"id": 5, "tags": []},
        {"id": 6},
    ]
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"tags_like": "react"}, [1, 4]),  # an element of an array, or the string itself
        ({"tags_like": "^vue$"}, [1]),  # anchors apply to each element
        ({"tags_like": "^REACT$"}, [1, 4]),  # case-insensitive, as for a string
        ({"tags_like": "react,vue"}, []),  # not json-server 0.17's text of the array
        ({"tags_like": "^3$"}, [2]),  # numbers and booleans by their text
        ({"tags_like": "^true$"}, [2]),
        ({"tags_like": "null"}, []),  # null, objects and nested arrays never match
        ({"tags_like": ""}, [1, 2, 4]),  # an empty pattern: any array with a string, number or boolean
        ({"_where": '{"tags": {"like": "^s"}}'}, [2]),
    ],
)
async def test_like_on_an_array_matches_any_element(query: dict[str, str], expected: list[int]) -> None:
    async with serve(TAGGED) as client:
        response = await client.get("/posts", params=query)
    assert response.status_code == 200, response.text
    assert [post["id"] for post in response.json()] == expected
