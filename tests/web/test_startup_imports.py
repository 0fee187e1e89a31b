"""A server's start imports only what serving needs (issue 19, point 4).

GraphQL (graphql-core), the OpenAPI builder, the rate-limit library and JWT (with ``cryptography``)
were about half of what a start imported; each is now imported when first used. A fresh interpreter
builds the app as ``jsonserve SOURCE`` does and answers a list and a record: none of them may be loaded.
Then ``/graphql`` and ``/openapi.json`` load theirs, and still answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

LAZY = ("graphql", "jsonserve.gql", "jsonserve.openapi", "limits", "jwt")

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
