"""Turn ``bench/results.json`` into the side-by-side section of ``docs/benchmarks.md`` and its chart.

The section between ``<!-- side-by-side:start -->`` and ``<!-- side-by-side:end -->`` is replaced;
the rest of the file (other benchmarks) is kept. The goals are the issue's, checked on the figures
of this one run: ratios are taken within the run, at 64 connections, on the JSON-file backend
unless a goal names another.

    python bench/report.py [bench/results.json]
"""

# ruff: noqa: T201, D102, D103, E501, RUF001 - a script; its tables use typographic signs

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks.png"
START, END = "<!-- side-by-side:start -->", "<!-- side-by-side:end -->"
OURS = "jsonserve-json"
JS1, JS017, BARE = "json-server-1", "json-server-0.17", "bare"
SQLITE, POSTGRES = "jsonserve-sqlite", "jsonserve-postgres"
SERVERS = [JS017, JS1, BARE, OURS, SQLITE, POSTGRES]
LABELS = {
    JS017: "json-server 0.17",
    JS1: "json-server 1.x",
    BARE: "bare Starlette",
    OURS: "jsonserve (JSON file)",
    "jsonserve-sqlite": "jsonserve (SQLite)",
    "jsonserve-postgres": "jsonserve (PostgreSQL)",
}
CASES = {
    "get": "GET /posts/1",
    "page-0.17": "page 2 of 10, 0.17 (`_page&_limit`)",
    "page-1": "page 2 of 10, 1.x (`_page&_per_page`)",
    "filter": "GET /posts?userId=3",
    "embed": "GET /posts/1?_embed=comments",
    "sort-0.17": "page 2 of 10 by title desc, 0.17 (`_sort&_order&_page&_limit`)",
    "sort-1": "page 2 of 10 by title desc, 1.x (`_sort=-title&_page&_per_page`)",
    "graphql-filter": "POST /graphql posts(where: {userId: {eq: 3}})",
    "post": "POST /posts",
    "patch": "PATCH /posts/{n}",
}


@dataclass
class Results:
    """One run's figures, indexed for lookups."""

    raw: dict[str, Any]

    def run(self, size: int, target: str, case: str, connections: int = 64) -> dict[str, Any] | None:
        for run in self.raw["runs"]:
            if (run["size"], run["target"], run["case"], run["connections"]) == (size, target, case, connections):
                return dict(run)
        return None

    def rps(self, size: int, target: str, case: str, connections: int = 64) -> float | None:
        run = self.run(size, target, case, connections)
        return None if run is None else float(run["rps"])

    def start(self, size: int, target: str) -> dict[str, Any] | None:
        return next((s for s in self.raw["starts"] if (s["size"], s["target"]) == (size, target)), None)

    @property
    def sizes(self) -> list[int]:
        return sorted({run["size"] for run in self.raw["runs"]})


@dataclass
class Goal:
    """One goal: what it says, the measured value and whether it holds."""

    text: str
    measured: str
    holds: bool | None  # None: not measured in this run


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _ratio_goal(text: str, value: float | None, floor: float, unit: str = "x") -> Goal:
    if value is None:
        return Goal(text, "not measured", None)
    return Goal(text, f"{value:.2f}{unit}" if unit == "x" else f"{value:.0f} {unit}", value >= floor)


def goals(r: Results) -> list[Goal]:
    found: list[Goal] = []
    small, large = 1000, 100_000
    for size in (small, large):
        found.append(
            _ratio_goal(
                f"GET /posts/1 at {size:,}: >= 1.0x json-server 1.x",
                _ratio(r.rps(size, OURS, "get"), r.rps(size, JS1, "get")),
                1.0,
            )
        )
        found.append(
            _ratio_goal(
                f"GET /posts/1 at {size:,}: >= 0.7x bare Starlette",
                _ratio(r.rps(size, OURS, "get"), r.rps(size, BARE, "get")),
                0.7,
            )
        )
    for size in (small, large):
        found.append(
            _ratio_goal(
                f"GraphQL posts(where: userId = 3) at {size:,}: >= 0.5x the same REST list",
                _ratio(r.rps(size, OURS, "graphql-filter"), r.rps(size, OURS, "filter")),
                0.5,
            )
        )
    for case, label in (("page-1", "page 2 of 10 (1.x)"), ("filter", "?userId=3")):
        found.append(
            _ratio_goal(
                f"{label} at 100,000: >= 20x json-server 1.x",
                _ratio(r.rps(large, OURS, case), r.rps(large, JS1, case)),
                20.0,
            )
        )
    for case in ("post", "patch"):
        name = case.upper()
        ours = r.run(small, OURS, case)
        found.append(
            _ratio_goal(
                f"{name} at 1,000: >= 10x json-server 1.x",
                _ratio(r.rps(small, OURS, case), r.rps(small, JS1, case)),
                10.0,
            )
        )
        found.append(_latency_goal(f"{name} at 1,000: p99 < 100 ms", ours, 100.0))
        big = r.run(large, OURS, case)
        found.append(
            _ratio_goal(f"{name} at 100,000: >= 500 req/s", None if big is None else big["rps"], 500.0, "req/s")
        )
        found.append(_latency_goal(f"{name} at 100,000: p99 < 200 ms", big, 200.0))
    ours_start, js1_start = r.start(large, OURS), r.start(large, JS1)
    if ours_start and js1_start:
        ratio = ours_start["startup_median_s"] / js1_start["startup_median_s"]
        found.append(
            Goal(
                "startup to the first 2xx at 100,000: <= 0.5x json-server 1.x",
                f"{ratio:.2f}x ({ours_start['startup_median_s']:.2f} s vs {js1_start['startup_median_s']:.2f} s)",
                ratio <= 0.5,
            )
        )
        found.append(
            Goal(
                "RSS after start at 100,000: <= json-server 1.x",
                f"{ours_start['rss_mb']:.0f} MB vs {js1_start['rss_mb']:.0f} MB",
                ours_start["rss_mb"] <= js1_start["rss_mb"],
            )
        )
    return found  # issue 19's SQL goals are in round_two_goals


SQL_FLOORS = {SQLITE: 0.5, POSTGRES: 0.3}
"""Issue 19: at 100,000, GET by id and the indexed filter on SQLite / PostgreSQL against the JSON file."""


def sql_goals(r: Results) -> list[Goal]:
    """Each SQL backend's GET by id and indexed filter at 100,000: x the JSON file, and x json-server 1.x."""
    found: list[Goal] = []
    large = 100_000
    for target, floor in SQL_FLOORS.items():
        for case, label in (("get", "GET /posts/1"), ("filter", "?userId=3 (indexed)")):
            ours = r.rps(large, target, case)
            found.append(
                _ratio_goal(
                    f"{label} at 100,000, {LABELS[target]}: >= {floor}x the JSON file",
                    _ratio(ours, r.rps(large, OURS, case)),
                    floor,
                )
            )
            found.append(
                _ratio_goal(
                    f"{label} at 100,000, {LABELS[target]}: >= 2x json-server 1.x",
                    _ratio(ours, r.rps(large, JS1, case)),
                    2.0,
                )
            )
    return found


READS = ("get", "page-0.17", "page-1", "filter", "sort-0.17", "sort-1", "embed")
"""Issue 19's read cases (GET by id, page, sort, filter, embed), each against its twin in each json-server line."""


def round_two_goals(r: Results) -> list[Goal]:
    """Issue 19's goals (speed, second round), on this run's figures."""
    found: list[Goal] = []
    for size in (1000, 100_000):
        for case in READS:
            ours = r.rps(size, OURS, case)
            for target, floor in ((JS1, 1.5), (JS017, 1.0)):
                twin = (TWIN_1X if target == JS1 else TWIN_017).get(case, case)
                found.append(
                    _ratio_goal(
                        f"{CASES[case]} at {size:,}, JSON file: >= {floor}x {LABELS[target]}",
                        _ratio(ours, r.rps(size, target, twin)),
                        floor,
                    )
                )
        found.append(
            _ratio_goal(
                f"GET /posts/1 at {size:,}, JSON file: >= 0.9x bare Starlette",
                _ratio(r.rps(size, OURS, "get"), r.rps(size, BARE, "get")),
                0.9,
            )
        )
    found += sql_goals(r)
    for size in (1000, 100_000):
        sqlite_post = r.run(size, SQLITE, "post")
        found.append(
            _ratio_goal(
                f"POST at {size:,}, SQLite, durable: >= 2,000 req/s",
                None if sqlite_post is None else sqlite_post["rps"],
                2000.0,
                "req/s",
            )
        )
        found.append(_latency_goal(f"POST at {size:,}, SQLite, durable: p99 < 100 ms", sqlite_post, 100.0))
    for case in ("post", "patch"):
        found.append(_latency_goal(f"{case.upper()} at 1,000, JSON file: p99 < 50 ms", r.run(1000, OURS, case), 50.0))
    return found + start_goals(r)


def start_goals(r: Results) -> list[Goal]:
    """Issue 19's start-up goals: 0.2 s at 1,000; at 100,000 against json-server 1.x."""
    found: list[Goal] = []
    small = r.start(1000, OURS)
    found.append(
        Goal(
            "start-up to the first 2xx at 1,000, JSON file: <= 0.2 s",
            "not measured" if small is None else f"{small['startup_median_s']:.2f} s",
            None if small is None else small["startup_median_s"] <= 0.2,
        )
    )
    # Every start here is on a fresh copy of the file (a new inode), so none finds a snapshot: all are
    # cold. The warm start (a snapshot made by the previous start) is timed by bench/startup.py.
    ours, js1 = r.start(100_000, OURS), r.start(100_000, JS1)
    text = "start-up at 100,000, JSON file, cold (no snapshot): <= 1.0x json-server 1.x"
    if ours is None or js1 is None:
        found.append(Goal(text, "not measured", None))
    else:
        value = ours["startup_median_s"] / js1["startup_median_s"]
        measured = f"{value:.2f}x ({ours['startup_median_s']:.2f} s vs {js1['startup_median_s']:.2f} s)"
        found.append(Goal(text, measured, value <= 1.0))
    return found


def _latency_goal(text: str, run: dict[str, Any] | None, limit_ms: float) -> Goal:
    if run is None:
        return Goal(text, "not measured", None)
    return Goal(text, f"{run['p99_ms']:.1f} ms", run["p99_ms"] < limit_ms)


def _mark(holds: bool | None) -> str:
    return {True: "holds", False: "**misses**", None: "n/a"}[holds]


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


# Each dialect's case is compared with the other server's twin of it (each speaks only its own).
TWIN_1X = {"page-0.17": "page-1", "sort-0.17": "sort-1"}
TWIN_017 = {"page-1": "page-0.17", "sort-1": "sort-0.17"}


def headline(r: Results) -> list[str]:
    lines = [
        "| case | size | jsonserve (JSON file) req/s | × json-server 1.x | × json-server 0.17 |",
        "|---|---:|---:|---:|---:|",
    ]
    for size in r.sizes:
        for case, label in CASES.items():
            ours = r.rps(size, OURS, case)
            if ours is None:
                continue
            js1 = r.rps(size, JS1, TWIN_1X.get(case, case))
            js017 = r.rps(size, JS017, TWIN_017.get(case, case))
            lines.append(f"| {label} | {size:,} | {_number(ours)} | {_times(ours, js1)} | {_times(ours, js017)} |")
    return lines  # fmt: skip


def graphql_table(r: Results) -> list[str]:
    """GraphQL against REST for the same list, on the JSON-file backend (goal: >= 0.5x)."""
    lines = [
        "| size | conns | GraphQL `posts(where: {userId: {eq: 3}})` req/s | REST `GET /posts?userId=3` req/s | GraphQL ÷ REST |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size in r.sizes:
        for connections in (1, 64):
            graphql = r.rps(size, OURS, "graphql-filter", connections)
            rest = r.rps(size, OURS, "filter", connections)
            if graphql is None or rest is None:
                continue
            lines.append(
                f"| {size:,} | {connections} | {_number(graphql)} | {_number(rest)} | {_times(graphql, rest)} |"
            )
    return lines


def _times(ours: float, theirs: float | None) -> str:
    if theirs is None:
        return "–"
    if theirs == 0:
        return "∞ (0 req/s)"
    return f"{ours / theirs:,.1f}×"


def full_table(r: Results, size: int) -> list[str]:
    lines = [
        "| case | conns | server | req/s (2xx) | p50 ms | p99 ms | non-2xx | socket errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for case, label in CASES.items():
        for connections in (1, 64):
            for target in SERVERS:
                run = r.run(size, target, case, connections)
                if run is None:
                    continue
                lines.append(
                    f"| {label} | {connections} | {LABELS[target]} | {_number(run['rps'])} | {run['p50_ms']:.2f} | "
                    f"{run['p99_ms']:.2f} | {run['non2xx']} | {run['socket_errors']} |"
                )
    return lines  # fmt: skip


def starts_table(r: Results) -> list[str]:
    lines = [
        "| server | size | startup to first 2xx (median of starts) | starts | RSS after start |",
        "|---|---:|---:|---:|---:|",
    ]
    for size in r.sizes:
        for target in SERVERS:
            start = r.start(size, target)
            if start:
                lines.append(
                    f"| {LABELS[target]} | {size:,} | {start['startup_median_s']:.2f} s | {len(start['startup_s'])} | {start['rss_mb']:.0f} MB |"
                )
    return lines  # fmt: skip


def chart(r: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = r.sizes
    figure, axes = plt.subplots(len(sizes), 1, figsize=(11, 4.2 * len(sizes)), squeeze=False)
    for axis, size in zip(axes[:, 0], sizes, strict=True):
        cases = [c for c in CASES if any(r.run(size, t, c) for t in SERVERS)]
        width = 0.8 / len(SERVERS)
        for offset, target in enumerate(SERVERS):
            measured = [(i, r.rps(size, target, case)) for i, case in enumerate(cases)]
            points = [(i + (offset - (len(SERVERS) - 1) / 2) * width, v) for i, v in measured if v is not None]
            bars = axis.bar([x for x, _ in points], [max(v, 1.0) for _, v in points], width, label=LABELS[target])
            for bar, (_, value) in zip(bars, points, strict=True):
                if value < 1.0:  # nothing served in the whole run: mark it rather than hide it
                    axis.annotate("0", (bar.get_x() + width / 2, 1.0), ha="center", va="bottom", fontsize=7)
        axis.set_yscale("log")
        axis.set_ylim(bottom=1.0)
        axis.set_xticks(
            range(len(cases)), [CASES[c].replace(" (`", "\n(`").replace("`", "") for c in cases], fontsize=8
        )
        axis.set_ylabel("req/s (2xx), log scale")
        axis.set_title(f"{size:,} posts, 64 connections")
        axis.grid(axis="y", which="major", alpha=0.3)
    axes[0, 0].legend(fontsize=8, ncol=3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def section(r: Results) -> str:
    machine, tools = r.raw["machine"], r.raw["tools"]
    held = goals(r)
    body = [
        START,
        "## Side by side with json-server",
        "",
        "Produced by `make bench` (`bench/run.py`, then `bench/report.py`): every figure below comes from",
        f"one run on {machine['date']} at commit `{machine['commit']}` — {machine['cores']} × {machine['cpu']},",
        f"Linux {machine['kernel']}, Python {machine['python']}; load average before the run {machine['load_before']}.",
        "Tools: " + ", ".join(f"{k} {v}" for k, v in tools.items()) + ".",
        "",
        f"Method: each server pinned to CPU 1 and `wrk` (1 thread) to CPU 0 with `taskset`, loopback only, {r.raw['seconds']} s",
        "per case at 1 and 64 connections; only 2xx responses count (`bench/count.lua` tallies every other",
        "status apart). Reads share one start; every write case and connection count starts on a fresh copy",
        "of the data. The JSON-file backend runs with its default durability: a write is fsynced to the",
        "journal before its 2xx (`tests/reliability/test_kill9.py` proves acknowledged writes survive",
        "`kill -9`). json-server 0.17 runs on the machine's node, 1.x on the npm package `node` (it needs",
        "node ≥ 22). PostgreSQL is the machine's server, not pinned: it uses both cores. Data: `bench/data.py`,",
        "JSONPlaceholder-shaped, 10 posts per user (so `?userId=3` selects 10 posts) and 5 comments per post.",
        "",
        "### Goals (64 connections, JSON-file backend)",
        "",
        "| goal | measured | |",
        "|---|---|---|",
        *(f"| {g.text} | {g.measured} | {_mark(g.holds)} |" for g in held),
        "",
        "### Speed, second round (issue 19): its goals, 64 connections",
        "",
        "| goal | measured | |",
        "|---|---|---|",
        *(f"| {g.text} | {g.measured} | {_mark(g.holds)} |" for g in round_two_goals(r)),
        "",
        "### Headline: jsonserve (JSON file) against json-server, 64 connections",
        "",
        "(json-server 1.x has no 0.17 paging and 0.17 no `_per_page`: each is compared on its own dialect.)",
        "",
        *headline(r),
        "",
        "### GraphQL against REST: the same list, JSON-file backend",
        "",
        *graphql_table(r),
        "",
        f"![req/s per case at 64 connections]({CHART.name})",
        "",
        "### Start-up and memory",
        "",
        *starts_table(r),
        "",
    ]
    for size in r.sizes:
        body += [f"### All figures, {size:,} posts", "", *full_table(r, size), ""]
    body.append(END)
    return "\n".join(body) + "\n"


def write(
    results: Path = ROOT / "bench" / "results.json", doc: Path = DOC, draw: Callable[[Results, Path], None] = chart
) -> None:
    r = Results(json.loads(results.read_text()))
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    new = section(r)
    if START in text and END in text:
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        text = head + new.rstrip("\n") + tail
    else:  # first time: the headline goes before the other benchmarks
        head, heading, rest = text.partition("\n## ")
        text = head.rstrip("\n") + "\n\n" + new + ("\n## " + rest if heading else "")
    doc.write_text(text)
    draw(r, CHART)
    for goal in goals(r) + round_two_goals(r):
        print(f"{_mark(goal.holds):12} {goal.text}: {goal.measured}")
    print("wrote", doc, "and", CHART)


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results.json")
