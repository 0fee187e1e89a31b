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
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from jsonserve import __version__
from jsonserve.auth.access import USERS, RuleSet
from jsonserve.openapi.accounts import TAG, auth_paths, auth_schemas
from jsonserve.openapi.examples import NONE, Examples, examples, singular_examples
from jsonserve.openapi.models import VALUE_SCHEMAS, Managed, RecordModels, record_models, singular_models
from jsonserve.openapi.operations import CollectionOps, Names, collection_paths, singular_paths
from jsonserve.openapi.parameters import filterable
from jsonserve.openapi.responses import HEADERS, PROBLEM_SCHEMA, REQUEST_HEADERS, problem_components
from jsonserve.openapi.security import SECURITY_SCHEMES, Gate, auth_problem_components
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
    """The OpenAPI 3.1 document for what ``catalogue`` describes now, at ``server_url`` (best relative: ``/api``).

    Under ``--auth`` (:attr:`Catalogue.rules`) it also states what each operation asks of its caller
    (:mod:`jsonserve.openapi.security`) and documents the accounts endpoints
    (:mod:`jsonserve.openapi.accounts`); hidden fields (a user's password hash) appear nowhere.
    """
    kinds = catalogue.kinds()
    plural = [name for name, kind in kinds.items() if kind is Kind.PLURAL]
    relations = catalogue.relations()
    id_field, *stamps = catalogue.managed_fields
    managed = Managed(id_field, tuple(stamps), catalogue.compat != "1")
    rules = catalogue.rules
    gate = None if rules is None else Gate(rules, catalogue.reveal_forbidden)
    schemas: Json = {"Problem": PROBLEM_SCHEMA, **VALUE_SCHEMAS}
    paths: Json = {}
    names = _ComponentNames(() if rules is None else auth_schemas(None))
    shapes = {name: _visible(catalogue, name, (await catalogue.shape(name)).to_json_schema()) for name in kinds}
    fields = {name: list(shapes[name].get("properties", {})) for name in plural}
    components: dict[str, Names] = {}
    shown = await _examples(catalogue, kinds, managed)
    for name, kind in kinds.items():
        declared = _declared(catalogue, name)
        if kind is Kind.SINGULAR:
            models = singular_models(shapes[name], declared)
        else:
            models = record_models(shapes[name], declared, managed)
        components[name] = names.add(name, models, schemas)
    for name, kind in kinds.items():
        if kind is Kind.SINGULAR:
            item = singular_paths(name, _path(name), components[name], catalogue.compat, shown[name])
            paths.update(item if gate is None else gate.singular(item, name))
            continue
        children = _children(relations, name, fields)
        parents = _parents(relations, fields[name])
        ops = CollectionOps(
            name=name,
            path=_path(name),
            component=components[name],
            fields=filterable([managed.id_field, *fields[name]], managed.id_field),
            embeds=children + parents,
            expands=parents,
            children=[(child, _path(child), components[child], shown[child]) for child in children],
            compat=catalogue.compat,
            id_field=managed.id_field,
            collections=sorted(plural),
            examples=shown[name],
            max_page_size=catalogue.max_page_size,
        )
        built = collection_paths(ops)
        if gate is not None:
            joins = children + [relations.parent_collection(stem) or stem for stem in parents]
            built = gate.collection(built, name, ops.path, [(child, _path(child)) for child in children], joins)
        paths.update(built)
    if "db" not in kinds:
        paths["/db"] = _db_path() if gate is None else {"get": gate.optional(_db_path()["get"], DB_NOTE)}
    document = {
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
    if rules is not None:
        users = components.get(USERS) if kinds.get(USERS) is Kind.PLURAL else None
        _add_accounts(document, rules, users, catalogue.auth_features)
    return document


DB_NOTE = "Under `--auth`, each resource shows only the records the caller may read (none of some without a token)."
ACCOUNTS_TAG = (
    "Sign up, log in, and the signed-in user (`--auth`). A lock marks what takes a token: log in, then give "
    "the `accessToken` to the Authorize button."
)


def _add_accounts(document: Json, rules: RuleSet, users: Names | None, features: frozenset[str]) -> None:
    """Under ``--auth``: the accounts endpoints, their schemas, the bearer scheme and the auth problems.

    ``POST /users`` is json-server-auth's registration, whatever else ``/users`` serves; a collection
    named like another accounts endpoint (``login``) is shadowed by it, as the routes are.
    """
    paths, schemas = auth_paths(users.record if users is not None else None, rules.role_field, features)
    for path, item in paths.items():
        document["paths"][path] = (
            {**document["paths"][path], **item} if path == f"/{USERS}" and path in document["paths"] else item
        )
    components = document["components"]
    components["schemas"].update(schemas)
    components["responses"].update(auth_problem_components())
    components["securitySchemes"] = SECURITY_SCHEMES
    if all(tag["name"] != TAG for tag in document["tags"]):
        document["tags"].insert(0, {"name": TAG, "description": ACCOUNTS_TAG})


def _visible(catalogue: Catalogue, name: str, schema: Json) -> Json:
    """``schema`` without the fields of ``name`` no answer shows (``--auth``: ``password``, ``tokenVersion``)."""
    hidden = catalogue.hidden(name)
    if not hidden or not isinstance(schema.get("properties"), dict):
        return schema
    visible = {**schema, "properties": {key: value for key, value in schema["properties"].items() if key not in hidden}}
    if isinstance(schema.get("required"), list):
        visible["required"] = [key for key in schema["required"] if key not in hidden]
    return visible


class _ComponentNames:
    """Component names for collections: OpenAPI allows ``[A-Za-z0-9._-]`` only, and names must be unique."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._taken: set[str] = set(reserved)

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
    rules = catalogue.rules
    for name, kind in kinds.items():
        if rules is not None and name == USERS:
            found[name] = NONE  # personal data: the accounts endpoints show a made-up user instead
            continue
        samples, declared = await catalogue.samples(name, SAMPLED), catalogue.declared(name)
        if kind is Kind.SINGULAR:
            found[name] = singular_examples(samples[0], declared) if samples else NONE
        else:
            access = None if rules is None else rules.access(name)
            omit = frozenset({access.owner}) if access is not None and access.owned else frozenset()
            found[name] = examples(samples, managed, declared, omit)
    return found


def _declared(catalogue: Catalogue, name: str) -> Json | None:
    schema = catalogue.declared(name)
    return None if schema is None else _visible(catalogue, name, schema.schema)


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
