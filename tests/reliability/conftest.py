"""Reliability fixtures: a fresh :class:`Store` per backend, PostgreSQL in a throw-away database per module.

A module may name its databases with ``POSTGRES_PREFIX`` (default ``jsonserve_rel``). Tiers (``JSONSERVE_TIER``)
are in :mod:`tests.reliability.tier`, recorded figures in :mod:`tests.reliability.results`.

``make pytest`` runs this suite on three xdist workers (two cores; see the Makefile) with ``--dist
loadfile``: a module's tests stay on one worker, since some share a module-scoped server
(``test_bad_input.py``: its last test checks that server after all the others; ``--dist loadgroup``
would not do, as it does not group with pytest 9: xdist 3.8 sets ``item._nodeid``, which pytest 9 no
longer reads). The files that time their servers (``test_slow_clients.py``, ``test_watch.py``,
``test_soak.py``, ``test_realtime_slow_subscriber.py``) and the kill -9 aimed at a compaction (it
busy-polls for a short-lived temporary file, and on a loaded machine missed it in 5 of 5 trials) run
afterwards on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.conftest import require_postgres
from tests.reliability.stores import STORE_KINDS, Store, throwaway_database


@pytest.fixture(scope="module")
def postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a throw-away PostgreSQL database for this module (dropped after it); skips without PostgreSQL."""
    with throwaway_database(getattr(request.module, "POSTGRES_PREFIX", "jsonserve_rel")) as url:
        yield url


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Run the test once per backend (PostgreSQL skips with the reason when unreachable, fails under CI)."""
    kind = str(request.param)
    if kind == "postgres":
        require_postgres()
    return kind


@pytest.fixture
def new_store(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path) -> Callable[[str], Store]:
    """``new_store(name)``: an empty store of this test's backend in a new folder ``tmp_path / name``.

    PostgreSQL stores share the module's database: seeding one replaces everything in it.
    """
    url = str(request.getfixturevalue("postgres_database")) if store_kind == "postgres" else None

    def make(name: str) -> Store:
        folder = tmp_path / name
        folder.mkdir()
        return Store(store_kind, folder, url)

    return make
