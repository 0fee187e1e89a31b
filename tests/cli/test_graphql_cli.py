"""``--no-graphql`` and ``--graphql-introspection on|off``, through ``--get`` (one request, in-process)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from tests.support.cli import run_cli

INTROSPECTION = "/graphql?query=" + quote("{ __schema { queryType { name } } }")


def test_introspection_is_on_unless_turned_off_and_graphql_can_be_turned_off(tmp_path: Path) -> None:
    on = run_cli("--get", INTROSPECTION, "--quiet", cwd=tmp_path)
    off = run_cli("--graphql-introspection", "OFF", "--get", INTROSPECTION, "--quiet", cwd=tmp_path)
    gone = run_cli("--no-graphql", "--get", "/graphql?query=" + quote("{ postsCount }"), "--quiet", cwd=tmp_path)
    wrong = run_cli("--graphql-introspection", "maybe", "--get", "/graphql", cwd=tmp_path)
    assert on.returncode == 0 and json.loads(on.stdout) == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert off.returncode == 1 and json.loads(off.stdout)["errors"][0]["extensions"]["code"] == "invalid_query"
    assert gone.returncode == 1 and json.loads(gone.stdout)["status"] == 404
    assert wrong.returncode == 2 and "takes on or off, not 'maybe'" in wrong.stderr


def test_help_shows_both_options_whole(tmp_path: Path) -> None:
    help_text = run_cli("--help", cwd=tmp_path).stdout
    assert "--no-graphql" in help_text and "--graphql-introspection" in help_text
