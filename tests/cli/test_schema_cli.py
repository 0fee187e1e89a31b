"""``--schema FILE``: a file the server cannot use stops it with one clear line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli

DB = {"posts": [{"id": 1, "title": "hello"}]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "db.json").write_text(json.dumps(DB))
    return tmp_path


def assert_refused(folder: Path, schema_file: str, *expected: str, source: str = "db.json") -> None:
    """The server refuses to start: exit 1, one stderr line holding ``expected``, the data untouched."""
    result = run_cli(source, "--schema", schema_file, "--port", "0", "--quiet", cwd=folder, timeout=30)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("jsonserve: cannot start: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    assert json.loads((folder / "db.json").read_text()) == DB


def test_a_missing_schema_file(folder: Path) -> None:
    assert_refused(folder, "missing.json", "cannot read the schema file missing.json", "No such file or directory")


def test_a_schema_file_that_is_a_folder(folder: Path) -> None:
    (folder / "schemas").mkdir()
    assert_refused(folder, "schemas", "cannot read the schema file schemas", "Is a directory")


def test_a_schema_file_that_is_not_json(folder: Path) -> None:
    (folder / "broken.json").write_text('{"posts": {"type": ')
    assert_refused(folder, "broken.json", "the schema file broken.json is not valid JSON")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('["posts"]', "the schema file shapes.json must be a JSON object: collection name -> JSON Schema"),
        ('{"posts": 3}', "the schema for 'posts' must be a JSON object"),
        ('{"posts": {"type": "nope"}}', "the schema for 'posts' is invalid at /type"),
        ('{"posts": {"properties": {"n": {"minLength": -1}}}}', "the schema for 'posts' is invalid at /properties/n"),
    ],
)
def test_an_invalid_schema(folder: Path, content: str, expected: str) -> None:
    (folder / "shapes.json").write_text(content)
    assert_refused(folder, "shapes.json", expected)


def test_a_sqlite_source_is_refused_before_it_is_created(folder: Path) -> None:
    assert_refused(folder, "missing.json", "cannot read the schema file missing.json", source="app.db")
    assert not (folder / "app.db").exists()


def test_one_shot_get_reports_the_schema_error_too(folder: Path) -> None:
    (folder / "shapes.json").write_text('{"posts": {"type": "nope"}}')
    result = run_cli("db.json", "--schema", "shapes.json", "--get", "/posts", cwd=folder, timeout=30)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "jsonserve: cannot start: the schema for 'posts' is invalid at /type: "
        "'nope' is not valid under any of the given schemas"
    ]


def test_a_valid_schema_file_is_used(folder: Path) -> None:
    (folder / "shapes.json").write_text(json.dumps({"posts": {"type": "object", "required": ["title"]}}))
    result = run_cli("db.json", "--schema", "shapes.json", "--get", "/posts", "--quiet", cwd=folder, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == DB["posts"]


def test_markup_like_text_in_a_collection_name_is_printed_as_is(folder: Path) -> None:
    (folder / "shapes.json").write_text('{"a[/]b": {"type": "nope"}}')
    assert_refused(folder, "shapes.json", "the schema for 'a[/]b' is invalid at /type")


def test_markup_like_text_in_a_file_name_is_printed_as_is(folder: Path) -> None:
    assert_refused(folder, "schemas[v2].json", "cannot read the schema file schemas[v2].json")


# -- a schema for a name the data does not have (issue 13, point 8) ------------------------------------------


@pytest.mark.parametrize("source", ["db.json", "app.db"])
def test_a_schema_for_a_missing_collection_is_refused_with_the_valid_names(folder: Path, source: str) -> None:
    """A typo ("post" for "posts") would leave validation quietly off: refuse, naming the resources there are."""
    if source == "app.db":
        assert run_cli("import", "db.json", "app.db", "-q", cwd=folder).returncode == 0
    (folder / "shapes.json").write_text(json.dumps({"post": {"type": "object", "required": ["title"]}}))
    assert_refused(
        folder,
        "shapes.json",
        "--schema declares 'post', but the data has no resource of that name (its resources: posts); "
        "correct the name, or add --auto-create to let a POST create it",
        source=source,
    )


def test_with_auto_create_a_schema_for_a_missing_collection_is_a_warning(folder: Path) -> None:
    (folder / "shapes.json").write_text(json.dumps({"notes": {"type": "object", "required": ["text"]}}))
    args = ["db.json", "--schema", "shapes.json", "--auto-create", "--get", "/posts"]
    result = run_cli(*args, cwd=folder, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "WARNING: --schema declares 'notes', not in the data yet: a POST will create it (--auto-create)"
    ]
    assert json.loads(result.stdout) == DB["posts"]
