"""Operations in process: rate limits, chaos, /health /ready /metrics, request ids and the access log.

The same features on a real socket (several instances sharing a Redis budget, /ready following a
PostgreSQL server, JSON logs) are in ``tests/cli/test_operations_cli.py``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.types import Message

from jsonserve.config import Settings
from jsonserve.ratelimit import RateLimiter, RateLimitError, parse_policies
from jsonserve.realtime.hub import Hub
from jsonserve.server.lifecycle import uvicorn_options
from jsonserve.service import build_service
from jsonserve.storage import MemoryStorage
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.web.app import create_app
from jsonserve.web.chaos import Chaos, take_override
from jsonserve.web.inprocess import open_client
from jsonserve.web.limiting import RateLimit, policy_field, rate_limit_headers
from jsonserve.web.paths import Paths
from tests.support.redis import require_redis

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {"posts": [{"id": 1, "title": "a"}], "profile": {"name": "x"}}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "ratelimit", "ratelimit-policy")


@contextlib.asynccontextmanager
async def running(
    data: dict[str, Any] | None = None, hub: Hub | None = None, **options: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    """An in-process client of an app over a copy of ``data`` (memory storage) and ``options`` (and ``hub``)."""
    settings = Settings(**options)
    service = build_service(settings, MemoryStorage(copy.deepcopy(data or DATA)), hub)
    app = create_app(settings, service)
    async with open_client(app) as client:
        yield client, app


# -- rate limits ---------------------------------------------------------------------------------------------


async def test_every_counted_answer_reports_the_nearest_budget_and_beyond_it_a_429() -> None:
    async with running(rate_limit="3/minute;10/second", rate_limit_writes="1/minute") as (client, _app):
        answers = [await client.get("/posts/1") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
        first = answers[0].headers
        assert first["x-ratelimit-limit"] == "3"  # the minute's budget is nearer to refusing than the second's
        assert first["ratelimit-policy"] == '"all-60s";q=3;w=60, "all-1s";q=10;w=1'
        assert first["ratelimit"] == '"all-60s";r=2;t=60'
        assert 0 <= int(first["x-ratelimit-reset"]) - math.ceil(time.time()) <= 60
        refused = await client.get("/posts")  # any route counts; the fast lane's and the routes' alike
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "too_many_requests"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"
        # The operations endpoints are never counted (a probe spends no client's budget).
        for _ in range(5):
            health = await client.get("/health")
            assert health.status_code == 200
            assert not any(name in health.headers for name in RATE_HEADERS)


async def test_writes_spend_their_own_budget_too_and_a_refused_write_stores_nothing() -> None:
    async with running(rate_limit="100/minute", rate_limit_writes="2/minute") as (client, _app):
        assert (await client.post("/posts", json={"title": "b"})).status_code == 201
        created = await client.post("/posts", json={"title": "c"})
        assert created.headers["ratelimit"] == '"writes-60s";r=0;t=60'
        assert created.headers["ratelimit-policy"] == '"all-60s";q=100;w=60, "writes-60s";q=2;w=60'
        refused = await client.post("/posts", json={"title": "d"})
        assert refused.status_code == 429
        assert "2 writes per 60 s" in refused.json()["detail"]
        read = await client.get("/posts")  # reads are not writes: their budget is the general one
        assert read.status_code == 200
        assert [post["title"] for post in read.json()] == ["a", "b", "c"]
        assert read.headers["ratelimit"] == '"all-60s";r=96;t=60'


async def test_a_signed_in_user_spends_their_own_budget_and_anonymous_callers_their_addresses() -> None:
    async with running({"posts": []}, auth=True, rate_limit="4/minute") as (client, _app):
        tokens = []
        for email in ("ada@example.com", "linus@example.com"):  # two anonymous requests from the address
            body = {"email": email, "password": "correct horse battery"}
            tokens.append((await client.post("/register", json=body)).json()["accessToken"])
        ada, linus = ({"Authorization": f"Bearer {token}"} for token in tokens)
        assert [(await client.get("/posts", headers=ada)).status_code for _ in range(5)] == [200] * 4 + [429]
        assert (await client.get("/posts", headers=linus)).headers["x-ratelimit-remaining"] == "3"
        assert (await client.get("/posts")).headers["x-ratelimit-remaining"] == "1"


async def test_other_transports_count_through_the_apps_limiter() -> None:
    async with running(rate_limit="2/minute") as (client, app):
        limiter: RateLimiter = app.state.rate_limiter
        assert (await limiter.hit("address:127.0.0.1")).allowed  # type: ignore[union-attr]  # e.g. a WebSocket message
        assert (await client.get("/posts/1")).headers["x-ratelimit-remaining"] == "0"
        refused = await limiter.hit("address:127.0.0.1")
        assert refused is not None and not refused.allowed and refused.retry_after >= 1
        assert limiter.refused == 1
    async with running() as (_client, app):
        assert app.state.rate_limiter is None  # no --rate-limit: nothing to count


async def test_a_websocket_handshake_over_budget_is_refused_with_a_429() -> None:
    service = build_service(Settings(), MemoryStorage(copy.deepcopy(DATA)))
    reached: list[str] = []

    async def app(scope: Any, _receive: Any, _send: Any) -> None:
        reached.append(scope["type"])

    limiter = RateLimiter(parse_policies("1/minute"))
    layer = RateLimit(app, limiter, Paths(service))
    extension: dict[str, dict[str, object]] = {"websocket.http.response": {}}
    for extensions in (extension, {}):
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "websocket.connect"}

        async def send(message: Message, sent: list[Message] = sent) -> None:
            sent.append(message)

        scope = {"type": "websocket", "path": "/realtime", "headers": [], "client": ("203.0.113.7", 1)}
        await layer({**scope, "extensions": extensions}, receive, send)
        if extensions:  # the first handshake passed: this one is refused with an HTTP answer
            assert reached == ["websocket"]
            await layer({**scope, "extensions": extensions}, receive, send)
            assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 429
            assert (b"retry-after", b"60") in sent[0]["headers"]
        else:  # no HTTP answer possible: closed before the handshake completes
            assert sent == [{"type": "websocket.close", "code": 1008, "reason": "rate limit exceeded"}]
    await limiter.aclose()


async def test_a_window_opens_at_the_first_hit_and_its_count_starts_over_when_it_ends() -> None:
    now = [1000.0]
    limiter = RateLimiter(parse_policies("2/minute"), clock=lambda: now[0])
    first, second, third = [await limiter.hit("address:a") for _ in range(3)]
    assert first and second and third
    assert (first.remaining, second.remaining, third.allowed, third.reset, third.reset_at) == (1, 0, False, 60, 1060)
    now[0] = 1030.5
    waiting = await limiter.hit("address:a")
    assert waiting and (waiting.allowed, waiting.retry_after) == (False, 30)
    assert (await limiter.hit("address:b")).remaining == 1  # type: ignore[union-attr]  # each client its own window
    now[0] = 1060.0  # the window has ended: a new one opens (and the ended ones are swept away)
    again = await limiter.hit("address:a")
    assert again and (again.allowed, again.remaining, again.reset_at) == (True, 1, 1120)
    assert [policy.key_for("address:a") for policy in limiter.policies] == [
        policy.item.key_for("address:a", "all")
        for policy in limiter.policies  # limits' keys (shared in Redis)
    ]


async def test_ended_windows_of_every_policy_are_swept_as_a_new_one_opens() -> None:
    now = [1000.0]
    limiter = RateLimiter(parse_policies("5/minute;2/second"), parse_policies("1/hour", "writes"), clock=lambda: now[0])
    for client in ("a", "b", "c"):
        await limiter.hit(f"address:{client}", write=True)
    assert [len(table) for table in limiter._memory.tables] == [3, 3, 3]
    now[0] = 1000.0 + 61  # the minute's and the second's windows ended (and SWEEP_EVERY passed): not the hour's
    await limiter.hit("address:d")
    assert [len(table) for table in limiter._memory.tables] == [1, 1, 3]


async def test_the_memory_counts_decide_as_limits_does_in_redis() -> None:
    """The hand-written memory windows and ``limits``' Redis storage: the same decisions for the same hits."""
    redis = require_redis()
    policies, writes = parse_policies("5/minute;4/hour"), parse_policies("2/minute", "writes")
    memory, shared = RateLimiter(policies, writes), RateLimiter(policies, writes, redis_url=redis)
    key = f"address:test-{uuid.uuid4().hex}"
    try:
        refusing = []
        for write in (False, True, True, True, False, False, False):
            here, there = memory.hit_in_memory(key, write=write), await shared.hit(key, write=write)
            assert here and there
            assert (here.allowed, here.policy, here.remaining) == (there.allowed, there.policy, there.remaining)
            assert abs(here.reset_at - there.reset_at) <= 1 and here.policies == there.policies
            refusing += [] if here.allowed else [here.policy.name]
        assert refusing == ["writes-60s", "all-3600s", "all-60s", "all-60s"]  # a refused hit counts no further
        assert memory.refused == shared.refused == 4
    finally:
        await memory.aclose()
        await shared.aclose()


async def test_the_layer_sends_the_headers_of_rate_limit_headers() -> None:
    """The layer builds them from pieces encoded once: the very headers ``rate_limit_headers`` gives."""
    now = [1000.0]
    writes = parse_policies("20 per 2 hours", "writes")
    limiter = RateLimiter(parse_policies("100/minute;10/second"), writes, clock=lambda: now[0])
    twin = RateLimiter(limiter.policies, writes, clock=lambda: now[0])  # counts the same hits

    async def app(_scope: Any, _receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    layer = RateLimit(app, limiter, Paths(build_service(Settings(), MemoryStorage(copy.deepcopy(DATA)))))
    for write in (False, True):
        for hits in range(12):
            now[0] += 0.3
            sent: list[Message] = []

            async def send(message: Message, sent: list[Message] = sent) -> None:
                sent.append(message)

            client = ("203.0.113.7", 1)
            scope = {"type": "http", "method": "POST" if write else "GET", "path": "/posts", "client": client}
            await layer({**scope, "headers": [], "query_string": b""}, None, send)  # type: ignore[arg-type]
            expected = await twin.hit("address:203.0.113.7", write=write)
            assert expected is not None, hits
            field = policy_field(limiter.applicable(write=write))
            assert sent[0]["headers"] == rate_limit_headers(expected, field), (write, hits)


@pytest.mark.parametrize("text", ["lots", "10/fortnight", "0/second", "10/second;"])
def test_a_rate_limit_that_does_not_parse_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(RateLimitError, match=r"100/minute|at least 1"):
        parse_policies(text)


async def test_two_limiters_on_one_redis_share_a_budget() -> None:
    redis = require_redis()
    key = f"address:test-{uuid.uuid4().hex}"
    first, second = (RateLimiter(parse_policies("3/minute"), redis_url=redis) for _ in range(2))
    try:
        decisions = [await limiter.hit(key) for limiter in (first, second, first, second)]
        assert [(d.allowed, d.remaining) for d in decisions if d] == [(True, 2), (True, 1), (True, 0), (False, 0)]
        assert await first.check() is None
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_unreachable_redis_serves_requests_and_makes_the_app_not_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Redis lost while serving: the realtime hub, which refuses to START without it (tests/cli/test_startup.py),
    # is kept in memory here, so that what is tested is the rate limits' behaviour alone.
    redis_url = "redis://127.0.0.1:9/0"
    async with running(rate_limit="1/minute", redis_url=redis_url, hub=Hub()) as (client, _app):
        answers = [await client.get("/posts/1") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]  # the limits open, the API stays up
        assert "x-ratelimit-limit" not in answers[0].headers
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["code"] == "not_ready"
        assert ready.json()["problems"][0].startswith("rate limits: the rate-limit store cannot be reached")
    warnings = [r for r in caplog.records if r.name == "jsonserve.ratelimit"]
    assert len(warnings) == 1  # once a minute, not once a request


# -- chaos -----------------------------------------------------------------------------------------------------


async def _statuses(seed: int, requests: int = 1000, **options: Any) -> list[int]:
    async with running(chaos=0.1, seed=seed, **options) as (client, _app):
        return [(await client.get("/posts/1")).status_code for _ in range(requests)]


async def test_chaos_fails_its_fraction_of_requests_in_a_sequence_the_seed_repeats() -> None:
    statuses = await _statuses(seed=42)
    failures = statuses.count(503)
    # Binomial(1000, 0.1): mean 100, standard deviation 9.5; five of them either side.
    assert 52 <= failures <= 148
    assert set(statuses) == {200, 503}
    assert await _statuses(seed=42) == statuses  # same seed, same sequence
    assert await _statuses(seed=43) != statuses


async def test_a_chaos_503_is_decided_before_the_request_so_no_write_is_applied() -> None:
    hub = Hub()
    settings = Settings(chaos=0.5, seed=7)
    service = build_service(settings, MemoryStorage(copy.deepcopy(DATA)), hub)
    async with open_client(create_app(settings, service)) as client:
        answers = [await client.post("/posts", json={"title": str(n)}) for n in range(60)]
        created = [a for a in answers if a.status_code == 201]
        failed = [a for a in answers if a.status_code == 503]
        assert len(created) + len(failed) == 60 and created and failed
        assert failed[0].json()["code"] == "chaos" and failed[0].headers["retry-after"] == "1"
        stored = (await client.get("/posts?_chaos=0")).json()
        assert len(stored) == 1 + len(created)  # every 503 stored nothing
        assert hub.actions["created"] == len(created)


async def test_chaos_per_request_override_and_the_pages_it_leaves_alone() -> None:
    async with running(chaos=1.0) as (client, _app):
        assert (await client.get("/posts/1")).status_code == 503
        plain = await client.get("/posts?_chaos=0")  # off for this request, and taken off the query string
        assert plain.status_code == 200 and plain.json() == DATA["posts"]
        assert (await client.get("/posts/1?_chaos=0")).status_code == 200
        for path in ("/health", "/ready", "/", "/docs", "/openapi.json", "/realtime/demo"):
            assert (await client.get(path)).status_code == 200, path
        bad = await client.get("/posts?_chaos=2")
        assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "_chaos"
    async with running(chaos=0.0) as (client, _app):
        assert [(await client.get("/profile")).status_code for _ in range(20)] == [200] * 20
        assert (await client.get("/profile?_chaos=1")).status_code == 503
        assert (await client.get("/db?_chaos=1")).status_code == 503
    async with running() as (client, _app):  # without --chaos the parameter is unknown, as any other
        assert (await client.get("/posts?_chaos=1")).status_code == 400


async def test_chaos_latency_is_drawn_in_its_range_before_the_answer() -> None:
    service = build_service(Settings(), MemoryStorage(copy.deepcopy(DATA)))
    await service.storage.open()  # the layer asks it which names are collections
    slept: list[float] = []
    order: list[str] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        order.append("sleep")

    async def app(_scope: Any, _receive: Any, _send: Any) -> None:
        order.append("app")

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(_message: Message) -> None:
        pass

    layer = Chaos(app, Paths(service), latency=(50, 500), rng=random.Random(5), sleep=sleep)
    scope = {"type": "http", "method": "GET", "path": "/posts/1", "query_string": b"", "headers": []}
    for _ in range(200):
        await layer(dict(scope), receive, send)
    assert order[:4] == ["sleep", "app", "sleep", "app"]
    assert all(0.05 <= s <= 0.5 for s in slept) and len(set(slept)) > 50
    repeat = Chaos(app, Paths(service), latency=(50, 500), rng=random.Random(5), sleep=sleep)
    assert [repeat.draw(0.0)[1] for _ in range(200)] == [round(s * 1000) for s in slept]


def test_the_chaos_parameter_leaves_the_others_byte_for_byte() -> None:
    assert take_override(b"q=a+b&_chaos=0.25&x=%2F") == (0.25, b"q=a+b&x=%2F")
    assert take_override(b"q=1") == (None, b"q=1")


# -- health, readiness, metrics ------------------------------------------------------------------------------


async def test_collections_named_like_the_operations_pages_take_precedence() -> None:
    data = {"health": [{"id": 1}], "ready": {"fine": True}, "metrics": [{"id": 9}]}
    async with running(data, metrics=True) as (client, _app):
        assert (await client.get("/health")).json() == [{"id": 1}]
        assert (await client.get("/ready")).json() == {"fine": True}
        assert (await client.get("/metrics/9")).json() == {"id": 9}
        assert (await client.post("/health", json={})).status_code == 201
    async with running() as (client, _app):
        assert (await client.get("/health")).json() == {"status": "ok"}
        assert (await client.get("/ready")).json() == {"status": "ready"}
        assert (await client.get("/metrics")).status_code == 404  # only with --metrics
        refused = await client.post("/ready", json={})
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD, OPTIONS"


async def test_ready_is_503_while_a_json_file_is_edited_into_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_bytes(orjson.dumps(DATA))
    settings = Settings(source=str(path))
    service = build_service(settings, JsonFileStorage(path))
    async with open_client(create_app(settings, service)) as client:
        assert (await client.get("/ready")).status_code == 200
        path.write_text('{"posts": [')  # an editor saved half a file ...
        assert (await client.post("/posts", json={"title": "b"})).status_code == 201
        ready = await _until(client, "/ready", 503)  # ... which the rewrite after this write finds
        assert ready.headers["content-type"] == "application/problem+json"
        assert "invalid JSON" in ready.json()["detail"]
        assert (await client.post("/posts", json={"title": "c"})).status_code == 503
        assert (await client.get("/health")).status_code == 200  # alive all the same
        path.write_bytes(orjson.dumps(DATA))
        assert (await client.post("/posts", json={"title": "d"})).status_code == 201  # the fix is read first
        assert (await client.get("/ready")).status_code == 200


async def _until(client: httpx.AsyncClient, path: str, status: int, seconds: float = 10.0) -> httpx.Response:
    """GET ``path`` until it answers ``status`` (the storage's rewrite runs on its own clock: no event to await)."""
    deadline = time.monotonic() + seconds
    while (response := await client.get(path)).status_code != status:
        assert time.monotonic() < deadline, f"{path} still answers {response.status_code}"
        await anyio.sleep(0.02)
    return response


async def test_metrics_parse_and_count_requests_writes_fsyncs_subscribers_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_bytes(orjson.dumps(DATA))
    settings = Settings(source=str(path), metrics=True, rate_limit="1000/minute", rate_limit_writes="3/minute", chaos=0)
    hub = Hub(queue_limit=1)
    service = build_service(settings, JsonFileStorage(path), hub)
    async with open_client(create_app(settings, service)) as client:
        hub.subscribe(lambda change: change.collection == "comments")  # live: nothing it wants comes
        hub.subscribe()  # and one that falls behind: it never reads, and its queue holds one change
        for n in range(4):
            await client.post("/posts", json={"title": str(n)})  # 3 created, then a 429
        await client.get("/posts/1")
        await client.get("/posts/999")
        await client.get("/posts/1?_chaos=1")
        families = {f.name: f for f in text_string_to_metric_families((await client.get("/metrics")).text)}
    requests = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for s in families["jsonserve_http_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests == {
        ("/{name}", "POST", "201"): 3,
        ("/{name}", "POST", "429"): 1,
        ("/{name}/{id}", "GET", "200"): 1,
        ("/{name}/{id}", "GET", "404"): 1,
        ("/{name}/{id}", "GET", "503"): 1,
    }
    latency = families["jsonserve_http_request_duration_seconds"]
    counts = {s.labels["route"]: s.value for s in latency.samples if s.name.endswith("_count")}
    assert counts["/{name}"] == 4
    value = {s.name: s.value for f in families.values() for s in f.samples if not s.labels}
    assert value["jsonserve_journal_fsync_seconds_count"] >= 1  # each group commit is one fsync
    assert value["jsonserve_realtime_subscribers"] == 1
    assert value["jsonserve_realtime_dropped_subscribers_total"] == 1
    assert value["jsonserve_rate_limited_total"] == 1
    assert value["jsonserve_chaos_failures_total"] == 1
    writes = {s.labels["action"]: s.value for s in families["jsonserve_writes"].samples if s.name.endswith("_total")}
    assert writes == {"created": 3, "updated": 0, "deleted": 0}
    assert "process_resident_memory_bytes" in value


async def test_two_apps_keep_their_own_metrics() -> None:
    async with running(metrics=True) as (first, _a), running(metrics=True) as (second, _b):
        await first.get("/posts/1")
        text = (await second.get("/metrics")).text
        assert 'route="/{name}/{id}"' not in text  # no global registry: the other app's request is not here


# -- request ids and the access log ----------------------------------------------------------------------------


async def test_request_ids_are_echoed_when_sane_and_generated_otherwise(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jsonserve.access")
    async with running(auth=True) as (client, _app):
        mine = await client.get("/posts/1", headers={"X-Request-ID": "trace-42.a:b"})
        assert mine.headers["x-request-id"] == "trace-42.a:b"
        forged = await client.get("/posts/1", headers={"X-Request-ID": "x" * 129})
        generated = await client.get("/posts/1")
        assert forged.headers["x-request-id"] != "x" * 129
        assert forged.headers["x-request-id"] != generated.headers["x-request-id"]
        secret = "s3cr3t-value"
        await client.get(f"/posts?token={secret}&title=a", headers={"Authorization": f"Bearer {secret}"})
        await client.post("/login", json={"email": "a@example.com", "password": secret})
    lines = [r for r in caplog.records if r.name == "jsonserve.access"]
    assert len(lines) == 5
    assert lines[0].access["request_id"] == "trace-42.a:b"  # type: ignore[attr-defined]
    assert lines[0].access["route"] == "/{name}/{id}" and lines[0].access["status"] == 200  # type: ignore[attr-defined]
    assert lines[3].access["path"] == "/posts?token=[redacted]&title=a"  # type: ignore[attr-defined]
    assert lines[3].access["status"] == 401  # type: ignore[attr-defined]
    assert all(secret not in r.getMessage() for r in caplog.records)


def test_forwarded_addresses_are_believed_only_from_the_proxies_named() -> None:
    assert uvicorn_options(Settings())["proxy_headers"] is False  # by default the connection's address counts
    options = uvicorn_options(Settings(forwarded_allow_ips=("192.0.2.1", "::1")))
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == ["192.0.2.1", "::1"]
    assert options["access_log"] is False  # the app writes the access log (with the request id)
