"""The data browser's server side (``/_/``): the page and its files, ``/_/meta.json``, ``_`` reserved.

The browser itself is driven in headless Chromium by ``tests/frontend/test_data_browser.py``; here,
in process, what it is served: a page held to its own server by a CSP, every module it imports, and
a description of the resources that follows the rules (``--auth``) and hides hidden fields.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from jsonserve.testing import serve
from jsonserve.web.browser import ASSETS_DIR

pytestmark = pytest.mark.anyio

DB: dict[str, Any] = {
    "posts": [{"id": 1, "title": "a", "views": 3}, {"id": 2, "title": None, "tags": ["x"]}],
    "notes": [{"id": 1, "text": "ada's", "userId": 1}, {"id": 2, "text": "linus's", "userId": 2}],
    "secrets": [{"id": 1, "text": "code"}],
    "profile": {"name": "typicode"},
    "users": [],
}
RULES = {"notes": "600", "secrets": {"read": "admin", "write": "admin"}, "users": "600"}
IMPORT = re.compile(r"""^import .* from '\./([a-z]+\.js)';$""", re.MULTILINE)


async def test_the_page_and_every_file_it_loads_are_served_under_a_strict_policy() -> None:
    async with serve(copy.deepcopy(DB)) as client:
        redirect = await client.get("/_")
        assert (redirect.status_code, redirect.headers["location"]) == (308, "_/")
        page = await client.get("/_/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "unsafe" not in policy
        files = set(re.findall(r'(?:src|href)="([a-z]+\.(?:js|css))"', page.text))
        assert files == {"app.js", "browser.css"}
        for module in ASSETS_DIR.glob("*.js"):  # every relative import resolves to a shipped module
            files.update(IMPORT.findall(module.read_text()))
        for name in files:
            served = await client.get(f"/_/{name}")
            assert served.status_code == 200, name
            assert served.text == (ASSETS_DIR / name).read_text()
        assert (await client.get("/_/nothing.js")).status_code == 404
        assert (await client.post("/_/", json={})).status_code == 405
        assert (await client.post("/_", json={})).status_code == 405


async def test_meta_describes_each_resource_with_its_count_and_shape(tmp_path: Path) -> None:
    schema = {"posts": {"type": "object", "properties": {"title": {"type": "string", "minLength": 1}}}}
    (tmp_path / "schema.json").write_bytes(orjson.dumps(schema))
    async with serve(copy.deepcopy(DB), schema_file=tmp_path / "schema.json", compat="1") as client:
        meta = (await client.get("/_/meta.json")).json()
        resources = {resource["name"]: resource for resource in meta["resources"]}
        assert (meta["compat"], meta["idField"], meta["auth"], meta["readOnly"]) == ("1", "id", None, False)
        assert resources["posts"] == {
            "name": "posts",
            "kind": "plural",
            "count": 2,
            "declared": True,
            "schema": schema["posts"],
        }
        notes = resources["notes"]
        assert (notes["count"], notes["declared"]) == (2, False)
        assert notes["schema"]["properties"]["text"] == {"type": "string"}
        assert resources["profile"]["kind"] == "singular" and resources["profile"]["count"] is None
        await client.post("/notes", json={"text": "more", "stars": 5})
        notes = {r["name"]: r for r in (await client.get("/_/meta.json")).json()["resources"]}["notes"]
        assert notes["count"] == 3 and notes["schema"]["properties"]["stars"] == {"type": "integer"}
        assert (await client.delete("/_/meta.json")).status_code == 405


async def test_meta_lists_what_the_caller_may_read_without_hidden_fields(tmp_path: Path) -> None:
    (tmp_path / "rules.json").write_bytes(orjson.dumps(RULES))
    async with serve(copy.deepcopy(DB), auth=True, rules_file=tmp_path / "rules.json") as client:
        anonymous = (await client.get("/_/meta.json")).json()
        assert [r["name"] for r in anonymous["resources"]] == ["posts", "profile"]
        assert anonymous["auth"] == {"refresh": True} and anonymous["user"] is None
        registered = await client.post("/register", json={"email": "ada@example.com", "password": "a long password"})
        token = registered.json()["accessToken"]
        ada = (await client.get("/_/meta.json", headers={"Authorization": f"Bearer {token}"})).json()
        names = {r["name"]: r for r in ada["resources"]}
        assert set(names) == {"posts", "notes", "profile", "users"} and ada["user"] == "1"
        assert names["notes"]["count"] == 1  # her own note only (userId 1)
        hidden = {"password", "tokenVersion", "refreshTokens"}
        assert hidden.isdisjoint(names["users"]["schema"]["properties"]), names["users"]["schema"]
        assert hidden.isdisjoint(names["users"]["schema"].get("required", []))
        bad = await client.get("/_/meta.json", headers={"Authorization": "Bearer nonsense"})
        assert bad.status_code == 401


async def test_underscore_is_reserved_and_the_browser_lives_under_base() -> None:
    async with serve(copy.deepcopy(DB), auto_create=True) as client:
        assert (await client.post("/_", json={"a": 1})).status_code == 405
        assert "_" not in (await client.get("/db")).json()
    async with serve(copy.deepcopy(DB), base="/api/v1") as client:
        assert (await client.get("/api/v1/_/")).status_code == 200
        assert (await client.get("/api/v1/_/meta.json")).json()["resources"][0]["name"] == "posts"
        assert (await client.get("/api/v1/_/app.js")).status_code == 200
