"""What the schema will hold, named: every collection's type, fields, relations and root fields.

:func:`make_plan` reads the catalogue (resources, shapes, declared schemas, relations, managed
fields) and the fields no answer shows, and names everything by the rules of
:mod:`jsonserve.gql.names`, in this order (the order decides who keeps a contested name):

* type names: the built-in ones first (``String``, ``JSON``, ``Query``, ``SortDirection``,
  ``StringFilter``...), then the collections in :func:`claim_order` (plural names, then names
  already singular, then names whose type would end like a derived type; each group by name). Each
  takes ``Post`` with its ``PostWhere``, ``PostOrderBy``, ``PostInput``, ``PostPatch`` and
  ``PostChange`` together, or else ``Post_2``...;
* a type's fields: ``id`` (the id field, whatever ``--id`` names it), then the data's fields whose
  names are already GraphQL-safe (in the data's order), then the others made safe (by name), then
  parent relations (``post``), then child relations (``comments``), each by name;
* ``Query`` (collections in the same order): every collection's list (``posts``), then every
  singular resource (``profile``, by name), then the counts (``postsCount``), then the records by
  id (``post``, else ``postById``);
* ``Mutation``: ``create``/``update``/``replace``/``delete`` + the type name for each collection,
  then ``update``/``replace`` + the name of each singular resource;
* ``Subscription``: the singular of each collection + ``Changed`` (``postChanged``; ``postChanged_2``
  for a second collection of the same singular), collections in the same order.

Example:
    >>> plan = await make_plan(service.catalogue, service.redaction.hidden)  # doctest: +SKIP
    >>> plan.collections[0].type, plan.collections[0].item_field  # doctest: +SKIP
    ('Comment', 'comment')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from jsonserve.gql.fields import SCALARS, FieldSpec, data_fields
from jsonserve.gql.names import Namespace, camel, pascal, safe_name, suffixed
from jsonserve.schema.infer import Shape
from jsonserve.schema.kind import Kind
from jsonserve.schema.relations import Relations, singular
from jsonserve.service.catalogue import Catalogue

DERIVED = ("Where", "OrderBy", "Input", "Patch", "Change")
"""The suffixes of the types made for each collection's type (``PostChange``: its subscription's events)."""
BUILT_IN_TYPES = frozenset(
    {"Query", "Mutation", "Subscription", "SortDirection", "ChangeOp", *SCALARS, *(f"{s}Filter" for s in SCALARS)}
)
LOGICAL = frozenset({"and", "or", "not"})
"""The where input's own fields; a data field of one of these names cannot be filtered (as in ``_where``)."""


@dataclass(frozen=True)
class Field:
    """A data field of a record type, under its GraphQL name."""

    name: str
    spec: FieldSpec

    @property
    def key(self) -> str:
        """The field's name in the records."""
        return self.spec.key


@dataclass(frozen=True)
class Relation:
    """A relation field: the ``children`` in ``target`` whose ``key`` is this record's id, or the parent ``key`` names.

    (A parent's ``target`` is its collection, and ``key`` the foreign key of this record that names it.)
    """

    name: str
    target: str
    key: str
    children: bool


@dataclass(frozen=True)
class CollectionPlan:
    """One collection: its type, fields, relations, and its root query and mutation fields."""

    name: str
    type: str
    id_name: str
    id_key: str
    fields: tuple[Field, ...]
    relations: tuple[Relation, ...]
    managed: frozenset[str]
    integer_ids: bool
    list_field: str = ""
    count_field: str = ""
    item_field: str = ""
    create: str = ""
    update: str = ""
    replace: str = ""
    delete: str = ""
    changed: str = ""

    def field_named(self, name: str) -> Field | None:
        """The data field with this GraphQL name (``None`` for ``id``, relations and unknown names)."""
        return next((field for field in self.fields if field.name == name), None)


@dataclass(frozen=True)
class SingularPlan:
    """One singular resource (``/profile``): its query field and its two mutations."""

    name: str
    field: str
    update: str
    replace: str


@dataclass(frozen=True)
class Plan:
    """Everything the schema holds, named; ``id_field`` is the records' id field."""

    collections: tuple[CollectionPlan, ...]
    singulars: tuple[SingularPlan, ...]
    id_field: str


async def make_plan(catalogue: Catalogue, hidden: Callable[[str], frozenset[str]]) -> Plan:
    """The plan for what ``catalogue`` describes now; ``hidden`` names each collection's never-shown fields."""
    kinds = catalogue.kinds()
    plural = sorted((name for name, kind in kinds.items() if kind is Kind.PLURAL), key=claim_order)
    shapes = {name: await catalogue.shape(name) for name in plural}
    specs = {
        name: data_fields(shapes[name], catalogue.declared(name), hidden(name), catalogue.id_field) for name in plural
    }
    links = _links(catalogue.relations(), specs, catalogue.fk_suffix)
    types = Namespace(BUILT_IN_TYPES)
    managed = frozenset(catalogue.managed_fields[1:])
    collections = [
        _collection(name, _claim_type(types, pascal(singular(name))), specs[name], links.get(name, []), managed)
        for name in plural
    ]
    collections = [
        replace(plan, id_key=catalogue.id_field, integer_ids=_integer_ids(shapes[plan.name], catalogue))
        for plan in collections
    ]
    singulars = sorted(name for name, kind in kinds.items() if kind is Kind.SINGULAR)
    return _root_names(collections, singulars, catalogue.id_field)


def claim_order(name: str) -> tuple[bool, bool, str]:
    """Who names first: plural names (``posts``) before singular ones (``post``), then by name.

    A name whose type would end like another's derived type (``postWheres``: ``PostWhere``) comes last.
    """
    base = pascal(singular(name))
    return (base.endswith(DERIVED), singular(name) == name, name)


def _claim_type(types: Namespace, base: str) -> str:
    """``base`` (or ``base_2``...) such that it and each of its :data:`DERIVED` names are free; all taken."""
    candidate, number = base, 2
    while not all(types.free(candidate + suffix) for suffix in ("", *DERIVED)):
        candidate, number = suffixed(base, number), number + 1
    for suffix in ("", *DERIVED):
        types.claim(candidate + suffix)
    return candidate


def _links(relations: Relations, specs: dict[str, list[FieldSpec]], suffix: str) -> dict[str, list[Relation]]:
    """Each collection's relations by the ``<singular>Id`` convention, not yet named: parents, then children."""
    parents: dict[str, list[Relation]] = {}
    children: dict[str, list[Relation]] = {}
    for child, fields in specs.items():
        for spec in fields:
            stem = spec.key[: -len(suffix)] if suffix and spec.key.endswith(suffix) else ""
            parent = relations.parent_collection(stem) if stem else None
            if parent is None:
                continue
            parents.setdefault(child, []).append(Relation(stem, parent, spec.key, children=False))
            children.setdefault(parent, []).append(Relation(child, child, spec.key, children=True))
    return {name: _by_name(parents.get(name, [])) + _by_name(children.get(name, [])) for name in {*parents, *children}}


def _by_name(relations: list[Relation]) -> list[Relation]:
    return sorted(relations, key=lambda relation: (relation.name, relation.key))


def _collection(
    name: str, type_name: str, specs: list[FieldSpec], links: list[Relation], managed: frozenset[str]
) -> CollectionPlan:
    names = Namespace()
    id_name = names.claim("id")
    own = [spec for spec in specs if safe_name(spec.key) == spec.key]
    mangled = sorted((spec for spec in specs if safe_name(spec.key) != spec.key), key=lambda spec: spec.key)
    named = {spec.key: Field(names.claim(spec.key), spec) for spec in own}
    named.update({spec.key: Field(names.claim(safe_name(spec.key)), spec) for spec in mangled})
    fields = tuple(named[spec.key] for spec in specs)
    relations = tuple(Relation(names.claim(camel(link.name)), link.target, link.key, link.children) for link in links)
    return CollectionPlan(name, type_name, id_name, "id", fields, relations, managed, integer_ids=True)


def _integer_ids(shape: Shape, catalogue: Catalogue) -> bool:
    """Whether ids given as text are stored as integers: the ids so far are, or (none yet) the server makes such."""
    seen = shape.fields.get(catalogue.id_field)
    if seen is None or not seen.types:
        return catalogue.compat != "1"
    return seen.types == {"integer"}


def _named(plan: CollectionPlan, names: dict[str, str]) -> CollectionPlan:
    return replace(
        plan,
        list_field=names["list_field"],
        count_field=names["count_field"],
        item_field=names["item_field"],
        create=names["create"],
        update=names["update"],
        replace=names["replace"],
        delete=names["delete"],
        changed=names["changed"],
    )


def _root_names(collections: list[CollectionPlan], singulars: list[str], id_field: str) -> Plan:
    query, mutation = Namespace(), Namespace()
    named: dict[str, dict[str, str]] = {plan.name: {} for plan in collections}
    for plan in collections:
        named[plan.name]["list_field"] = query.claim(camel(plan.name))
    singular_fields = {name: query.claim(camel(name)) for name in singulars}
    for plan in collections:
        named[plan.name]["count_field"] = query.claim(named[plan.name]["list_field"] + "Count")
    for plan in collections:
        item = camel(singular(plan.name))
        named[plan.name]["item_field"] = query.claim(item, item + "ById")
    subscription = Namespace()
    for plan in collections:
        item = camel(singular(plan.name))
        named[plan.name]["changed"] = subscription.claim(item + "Changed")
    for verb in ("create", "update", "replace", "delete"):
        for plan in collections:
            named[plan.name][verb] = mutation.claim(verb + plan.type)
    updates = {name: mutation.claim("update" + pascal(name)) for name in singulars}
    singular_plans = tuple(
        SingularPlan(name, singular_fields[name], updates[name], mutation.claim("replace" + pascal(name)))
        for name in singulars
    )
    plans = tuple(_named(plan, named[plan.name]) for plan in collections)
    return Plan(plans, singular_plans, id_field)
