"""The realtime demo's server side (``/realtime/demo``): the page, what it loads, where it yields to the data.

The page itself runs in headless Chromium in ``tests/frontend/test_realtime_demo.py``; here, in
process: it is held to its own server by the data browser's CSP, every file it refers to (and every
module those import) is served, it lives under ``--base``, and a collection named ``realtime`` takes
the path (as ``docs`` and ``graphql`` do), the home page then leaving out its link.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import urljoin

import pytest

from jsonserve.testing import serve
from jsonserve.web.browser import ASSETS_DIR

pytestmark = pytest.mark.anyio

DB: dict[str, Any] = {"posts": [{"id": 1, "title": "a"}], "profile": {"name": "typicode"}}
REFERENCE = re.compile(r'(?:src|href)="(\.\./_/[a-z]+\.(?:js|css))"')
IMPORT = re.compile(r"""^import .* from '\./([a-z]+\.js)';$""", re.MULTILINE)


async def test_the_page_and_every_file_it_loads_are_served_under_the_browsers_policy() -> None:
    async with serve(copy.deepcopy(DB)) as client:
        page = await client.get("/realtime/demo")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "unsafe" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "http:" not in page.text and "https:" not in page.text, "nothing from elsewhere"
        files = [urljoin("/realtime/demo", reference) for reference in REFERENCE.findall(page.text)]
        assert files == ["/_/browser.css", "/_/demo.css", "/_/demo.js"]
        modules = {"demo.js"}
        while modules:  # every relative import, transitively, is a shipped and served module
            name = modules.pop()
            served = await client.get(f"/_/{name}")
            assert served.status_code == 200 and served.text == (ASSETS_DIR / name).read_text(), name
            files.append(f"/_/{name}")
            modules.update(set(IMPORT.findall(served.text)) - {path.rsplit("/", 1)[1] for path in files})
        assert {"/_/api.js", "/_/live.js", "/_/dom.js", "/_/problem.js"} <= set(files)
        for path in files:
            assert (await client.get(path)).status_code == 200, path
        assert (await client.head("/realtime/demo")).status_code == 200
        refused = await client.post("/realtime/demo", json={})
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD, OPTIONS"
        home = (await client.get("/")).text
        assert re.search(r'href="[^"]*/realtime/demo"', home), "the home page links the demo"


async def test_a_collection_named_realtime_takes_the_path_and_the_home_page_drops_the_link() -> None:
    data = {**copy.deepcopy(DB), "realtime": [{"id": "demo", "text": "mine"}, {"id": "other"}]}
    async with serve(data) as client:
        record = await client.get("/realtime/demo")
        assert record.status_code == 200 and record.json() == {"id": "demo", "text": "mine"}
        changed = await client.patch("/realtime/demo", json={"text": "changed"})
        assert changed.status_code == 200 and changed.json()["text"] == "changed"
        assert (await client.get("/realtime")).json()[0] == {"id": "demo", "text": "changed"}
        assert "realtime/demo" not in (await client.get("/")).text
    async with serve({**copy.deepcopy(DB), "realtime": []}) as client:
        missing = await client.get("/realtime/demo")
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_the_page_lives_under_base() -> None:
    async with serve(copy.deepcopy(DB), base="/api/v1") as client:
        page = await client.get("/api/v1/realtime/demo")
        assert page.status_code == 200
        for reference in REFERENCE.findall(page.text):
            path = urljoin("/api/v1/realtime/demo", reference)
            assert path.startswith("/api/v1/_/") and (await client.get(path)).status_code == 200, path
        assert (await client.get("/realtime/demo")).status_code == 404
        assert '/api/v1/realtime/demo"' in (await client.get("/api/v1/")).text
