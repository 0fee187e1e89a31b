"""Operations on a real socket: rate-limit headers and 429s (in memory, and two instances on one Redis
budget), /ready following a PostgreSQL server that stops and comes back, /metrics, JSON access logs
with no secret in them. Each server is a ``jsonserve`` process on a free loopback port, stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import run_cli
from tests.support.pgcluster import binaries, throwaway_cluster
from tests.support.redis import require_redis
from tests.support.server import free_port

pytestmark = pytest.mark.e2e

SECRET = "pa55-w0rd-never-logged"


@dataclass
class Launched:
    """A running server: where it listens, and the file its log lines (stderr) go to."""

    process: subprocess.Popen[bytes]
    url: str
    stderr: Path

    def log_lines(self) -> list[str]:
        return self.stderr.read_text().splitlines()


@contextlib.contextmanager
def launched(args: list[str], cwd: Path, *, ready: str = "/health", timeout: float = 20.0) -> Iterator[Launched]:
    """``jsonserve ARGS --port P``, up once ``ready`` answers; SIGTERM after (stderr kept: its log is under test)."""
    port = free_port()
    stderr = cwd / f"stderr-{port}.txt"
    with stderr.open("wb") as err:
        argv = [sys.executable, "-m", "jsonserve", *args, "--port", str(port)]
        process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
    server = Launched(process, f"http://127.0.0.1:{port}", stderr)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, f"the server exited: {stderr.read_text()}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(server.url + ready, timeout=2).status_code < 500:
                    break
            assert time.monotonic() < deadline, f"the server did not answer: {stderr.read_text()}"
            time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)


def unique_client() -> dict[str, str]:
    """An X-Forwarded-For address of our own (documentation range): a budget no other test run shares."""
    return {"X-Forwarded-For": f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"}


def test_headers_429_metrics_and_json_access_logs_without_secrets(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text('{"posts": [{"id": 1, "title": "a"}]}')
    args = ["db.json", "--auth", "--rate-limit", "4/minute;100/second", "--metrics", "--log-format", "json"]
    with launched([*args, "--forwarded-allow-ips", "127.0.0.1"], tmp_path) as server, httpx.Client() as http:
        me = unique_client()
        answers = [http.get(server.url + "/posts/1", headers=me) for _ in range(4)]
        assert [a.status_code for a in answers] == [200] * 4
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["3", "2", "1", "0"]
        assert answers[0].headers["ratelimit-policy"] == '"all-60s";q=4;w=60, "all-1s";q=100;w=1'
        assert answers[0].headers["ratelimit"] in ('"all-60s";r=3;t=60', '"all-60s";r=3;t=59')
        refused = http.get(server.url + "/posts/1", headers=me)
        assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        other = http.get(server.url + "/posts/1", headers=unique_client())  # another client: its own budget
        assert other.headers["x-ratelimit-remaining"] == "3"
        # Secrets, in every place a client may put one; each request gets an id, echoed.
        marked = http.get(server.url + f"/posts?token={SECRET}", headers={**unique_client(), "X-Request-ID": "req-7"})
        assert marked.headers["x-request-id"] == "req-7"
        bearer = http.get(server.url + "/posts", headers={**unique_client(), "Authorization": f"Bearer {SECRET}"})
        assert bearer.status_code == 401
        login = {"email": "ada@example.com", "password": SECRET}
        assert http.post(server.url + "/register", json=login, headers=unique_client()).status_code == 201
        assert http.post(server.url + "/login", json=login, headers=unique_client()).status_code == 200
        metrics = http.get(server.url + "/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(metrics)}
    limited = families["jsonserve_rate_limited"].samples[0]
    assert limited.name == "jsonserve_rate_limited_total" and limited.value == 1
    statuses = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["jsonserve_http_requests"].samples
        if s.name.endswith("_total")
    }
    assert statuses[("/{name}/{id}", "429")] == 1 and statuses[("/{name}/{id}", "200")] == 5
    lines = [json.loads(line) for line in server.log_lines()]  # every line is JSON
    access = [line for line in lines if line["logger"] == "jsonserve.access"]
    assert len(access) == 12 and {"time", "level", "message"} <= set(access[0])  # /health, 10 requests, /metrics
    by_id = {line["request_id"]: line for line in access}
    assert by_id["req-7"]["path"] == "/posts?token=[redacted]" and by_id["req-7"]["route"] == "/{name}"
    assert by_id["req-7"]["status"] == 200 and by_id["req-7"]["duration_ms"] >= 0
    assert [line["status"] for line in access if line["route"] == "/register"] == [201]
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own lines are JSON too
    assert all(SECRET not in line for line in server.log_lines())


def test_two_instances_share_one_redis_budget(tmp_path: Path) -> None:
    redis = require_redis()
    args = ["--rate-limit", "4/minute", "--redis", redis, "--forwarded-allow-ips", "127.0.0.1", "--quiet"]
    with launched(args, tmp_path) as first, launched(args, tmp_path) as second, httpx.Client() as http:
        me = unique_client()
        answers = [http.get(server.url + "/posts/1", headers=me) for server in (first, second, first, second)]
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["3", "2", "1", "0"]
        for server in (first, second):
            refused = http.get(server.url + "/posts/1", headers=me)
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


@pytest.mark.skipif(binaries() is None, reason="no PostgreSQL server binaries to start a throw-away server")
def test_ready_follows_a_postgresql_server_that_stops_and_comes_back(tmp_path: Path) -> None:
    with (
        throwaway_cluster() as cluster,
        launched([cluster.url, "--quiet"], tmp_path, ready="/ready") as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        assert http.get("/ready").json() == {"status": "ready"}
        cluster.stop()
        down = http.get("/ready")
        assert down.status_code == 503 and down.json()["code"] == "not_ready"
        assert down.json()["problems"][0].startswith("storage: ")
        assert http.get("/health").status_code == 200  # alive, only not ready
        assert http.get("/posts/1").status_code == 503
        cluster.start()
        deadline = time.monotonic() + 15
        while (back := http.get("/ready")).status_code != 200:  # the pool reconnects on the next use
            assert time.monotonic() < deadline, back.text
            time.sleep(0.1)
        assert http.get("/posts/1").status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "lots"], "is not a rate limit such as"),
        (["--chaos-latency", "500-50"], "is not a range of milliseconds"),
        (["--chaos", "1.5"], "--chaos"),
        (["--redis", "http://127.0.0.1:6379"], "is not a Redis URL"),
        (["--log-format", "xml"], "takes text or json, not 'xml'"),
    ],
)
def test_operations_options_that_cannot_work_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr


def test_two_instances_on_postgresql_and_redis_share_the_data_and_one_budget(tmp_path: Path, pg_database: str) -> None:
    """docs/operations.md's example: two instances, one PostgreSQL database, one Redis budget."""
    redis = require_redis()
    args = [pg_database, "--rate-limit", "6/minute", "--redis", redis, "--forwarded-allow-ips", "127.0.0.1"]
    with launched([*args, "--quiet"], tmp_path) as first, launched([*args, "--quiet"], tmp_path) as second:
        me = unique_client()
        with httpx.Client(headers=me) as http:
            created = http.post(first.url + "/posts", json={"title": "from the first"})
            assert created.status_code == 201
            seen = http.get(second.url + f"/posts/{created.json()['id']}")  # the other instance reads it
            assert seen.status_code == 200 and seen.json()["title"] == "from the first"
            rest = [http.get(server.url + "/posts").headers["x-ratelimit-remaining"] for server in (first, second)]
            assert rest == ["3", "2"]  # 6 per minute, counted across both
            http.get(first.url + "/posts")
            http.get(second.url + "/posts")
            assert http.get(first.url + "/posts").status_code == 429
            assert http.get(second.url + "/posts").status_code == 429
