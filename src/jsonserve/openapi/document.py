"""The OpenAPI 3.1 document of the live data: every collection, singular resource and route.

Built from the service's :class:`~jsonserve.service.catalogue.Catalogue` alone, which knows what is
served now (so a collection added by ``--auto-create`` or an edit under ``--watch`` appears at once),
the shapes it keeps current without rescans, the schemas ``--schema`` declares, and the first
records anyone may read (the examples, :mod:`jsonserve.openapi.examples`).
:class:`Documents` keeps the last document built and builds again only when the catalogue's
version moves.

Example:
    >>> document = await build_document(service.catalogue, "/")  # doctest: +SKIP
    >>> sorted(document["paths"])[:2]  # doctest: +SKIP
    ['/albums', '/albums/{id}']
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from jsonserve import __version__
from jsonserve.openapi.examples import NONE, Examples, examples, singular_examples
from jsonserve.openapi.models import VALUE_SCHEMAS, Managed, RecordModels, record_models, singular_models
from jsonserve.openapi.operations import CollectionOps, Names, collection_paths, singular_paths
from jsonserve.openapi.parameters import filterable
from jsonserve.openapi.responses import HEADERS, PROBLEM_SCHEMA, REQUEST_HEADERS, problem_components
from jsonserve.schema import Kind
from jsonserve.schema.relations import Relations
from jsonserve.service.catalogue import Catalogue

Json = dict[str, Any]
MAX_SERVER_URLS = 8
SAMPLED = 5  # records read per collection for its examples (a few may not fit)


class Documents:
    """The document for each server URL, built again only when the catalogue's version has moved.

    A document is shared by every request until then: callers must not change it.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue
        self._built: dict[str, tuple[int, Json]] = {}

    async def document(self, server_url: str) -> Json:
        """The document for what is served now, at ``server_url``."""
        # The version is read before building: a write during the build leaves the next request a newer one.
        version = self._catalogue.version
        built = self._built.get(server_url)
        if built is not None and built[0] == version:
            return built[1]
        document = await build_document(self._catalogue, server_url)
        if len(self._built) >= MAX_SERVER_URLS and server_url not in self._built:
            self._built.clear()  # root paths come from the proxy in front: keep a bounded few
        self._built[server_url] = (version, document)
        return document


async def build_document(catalogue: Catalogue, server_url: str) -> Json:
    """The OpenAPI 3.1 document for what ``catalogue`` describes now, at ``server_url`` (best relative: ``/api``)."""
    kinds = catalogue.kinds()
    plural = [name for name, kind in kinds.items() if kind is Kind.PLURAL]
    relations = catalogue.relations()
    id_field, *stamps = catalogue.managed_fields
    managed = Managed(id_field, tuple(stamps), catalogue.compat != "1")
    schemas: Json = {"Problem": PROBLEM_SCHEMA, **VALUE_SCHEMAS}
    paths: Json = {}
    names = _ComponentNames()
    shapes = {name: await catalogue.shape(name) for name in kinds}
    fields = {name: list(shapes[name].fields) for name in plural}
    components: dict[str, Names] = {}
    shown = await _examples(catalogue, kinds, managed)
    for name, kind in kinds.items():
        declared = _declared(catalogue, name)
        if kind is Kind.SINGULAR:
            models = singular_models(shapes[name].to_json_schema(), declared)
        else:
            models = record_models(shapes[name].to_json_schema(), declared, managed)
        components[name] = names.add(name, models, schemas)
    for name, kind in kinds.items():
        if kind is Kind.SINGULAR:
            paths.update(singular_paths(name, _path(name), components[name], catalogue.compat, shown[name]))
            continue
        children = _children(relations, name, fields)
        ops = CollectionOps(
            name=name,
            path=_path(name),
            component=components[name],
            fields=filterable([managed.id_field, *fields[name]], managed.id_field),
            embeds=children + _parents(relations, fields[name]),
            expands=_parents(relations, fields[name]),
            children=[(child, _path(child), components[child], shown[child]) for child in children],
            compat=catalogue.compat,
            id_field=managed.id_field,
            collections=sorted(plural),
            examples=shown[name],
            max_page_size=catalogue.max_page_size,
        )
        paths.update(collection_paths(ops))
    if "db" not in kinds:
        paths["/db"] = _db_path()
    return {
        "openapi": "3.1.0",
        "info": _info(catalogue),
        "servers": [{"url": server_url or "/"}],
        "tags": [{"name": name, "description": f"The `{name}` {kinds[name].value} resource."} for name in kinds],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": problem_components(),
            "headers": HEADERS,
            "parameters": REQUEST_HEADERS,
        },
    }


class _ComponentNames:
    """Component names for collections: OpenAPI allows ``[A-Za-z0-9._-]`` only, and names must be unique."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def add(self, collection: str, models: RecordModels, schemas: Json) -> Names:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", collection) or "_"
        name, counter = base, 1
        while name in self._taken:
            counter += 1
            name = f"{base}_{counter}"
        self._taken.add(name)
        variants = {"": models.record, "_create": models.create, "_replace": models.replace, "_patch": models.patch}
        refs: dict[str, str] = {}
        for suffix, schema in variants.items():
            same = next((key for key, value in refs.items() if schemas[value] == schema), None)
            refs[suffix] = refs[same] if same is not None else name + suffix
            schemas.setdefault(refs[suffix], schema)
        return Names(*(f"#/components/schemas/{refs[s]}" for s in ("", "_create", "_replace", "_patch")))


async def _examples(catalogue: Catalogue, kinds: dict[str, Kind], managed: Managed) -> dict[str, Examples]:
    """Each resource's examples, from the first records anyone may read."""
    found: dict[str, Examples] = {}
    for name, kind in kinds.items():
        samples, declared = await catalogue.samples(name, SAMPLED), catalogue.declared(name)
        if kind is Kind.SINGULAR:
            found[name] = singular_examples(samples[0], declared) if samples else NONE
        else:
            found[name] = examples(samples, managed, declared)
    return found


def _declared(catalogue: Catalogue, name: str) -> Json | None:
    schema = catalogue.declared(name)
    return None if schema is None else schema.schema


def _children(relations: Relations, parent: str, fields: dict[str, list[str]]) -> list[str]:
    key = relations.foreign_key(parent)
    return [name for name, names in fields.items() if key in names]


def _parents(relations: Relations, fields: list[str]) -> list[str]:
    """Singular names of the collections this one points at (``userId`` -> ``user``)."""
    suffix = relations.fk_suffix
    stems = [field.removesuffix(suffix) for field in fields if suffix and field.endswith(suffix) and field != suffix]
    return [stem for stem in stems if relations.parent_collection(stem) is not None]


def _path(name: str) -> str:
    return "/" + quote(name, safe="")


def _db_path() -> Json:
    return {
        "get": {
            "tags": ["db"],
            "operationId": "get_db",
            "summary": "Get the whole database",
            "responses": {
                "200": {
                    "description": "Every resource, keyed by name.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }


def _info(catalogue: Catalogue) -> Json:
    notes = [f"Query dialect defaults: json-server {catalogue.compat}."]
    if catalogue.read_only:
        notes.append("The server runs with `--read-only`: writes answer 403.")
    if catalogue.timestamps:
        notes.append("`createdAt` and `updatedAt` are set by the server.")
    if catalogue.auto_create:
        notes.append("A POST to a collection that does not exist yet creates it (`--auto-create`).")
    return {
        "title": "jsonserve",
        "version": __version__,
        "description": "A REST API in json-server's dialect, generated from the live data.\n\n" + "\n".join(notes),
    }
