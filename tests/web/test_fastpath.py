"""The fast lane for plain record reads answers exactly as the routes do.

Every request below is sent to an app with the lane and to one without it; status, headers (but
``date``) and body must be identical. A spy records which requests the lane answered itself, so the
comparison cannot pass because the lane never ran.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jsonserve import testing
from jsonserve.config import Settings
from jsonserve.service import Service, build_service
from jsonserve.storage.file.memory import MemoryStorage
from jsonserve.storage.sql.sqlite import SqliteStorage
from jsonserve.testing import backends, serve
from jsonserve.web import fastpath
from jsonserve.web.app import create_app
from jsonserve.web.frontlane import FrontLane
from jsonserve.web.inprocess import open_client
from tests.api.conftest import require_postgres

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {
    "posts": [
        {"id": 1, "title": "héllo ✓", "userId": 1},
        {"id": "a b", "title": "spaced id"},
        {"id": 3, "body": "x" * 2000},
    ],
    "comments": [{"id": 1, "postId": 1}],
    "profile": {"name": "typicode"},
}
ORIGIN = {"Origin": "https://app.example"}
REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/posts/1", {}),
    ("GET", "/posts/a%20b", {}),
    ("GET", "/posts/3", {"Accept-Encoding": "identity"}),
    ("GET", "/posts/3", {"Accept-Encoding": "gzip"}),
    ("GET", "/posts/1", {"Accept-Encoding": "gzip, deflate"}),
    ("GET", "/posts/1", ORIGIN),
    ("GET", "/posts/1", {"If-None-Match": '"nope"'}),
    ("GET", "/posts/99", {}),
    ("GET", "/profile/1", {}),
    ("GET", "/nothing/1", {}),
    ("GET", "/posts/1?_embed=comments", {}),
    ("GET", "/posts/1/", {}),
    ("HEAD", "/posts/1", {}),
    ("GET", "/comments/1", {}),
    ("GET", "/posts/3", {**ORIGIN, "Accept-Encoding": "gzip"}),
    ("GET", "/posts/1", {"Origin": "https://elsewhere.example"}),
    ("OPTIONS", "/posts/1", {**ORIGIN, "Access-Control-Request-Method": "GET"}),
    ("GET", "/__docs/swagger-ui.css", {}),
    ("GET", "/posts/99", ORIGIN),
    ("GET", "/posts/1?_embed=comments&_expand=nothing", {"Accept-Encoding": "gzip"}),
    ("GET", "/posts/1?_delay=1", {}),
    ("GET", "/posts/1?_embed=comments&_embed=", {}),
    ("GET", "/posts/1?_limit=x", {}),
    ("GET", "/posts/99?_embed=comments", {}),
    ("GET", "/comments/1?_expand=post", ORIGIN),
]
ANSWERED_BY_THE_LANE = {0, 1, 2, 3, 4, 5, 10, 13, 14, 15, 19, 21, 24}
Seen = tuple[int, list[tuple[str, str]], bytes]


def _seen(response: httpx.Response) -> Seen:
    # The request id differs by request (and by app: each has its own prefix); everything else must not.
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in ("date", "x-request-id"))
    return response.status_code, headers, response.content


@contextlib.asynccontextmanager
async def _client(service: Service, settings: Settings, *, fast_reads: bool) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, service, manage_storage=False, fast_reads=fast_reads)
    async with open_client(app) as client:
        yield client


@pytest.mark.parametrize("cors_origins", [("*",), None, ("https://app.example",)])
async def test_the_lane_answers_as_the_routes(answered: list[str], cors_origins: tuple[str, ...] | None) -> None:
    settings = Settings(cors_origins=cors_origins)
    service = build_service(settings, MemoryStorage(copy.deepcopy(DATA)))
    await service.storage.open()
    await _compare(service, settings, answered)


@pytest.mark.parametrize("backend", [b for b in testing.BACKENDS if b != "memory"])
async def test_the_lane_answers_as_the_routes_on_every_backend(answered: list[str], backend: str) -> None:
    # The SQL backends read through their own paths (a synchronous SQLite reader, stored statements):
    # the lane must still give the routes' very bytes and headers there.
    if backend == "postgres":
        require_postgres()
    settings = Settings(cors_origins=("https://app.example",))
    async with backends._storage(DATA, backend, settings) as storage:
        assert storage is not None
        await storage.open()
        try:
            await _compare(build_service(settings, storage), settings, answered)
        finally:
            await storage.aclose()


async def _compare(service: Service, settings: Settings, answered: list[str]) -> None:
    seen: dict[bool, list[Seen]] = {}
    lane: set[int] = set()
    for fast_reads in (True, False):
        async with _client(service, settings, fast_reads=fast_reads) as client:
            seen[fast_reads] = []
            for index, (method, path, headers) in enumerate(REQUESTS):
                before = len(answered)
                seen[fast_reads].append(_seen(await client.request(method, path, headers=headers)))
                if len(answered) > before:
                    lane.add(index)
    for index, request in enumerate(REQUESTS):
        assert seen[True][index] == seen[False][index], request
    assert lane == ANSWERED_BY_THE_LANE


async def test_a_storage_outage_is_answered_by_the_lane_as_by_the_routes(
    answered: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A real SQLite storage whose file is no longer a database once open: a read is a 503
    # (StorageUnavailable), which the lane must answer itself, not hand over (a second failed read).
    settings = Settings()
    storage = SqliteStorage(str(tmp_path / "db.sqlite"), seed=copy.deepcopy(DATA))
    await storage.open()
    await storage.aclose()  # no pooled connection left: the next read opens the file again
    (tmp_path / "db.sqlite").write_bytes(b"not a database " * 100)
    service = build_service(settings, storage)
    seen: dict[bool, Seen] = {}
    try:
        for fast_reads in (True, False):
            async with _client(service, settings, fast_reads=fast_reads) as client:
                seen[fast_reads] = _seen(await client.get("/posts/1", headers=ORIGIN))
    finally:
        await storage.aclose()
    assert seen[True] == seen[False]
    status, headers, body = seen[True]
    assert status == 503
    assert ("content-type", "application/problem+json") in headers and ("retry-after", "1") in headers
    assert ("access-control-allow-origin", "*") in headers
    assert b'"storage_unavailable"' in body
    assert answered == ["/posts/1"]
    assert sum("read failed" in record.message for record in caplog.records) == 2  # one read per app


async def test_an_unexpected_error_in_the_lane_is_the_routes_500(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings()
    service = build_service(settings, MemoryStorage(copy.deepcopy(DATA)))
    await service.storage.open()

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    service.get = broken  # type: ignore[method-assign, assignment]
    seen: dict[bool, Seen] = {}
    for fast_reads in (True, False):
        async with _client(service, settings, fast_reads=fast_reads) as client:
            seen[fast_reads] = _seen(await client.get("/posts/1", headers=ORIGIN))
            assert (await client.get("/posts")).status_code == 200  # the app still answers
    assert seen[True] == seen[False]
    assert seen[True][0] == 500 and ("access-control-allow-origin", "*") in seen[True][1]
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.message for record in errors] == ["unexpected error"] * 2  # logged once per request


async def test_the_lane_is_off_with_a_base_path(answered: list[str]) -> None:
    async with serve(DATA, base="/api") as client:
        response = await client.get("/api/posts/1")
        assert response.status_code == 200
        assert response.json()["title"] == "héllo ✓"
    assert answered == []


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "target"),
    [
        ("GET", "/posts/1", b"", [], ("posts", "1")),
        ("GET", "/posts/a b", b"", [(b"origin", b"https://app.example")], ("posts", "a b")),
        ("GET", "/posts/1", b"", [(b"accept-encoding", b"gzip")], ("posts", "1")),
        ("HEAD", "/posts/1", b"", [], None),
        ("PUT", "/posts/1", b"", [], None),
        ("GET", "/posts/1", b"_embed=comments", [], ("posts", "1")),
        ("GET", "/posts", b"", [], None),
        ("GET", "/posts/1/comments", b"", [], None),
        ("GET", "/posts/1/", b"", [], None),
        ("GET", "//1", b"", [], None),
        ("GET", "/__docs/app.css", b"", [], None),
        ("GET", "/posts/1", b"", [(b"if-none-match", b'"x"')], None),
    ],
)
def test_which_requests_may_take_the_lane(
    method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]], target: tuple[str, str] | None
) -> None:
    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": headers}
    assert fastpath.lane_target(scope, frozenset({"__docs"})) == target


def test_a_proxy_prefix_or_a_websocket_never_takes_the_lane() -> None:
    scope = {"type": "http", "method": "GET", "path": "/posts/1", "query_string": b"", "headers": []}
    assert fastpath.lane_target(scope) == ("posts", "1")
    assert fastpath.lane_target({**scope, "root_path": "/proxy"}) is None
    assert fastpath.lane_target({**scope, "type": "websocket"}) is None


# -- the front lane: the same answers, ids, metrics and log lines as the stack's -------------------------------

FRONT_REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("/posts/1", {"X-Request-ID": "trace-1"}),
    ("/posts/3", {"Accept-Encoding": "gzip"}),  # 2 KB: compressed
    ("/posts/1", {"Accept-Encoding": "gzip"}),  # small: sent as it is
    ("/posts?_page=1&_limit=2", {"X-Request-ID": "x" * 129}),  # an insane id: a new one
    ("/posts/1?_embed=comments&token=s3cr3t", {}),  # the log redacts the token
    ("/posts/1", ORIGIN),  # the stack's: CORS
    ("/posts/99", {}),  # the stack's: a 404
]
FRONT_ANSWERED = ["/posts/1", "/posts/3", "/posts/1", "/posts", "/posts/1"]


async def _observed(
    settings: Settings, *, fast_reads: bool, caplog: pytest.LogCaptureFixture
) -> tuple[list[Seen], list[dict[str, Any]], dict[tuple[str, str], float], list[str]]:
    service = build_service(settings, MemoryStorage(copy.deepcopy(DATA)))
    await service.storage.open()
    caplog.clear()
    async with _client(service, settings, fast_reads=fast_reads) as client:
        responses = [await client.get(path, headers=headers) for path, headers in FRONT_REQUESTS]
        metrics = (await client.get("/metrics")).text
    seen = [_seen(response) for response in responses]
    ids = [response.headers["x-request-id"] for response in responses]
    lines = [dict(r.access) for r in caplog.records if r.name == "jsonserve.access"][: len(FRONT_REQUESTS)]  # type: ignore[attr-defined]
    for line in lines:
        line.pop("duration_ms")
        line["request_id"] = line["request_id"] if line["request_id"] in ("trace-1",) else "generated"
    counts = {
        (s.labels["route"], s.labels["status"]): s.value
        for f in text_string_to_metric_families(metrics)
        if f.name == "jsonserve_http_requests"
        for s in f.samples
        if s.name.endswith("_total") and s.labels["route"] != "/metrics"
    }
    return seen, lines, counts, ids


async def test_the_front_lane_answers_ids_counts_and_logs_as_the_stack(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="jsonserve.access")
    settings = Settings(cors_origins=("*",), metrics=True)
    fronted: list[str] = []
    original = FrontLane._send

    async def spy(self: FrontLane, scope: Any, *args: Any) -> None:
        fronted.append(scope["path"])
        await original(self, scope, *args)

    monkeypatch.setattr(FrontLane, "_send", spy)
    front = await _observed(settings, fast_reads=True, caplog=caplog)
    assert fronted == FRONT_ANSWERED
    stack = await _observed(settings, fast_reads=False, caplog=caplog)  # no lane at all: the routes
    assert front[:3] == stack[:3]
    ids = front[3]
    assert ids[0] == "trace-1" and ids[3] != "x" * 129
    prefixes = {rid.rsplit("-", 1)[0] for rid in ids[1:]}
    assert len(prefixes) == 1, ids  # one sequence of ids, whichever layer gave them
    assert front[1][4]["path"] == "/posts/1?_embed=comments&token=[redacted]"
