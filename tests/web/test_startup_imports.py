"""A server's start imports only what serving needs (issue 19, point 4).

GraphQL (graphql-core), the OpenAPI builder, the rate-limit library and JWT (with ``cryptography``)
were about half of what a start imported; each is now imported when first used. A fresh interpreter
builds the app as ``jsonserve SOURCE`` does and answers a list and a record: none of them may be loaded.
Then ``/graphql`` and ``/openapi.json`` load theirs, and still answer.

Typer (and pydantic, which Typer converts values with: ~0.08 s), ``cryptography`` (HTTPS only) and
``prometheus_client`` (``--metrics`` only) are not imported either: the second test runs the real
command line, ``jsonserve db.json --get /posts/1`` with a ``jsonserve.toml`` beside it, and the third
checks that ``--help`` still loads Typer (so the second would see it if a start did).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

LAZY = ("graphql", "jsonserve.gql", "jsonserve.openapi", "limits", "jwt", "typer", "pydantic", "cryptography")
SERVING = ("typer", "pydantic", "cryptography", "prometheus_client", "jsonserve.cli.servetyper")

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    import jsonserve.cli.serve, jsonserve.server
    from jsonserve.config import Settings
    from jsonserve.service import build_service
    from jsonserve.storage.file.memory import MemoryStorage
    from jsonserve.web.app import create_app
    from jsonserve.web.inprocess import open_client

    LAZY = {lazy!r}

    def loaded():
        return sorted(name for name in LAZY if name in sys.modules)

    async def main():
        settings = Settings(quiet=True)
        service = build_service(settings, MemoryStorage({{"posts": [{{"id": 1, "title": "a"}}]}}))
        async with service:
            async with open_client(create_app(settings, service, manage_storage=False)) as client:
                statuses = [(await client.get(path)).status_code for path in ("/posts?_page=1", "/posts/1")]
                before = loaded()
                graphql = await client.post("/graphql", json={{"query": "{{ posts {{ id title }} }}"}})
                openapi = await client.get("/openapi.json")
                statuses += [graphql.status_code, openapi.status_code]
        print(json.dumps({{"statuses": statuses, "before": before, "after": loaded()}}))

    asyncio.run(main())
    """
)


def test_a_start_imports_no_graphql_openapi_rate_limits_or_jwt() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(lazy=LAZY)], capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["statuses"] == [200, 200, 200, 200]
    assert seen["before"] == []
    assert {"graphql", "jsonserve.gql", "jsonserve.openapi"} <= set(seen["after"])


COMMAND_LINE = textwrap.dedent(
    """
    import json, sys
    from jsonserve.cli import main

    try:
        main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
    print(json.dumps({{"code": code, "loaded": sorted(m for m in {serving!r} if m in sys.modules)}}), file=sys.stderr)
    """
)


def _command_line(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    script = COMMAND_LINE.format(serving=SERVING)
    result = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )
    return result, json.loads(result.stderr.strip().splitlines()[-1])


def test_the_command_line_of_a_start_imports_no_typer_pydantic_tls_or_metrics(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text('{"posts": [{"id": 1, "title": "a"}]}')
    (tmp_path / "jsonserve.toml").write_text('compat = "1"\nmax-body = "2MiB"\n')
    result, seen = _command_line(tmp_path, "db.json", "--get", "/posts/1", "--port", "3001", "--index", "posts.title")
    assert seen == {"code": 0, "loaded": []}, result.stderr
    assert json.loads(result.stdout) == {"id": 1, "title": "a"}


def test_help_and_usage_errors_still_come_from_typer(tmp_path: Path) -> None:
    result, seen = _command_line(tmp_path, "--help")
    assert seen["code"] == 0 and "typer" in seen["loaded"] and "╭─ Options" in result.stdout
    result, seen = _command_line(tmp_path, "--port", "x")
    assert seen["code"] == 2 and "typer" in seen["loaded"] and "Invalid value for '--port'" in result.stderr
