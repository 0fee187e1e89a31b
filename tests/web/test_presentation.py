"""``presentation``: what REST alone reads from a request, the 1.x envelope and ``_delay``.

The query parser leaves both out of :class:`Query` (GraphQL and subscriptions have neither);
``tests/api/test_query_v1.py`` pins the envelope's bytes and ``tests/api/test_http.py`` the delay.
"""

from __future__ import annotations

import pytest

from jsonserve.errors import QueryError
from jsonserve.query import PageRequest, ParseOptions, Query, Slice, parse_params
from jsonserve.testing import serve
from jsonserve.web.presentation import MAX_DELAY_MS, Presentation, presentation

Pairs = list[tuple[str, str]]

ENVELOPES: list[tuple[str, Slice | PageRequest | None, bool]] = [
    ("no window", None, False),
    ("a slice", Slice(0, 5), False),
    ("a 0.17 page", PageRequest(2, 5), False),
    ("a 1.x page", PageRequest(2, 5, clamp=True), True),
]


@pytest.mark.parametrize(("window", "envelope"), [pytest.param(w, e, id=i) for i, w, e in ENVELOPES])
def test_only_a_clamped_page_has_the_envelope(window: Slice | PageRequest | None, envelope: bool) -> None:
    assert presentation(Query("posts", window=window), []).envelope is envelope


@pytest.mark.parametrize(
    ("compat", "pairs", "envelope"),
    [
        pytest.param("0.17", [("_page", "2")], False, id="0.17 _page"),
        pytest.param("0.17", [("_per_page", "5")], True, id="0.17 _per_page"),
        pytest.param("1", [("_page", "2")], True, id="1.x _page"),
        pytest.param("1", [("_limit", "2")], False, id="1.x _limit"),
    ],
)
def test_envelope_follows_the_parsed_page(compat: str, pairs: Pairs, envelope: bool) -> None:
    query = parse_params("posts", pairs, ParseOptions(compat=compat))
    assert presentation(query, pairs).envelope is envelope


DELAYS: list[tuple[str, Pairs, int | None]] = [
    ("none", [], None),
    ("ms", [("_delay", "250")], 250),
    ("zero", [("_delay", "0")], 0),
    ("the last wins", [("_delay", "9"), ("_delay", "20")], 20),
    ("the bound is inclusive", [("_delay", str(MAX_DELAY_MS))], MAX_DELAY_MS),
    ("spaces around", [("_delay", " 7 ")], 7),
]


@pytest.mark.parametrize(("pairs", "delay"), [pytest.param(p, d, id=i) for i, p, d in DELAYS])
def test_delay(pairs: Pairs, delay: int | None) -> None:
    assert presentation(Query("posts"), pairs) == Presentation(False, delay)


@pytest.mark.parametrize(
    ("raw", "detail", "codes"),
    [
        pytest.param("60001", "`_delay` must be at most 60000", [], id="too long"),
        pytest.param("x", "`_delay` must be a whole number ≥ 0, not 'x'", [("_delay", "invalid_integer")], id="x"),
        pytest.param("-1", "`_delay` must be a whole number ≥ 0, not '-1'", [("_delay", "invalid_integer")], id="-1"),
        pytest.param("", "`_delay` must be a whole number ≥ 0, not ''", [("_delay", "invalid_integer")], id="empty"),
    ],
)
def test_bad_delay(raw: str, detail: str, codes: list[tuple[str, str]]) -> None:
    with pytest.raises(QueryError) as caught:
        presentation(Query("posts"), [("_delay", raw)])
    assert caught.value.detail == detail
    assert [(error.path, error.code) for error in caught.value.errors] == codes


@pytest.mark.anyio
async def test_a_query_error_comes_before_a_delay_error() -> None:
    async with serve({"posts": [{"id": 1}]}) as client:
        response = await client.get("/posts", params=[("_delay", "x"), ("_page", "0")])
        assert response.status_code == 400
        assert response.json()["detail"] == "`_page` must be a whole number ≥ 1, not '0'"
        response = await client.get("/posts/1", params={"_delay": "x"})
        assert (response.status_code, response.json()["errors"][0]["path"]) == (400, "_delay")
