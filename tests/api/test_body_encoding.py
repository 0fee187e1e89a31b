"""Request bodies with ``Content-Encoding`` (issue 13): gzip and deflate are decoded, other codings are a 415.

A body is never stored under a wrong label: one labelled gzip that is not gzip is a 400, a coding the
server cannot decode is a 415 with ``Accept-Encoding``, and ``--max-body`` bounds the decoded size
too (a zip bomb is a 413). Every refusal leaves the data as it was.

Decoding happens above the storage: these run on the memory backend (``ABOVE_STORAGE``), except the
singular-and-nested-routes test, the end-to-end run on every backend.
"""

from __future__ import annotations

import functools
import gzip
import time
import zlib
from typing import Any

import httpx
import pytest

from jsonserve.testing import serve
from tests.api.conftest import ABOVE_STORAGE

pytestmark = pytest.mark.anyio

JSON_HEADERS = {"Content-Type": "application/json"}
BODY = b'{"title": "compressed", "views": 12}'


def gz(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, level, mtime=0)  # the same bytes on every xdist worker


def headers(coding: str) -> dict[str, str]:
    return {**JSON_HEADERS, "Content-Encoding": coding}


async def assert_unchanged(client: httpx.AsyncClient, before: Any) -> None:
    assert (await client.get("/db")).json() == before


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        pytest.param("gzip", gz(BODY), id="gzip"),
        pytest.param("GZip", gz(BODY), id="gzip-any-case"),
        pytest.param("x-gzip", gz(BODY), id="x-gzip"),
        pytest.param("deflate", zlib.compress(BODY), id="deflate"),
        pytest.param("identity", BODY, id="identity"),
        pytest.param("gzip, gzip", gz(gz(BODY)), id="gzip-twice"),
        pytest.param("deflate, gzip", gz(zlib.compress(BODY)), id="deflate-then-gzip"),  # in the order applied
        pytest.param("gzip", gz(BODY[:10]) + gz(BODY[10:]), id="two-gzip-members"),
    ],
)
@ABOVE_STORAGE
@pytest.mark.parametrize(("method", "path"), [("POST", "/posts"), ("PUT", "/posts/1"), ("PATCH", "/posts/1")])
async def test_gzip_and_deflate_bodies_are_decoded(
    client: httpx.AsyncClient, method: str, path: str, coding: str, body: bytes
) -> None:
    response = await client.request(method, path, content=body, headers=headers(coding))
    assert response.status_code in (200, 201), response.text
    stored = (await client.get(f"/posts/{response.json()['id']}")).json()
    assert stored["title"] == "compressed"
    assert stored["views"] == 12


async def test_a_compressed_body_on_the_singular_and_nested_routes(client: httpx.AsyncClient) -> None:
    assert (await client.put("/profile", content=gz(b'{"name": "z"}'), headers=headers("gzip"))).json() == {"name": "z"}
    created = await client.post(
        "/posts/1/comments", content=zlib.compress(b'{"body": "b"}'), headers=headers("deflate")
    )
    assert created.status_code == 201
    assert created.json()["postId"] == 1


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        pytest.param("gzip", BODY, id="plain-json-labelled-gzip"),
        pytest.param("deflate", BODY, id="plain-json-labelled-deflate"),
        pytest.param("gzip", zlib.compress(BODY), id="deflate-labelled-gzip"),
        pytest.param("deflate", gz(BODY), id="gzip-labelled-deflate"),
        pytest.param("gzip", gz(BODY)[:-9], id="truncated-gzip"),
        pytest.param("gzip", gz(BODY) + b"garbage", id="gzip-then-garbage"),
        pytest.param("deflate", zlib.compress(BODY) + b"x", id="deflate-then-bytes"),
        pytest.param("gzip", b"", id="empty-gzip"),
        pytest.param("gzip, gzip", gz(BODY), id="gzip-once-labelled-twice"),
    ],
)
@ABOVE_STORAGE
async def test_a_body_that_is_not_what_its_label_says_is_400(
    client: httpx.AsyncClient, coding: str, body: bytes
) -> None:
    before = (await client.get("/db")).json()
    response = await client.post("/posts", content=body, headers=headers(coding))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_body"
    assert coding.split(",")[0] in response.json()["detail"]
    await assert_unchanged(client, before)


@ABOVE_STORAGE
@pytest.mark.parametrize("coding", ["br", "compress", "zstd", "x-unknown", "gzip, br", "gzip, gzip, gzip"])
@pytest.mark.parametrize(("method", "path"), [("POST", "/posts"), ("PUT", "/posts/1"), ("PATCH", "/profile")])
async def test_an_unsupported_coding_is_415_listing_the_supported_ones(
    client: httpx.AsyncClient, method: str, path: str, coding: str
) -> None:
    before = (await client.get("/db")).json()
    response = await client.request(method, path, content=BODY, headers=headers(coding))
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["accept-encoding"] == "gzip, deflate"
    problem = response.json()
    assert problem["code"] == "unsupported_encoding"
    assert "gzip or deflate" in problem["detail"]
    await assert_unchanged(client, before)


@functools.cache
def bomb(coding: str, mebibytes: int) -> bytes:
    """``mebibytes`` MiB of spaces, compressed without holding them in memory."""
    encoder = zlib.compressobj(9, wbits=31 if coding == "gzip" else 15)
    block = b" " * (1024 * 1024)
    return b"".join(encoder.compress(block) for _ in range(mebibytes)) + encoder.flush()


@ABOVE_STORAGE
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_a_zip_bomb_is_413_without_being_inflated(coding: str) -> None:
    body = bomb(coding, 256)  # 256 MiB once inflated
    assert len(body) < 1024 * 1024  # far under --max-body (1 MiB) on the wire
    async with serve({"posts": []}) as client:
        started = time.monotonic()
        response = await client.post("/posts", content=body, headers=headers(coding))
        elapsed = time.monotonic() - started
        assert response.status_code == 413, response.text
        assert "--max-body" in response.json()["detail"]
        assert (await client.get("/posts")).json() == []
    assert elapsed < 5, f"{elapsed:.1f} s: the body was inflated further than the limit"


@ABOVE_STORAGE
async def test_max_body_applies_to_the_decoded_size() -> None:
    body = b'{"text": "' + b"x" * 2000 + b'"}'
    async with serve({"posts": []}, max_body=1024) as client:
        compressed = gz(body)
        assert len(compressed) < 1024
        response = await client.post("/posts", content=compressed, headers=headers("gzip"))
        assert response.status_code == 413
        fits = gz(b'{"text": "' + b"x" * 1000 + b'"}')
        assert (await client.post("/posts", content=fits, headers=headers("gzip"))).status_code == 201
