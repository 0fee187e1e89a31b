"""Path items for one collection or singular resource: the operations the REST layer serves.

Statuses follow ``web/errors.py``; every JSON answer carries an ``ETag``; lists carry
``X-Total-Count`` and ``Link`` when paged; a create answers 201 with ``Location`` and links to the
record's other operations (which lets schemathesis chain create -> read -> update -> delete).

Example:
    >>> paths = collection_paths(ops)  # doctest: +SKIP
    >>> sorted(paths["/posts"])  # doctest: +SKIP
    ['get', 'post']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from jsonserve._types import Record
from jsonserve.openapi.examples import Examples
from jsonserve.openapi.parameters import (
    LIST_DESCRIPTION,
    filter_parameters,
    join_parameters,
    paging_parameters,
    query,
    search_parameter,
    sort_parameters,
)
from jsonserve.openapi.responses import NOT_MODIFIED, header, json_response, problem_responses
from jsonserve.openapi.words import one

Json = dict[str, Any]
# `If-Match` is described, not listed: any value but the current ETag is (rightly) a 412, which a
# generator cannot know, so listing it would invite requests that are valid and yet refused.
IF_MATCH_NOTE = " Send `If-Match: <ETag>` to write only if the record is unchanged (else 412)."
IF_NONE_MATCH: Json = {"$ref": "#/components/parameters/IfNoneMatch"}
WRITE_ERRORS = (400, 403, 404, 413, 415, 422, 503)
REPLACES = "Replaces the whole record with the body (the id stays)."
MERGES = "Merges the body's fields into the record (validated as merged)."


class Names(NamedTuple):
    """``$ref`` targets of a collection's schemas."""

    record: str
    create: str
    replace: str
    patch: str


@dataclass(frozen=True)
class CollectionOps:
    """What the operations of one collection depend on."""

    name: str
    path: str
    component: Names
    fields: list[str]
    embeds: list[str]
    expands: list[str]
    children: list[tuple[str, str, Names, Examples]]  # (collection, path, schemas, examples) of nested collections
    compat: str
    id_field: str
    collections: list[str]
    examples: Examples
    max_page_size: int


def collection_paths(ops: CollectionOps) -> Json:
    """``/name``, ``/name/{id}`` and ``/name/{id}/child`` path items."""
    item_path = f"{ops.path}/{{id}}"
    paths: Json = {
        ops.path: {
            "get": _list(ops, ops.name, ops.component, ops.examples),
            "post": _create(ops, ops.name, ops.component, ops.examples),
        },
        item_path: {
            "parameters": [_id_parameter(ops.name)],
            "get": _get(ops),
            "put": _write(ops, "replace", ops.component.replace, f"Replace {one(ops.name)}", REPLACES),
            "patch": _write(ops, "patch", ops.component.patch, f"Update {one(ops.name)}", MERGES),
            "delete": _delete(ops),
        },
    }
    for child, child_path, names, shown in ops.children:
        paths[f"{item_path}{child_path}"] = {
            "parameters": [_id_parameter(ops.name)],
            "get": _list(ops, child, names, shown, parent=ops.name),
            "post": _create(ops, child, names, shown, parent=ops.name),
        }
    return paths


def singular_paths(name: str, path: str, names: Names, compat: str, shown: Examples) -> Json:
    """``/profile``: read, replace, merge (and 0.17's POST, which replaces too)."""
    read = json_response("The object.", {"$ref": names.record}, example=shown.record)
    item: Json = {
        "get": {
            "tags": [name],
            "operationId": _op_id("get", name),
            "summary": f"Get the {name}",
            "parameters": [IF_NONE_MATCH],
            "responses": {"200": read, "304": NOT_MODIFIED},
        },
        "put": _singular_write(name, "replace", (names.replace, shown.body), read, f"Replace the {name}"),
        "patch": _singular_write(name, "patch", (names.patch, shown.patch), read, f"Update the {name}"),
    }
    if compat != "1":
        summary = f"Replace the {name} (json-server 0.17's POST)"
        item["post"] = _singular_write(name, "post", (names.replace, shown.body), read, summary)
    return {path: item}


# -- operations --------------------------------------------------------------------------------------


def _list(ops: CollectionOps, collection: str, names: Names, shown: Examples, parent: str | None = None) -> Json:
    fields = ops.fields if parent is None else []
    parameters = [
        *paging_parameters(ops.max_page_size),
        *sort_parameters(),
        search_parameter(),
        *(join_parameters(ops.embeds, ops.expands) if parent is None else []),
        *filter_parameters(fields, shown.record),
        IF_NONE_MATCH,
    ]
    record = {"$ref": names.record}
    listing = {"anyOf": [{"type": "array", "items": record}, _envelope(record)]}
    summary = f"List the {collection} of {one(parent)}" if parent else f"List {collection}"
    return {
        "tags": [parent or collection],
        "operationId": _op_id("list", collection, parent),
        "summary": summary,
        "description": LIST_DESCRIPTION,
        "parameters": parameters,
        "responses": {
            "200": json_response(
                "The matching records (an array, or 1.x's envelope with `_per_page`).",
                listing,
                {"X-Total-Count": header("X-Total-Count"), "Link": header("Link")},
                example=shown.listing,
            ),
            "304": NOT_MODIFIED,
            **problem_responses(400, 404),
        },
    }


def _create(ops: CollectionOps, collection: str, names: Names, shown: Examples, parent: str | None = None) -> Json:
    location = {"Location": header("Location", required=True)}
    created = json_response("The stored record.", {"$ref": names.record}, location, example=shown.record)
    if parent is None:
        created["links"] = {
            verb: {"operationId": _op_id(verb, collection), "parameters": {"id": f"$response.body#/{ops.id_field}"}}
            for verb in ("get", "replace", "patch", "delete")
        }
    how = "a client id is kept when free" if ops.compat != "1" else "the server generates the id"
    return {
        "tags": [parent or collection],
        "operationId": _op_id("create", collection, parent),
        "summary": f"Create {one(collection)}" + (f" for {one(parent)}" if parent else ""),
        "description": f"Stores the record; {how}.",
        "requestBody": _body(names.create, shown.body),
        "responses": {"201": created, **problem_responses(*WRITE_ERRORS, 409)},
    }


def _get(ops: CollectionOps) -> Json:
    return {
        "tags": [ops.name],
        "operationId": _op_id("get", ops.name),
        "summary": f"Get {one(ops.name)}",
        "parameters": [*join_parameters(ops.embeds, ops.expands), IF_NONE_MATCH],
        "responses": {
            "200": json_response("The record.", {"$ref": ops.component.record}, example=ops.examples.record),
            "304": NOT_MODIFIED,
            **problem_responses(400, 404),
        },
    }


def _write(ops: CollectionOps, verb: str, schema: str, summary: str, description: str) -> Json:
    shown = ops.examples
    return {
        "tags": [ops.name],
        "operationId": _op_id(verb, ops.name),
        "summary": summary,
        "description": description + IF_MATCH_NOTE,
        "requestBody": _body(schema, shown.body if verb == "replace" else shown.patch),
        "responses": {
            "200": json_response("The stored record.", {"$ref": ops.component.record}, example=shown.record),
            **problem_responses(*WRITE_ERRORS, 412),
        },
    }


def _delete(ops: CollectionOps) -> Json:
    others = [name for name in ops.collections if name != ops.name]
    parameters: list[Json] = []
    if others:
        dependent = {"type": "array", "items": {"enum": others}}
        parameters.append(
            query("_dependent", dependent, "1.x: also delete these children.", style="form", explode=True)
        )
    deleted = {"$ref": ops.component.record} if ops.compat == "1" else {"type": "object", "maxProperties": 0}
    what = "the deleted record" if ops.compat == "1" else "`{}` (json-server 0.17)"
    return {
        "tags": [ops.name],
        "operationId": _op_id("delete", ops.name),
        "summary": f"Delete {one(ops.name)}",
        "description": "Deletes the record and sweeps what points at it: 0.17 deletes the children too; "
        "1.x sets their key to null unless `_dependent` names them." + IF_MATCH_NOTE,
        "parameters": parameters,
        "responses": {
            "200": json_response(f"Deleted: {what}.", deleted),
            **problem_responses(400, 403, 404, 412, 503),
        },
    }


def _singular_write(name: str, verb: str, body: tuple[str, Record | None], read: Json, summary: str) -> Json:
    """A write of a singular resource: ``body`` is its schema's reference and example; it answers as ``read`` does."""
    status = "201" if verb == "post" else "200"
    return {
        "tags": [name],
        "operationId": _op_id(verb, name),
        "summary": summary,
        "description": summary + "." + IF_MATCH_NOTE,
        "requestBody": _body(*body),
        "responses": {
            status: {**read, "description": "The stored object."},
            **problem_responses(*WRITE_ERRORS, 412),
        },
    }


# -- pieces ------------------------------------------------------------------------------------------


def _id_parameter(collection: str) -> Json:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": f'The id of {one(collection)} (`1` and `"1"` name the same record).',
        "schema": {"type": "string"},
    }


def _body(schema: str, example: Record | None = None) -> Json:
    media: Json = {"schema": {"$ref": schema}}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}


def _envelope(record: Json) -> Json:
    page = {"type": "integer", "minimum": 1}
    maybe = {"type": ["integer", "null"]}
    return {
        "type": "object",
        "required": ["first", "prev", "next", "last", "pages", "items", "data"],
        "properties": {
            "first": page,
            "prev": maybe,
            "next": maybe,
            "last": page,
            "pages": page,
            "items": {"type": "integer", "minimum": 0},
            "data": {"type": "array", "items": record},
        },
    }


def _op_id(verb: str, collection: str, parent: str | None = None) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", collection)
    return f"{verb}_{re.sub(r'[^A-Za-z0-9_]', '_', parent)}_{name}" if parent else f"{verb}_{name}"
