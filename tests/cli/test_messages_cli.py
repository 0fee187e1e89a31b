"""Start-up messages a new user reads: the data file named, the PostgreSQL URL as typed (issue 13, point 15)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from jsonserve import testing
from tests.api.conftest import require_postgres
from tests.support.cli import run_cli
from tests.support.server import free_port


def _one_line(result: subprocess.CompletedProcess[str], *, cannot: str) -> str:
    """The single stderr line of a refused command (exit 1, no traceback)."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line message, got:\n{result.stderr}"
    assert f"cannot {cannot}" in lines[0]
    return lines[0]


# -- the data file's rules name the file --------------------------------------------------------------

LIST = '[{"id": 1, "title": "a"}]'


def test_a_top_level_array_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text(LIST)
    line = _one_line(run_cli("list.json", "--port", str(free_port()), cwd=tmp_path, timeout=15), cannot="start")
    assert "list.json" in line
    assert '{"items": [...]}' in line
    assert (tmp_path / "list.json").read_text() == LIST  # never rewritten


@pytest.mark.parametrize("target", ["out.db", "out.json"])
def test_import_of_a_top_level_array_says_the_same(tmp_path: Path, target: str) -> None:
    (tmp_path / "list.json").write_text(LIST)
    line = _one_line(run_cli("import", "list.json", target, "-q", cwd=tmp_path), cannot="copy")
    assert "list.json" in line
    assert '{"items": [...]}' in line


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param('"text"', "holds a JSON string", id="string"),
        pytest.param('{"posts": 3}', "'posts'", id="scalar-resource"),
        pytest.param('{"posts": [1]}', "posts[0] is not an object", id="record-not-object"),
        pytest.param('{"posts": [{"id": 1}, {"id": 1}]}', "two records with", id="repeated-id"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "import"])
def test_every_rule_of_the_data_file_names_it(tmp_path: Path, content: str, words: str, command: str) -> None:
    (tmp_path / "mydata.json").write_text(content)
    if command == "serve":
        result, cannot = run_cli("mydata.json", "--port", str(free_port()), cwd=tmp_path, timeout=15), "start"
    else:
        result, cannot = run_cli("import", "mydata.json", "out.db", "-q", cwd=tmp_path), "copy"
    line = _one_line(result, cannot=cannot)
    assert "mydata.json" in line
    assert words in line


# -- PostgreSQL: the URL as typed (password masked), and what to do when the database is missing ---------------


@pytest.fixture
def postgres() -> str:
    """The test server's URL (``postgresql://user@host:port/db``); skip without it, as the API tests do."""
    require_postgres()
    return testing.POSTGRES_URL


def _typed(url: str, scheme: str, password: str, database: str) -> str:
    """``url`` with a password and another database, written with ``scheme``."""
    parts = urlparse(url)
    user = parts.username or "postgres"
    return f"{scheme}://{user}:{password}@{parts.hostname}:{parts.port or 5432}/{database}"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
@pytest.mark.parametrize("command", ["serve", "export", "import"])
def test_a_missing_database_is_named_as_typed_and_createdb_is_suggested(
    tmp_path: Path, postgres: str, scheme: str, command: str
) -> None:
    database = f"jsonserve_missing_{uuid.uuid4().hex[:8]}"
    url = _typed(postgres, scheme, "s3cret", database)
    (tmp_path / "db.json").write_text('{"posts": []}')
    if command == "serve":
        result, cannot = run_cli(url, "--port", str(free_port()), cwd=tmp_path, timeout=30), "start"
    elif command == "export":
        result, cannot = run_cli("export", url, "out.json", cwd=tmp_path), "copy"
    else:
        result, cannot = run_cli("import", "db.json", url, cwd=tmp_path), "copy"
    line = _one_line(result, cannot=cannot)
    assert url.replace(":s3cret@", ":***@") in line
    assert "s3cret" not in result.stdout + result.stderr
    assert "+asyncpg" not in line
    assert f"createdb {database}" in line


def test_an_unreachable_server_is_named_as_typed(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgres://someone:s3cret@127.0.0.1:{port}/app"
    serving = _one_line(run_cli(url, "--port", str(free_port()), cwd=tmp_path, timeout=30), cannot="start")
    copying = _one_line(run_cli("export", url, "out.json", cwd=tmp_path), cannot="copy")
    for line in (serving, copying):
        assert f"postgres://someone:***@127.0.0.1:{port}/app" in line
        assert "s3cret" not in line
