"""What a new user reads: the home page, the 413 message, and ``--delay`` on every API answer (issue 13)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from jsonserve.testing import serve

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:3000"
DOCS_LINKS = ("/docs", "/redoc", "/openapi.json")
DELAY_MS = 200


def _count(home: str, name: str) -> str:
    found = re.search(rf'>/{re.escape(name)}</a> <span class="count">([^<]*)</span>', home)
    assert found is not None, f"/{name} is not listed:\n{home}"
    return found.group(1)


def _links(home: str) -> set[str]:
    return set(re.findall(r'href="([^"]*)"', home))


# -- the home page ---------------------------------------------------------------------------------------


async def test_counts_use_the_singular_for_one_record() -> None:
    async with serve({"one": [{"id": 1}], "none": [], "two": [{"id": 1}, {"id": 2}], "me": {}}) as client:
        home = (await client.get("/")).text
    assert (_count(home, "one"), _count(home, "none"), _count(home, "two")) == ("1 record", "0 records", "2 records")
    assert _count(home, "me") == "object"
    assert "1 records" not in home


async def test_the_docs_pages_are_links(db: dict[str, Any]) -> None:
    async with serve(db) as client:
        home = (await client.get("/")).text
        assert {ORIGIN + page for page in DOCS_LINKS} <= _links(home)
        assert "will live" not in home
        for page in DOCS_LINKS:  # each link leads to a page that is there
            assert (await client.get(page)).status_code == 200


async def test_without_docs_the_home_page_names_no_docs_page(db: dict[str, Any]) -> None:
    async with serve(db, docs=False) as client:
        home = (await client.get("/")).text
        for page in DOCS_LINKS:
            assert page not in home
            assert (await client.get(page)).status_code == 404


async def test_a_collection_named_docs_is_listed_not_linked_as_the_docs_page() -> None:
    async with serve({"docs": [{"id": 1}], "posts": []}) as client:
        home = (await client.get("/")).text
    assert _count(home, "docs") == "1 record"
    assert home.count(f'href="{ORIGIN}/docs"') == 1  # the collection's entry only
    assert "Swagger UI" not in home
    assert f'href="{ORIGIN}/redoc"' in home


async def test_under_base_the_docs_links_carry_it(db: dict[str, Any]) -> None:
    async with serve(db, base="/api/v1") as client:
        home = (await client.get("/api/v1/")).text
        assert {f"{ORIGIN}/api/v1{page}" for page in DOCS_LINKS} <= _links(home)
        for page in DOCS_LINKS:
            assert (await client.get(f"/api/v1{page}")).status_code == 200


# -- paging values: the OpenAPI document states no maximum, so none is refused -----------------------------


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ({"_page": "9" * 40}, []),
        ({"_page": "9" * 40, "_limit": "9" * 40}, []),
        ({"_per_page": "9" * 40}, [1, 2, 3]),  # the envelope: the one page there is
        ({"_page": "9" * 40, "_per_page": "2"}, [3]),  # 1.x pages past the end serve the last one
        ({"_start": "9" * 40}, []),
        ({"_start": "1", "_end": "9" * 40}, [2, 3]),
        ({"_start": "9" * 19, "_limit": "9" * 40}, []),
        ({"_limit": "0" * 30 + "2"}, [1, 2]),
    ],
)
async def test_a_huge_paging_value_is_read_as_the_largest_one(
    client: httpx.AsyncClient, query: dict[str, str], ids: list[int]
) -> None:
    response = await client.get("/posts", params=query)
    assert response.status_code == 200, response.text
    records = response.json()
    records = records["data"] if isinstance(records, dict) else records
    assert [record["id"] for record in records] == ids


# -- 413 ------------------------------------------------------------------------------------------------


async def test_a_body_over_the_limit_names_the_option(db: dict[str, Any]) -> None:
    async with serve(db, max_body=100) as client:
        body = b'{"title": "' + b"x" * 200 + b'"}'
        declared = await client.post("/posts", content=body, headers={"Content-Type": "application/json"})

        async def chunks() -> Any:
            yield body  # no Content-Length: the limit is found while reading

        streamed = await client.post("/posts", content=chunks(), headers={"Content-Type": "application/json"})
        assert len((await client.get("/posts")).json()) == 3  # nothing stored
    for response in (declared, streamed):
        assert response.status_code == 413
        detail = response.json()["detail"]
        assert "--max-body" in detail, detail
        assert "100" in detail


# -- --delay: every API answer, /db and errors included ---------------------------------------------------------

DELAYED = [
    ("GET", "/db"),
    ("HEAD", "/db"),
    ("GET", "/posts"),
    ("GET", "/posts/1"),
    ("GET", "/posts/1/comments"),
    ("GET", "/profile"),
    ("POST", "/posts"),
    ("PATCH", "/posts/1"),
    ("GET", "/nosuchthing"),  # 404
    ("GET", "/posts/99"),  # 404
    ("GET", "/posts?_page=0"),  # 400
    ("DELETE", "/db"),  # 405
    ("OPTIONS", "/posts"),
]


@pytest.mark.parametrize(("method", "path"), DELAYED)
async def test_the_delay_setting_delays_every_api_answer(db: dict[str, Any], method: str, path: str) -> None:
    async with serve(db, delay_ms=DELAY_MS) as client:
        started = time.monotonic()
        response = await client.request(method, path, json={"title": "x"} if method in ("POST", "PATCH") else None)
        elapsed = time.monotonic() - started
    assert response.status_code < 500
    assert elapsed >= DELAY_MS / 1000, f"{method} {path} answered {response.status_code} in {elapsed:.3f}s"


@pytest.mark.parametrize("path", ["/db", "/posts/1"])
async def test_the_delay_parameter_wins_over_the_setting(db: dict[str, Any], path: str) -> None:
    async with serve(db, delay_ms=5000) as client:
        started = time.monotonic()
        response = await client.get(f"{path}?_delay=0")
        assert time.monotonic() - started < 2
        assert response.status_code == 200
    async with serve(db) as client:
        started = time.monotonic()
        assert (await client.get(f"{path}?_delay={DELAY_MS}")).status_code == 200
        assert time.monotonic() - started >= DELAY_MS / 1000


async def test_a_bad_delay_parameter_is_still_400_after_the_setting(db: dict[str, Any]) -> None:
    async with serve(db, delay_ms=DELAY_MS) as client:
        started = time.monotonic()
        response = await client.get("/posts?_delay=x")
        assert time.monotonic() - started >= DELAY_MS / 1000
    assert (response.status_code, response.json()["errors"][0]["path"]) == (400, "_delay")


async def test_static_files_are_not_api_answers(db: dict[str, Any], tmp_path: Path) -> None:
    public = tmp_path / "public"
    (public / "css").mkdir(parents=True)
    (public / "css" / "app.css").write_text("body {}")
    async with serve(db, static_dir=public, delay_ms=5000) as client:
        started = time.monotonic()
        response = await client.get("/css/app.css")
        assert time.monotonic() - started < 2
    assert response.text == "body {}"
