"""The pytest plugin's overhead: 1,000 tests that each load a small data set and make 3 requests.

Issue 18's goal: per test p50 under 5 ms in-process and under 10 ms over the socket. This script
writes a throwaway pytest project with one test file per mode, runs each in its own pytest process
(no xdist, no coverage), and takes each test's time from pytest's own reports: setup (the reset,
which reloads the data) + call (the 3 requests) + teardown. Modes:

- ``baseline``: the same tests without the fixture (what pytest itself costs per test);
- ``in-process``: ``jsonserve.client`` (no socket);
- ``socket``: ``requests`` over ``jsonserve.url``, one ``requests.Session`` (keep-alive), as a
  client library would hold one;
- ``socket, new connections (http.client)``: a connection per request, with the standard library's
  light client: what a new connection costs the server;
- ``socket, new connections (requests)``: ``requests.get``/``post``, as the issue's example does:
  each call builds a session and a pool and opens a connection.

Each test loads 10 posts and 20 comments, then: ``GET /posts?_limit=5``, ``POST /comments``,
``GET /posts/1?_embed=comments``. The first test of each run (the server's start) is included.

    python bench/plugin_overhead.py [--tests 1000] [--write]   # --write: the block in docs/benchmarks.md
"""

# ruff: noqa: T201, S603, S607 - a script: it prints and runs pytest (and git)

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- plugin-overhead:start -->", "<!-- plugin-overhead:end -->"
GOALS = {
    "in-process": 5.0,
    "socket": 10.0,
    "socket, new connections (http.client)": 10.0,
    "socket, new connections (requests)": 10.0,
}

CONFTEST = """
import json, os

TIMES = {}


def pytest_runtest_logreport(report):
    TIMES[report.nodeid] = TIMES.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_TIMES"], "w") as out:
        json.dump(list(TIMES.values()), out)
"""

HEADER = """
import http.client
import json

import pytest
import requests

DATA = {
    "posts": [{"id": n, "title": f"post {n}", "userId": n % 3} for n in range(1, 11)],
    "comments": [{"id": n, "postId": n % 10 + 1, "body": f"comment {n}"} for n in range(1, 21)],
}
session = requests.Session()


def fetch(port, method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, json.dumps(body) if body is not None else None, headers)
    answer = json.loads(connection.getresponse().read())
    connection.close()
    return answer
"""

BODIES = {
    "baseline": """
@pytest.mark.parametrize("n", range({tests}))
def test_one(n):
    assert len(DATA["posts"]) == 10
""",
    "in-process": """
@pytest.mark.parametrize("n", range({tests}))
@pytest.mark.jsonserve(data=DATA)
def test_one(jsonserve, n):
    client = jsonserve.client
    assert len(client.get("/posts", params={{"_limit": 5}}).json()) == 5
    assert client.post("/comments", json={{"postId": 1, "body": "new"}}).status_code == 201
    assert len(client.get("/posts/1", params={{"_embed": "comments"}}).json()["comments"]) == 3
""",
    "socket": """
@pytest.mark.parametrize("n", range({tests}))
@pytest.mark.jsonserve(data=DATA)
def test_one(jsonserve, n):
    url = jsonserve.url
    assert len(session.get(f"{{url}}/posts", params={{"_limit": 5}}).json()) == 5
    assert session.post(f"{{url}}/comments", json={{"postId": 1, "body": "new"}}).status_code == 201
    assert len(session.get(f"{{url}}/posts/1", params={{"_embed": "comments"}}).json()["comments"]) == 3
""",
    "socket, new connections (http.client)": """
@pytest.mark.parametrize("n", range({tests}))
@pytest.mark.jsonserve(data=DATA)
def test_one(jsonserve, n):
    port = int(jsonserve.url.rsplit(":", 1)[1])
    assert len(fetch(port, "GET", "/posts?_limit=5")) == 5
    assert fetch(port, "POST", "/comments", {{"postId": 1, "body": "new"}})["id"] == 21
    assert len(fetch(port, "GET", "/posts/1?_embed=comments")["comments"]) == 3
""",
    "socket, new connections (requests)": """
@pytest.mark.parametrize("n", range({tests}))
@pytest.mark.jsonserve(data=DATA)
def test_one(jsonserve, n):
    url = jsonserve.url
    assert len(requests.get(f"{{url}}/posts", params={{"_limit": 5}}).json()) == 5
    assert requests.post(f"{{url}}/comments", json={{"postId": 1, "body": "new"}}).status_code == 201
    assert len(requests.get(f"{{url}}/posts/1", params={{"_embed": "comments"}}).json()["comments"]) == 3
""",
}


def run(mode: str, tests: int, folder: Path) -> tuple[list[float], float]:
    """Per-test times (ms) of one mode, and the pytest process's wall time (s)."""
    test_file = folder / f"test_mode_{list(BODIES).index(mode)}.py"
    test_file.write_text(HEADER + BODIES[mode].format(tests=tests))
    times = folder / "times.json"
    env = {**os.environ, "BENCH_TIMES": str(times), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:cov", "-p", "no:xdist"]
    started = time.perf_counter()
    result = subprocess.run([*command, test_file.name], cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{mode}: pytest failed\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return [seconds * 1000 for seconds in json.loads(times.read_text())], wall


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def table(results: dict[str, tuple[list[float], float]]) -> list[str]:
    """The Markdown rows of the results."""
    rows = [
        "| mode | tests | p50 ms | p90 ms | p99 ms | max ms | pytest wall s | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, (times, wall) in results.items():
        goal = GOALS.get(mode)
        p50 = statistics.median(times)
        verdict = "—" if goal is None else f"< {goal:g} ms: {'met' if p50 < goal else 'NOT met'}"
        rows.append(
            f"| {mode} | {len(times)} | {p50:.2f} | {percentile(times, 0.9):.2f} | {percentile(times, 0.99):.2f} "
            f"| {max(times):.2f} | {wall:.1f} | {verdict} |"
        )
    return rows


def block(results: dict[str, tuple[list[float], float]], tests: int) -> str:
    """The section of docs/benchmarks.md."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    lines = [
        START,
        "## The pytest plugin",
        "",
        f"Produced by `python bench/plugin_overhead.py --tests {tests} --write` on "
        f"{time.strftime('%Y-%m-%d %H:%M')} at commit `{commit.stdout.strip()}`: {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; load average before "
        f"the run {load}.",
        "",
        f"Method: {tests} tests per mode, each in one pytest process (no xdist, no coverage). Each test loads 10",
        "posts and 20 comments (the marker's data, reloaded by the fixture's reset) and makes 3 requests:",
        "`GET /posts?_limit=5`, `POST /comments`, `GET /posts/1?_embed=comments`. A test's time is pytest's",
        "own: setup (the reset) + call (the requests) + teardown; the first test (the server's start) is",
        "included. *baseline* is the same tests without the fixture: what pytest itself costs per test.",
        "*socket* uses one `requests.Session` (keep-alive); the *new connections* rows open a connection per",
        "request, with `http.client` (light) and with `requests.get`/`post` (each call builds a session too).",
        "",
        *table(results),
        END,
    ]
    return "\n".join(lines)


def write_doc(text: str) -> None:
    """Replace the block in docs/benchmarks.md (or append it)."""
    doc = DOC.read_text()
    if START in doc:
        before, rest = doc.split(START, 1)
        doc = before + text + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    DOC.write_text(doc)


def main() -> None:
    """Run every mode, print the table, and with ``--write`` put it in docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--write", action="store_true", help="write the block into docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jsonserve-plugin-bench-") as folder:
        (Path(folder) / "conftest.py").write_text(CONFTEST)
        results = {mode: run(mode, args.tests, Path(folder)) for mode in BODIES}
    text = block(results, args.tests)
    print(text)
    if args.write:
        write_doc(text)


if __name__ == "__main__":
    main()
