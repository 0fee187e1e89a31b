"""S1 (long tier only): a soak at a fixed 200 req/s against a real server on a JSON file.

reliability.md §3.9 S1: a generated dataset (1,000 posts, 5,000 comments) served from ``db.json``;
client threads send a fixed-rate mix (70 % reads: GET by id and page lists; 25 % writes: POST, PATCH,
DELETE; 5 % filters: ``?userId=3``, ``?title_like=…``, ``?q=…``, …) for 5 minutes. The rate is held
by a token schedule (request *i* is due at ``start + i / 200``), not as fast as possible. Every few
seconds the server's RSS (``/proc/PID/status`` VmRSS) and open FDs (``/proc/PID/fd``) are sampled.

Pass, against the figures after a 1-minute warm-up:

* RSS at the end grows < 10 % (or < 20 MB) over the baseline;
* the FD count stays within ±5 of the baseline at every sample;
* 0 5xx, 0 connection errors (no other status than the expected one either);
* p99 latency of the last minute within 20 % of the first minute's (:data:`P99_DRIFT`), reported;
  the test asserts the looser :data:`P99_DRIFT_ASSERTED` (50 %), because on the shared 2-core box
  the p99 (set by the JSON file's rewrite + fsync per write) moved between 10 and 190 ms from run
  to run and by -65 %..+7 % within a run. A drift under :data:`P99_FLOOR_MS` counts as none;
* the schedule held: p99 lateness of a request against its due time < :data:`MAX_LAG_S` (after the
  warm-up: the first second, 32 threads connecting, is late by up to 0.6 s).

Writes are balanced so the dataset keeps its size (a DELETE removes a comment this test POSTed),
so that RSS growth means a leak, not more data.

The S1 row's 100 WebSocket subscribers (:data:`SUBSCRIBERS`) run in a process of their own
(``tests/reliability/subscribers.py``, so that their reading does not take the GIL from the writer
threads whose latencies are judged), each subscribed to ``posts`` and ``comments`` (every write of the
mix) from before the load starts. Pass: each received every change of the run exactly once, in
``seq`` order per subscription, and none was closed (1013 would mean it fell behind, which must not
happen at 50 writes/s); the writers' criteria above hold with them attached.

Sizes: ``JSONSERVE_SOAK_SECONDS`` (default 300) and ``JSONSERVE_SOAK_WARMUP`` (default 60) for a
smoke run, e.g. 40 and 10 (the windows for p99 then shrink to a third of the measured time). The
figures are recorded through :mod:`tests.reliability.results` as test ``S1``.
"""

from __future__ import annotations

import collections
import itertools
import os
import random
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.reliability import subscribers, tier
from tests.reliability.helpers import start
from tests.reliability.results import Figures, tally
from tests.reliability.stores import Store
from tests.support.server import Server

pytestmark = [
    pytest.mark.long,
    pytest.mark.e2e,
    pytest.mark.slow,
    # Also skipped here, not only by the tier hook in tests/conftest.py: this test must never run in `make test`.
    pytest.mark.skipif(not tier.LONG, reason=tier.LONG_REASON),
]


SECONDS = tier.override(300, "JSONSERVE_SOAK_SECONDS")  # smoke runs set both (recorded as overrides)
WARMUP = tier.override(60, "JSONSERVE_SOAK_WARMUP")
RATE = 200  # requests per second, fixed
CLIENTS = 32  # threads, one keep-alive connection each: the rate holds through a 150 ms stall of the server
POSTS, COMMENTS, USERS = 1000, 5000, 10
SAMPLE_EVERY = 2.0  # seconds between RSS/FD samples
RSS_GROWTH_PCT, RSS_GROWTH_MB = 10.0, 20.0
FD_TOLERANCE = 5
P99_DRIFT = 0.20  # the S1 criterion: relative growth of p99 from the first to the last minute (reported)
P99_DRIFT_ASSERTED = 0.50  # what fails the test (noisy on 2 cores, see above)
P99_FLOOR_MS = 5.0  # an absolute p99 difference below this is scheduling noise, not drift
TIMELINE_STEP = 30.0  # seconds per window of the reported p99 timeline
MAX_LAG_S = 1.0  # p99 lateness against the token schedule (the load really was 200 req/s)
SUBSCRIBERS = 100  # WebSocket connections following every change of the run

# The mix per 100 requests: 70 reads, 25 writes, 5 filters.
MIX = {
    "get_post": 20,
    "get_comment": 15,
    "list_posts": 15,
    "list_comments": 10,
    "list_posts_v1": 10,
    "post_comment": 9,
    "patch_post": 7,
    "delete_comment": 9,
    "filter": 5,
}
FILTERS = (
    "/posts?userId=3",
    "/posts?title_like=^post 1[0-9]$",
    "/comments?q=user42@",  # ~50 of 5,000 comments (a common word would return most of them)
    "/comments?postId=17",
    "/posts?views_gte=9000&_sort=-views&_limit=20",
)
WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do")


def dataset() -> dict[str, object]:
    """1,000 posts and 5,000 comments (about 1 MB of JSON), the same every run."""
    rng = random.Random(1)

    def words(count: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(count))

    posts = [
        {"id": i, "title": f"post {i}", "body": words(30), "userId": 1 + i % USERS, "views": rng.randint(0, 10_000)}
        for i in range(1, POSTS + 1)
    ]
    comments = [
        {"id": i, "postId": rng.randint(1, POSTS), "body": words(12), "email": f"user{i % 97}@example.com"}
        for i in range(1, COMMENTS + 1)
    ]
    return {"posts": posts, "comments": comments, "users": [{"id": i, "name": f"user {i}"} for i in range(1, 11)]}


@dataclass
class Done:
    """One request: when it was due and sent (seconds from the start), how long it took, what came back."""

    due: float
    sent: float
    latency: float
    kind: str
    status: int | None  # None: a connection error or timeout


@dataclass
class Sample:
    at: float
    rss_kb: int
    fds: int


@dataclass
class Load:
    """The shared state of the client threads."""

    url: str
    started: float
    plan: list[str]
    tickets: Iterator[int] = field(default_factory=itertools.count)
    created: collections.deque[int] = field(default_factory=collections.deque)
    done: list[list[Done]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


EXPECTED = {"post_comment": 201}  # everything else 200 (json-server answers a DELETE with 200 and {})


def run_client(load: Load, index: int) -> None:
    rng = random.Random(index)
    mine: list[Done] = []
    load.done.append(mine)
    with httpx.Client(base_url=load.url, timeout=10.0) as http:
        for ticket in load.tickets:
            due = ticket / RATE
            if due >= SECONDS:
                return
            pause = load.started + due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            kind = load.plan[ticket % len(load.plan)]
            sent = time.monotonic()
            try:
                status = send(http, load, kind, rng)
            except httpx.TransportError as error:
                status = None
                if len(load.errors) < 20:
                    load.errors.append(f"{kind}: {type(error).__name__}: {error}")
            mine.append(Done(due, sent - load.started, time.monotonic() - sent, kind, status))


def send(http: httpx.Client, load: Load, kind: str, rng: random.Random) -> int:
    if kind == "delete_comment":
        try:
            record_id = load.created.popleft()
        except IndexError:
            kind = "patch_post"  # nothing of ours to delete yet
        else:
            return http.delete(f"/comments/{record_id}").status_code
    if kind == "get_post":
        return http.get(f"/posts/{rng.randint(1, POSTS)}").status_code
    if kind == "get_comment":
        return http.get(f"/comments/{rng.randint(1, COMMENTS)}").status_code
    if kind == "list_posts":
        return http.get("/posts", params={"_page": rng.randint(1, POSTS // 10), "_limit": 10}).status_code
    if kind == "list_comments":
        return http.get("/comments", params={"_start": rng.randint(0, COMMENTS - 20), "_limit": 20}).status_code
    if kind == "list_posts_v1":
        return http.get("/posts", params={"_page": rng.randint(1, 50), "_per_page": 20}).status_code
    if kind == "filter":
        return http.get(rng.choice(FILTERS)).status_code
    if kind == "patch_post":
        return http.patch(f"/posts/{rng.randint(1, POSTS)}", json={"views": rng.randint(0, 10_000)}).status_code
    response = http.post("/comments", json={"postId": rng.randint(1, POSTS), "body": "soak " * rng.randint(1, 20)})
    if response.status_code == 201:
        load.created.append(int(response.json()["id"]))
    return response.status_code


def sample(pid: int, started: float, samples: list[Sample], stop: threading.Event) -> None:
    while not stop.wait(max(0.0, started + len(samples) * SAMPLE_EVERY - time.monotonic())):
        status = Path(f"/proc/{pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        samples.append(Sample(time.monotonic() - started, rss, len(os.listdir(f"/proc/{pid}/fd"))))


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else sum(values)


@pytest.fixture
def soak_server(tmp_path: Path) -> Iterator[Server]:
    store = Store("jsonfile", tmp_path)
    store.seed(dataset())
    server = start([store.source, "--no-static"], tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(SECONDS + 180)  # the suite's 300 s default would stop the 5-minute soak
def test_soak_fixed_rate_mixed_load(soak_server: Server) -> None:
    """S1: RSS, FDs and p99 stay flat under 200 req/s for the soak's length; no 5xx, no connection errors."""
    assert SECONDS > WARMUP + 3 * SAMPLE_EVERY, "JSONSERVE_SOAK_SECONDS must leave time after the warm-up"
    plan = [kind for kind, count in MIX.items() for _ in range(count)]
    random.Random(0).shuffle(plan)
    window = min(60.0, (SECONDS - WARMUP) / 3)
    detail = f"{RATE} req/s x {SECONDS} s (warm-up {WARMUP} s), {POSTS} posts + {COMMENTS} comments, {CLIENTS} clients"
    detail += f", {SUBSCRIBERS} WebSocket subscribers"
    with (
        tally("S1", "jsonfile", detail) as figures,
        subscribers.running(ws_url(soak_server.url), SUBSCRIBERS) as watching,
    ):
        load = Load(soak_server.url, time.monotonic(), plan)
        samples: list[Sample] = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample, args=(soak_server.process.pid, load.started, samples, stop))
        clients = [threading.Thread(target=run_client, args=(load, index)) for index in range(CLIENTS)]
        sampler.start()
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(max(1.0, load.started + SECONDS + 60 - time.monotonic()))
        stop.set()
        sampler.join(10)
        assert not any(thread.is_alive() for thread in clients), "a client hung"
        reports = subscribers.finish(watching, timeout=120)
        failures = check_subscribers(figures, reports)
        failures += judge(figures, [done for mine in load.done for done in mine], samples, window, load.errors)
        assert "Traceback" not in soak_server.output(), soak_server.output()[-3000:]
        assert not failures, "; ".join(failures)


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://", 1) + "/realtime"


def check_subscribers(figures: Figures, reports: list[dict[str, object]]) -> list[str]:
    """Every subscriber got every change once, in order, and was never closed."""
    failures: list[str] = []
    if len(reports) != SUBSCRIBERS:
        failures.append(f"{len(reports)} of {SUBSCRIBERS} subscribers reported")
    for name in ("missing", "duplicates", "out_of_order"):
        total = sum(int(str(report[name])) for report in reports)
        if total:
            failures.append(f"subscribers: {total} {name.replace('_', ' ')}")
    closed = collections.Counter(report["close"] for report in reports if report["close"] is not None)
    if closed:
        failures.append(f"subscribers closed by the server: {dict(closed)}")
    changes = {int(str(report["last"])) - int(str(report["first"])) for report in reports}
    if not reports or min(changes) <= 0:
        failures.append("the subscribers saw no change")
    frames = sum(int(str(report["frames"])) for report in reports)
    figures.note(
        f"{len(reports)} WebSocket subscribers: {frames} change frames, {max(changes, default=0)} changes each"
    )
    return failures


def judge(figures: Figures, done: list[Done], samples: list[Sample], window: float, errors: list[str]) -> list[str]:
    """The criteria that failed; the figures go into ``figures`` (recorded) and are printed."""
    failures = check_statuses(figures, done, errors)
    if done:
        failures += check_resources(figures, samples) + check_latency(figures, done, window)
    print("S1:", "; ".join(figures.notes))
    return failures


def check_statuses(figures: Figures, done: list[Done], errors: list[str]) -> list[str]:
    failures: list[str] = []
    writes = {"post_comment", "patch_post", "delete_comment"}
    server_errors = sum(1 for item in done if item.status is not None and item.status >= 500)
    connection_errors = sum(1 for item in done if item.status is None)
    unexpected = collections.Counter(
        (item.kind, item.status)
        for item in done
        if item.status is not None and item.status < 500 and item.status != EXPECTED.get(item.kind, 200)
    )
    figures.server_errors = server_errors
    figures.acknowledged = sum(1 for item in done if item.kind in writes and item.status in (200, 201))
    if server_errors:
        failures.append(f"{server_errors} 5xx")
    if connection_errors:
        failures.append(f"{connection_errors} connection errors: {errors[:3]}")
    if unexpected:
        failures.append(f"unexpected statuses: {dict(unexpected.most_common(5))}")
    planned = RATE * SECONDS
    if len(done) < planned:
        failures.append(f"{len(done)} of {planned} scheduled requests sent")
    span = max(item.sent for item in done) - min(item.sent for item in done) if done else 0.0
    figures.note(f"{len(done)} requests ({(len(done) - 1) / max(span, 1e-9):.1f} req/s achieved)")
    figures.note(f"{connection_errors} connection errors")
    return failures


def check_resources(figures: Figures, samples: list[Sample]) -> list[str]:
    failures: list[str] = []
    # Samples during the load only: the client threads close their connections as they run out of tickets.
    after = [item for item in samples if WARMUP <= item.at <= SECONDS - 1]
    if len(after) < 3:
        return [f"only {len(after)} RSS/FD samples after the warm-up"]
    base_rss = statistics.median(item.rss_kb for item in after[:3]) / 1024
    end_rss = statistics.median(item.rss_kb for item in after[-3:]) / 1024
    growth_mb = end_rss - base_rss
    growth_pct = 100 * growth_mb / base_rss
    if growth_pct >= RSS_GROWTH_PCT and growth_mb >= RSS_GROWTH_MB:
        failures.append(f"RSS grew {growth_mb:.1f} MB ({growth_pct:.1f} %) after the warm-up")
    base_fds = after[0].fds
    low, high = min(item.fds for item in after), max(item.fds for item in after)
    if low < base_fds - FD_TOLERANCE or high > base_fds + FD_TOLERANCE:
        failures.append(f"FD count left {base_fds} ± {FD_TOLERANCE}: {low}..{high}")
    peak = max(item.rss_kb for item in after) / 1024
    figures.note(f"RSS {base_rss:.1f} -> {end_rss:.1f} MB ({growth_pct:+.1f} %, max {peak:.1f})")
    figures.note(f"FDs {base_fds} -> {after[-1].fds} (range {low}-{high})")
    return failures


def check_latency(figures: Figures, done: list[Done], window: float) -> list[str]:
    failures: list[str] = []
    first = [item.latency * 1000 for item in done if WARMUP <= item.due < WARMUP + window]
    last = [item.latency * 1000 for item in done if SECONDS - window <= item.due]
    p99_first, p99_last = p99(first), p99(last)
    drift = (p99_last - p99_first) / p99_first if p99_first else 0.0
    drifted = p99_last - p99_first >= P99_FLOOR_MS
    if drift > P99_DRIFT_ASSERTED and drifted:
        failures.append(f"p99 drifted {100 * drift:.0f} % ({p99_first:.1f} -> {p99_last:.1f} ms)")
    lag = p99([item.sent - item.due for item in done if item.due >= WARMUP])  # start-up is part of the warm-up
    if lag >= MAX_LAG_S:
        failures.append(f"the schedule slipped: p99 lateness {lag:.2f} s")
    figures.note(f"p99 {p99_first:.1f} -> {p99_last:.1f} ms ({100 * drift:+.0f} %) over {window:.0f} s windows")
    if drift > P99_DRIFT and drifted:
        figures.note(
            f"p99 drift above the {100 * P99_DRIFT:.0f} % criterion (asserted: {100 * P99_DRIFT_ASSERTED:.0f} %)"
        )
    figures.note(
        f"p50 {statistics.median(item.latency for item in done) * 1000:.1f} ms, p99 lateness {lag * 1000:.0f} ms"
    )
    figures.note(f"p99 per {TIMELINE_STEP:.0f} s window, ms: {timeline(done)}")
    slowest = sorted(((p99([i.latency * 1000 for i in done if i.kind == kind]), kind) for kind in MIX), reverse=True)
    figures.note("p99 by kind: " + ", ".join(f"{kind} {value:.0f} ms" for value, kind in slowest[:4]))
    return failures


def timeline(done: list[Done]) -> str:
    """p99 latency of each window of :data:`TIMELINE_STEP` seconds, to tell a trend from noise."""
    marks = []
    for begin in range(0, int(SECONDS), int(TIMELINE_STEP)):
        values = [item.latency * 1000 for item in done if begin <= item.due < begin + TIMELINE_STEP]
        if values:
            marks.append(f"{p99(values):.0f}")
    return " ".join(marks)
