"""Start-up: the port is checked, bound before anything is printed, and the banner tells the truth.

Issue 13, points 4 (a port outside 0-65535 is refused; 0 takes any free port, and says which), 5 (a
port in use is one line, no banner, exit non-zero) and 6 (the banner masks a database password).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import serve_until_up
from tests.support.cli import run_cli
from tests.support.server import free_port

DB = {"posts": [{"id": 1, "title": "one"}]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "db.json").write_text(json.dumps(DB))
    return tmp_path


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program listens on (as a second server would)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


# -- 4. the port's range ------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["70000", "65536", "-1", "99999999999"])
def test_a_port_outside_the_range_is_refused(folder: Path, port: str) -> None:
    result = run_cli("db.json", "--port", port, cwd=folder, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    message = " ".join(result.stderr.replace("│", " ").split())
    assert "--port" in message
    assert "is not a port: give one from 1 to 65535, or 0 for any free port" in message, message


@pytest.mark.e2e
def test_port_0_takes_a_free_port_and_the_banner_says_which(folder: Path) -> None:
    stopped = serve_until_up(["db.json", "--port", "0"], folder)
    assert stopped.url, f"the server never answered where its banner said:\n{stopped.stdout}\n{stopped.stderr}"
    port = int(stopped.url.rsplit(":", 1)[1])
    assert port != 0
    assert f"http://127.0.0.1:{port}/posts" in stopped.stdout
    assert ":0/" not in stopped.stdout
    assert stopped.returncode == 0, stopped.stderr


@pytest.mark.e2e
def test_port_0_with_workers(tmp_path: Path) -> None:
    """uvicorn's supervisor binds the port for its workers: the free port found first is the one it binds."""
    stopped = serve_until_up(["app.db", "--workers", "2", "--port", "0"], tmp_path)
    assert stopped.url, f"the server never answered where its banner said:\n{stopped.stdout}\n{stopped.stderr}"
    assert ":0/" not in stopped.stdout
    assert stopped.returncode == 0, stopped.stderr


# -- 5. a port in use ------------------------------------------------------------------------------


def test_a_port_in_use_is_one_line_and_no_banner(folder: Path, busy_port: int) -> None:
    result = run_cli("db.json", "--port", str(busy_port), cwd=folder, timeout=30)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == "", "nothing may look as if it were serving"
    assert result.stderr.splitlines() == [f"jsonserve: cannot start: 127.0.0.1:{busy_port} is in use (try --port)"]
    assert json.loads((folder / "db.json").read_text()) == DB


def test_a_port_in_use_creates_no_database(tmp_path: Path, busy_port: int) -> None:
    """The port is bound before the data is opened: a new SQLite database is not created (nor seeded)."""
    result = run_cli("app.db", "--port", str(busy_port), cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"jsonserve: cannot start: 127.0.0.1:{busy_port} is in use (try --port)"]
    assert not (tmp_path / "app.db").exists()


def test_a_port_in_use_with_workers(tmp_path: Path, busy_port: int) -> None:
    result = run_cli("app.db", "--workers", "2", "--port", str(busy_port), cwd=tmp_path, timeout=30)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"jsonserve: cannot start: 127.0.0.1:{busy_port} is in use (try --port)"]


@pytest.mark.parametrize(
    ("host", "words"),
    [
        pytest.param("no-such-host.invalid", "no-such-host.invalid is not a known host name or address", id="unknown"),
        pytest.param("192.0.2.1", "192.0.2.1 is not an address of this machine", id="not-local"),
    ],
)
def test_a_host_that_cannot_be_bound_is_one_line(folder: Path, host: str, words: str) -> None:
    result = run_cli("db.json", "--host", host, "--port", str(free_port()), cwd=folder, timeout=60)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("jsonserve: cannot start: ")
    assert words in lines[0]


# -- 6. the banner -------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_banner_masks_a_database_password(tmp_path: Path, pg_database: str) -> None:
    """PostgreSQL trusts local connections here, so any password opens the database."""
    with_password = pg_database.replace("postgres@", "postgres:s3cr3t-pw@", 1)
    assert "s3cr3t-pw" in with_password
    port = free_port()
    stopped = serve_until_up([with_password, "--port", str(port)], tmp_path, f"http://127.0.0.1:{port}")
    assert stopped.url, (stopped.stdout, stopped.stderr)
    assert "s3cr3t-pw" not in stopped.stdout + stopped.stderr
    assert with_password.replace("s3cr3t-pw", "***") in stopped.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_redis_that_does_not_answer_is_one_line(tmp_path: Path, workers: str) -> None:
    """``--redis`` carries realtime channels between instances: without it answering, the server does not start."""
    port = str(free_port())
    result = run_cli("app.db", "--redis", "redis://127.0.0.1:1/0", "--workers", workers, "--port", port, cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("jsonserve: cannot start: Redis at redis://127.0.0.1:1/0 cannot be reached ("), lines
