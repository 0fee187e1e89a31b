"""The catalogue: what is served, and a version that moves whenever that may have changed."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from jsonserve.errors import NotFound
from jsonserve.openapi import Documents
from jsonserve.realtime.hub import Hub
from jsonserve.schema.declared import RecordSchema
from jsonserve.schema.kind import Kind
from jsonserve.service import Catalogue, Service, ServiceOptions
from jsonserve.storage.file.document import encode_document
from jsonserve.storage.file.jsonfile import JsonFileStorage
from jsonserve.storage.file.memory import MemoryStorage

pytestmark = pytest.mark.anyio

DATA: dict[str, Any] = {
    "posts": [{"id": 1, "title": "a", "userId": 1}],
    "users": [{"id": 1, "name": "ada"}],
    "profile": {"name": "typicode"},
}
USERS = RecordSchema("users", {"type": "object", "properties": {"name": {"type": "string"}}})


async def _service(data: dict[str, Any] = DATA, **options: Any) -> Service:
    storage = MemoryStorage(copy.deepcopy(data), id_field=options.pop("id_field", "id"))
    await storage.open()
    schemas = options.pop("schemas", {})
    return Service(storage, Hub(), ServiceOptions(**options), schemas)


async def test_what_the_catalogue_knows() -> None:
    service = await _service(compat="1", timestamps=True, fk_suffix="_id", schemas={"users": USERS})
    catalogue: Catalogue = service.catalogue
    assert catalogue.kinds() == {"posts": Kind.PLURAL, "users": Kind.PLURAL, "profile": Kind.SINGULAR}
    assert catalogue.kind("profile") is Kind.SINGULAR
    with pytest.raises(NotFound):
        catalogue.kind("nope")
    assert catalogue.collections() == ["posts", "users"]
    assert catalogue.relations().foreign_key("users") == "user_id"
    assert (catalogue.compat, catalogue.timestamps, catalogue.read_only, catalogue.auto_create) == (
        "1",
        True,
        False,
        False,
    )
    assert catalogue.id_field == "id" and catalogue.fk_suffix == "_id"
    assert catalogue.managed_fields == ("id", "createdAt", "updatedAt")
    assert catalogue.declared("users") is USERS and catalogue.declared("posts") is None


async def test_creatable_names() -> None:
    plain = (await _service()).catalogue
    assert not plain.creatable("events")  # neither --auto-create nor a declared schema
    catalogue = (await _service(auto_create=True, reserved=frozenset({"docs"}))).catalogue
    assert catalogue.creatable("events")
    assert not catalogue.creatable("posts")  # exists
    assert not catalogue.creatable("docs")  # reserved
    assert not catalogue.creatable("1st") and not catalogue.creatable("a b")
    declared = (await _service({"posts": []}, schemas={"users": USERS})).catalogue
    assert declared.creatable("users") and not declared.creatable("events")


async def test_shapes_of_collections_and_singulars() -> None:
    catalogue = (await _service(id_field="id")).catalogue
    posts = (await catalogue.shape("posts")).to_json_schema()
    assert set(posts["properties"]) == {"id", "title", "userId"}
    profile = (await catalogue.shape("profile")).to_json_schema()
    assert profile["properties"] == {"name": {"type": "string"}}


async def test_the_version_holds_while_nothing_changes() -> None:
    service = await _service()
    catalogue = service.catalogue
    version = catalogue.version
    await catalogue.shape("posts")
    assert catalogue.version == version
    await service.patch("posts", "1", {"title": "b"})  # the same shape
    assert catalogue.version == version


async def test_a_widened_shape_is_a_new_version() -> None:
    service = await _service()
    catalogue = service.catalogue
    await catalogue.shape("posts")
    version = catalogue.version
    await service.patch("posts", "1", {"tags": ["x"]})
    assert catalogue.version > version
    assert "tags" in (await catalogue.shape("posts")).fields


async def test_a_new_collection_is_a_new_version() -> None:
    service = await _service(auto_create=True)
    version = service.catalogue.version
    await service.create("events", {"kind": "click"})
    assert service.catalogue.version > version
    assert "events" in service.catalogue.collections()


async def test_a_singular_write_is_a_new_version() -> None:
    service = await _service()
    version = service.catalogue.version
    await service.patch_singular("profile", {"age": 3})
    assert service.catalogue.version > version
    assert "age" in (await service.catalogue.shape("profile")).fields


async def test_a_reload_is_a_new_version(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_bytes(encode_document(copy.deepcopy(DATA)))
    storage = JsonFileStorage(path, watch=True)
    await storage.open()
    try:
        catalogue = Service(storage, Hub()).catalogue
        version = catalogue.version
        edited = orjson.dumps({**DATA, "comments": [{"id": 1, "postId": 1}]})
        for attempt in range(500):  # the watcher may not be watching yet: edit again every 0.5 s, for 10 s
            if attempt % 25 == 0:
                path.write_bytes(edited)
            await asyncio.sleep(0.02)
            if storage.generation():
                break
        assert storage.generation() >= 1
        assert catalogue.version > version
        assert "comments" in catalogue.collections()
    finally:
        await storage.aclose()


async def test_the_openapi_document_is_built_again_only_for_a_new_version() -> None:
    service = await _service()
    documents = Documents(service.catalogue)
    first = await documents.document("/")
    assert await documents.document("/") is first  # cached
    assert (await documents.document("/api"))["servers"] == [{"url": "/api"}]  # per server URL
    await service.patch("posts", "1", {"title": "same shape"})
    assert await documents.document("/") is first
    await service.patch("posts", "1", {"views": 3})
    second = await documents.document("/")
    assert second is not first
    assert "views" in second["components"]["schemas"]["posts"]["properties"]
