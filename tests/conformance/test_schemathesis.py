"""schemathesis, with its default checks, against ``/openapi.json`` of a real server on the demo data.

A shortened run (few examples per operation, fixed seed); the full run, its command and its count
are in ``docs/openapi.md``. Every check is on: server errors, status codes, content types, headers
and bodies against the document, positive data accepted, negative data rejected, unsupported
methods, and the stateful create -> read -> update -> delete chains the document's links describe.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import start_server

pytestmark = pytest.mark.e2e
RUN_TIMEOUT = 240


def test_schemathesis_finds_no_failures(tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is a dev dependency: pip install -e '.[dev]'"
    server = start_server([], tmp_path)
    try:
        command = [
            st, "run", f"{server.url}/openapi.json", "--max-examples", "4", "--seed", "20261123",
            "--workers", "2", "--no-color",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    finally:
        server.stop()
    tail = "\n".join(result.stdout.splitlines()[-60:])
    assert result.returncode == 0, f"schemathesis reported failures:\n{tail}\n{server.output()[-3000:]}"
    assert "No issues found" in result.stdout, tail
    assert "Traceback" not in server.output(), server.output()[-3000:]
