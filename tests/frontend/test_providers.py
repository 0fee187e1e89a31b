"""react-admin's ``ra-data-json-server`` and refine's ``@refinedev/simple-rest``, unchanged, against a real jsonserve.

Each test starts ``jsonserve`` on a fresh copy of ``fixture.json`` and runs the checks of
``checks.mjs``: once from Node (``run-node.mjs``), once in headless Chromium from a page served on
another origin, so that CORS (preflights, exposed headers) is exercised (``run-browser.mjs``).

The npm packages come from ``package-lock.json`` (``npm ci``, run when ``node_modules`` is missing
or was installed from another lock file); Chromium is Debian's package, installed by
``ensure-chromium.sh`` when missing (the ``chromium`` fixture of ``conftest.py``). Without node/npm
(or a Chromium that can be installed) the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM_INSTALL_TIMEOUT, NPM_CI_TIMEOUT, tail
from tests.support.server import Server, start_server

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixture.json"
NODE_RUN_TIMEOUT = 120
BROWSER_PAGE_TIMEOUT = 60  # inside run-browser.mjs; the process gets more to report and clean up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def node(npm_node: str) -> str:
    """The ``node`` executable, with ``node_modules`` installed from ``package-lock.json`` (conftest.py)."""
    return npm_node


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Server]:
    """jsonserve (default 0.17 dialect, CORS ``*``) on a fresh copy of the fixture."""
    shutil.copyfile(FIXTURE, tmp_path / "db.json")
    server = start_server(["db.json"], tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _report(result: subprocess.CompletedProcess[str], server: Server) -> str:
    return (
        f"exit {result.returncode}\n--- stdout\n{tail(result.stdout, 120)}\n--- stderr\n{tail(result.stderr)}"
        f"\n--- server log\n{tail(server.output(), 20)}"
    )


@pytest.mark.timeout(NPM_CI_TIMEOUT + NODE_RUN_TIMEOUT + 60)
def test_providers_from_node(node: str, api: Server) -> None:
    result = subprocess.run(
        [node, "run-node.mjs", api.url],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=NODE_RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, _report(result, api)
    assert " 0 failed" in result.stdout, _report(result, api)


@pytest.mark.timeout(NPM_CI_TIMEOUT + CHROMIUM_INSTALL_TIMEOUT + BROWSER_PAGE_TIMEOUT + 120)
def test_providers_from_a_browser_on_another_origin(node: str, chromium: Path, api: Server) -> None:
    command = [node, "run-browser.mjs", api.url, "--chromium", str(chromium), "--timeout", str(BROWSER_PAGE_TIMEOUT)]
    result = subprocess.run(
        command, cwd=HERE, capture_output=True, text=True, timeout=BROWSER_PAGE_TIMEOUT + 60, check=False
    )
    assert result.returncode == 0, _report(result, api)
    assert 'data-status="PASS"' in result.stdout, _report(result, api)
    assert "browser: PASS" in result.stdout, _report(result, api)
