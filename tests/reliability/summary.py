"""Turn recorded reliability figures into the summary table of docs/reliability.md.

    python -m tests.reliability.summary RESULTS.jsonl            # print the table
    python -m tests.reliability.summary --write RESULTS.jsonl    # ... and put it into docs/reliability.md

``RESULTS.jsonl`` holds the lines :mod:`tests.reliability.results` appended during a run (the file
named by ``JSONSERVE_RELIABILITY_RESULTS``). The table has one row per criterion ID and backend:
trials, writes acknowledged, lost, 5xx, the result and what ran; above it, the run (``--run``), the
tier, any size overrides, the date, the commit and the machine. ``--write`` replaces the block
between ``<!-- reliability-summary -->`` and ``<!-- /reliability-summary -->`` (only ``make
reliability`` does that; ``make test`` and ``.ci/run`` only print).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import sqlite3
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- reliability-summary -->", "<!-- /reliability-summary -->"

#: Row order: the plan's IDs first (docs/reliability.md explains each), anything else after them.
ORDER = [
    *("D1", "D1-aimed", "D4", "C1", "C2", "C4", "C4-deadlock", "C4-serializable", "M-C1", "M-C2"),
    *("W1", "S1", "S2", "S3", "F1"),
]
BACKENDS = ["jsonfile", "sqlite", "postgres"]
#: Trials per backend the issue asks of each tier.
MIN_TRIALS = {("D1", "ci"): 10, ("D1", "long"): 200}


@dataclass
class Row:
    """Every recorded run of one test ID on one backend."""

    test: str
    backend: str
    runs: int = 0
    failed: int = 0
    trials: int = 0
    acknowledged: int | None = None
    lost: int | None = None
    server_errors: int | None = 0
    unknown_5xx: bool = False
    seconds: float = 0.0
    tiers: set[str] = field(default_factory=set)
    details: list[str] = field(default_factory=list)

    def add(self, line: dict[str, Any]) -> None:
        self.runs += 1
        self.failed += not line.get("passed", False)
        self.trials += int(line.get("trials") or 0)
        for name in ("acknowledged", "lost"):
            if line.get(name) is not None:
                setattr(self, name, (getattr(self, name) or 0) + int(line[name]))
        if line.get("server_errors") is None:
            self.unknown_5xx = True
        else:
            self.server_errors = (self.server_errors or 0) + int(line["server_errors"])
        self.seconds += float(line.get("seconds") or 0)
        self.tiers.add(str(line.get("tier", "?")))
        if (detail := str(line.get("detail") or "")) and detail not in self.details:
            self.details.append(detail)

    def result(self) -> str:
        if self.failed:
            return f"**FAIL** ({self.failed} of {self.runs} runs)"
        short = [
            f"below the {tier} criterion of {MIN_TRIALS[self.test, tier]}"
            for tier in sorted(self.tiers)
            if (self.test, tier) in MIN_TRIALS and self.trials < MIN_TRIALS[self.test, tier]
        ]
        return "pass" + (f" ({'; '.join(short)} trials)" if short else "")

    def cells(self) -> list[str]:
        five = "not counted" if self.unknown_5xx else _count(self.server_errors)
        return [
            self.test,
            self.backend,
            f"{self.trials:,}",
            _count(self.acknowledged),
            _count(self.lost),
            five,
            self.result(),
            f"{self.seconds:,.0f}",
            self.detail().replace("|", "\\|"),
        ]

    def detail(self, shown: int = 3) -> str:
        """The distinct details of the runs (the first ``shown`` of them)."""
        more = len(self.details) - shown
        return " / ".join(self.details[:shown]) + (f" / (+{more} more runs)" if more > 0 else "")


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _order(row: Row) -> tuple[int, str, int, str]:
    test = ORDER.index(row.test) if row.test in ORDER else len(ORDER)
    backend = BACKENDS.index(row.backend) if row.backend in BACKENDS else len(BACKENDS)
    return test, row.test, backend, row.backend


def read_lines(paths: Iterable[Path]) -> list[dict[str, Any]]:
    lines = []
    for path in paths:
        for number, text in enumerate(path.read_text().splitlines(), 1):
            if not text.strip():
                continue
            try:
                lines.append(json.loads(text))
            except ValueError:
                print(f"{path}:{number}: not JSON, skipped", file=sys.stderr)
    return lines


def rows(lines: list[dict[str, Any]]) -> list[Row]:
    grouped: dict[tuple[str, str], Row] = {}
    for line in lines:
        key = (str(line.get("test")), str(line.get("backend")))
        grouped.setdefault(key, Row(*key)).add(line)
    return sorted(grouped.values(), key=_order)


def commit(root: Path = ROOT) -> str:
    """The checked-out commit, read from ``.git`` without running git (``JSONSERVE_COMMIT`` overrides)."""
    if value := os.environ.get("JSONSERVE_COMMIT", "").strip():
        return value
    git = root / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = (root / git.read_text().split("gitdir:", 1)[1].strip()).resolve()
        common = (git / (git / "commondir").read_text().strip()).resolve() if (git / "commondir").exists() else git
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12] + " (detached)"
        ref = head.removeprefix("ref: ")
        branch = ref.removeprefix("refs/heads/")
        for base in (git, common):
            if (base / ref).exists():
                return f"{(base / ref).read_text().strip()[:12]} ({branch})"
        packed = common / "packed-refs"
        if packed.exists():
            for text in packed.read_text().splitlines():
                if text.endswith(" " + ref):
                    return f"{text.split()[0][:12]} ({branch})"
        return f"unknown ({branch} has no commit yet)"
    except (OSError, IndexError):
        return "unknown (no .git)"


def machine() -> str:
    cpu = platform.machine()
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"nproc {usable} ({cpu}); {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    )


def render(lines: list[dict[str, Any]], run: str) -> str:
    table = rows(lines)
    tiers = sorted({str(line.get("tier", "?")) for line in lines}) or ["none"]
    overrides: dict[str, str] = {}
    for line in lines:
        overrides.update(line.get("overrides") or {})
    loads = [float(line["load"]) for line in lines if line.get("load") is not None]
    stamps = sorted(str(line["at"]) for line in lines if line.get("at"))
    out = [
        f"- Run: `{run}`; tier **{', '.join(tiers)}**; "
        + (
            f"{stamps[0]} to {stamps[-1]}"
            if stamps
            else f"written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        ),
        f"- Commit: {commit()} (HEAD when the table was written; uncommitted changes are not detected)",
        f"- Machine: {machine()}"
        + (f"; load average (1 min) as the tests ended: {min(loads):.1f}-{max(loads):.1f}" if loads else ""),
    ]
    if overrides:
        names = ", ".join(f"`{name}={value}`" for name, value in sorted(overrides.items()))
        out.append(f"- **Smoke run: sizes overridden ({names}); these figures do not meet the criteria' sizes.**")
    failed = sum(row.failed for row in table)
    out.append(f"- {len(lines)} recorded runs, {failed} failed" if lines else "- No figures were recorded.")
    out += [
        "",
        "| ID | backend | trials | writes acknowledged | lost | 5xx | result | s | what ran |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
        *("| " + " | ".join(row.cells()) + " |" for row in table),
    ]
    return "\n".join(out)


def write_doc(block: str, doc: Path = DOC) -> None:
    """Replace the generated block of ``doc`` (added at the end when the markers are missing)."""
    text = doc.read_text() if doc.exists() else "# Reliability\n"
    wrapped = f"{START}\n{block}\n{END}"
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: wrapped, text, flags=re.DOTALL)
    else:
        text = text.rstrip("\n") + f"\n\n## Latest figures\n\n{wrapped}\n"
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("results", nargs="+", type=Path, help="JSON-lines files written by the tests")
    parser.add_argument("--write", action="store_true", help=f"put the table into {DOC.relative_to(ROOT)}")
    parser.add_argument("--doc", type=Path, default=DOC, help="the document --write updates")
    parser.add_argument("--run", default="make reliability", help="the command that produced the figures")
    args = parser.parse_args(argv)
    present = [path for path in args.results if path.exists()]
    for path in set(args.results) - set(present):
        print(f"{path}: no such file (no test recorded figures)", file=sys.stderr)
    block = render(read_lines(present), args.run)
    print(block)
    if args.write:
        write_doc(block, args.doc)
        print(f"\nwrote the table into {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
