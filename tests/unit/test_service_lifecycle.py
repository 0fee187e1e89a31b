"""``async with service:`` opens the storage and closes it, flushing acknowledged writes to the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jsonserve.config import Settings
from jsonserve.errors import StorageCorrupt
from jsonserve.service import build_service

pytestmark = pytest.mark.anyio


async def test_async_with_opens_and_closes_the_storage(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    data.write_text(json.dumps({"posts": [{"id": 1, "title": "a"}]}))
    service = build_service(Settings(source=str(data)))
    async with service as opened:
        assert opened is service
        assert (await service.get("posts", "1"))["title"] == "a"  # loaded: open() ran
        await service.create("posts", {"title": "b"})
    # aclose() compacted the write into the file (the journal alone would wait for the next start)
    assert json.loads(data.read_text()) == {"posts": [{"id": 1, "title": "a"}, {"title": "b", "id": 2}]}


async def test_a_storage_that_cannot_open_raises_from_async_with(tmp_path: Path) -> None:
    data = tmp_path / "db.json"
    data.write_text('{"posts": [')
    with pytest.raises(StorageCorrupt):
        async with build_service(Settings(source=str(data))):
            pytest.fail("the body must not run")
    assert data.read_text() == '{"posts": ['
