"""The ``jsonserve`` command, run as a real process (json-server.md §8, §11)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.cli import run_cli
from tests.support.server import Server, free_port, start_server

run = run_cli


# -- --get ----------------------------------------------------------------------------------------


def test_get_prints_the_json_and_exits_0(tmp_path: Path) -> None:
    result = run("--get", "/posts/1", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    post = json.loads(result.stdout)
    assert post["id"] == 1
    assert post["userId"] == 1
    assert result.stdout.startswith('{\n  "userId": 1,\n  "id": 1,')


def test_get_of_a_missing_record_exits_1(tmp_path: Path) -> None:
    result = run("--get", "/posts/999", "--quiet", cwd=tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout)["status"] == 404  # the problem+json body says why
    assert result.stderr == ""


@pytest.mark.parametrize("quiet", [[], ["--quiet"]], ids=["", "quiet"])
@pytest.mark.parametrize("source", [[], ["db.json"]], ids=["demo", "file"])
def test_get_prints_the_answer_on_stdout_and_nothing_else(tmp_path: Path, quiet: list[str], source: list[str]) -> None:
    """An in-process request: no httpx log line ("HTTP Request: GET ..."), no status line, on stderr (issue 13, 9)."""
    (tmp_path / "db.json").write_text(json.dumps({"posts": [{"id": 1}]}))
    result = run(*source, "--get", "/posts/1", *quiet, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["id"] == 1


def test_get_reads_a_data_file(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    document = {"books": [{"id": 7, "title": "Dune"}, {"id": "b", "title": "Emma"}]}
    data.write_text(json.dumps(document))
    result = run("db.json", "--get", "books?title=Dune", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"id": 7, "title": "Dune"}]
    assert json.loads(data.read_text()) == document  # ids keep their types


# -- init and a missing source ------------------------------------------------------------------------


def test_init_writes_a_starter_file_and_refuses_to_overwrite(tmp_path: Path) -> None:
    created = run("init", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    starter = json.loads((tmp_path / "db.json").read_text())
    assert {"posts", "comments", "users", "profile"} <= starter.keys()
    assert starter["posts"]
    assert starter["comments"][0]["postId"] == starter["posts"][0]["id"]

    (tmp_path / "db.json").write_text('{"mine": []}')
    refused = run("init", cwd=tmp_path)
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    assert (tmp_path / "db.json").read_text() == '{"mine": []}'

    forced = run("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert json.loads((tmp_path / "db.json").read_text()) == starter


def test_init_takes_a_file_name(tmp_path: Path) -> None:
    assert run("init", "other.json", cwd=tmp_path).returncode == 0
    assert "posts" in json.loads((tmp_path / "other.json").read_text())
    assert not (tmp_path / "db.json").exists()


def test_a_missing_json_source_is_created_with_sample_data(tmp_path: Path) -> None:
    result = run("new.json", "--get", "/posts", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "new.json" in result.stderr
    on_disk = json.loads((tmp_path / "new.json").read_text())
    assert on_disk["posts"]
    assert json.loads(result.stdout) == on_disk["posts"]


# -- options -----------------------------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    from jsonserve import __version__

    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"jsonserve {__version__}"


@pytest.mark.parametrize("value", ["2", "0.16", "latest", ""])
def test_a_bad_compat_value_is_an_error(tmp_path: Path, value: str) -> None:
    result = run("--compat", value, "--get", "/posts/1", cwd=tmp_path)
    assert result.returncode != 0
    assert "--compat" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# -- a data file that cannot be served -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param('{"posts": [\n  {"id": 1,', "not valid JSON", id="truncated"),
        pytest.param("", "empty", id="empty"),
        pytest.param("   \n", "empty", id="blank"),
        pytest.param('{"posts": 1}', "posts", id="scalar-resource"),
        pytest.param("[1, 2]", "JSON object", id="array"),
    ],
)
def test_an_unusable_file_refuses_to_start(tmp_path: Path, content: str, words: str) -> None:
    data = tmp_path / "db.json"
    data.write_text(content)
    result = run("db.json", "--port", str(free_port()), cwd=tmp_path, timeout=15)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line message, got:\n{result.stderr}"
    assert "cannot start" in lines[0]
    assert words in lines[0]
    assert data.read_text() == content  # never rewritten
    assert not list(tmp_path.glob(".db.json.tmp*"))


# -- a real server ------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_demo_data_over_a_socket_and_sigterm_exits_0(tmp_path: Path) -> None:
    server = start_server([], tmp_path)
    try:
        response = httpx.get(server.url + "/posts/1", timeout=5)
        assert response.status_code == 200
        assert response.json()["id"] == 1
        assert response.json()["userId"] == 1
        assert len(httpx.get(server.url + "/posts", timeout=5).json()) == 100
    finally:
        server.stop()
    assert server.process.returncode == 0, server.output()
    assert "Traceback" not in server.output()


@pytest.mark.e2e
def test_sigterm_leaves_the_data_file_compacted(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    data.write_text(json.dumps({"posts": [{"id": 1, "title": "first"}]}))
    server = start_server(["db.json"], tmp_path)
    try:
        created = httpx.post(server.url + "/posts", json={"title": "durable"}, timeout=5)
        assert created.status_code == 201
    finally:
        server.stop()  # at once: well within the compaction delay
    assert server.process.returncode == 0, server.output()
    assert json.loads(data.read_text()) == {"posts": [{"id": 1, "title": "first"}, {"title": "durable", "id": 2}]}
    assert not list(tmp_path.glob(".db.json.tmp*"))


@pytest.mark.e2e
def test_serving_a_file_imports_no_schema_validator_no_http_client_no_copy_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They cost ~0.1 s of every start (0.44 s -> 0.33 s): only ``--schema``, ``--get`` and ``copy`` load them."""
    (tmp_path / "db.json").write_text(json.dumps({"posts": [{"id": 1}]}))
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # the server logs every module it imports
    server = start_server(["db.json"], tmp_path)
    try:
        assert httpx.post(server.url + "/posts", json={"title": "x"}, timeout=5).status_code == 201
        assert httpx.get(server.url + "/posts?title_like=x", timeout=5).status_code == 200
    finally:
        server.stop()
    imported = {
        line.rsplit("|", 1)[1].strip() for line in server.output().splitlines() if line.startswith("import time:")
    }
    assert "jsonserve.web.app" in imported, "PYTHONPROFILEIMPORTTIME had no effect"
    needless = sorted(imported & {"jsonschema", "httpx", "rich.progress", "jsonserve.storage.transfer"})
    assert not needless, f"imported to serve a JSON file: {needless}"


# -- without uvloop ------------------------------------------------------------------------------------------

WITHOUT_UVLOOP = "import sys; sys.modules['uvloop'] = None; from jsonserve.cli import main; main()"


def test_get_without_uvloop(tmp_path: Path) -> None:
    """uvloop is optional (``uvicorn[standard]`` leaves it out on Windows): asyncio's own loop serves."""
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_UVLOOP, "--get", "/posts/1", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == 1


@pytest.mark.e2e
def test_a_server_without_uvloop_serves_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", WITHOUT_UVLOOP, "--port", str(port), "--quiet"],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None and time.monotonic() < deadline, server.output()
            try:
                response = httpx.get(server.url + "/posts/1", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert response.json()["id"] == 1
    finally:
        server.stop()
    assert process.returncode == 0, server.output()
