"""Command-line mistakes end in one clear line (or a usage error), never in a traceback (issue 13, point 7).

Each case is one a user makes: a folder that does not exist, a URL where a file is expected, a driver
that is not installed. The command must exit non-zero, say what is wrong in the words of the
command line, print no Python traceback, and leave nothing behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.server import free_port

TRACE = ("Traceback", 'File "', "Error:")  # "Error:" catches a Python exception's last line (RuntimeError: ...)
DB = {"posts": [{"id": 1, "title": "one"}]}


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command printed on stderr (nothing on stdout, no traceback)."""
    for marker in TRACE:
        assert marker not in result.stderr, result.stderr
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    """Typer's usage error (exit 2), its box flattened to one string."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "db.json").write_text(json.dumps(DB))
    return tmp_path


def leftovers(folder: Path) -> list[str]:
    """Files in ``folder`` besides the test's own ``db.json``."""
    return sorted(path.name for path in folder.iterdir() if path.name != "db.json")


# -- serving ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("static", ["nodir", "db.json"], ids=["missing", "a-file"])
def test_static_must_be_a_folder(folder: Path, static: str) -> None:
    message = usage_error(run_cli("db.json", "--static", static, "--port", str(free_port()), cwd=folder))
    assert "--static" in message
    assert static in message


def test_a_json_source_in_a_missing_folder(folder: Path) -> None:
    result = run_cli("nosuchdir/db.json", "--port", str(free_port()), cwd=folder)
    assert result.returncode == 1
    missing = folder.resolve() / "nosuchdir"
    assert (
        one_line(result)
        == f"jsonserve: cannot start: cannot open {missing}/db.json: the folder {missing} does not exist"
    )
    assert leftovers(folder) == []


def test_a_port_in_use_creates_no_json_file(folder: Path) -> None:
    """A missing JSON file is created with the sample data once the port is bound (and the file locked), not before."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = run_cli("new.json", "--port", str(port), cwd=folder)
    assert result.returncode == 1
    assert one_line(result) == f"jsonserve: cannot start: 127.0.0.1:{port} is in use (try --port)"
    assert leftovers(folder) == []


@pytest.mark.parametrize("source", ["nosuchdir/app.db", "sqlite:///nosuchdir/app.db"])
def test_a_sqlite_source_in_a_missing_folder(folder: Path, source: str) -> None:
    """SQLite cannot create the file: one line (the pools are closed before the loop: no thread's traceback)."""
    result = run_cli(source, "--get", "/posts", cwd=folder)
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("jsonserve: cannot start: cannot open the database "), line
    assert "nosuchdir/app.db" in line


@pytest.mark.parametrize("url", ["https://example.com/db.json", "http://localhost:3000/db"])
def test_a_url_source_says_to_download_it_first(folder: Path, url: str) -> None:
    """json-server 0.17 serves a remote JSON document; we say it is not supported and how to download it."""
    result = run_cli(url, "--port", str(free_port()), cwd=folder)
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith(f"jsonserve: cannot start: cannot serve {url!r}: a URL is not supported"), line
    assert f"curl -o db.json {url}" in line
    assert leftovers(folder) == []


@pytest.mark.parametrize("source", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database(folder: Path, source: str) -> None:
    """Each pooled connection would see its own empty database (it was a TypeError from SQLAlchemy's pool)."""
    result = run_cli(source, "--get", "/posts", cwd=folder)
    assert result.returncode == 1
    line = one_line(result)
    assert f"cannot serve {source!r}: an in-memory SQLite database is not supported" in line, line


def test_ctrl_c_before_the_server_handles_it_is_no_traceback(folder: Path) -> None:
    """Ctrl+C while the server's modules load (before Typer, which handles it while a command runs): 130, quietly."""
    code = (
        "import builtins\n"
        "real = builtins.__import__\n"
        "def interrupted(name, *args, **kwargs):\n"
        "    if name == 'jsonserve.cli.serve': raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupted\n"
        "from jsonserve.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "db.json", "--port", "0", "--quiet"],
        cwd=folder, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 130
    assert result.stderr == ""
    assert leftovers(folder) == []


def test_a_source_no_backend_serves(folder: Path) -> None:
    result = run_cli("data.yaml", "--port", str(free_port()), cwd=folder)
    assert result.returncode == 1
    assert "give a .json file, a SQLite file" in one_line(result)


def test_a_routes_file_that_does_not_exist(folder: Path) -> None:
    message = usage_error(run_cli("db.json", "--routes", "missing.json", cwd=folder))
    assert "cannot read routes from missing.json" in message


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--max-body", "lots", "is not a size such as 1MiB"),
        ("--delay", "-5", "--delay"),
        ("--workers", "0", "--workers"),
        ("--header-timeout", "soon", "--header-timeout"),
        ("--compat", "2", "takes 0.17 or 1, not '2'"),
        ("--index", "userId", "is not COLLECTION.FIELD"),
        ("--host", "", "Invalid value for '--host': must not be empty"),  # listened everywhere, printed http://:3000
        ("--id", " ", "Invalid value for '--id' / '-i': must not be empty"),
        ("--base", "api v1", "'api v1' is not a URL path such as /api/v1"),  # served nothing
        ("--get", "http://[bad", "'http://[bad' is not a URL or a path such as /posts/1"),  # answered the home page
        ("--get", "/posts?q=" + "x" * 70_000, "characters long; at most 65,536 are served"),  # an httpx traceback
    ],
)
def test_a_bad_option_value_is_a_usage_error(folder: Path, option: str, value: str, words: str) -> None:
    assert words in usage_error(run_cli("db.json", option, value, "--port", str(free_port()), cwd=folder))


# -- init, import and export ----------------------------------------------------------------------------------


def test_init_in_a_missing_folder(folder: Path) -> None:
    result = run_cli("init", "nosuchdir/db.json", cwd=folder)
    assert result.returncode == 1
    assert one_line(result) == "cannot write nosuchdir/db.json: the folder nosuchdir does not exist"


def test_init_onto_a_folder(folder: Path) -> None:
    (folder / "data").mkdir()
    result = run_cli("init", "data", "--force", cwd=folder)
    assert result.returncode == 1
    assert one_line(result).startswith("cannot write data: ")


@pytest.mark.parametrize("target", ["nosuchdir/out.json", "nosuchdir/app.db"])
def test_import_into_a_missing_folder(folder: Path, target: str) -> None:
    result = run_cli("import", "db.json", target, cwd=folder)
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("jsonserve: cannot copy: "), line
    assert "nosuchdir" in line
    assert leftovers(folder) == []


def test_import_from_a_url(folder: Path) -> None:
    result = run_cli("import", "https://example.com/db.json", "app.db", cwd=folder)
    assert result.returncode == 1
    assert "curl -o db.json https://example.com/db.json" in one_line(result)


WITHOUT = "import sys; sys.modules[{module!r}] = None; from jsonserve.cli import main; main()"


@pytest.mark.parametrize(
    ("module", "target", "install"),
    [
        ("asyncpg", "postgresql://postgres@127.0.0.1:5432/test", "pip install 'jsonserve[postgres]'"),
        ("aiosqlite", "app.db", "pip install --force-reinstall jsonserve"),
        ("sqlalchemy", "app.db", "pip install --force-reinstall jsonserve"),
    ],
)
@pytest.mark.parametrize("command", ["import", "serve"])
def test_a_missing_driver_names_what_to_install(
    folder: Path, module: str, target: str, install: str, command: str
) -> None:
    """A driver that is not installed (simulated: its import fails) is named, with the command that installs it."""
    args = ["import", "db.json", target] if command == "import" else [target, "--get", "/posts"]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT.format(module=module), *args],
        cwd=folder, capture_output=True, text=True, timeout=60, check=False,
        env={key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")},
    )  # fmt: skip
    assert result.returncode == 1
    line = one_line(result)
    assert f"needs {module}: {install}" in line, line
    assert not (folder / "app.db").exists()
