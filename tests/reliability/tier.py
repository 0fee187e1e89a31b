"""The reliability suite's two tiers: ``ci`` (the default, part of ``make test``) and ``long`` (``make reliability``).

``JSONSERVE_TIER=ci|long`` chooses the tier. A test sizes itself with :func:`size` (e.g. D1 runs 10
kill -9 trials per backend in the CI tier and 200 in the long tier); a test that only makes sense at
full length carries ``@pytest.mark.long`` and is skipped in the CI tier (``tests/conftest.py`` applies
:func:`skip_long_tests`). A size may be overridden for one run by its own variable (``size(...,
env="JSONSERVE_D1_TRIALS")``, listed in :data:`SIZE_VARIABLES`), for smoke runs of the long tier;
the figures recorded by :mod:`tests.reliability.results` carry every override set, so that such a run
cannot pass for a criterion run.

See docs/reliability.md.
"""

from __future__ import annotations

import os

import pytest

TIER_ENV = "JSONSERVE_TIER"
TIERS = ("ci", "long")
LONG_REASON = "long tier: run `make reliability`"

#: The variables that may override a size (for smoke runs); each is listed in docs/reliability.md.
SIZE_VARIABLES = ("JSONSERVE_D1_TRIALS", "JSONSERVE_F1_EXAMPLES", "JSONSERVE_SOAK_SECONDS", "JSONSERVE_SOAK_WARMUP")


def _tier() -> str:
    value = os.environ.get(TIER_ENV, "").strip().lower() or "ci"
    if value not in TIERS:
        raise pytest.UsageError(f"{TIER_ENV}={value!r}: expected one of {', '.join(TIERS)}")
    return value


TIER = _tier()
LONG = TIER == "long"


def size(ci: int, long: int, *, env: str | None = None) -> int:
    """``ci`` or ``long`` by tier; ``env``: the name of a variable that overrides both (a positive integer)."""
    chosen = long if LONG else ci
    return chosen if env is None else override(chosen, env)


def override(value: int, env: str) -> int:
    """``value``, unless the variable ``env`` (one of :data:`SIZE_VARIABLES`) sets a positive integer."""
    assert env in SIZE_VARIABLES, f"declare {env} in SIZE_VARIABLES"
    raw = os.environ.get(env, "").strip()
    if not raw:
        return value
    if not raw.isdigit() or int(raw) < 1:
        raise pytest.UsageError(f"{env}={raw!r}: expected a positive integer")
    return int(raw)


def skip_long_tests(items: list[pytest.Item]) -> None:
    """In the CI tier, skip every test marked ``long`` (with the reason that says how to run it)."""
    if LONG:
        return
    skip = pytest.mark.skip(reason=LONG_REASON)
    for item in items:
        if item.get_closest_marker("long") is not None:
            item.add_marker(skip)


def overrides() -> dict[str, str]:
    """The size overrides set in this run, e.g. ``{"JSONSERVE_D1_TRIALS": "3"}`` (empty for a criterion run)."""
    return {name: os.environ[name].strip() for name in SIZE_VARIABLES if os.environ.get(name, "").strip()}


def header() -> str:
    """One line for pytest's report header."""
    overrides_ = "".join(f", {name}={value}" for name, value in overrides().items())
    return f"jsonserve reliability tier: {TIER} ({TIER_ENV}){overrides_}"
