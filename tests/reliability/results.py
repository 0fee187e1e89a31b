"""Figures from the reliability tests (trials, writes acknowledged, lost, 5xx), one JSON line per test run.

A test wraps its scenario in :func:`tally` and adds up what happened::

    with tally("C1", store.kind, "16 clients x 200 POSTs") as figures:
        ...
        figures.acknowledged += 1

When the block ends the figures are appended as one JSON line to the file named by
``JSONSERVE_RELIABILITY_RESULTS`` (with ``passed`` false if the block raised, so a failing run's
figures are kept too); without that variable nothing is written. ``make reliability`` sets it and
turns the file into the table in docs/reliability.md (:mod:`tests.reliability.summary`); any run
(``make test``, one pytest command) may set it to collect the same figures.

Fields: ``test`` (the criterion ID, e.g. ``D1``), ``backend``, ``trials`` (independent runs of the
scenario, e.g. kill -9 cycles), ``acknowledged`` (writes that got a 2xx), ``lost`` (acknowledged
writes whose effect is missing or wrong afterwards), ``server_errors`` (5xx responses; ``None`` when
the tool does not count them; ``acknowledged`` and ``lost`` are ``None`` when the scenario does not
count writes), ``passed``, ``detail`` (what ran, plus notes), ``seconds``, ``tier``,
``overrides`` (size overrides of a smoke run), ``node`` (the pytest node id), ``at`` (UTC) and
``load`` (the 1-minute load average as the run ended).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from tests.reliability import tier

RESULTS_ENV = "JSONSERVE_RELIABILITY_RESULTS"


@dataclass
class Figures:
    """What one test run did; add to it inside :func:`tally`."""

    test: str
    backend: str
    detail: str = ""
    trials: int = 1
    acknowledged: int = 0
    lost: int = 0
    server_errors: int | None = 0
    writes: bool = True  # False: the scenario does not count writes (acknowledged and lost are not applicable)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """Something worth a line in the table's last column (e.g. ``"0 self-reloads"``)."""
        self.notes.append(text)


def enabled() -> bool:
    return bool(os.environ.get(RESULTS_ENV, "").strip())


def record(figures: Figures, *, passed: bool, seconds: float) -> None:
    """Append ``figures`` to the results file (a no-op when ``JSONSERVE_RELIABILITY_RESULTS`` is unset)."""
    path = os.environ.get(RESULTS_ENV, "").strip()
    if not path:
        return
    line: dict[str, Any] = asdict(figures)
    del line["notes"], line["writes"]
    if not figures.writes:
        line.update(acknowledged=None, lost=None)
    line["detail"] = "; ".join([text for text in (figures.detail, *figures.notes) if text])
    line.update(
        passed=passed,
        seconds=round(seconds, 1),
        tier=tier.TIER,
        overrides=tier.overrides(),
        node=os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0],
        at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        load=round(os.getloadavg()[0], 2),
    )
    data = (json.dumps(line, sort_keys=True) + "\n").encode()
    # One write per line under an exclusive lock: the xdist workers may append at the same time.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
    finally:
        os.close(fd)


@contextlib.contextmanager
def tally(test: str, backend: str, detail: str = "", *, trials: int = 1, writes: bool = True) -> Iterator[Figures]:
    """Collect one run's figures and record them when the block ends (``passed`` = it raised nothing).

    ``writes=False``: the scenario does not count writes. A skip inside the block records nothing.
    """
    figures = Figures(test, backend, detail, trials=trials, writes=writes)
    started = time.monotonic()
    try:
        yield figures
    except pytest.skip.Exception:
        raise
    except BaseException:
        record(figures, passed=False, seconds=time.monotonic() - started)
        raise
    record(figures, passed=True, seconds=time.monotonic() - started)
