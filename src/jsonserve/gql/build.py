"""A :class:`Plan` -> a graphql-core schema whose resolvers call the Service.

For each collection (``posts``, type ``Post``)::

    type Query {
      posts(where: PostWhere, orderBy: [PostOrderBy!], limit: Int, offset: Int, q: String): [Post!]!
      postsCount(where: PostWhere, q: String): Int!
      post(id: ID!): Post
      profile: JSON                                   # a singular resource
    }
    type Mutation {
      createPost(data: PostInput!): Post!
      updatePost(id: ID!, data: PostPatch!): Post
      replacePost(id: ID!, data: PostInput!): Post
      deletePost(id: ID!): Post
      updateProfile(data: JSON!): JSON
      replaceProfile(data: JSON!): JSON
    }

``PostWhere`` has a filter input per field (``StringFilter``, ``IntFilter``... with REST's
operators and ``like``) and ``and``/``or``/``not``; ``PostOrderBy`` has each field as a
``SortDirection``. Relations: ``Comment.post: Post`` and ``Post.comments(where, orderBy, limit,
offset): [Comment!]!``. Subscriptions: ``postChanged(where: PostWhere, since: Int): PostChange!``
with ``PostChange { op: ChangeOp!  seq: Int!  record: Post  previous: Post }``; their source is the
realtime change feed, which the transport hands in (``Context.follow``, :mod:`jsonserve.gql.ws`).

Example:
    >>> schema = build_schema(await make_plan(catalogue, redaction.hidden))  # doctest: +SKIP
    >>> print_schema(schema)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
)

from jsonserve.gql import resolvers
from jsonserve.gql.fields import BOOLEAN, FLOAT, ID, INT, JSON, SCALARS, STRING
from jsonserve.gql.lane import KEY
from jsonserve.gql.plan import LOGICAL, CollectionPlan, Plan
from jsonserve.gql.scalars import JSON_SCALAR

SCALAR_TYPES: dict[str, GraphQLScalarType] = {
    ID: GraphQLID,
    INT: GraphQLInt,
    FLOAT: GraphQLFloat,
    STRING: GraphQLString,
    BOOLEAN: GraphQLBoolean,
    JSON: JSON_SCALAR,
}
SORT_DIRECTION = GraphQLEnumType(
    "SortDirection",
    {
        "ASC": GraphQLEnumValue("ASC", description="Ascending."),
        "DESC": GraphQLEnumValue("DESC", description="Descending."),
    },
    description="The order of one orderBy field (REST's `_sort=field` or `_sort=-field`).",
)
CHANGE_OP = GraphQLEnumType(
    "ChangeOp",
    {
        "CREATE": GraphQLEnumValue("create", description="A record was created."),
        "UPDATE": GraphQLEnumValue("update", description="A record was changed (PATCH or PUT)."),
        "DELETE": GraphQLEnumValue("delete", description="A record was deleted."),
    },
    description="What a change did.",
)
COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte")
TEXT_TESTS = ("contains", "startsWith", "endsWith", "like")


def _filter_input(scalar: str) -> GraphQLInputObjectType:
    """``StringFilter`` and its kind: REST 1.x's operators on one field (and ``like``, an RE2 search)."""
    value = SCALAR_TYPES[scalar]
    fields = {op: GraphQLInputField(value) for op in COMPARISONS}
    fields["in"] = GraphQLInputField(GraphQLList(value), description="Equal to one of these.")
    fields.update({op: GraphQLInputField(GraphQLString) for op in TEXT_TESTS})
    fields["like"] = GraphQLInputField(GraphQLString, description="A case-insensitive RE2 search (REST's `_like`).")
    description = f"Conditions on one {scalar} field, as REST's `field:op=value` (all must hold)."
    return GraphQLInputObjectType(f"{scalar}Filter", fields, description=description)


FILTERS = {scalar: _filter_input(scalar) for scalar in SCALARS}


def build_schema(plan: Plan) -> GraphQLSchema:
    """The schema for ``plan``, its resolvers bound to it."""
    types = _Types(plan)
    query: dict[str, GraphQLField] = {}
    mutation: dict[str, GraphQLField] = {}
    subscription: dict[str, GraphQLField] = {}
    for collection in plan.collections:
        query.update(types.queries(collection))
        mutation.update(types.mutations(collection))
        subscription[collection.changed] = types.subscription(collection)
    for singular in plan.singulars:
        query[singular.field] = GraphQLField(
            JSON_SCALAR, resolve=resolvers.singular_resolver(singular), description=f"GET /{singular.name}"
        )
        for name, merge, verb in ((singular.update, True, "PATCH"), (singular.replace, False, "PUT")):
            mutation[name] = GraphQLField(
                JSON_SCALAR,
                {"data": GraphQLArgument(GraphQLNonNull(JSON_SCALAR))},
                resolve=resolvers.singular_write_resolver(singular, merge=merge),
                description=f"{verb} /{singular.name}",
            )
    if not query:  # a Query type needs a field: data with no resource yet
        query["_"] = GraphQLField(GraphQLBoolean, description="The data has no resources yet.")
    return GraphQLSchema(
        query=GraphQLObjectType("Query", dict(sorted(query.items()))),
        mutation=GraphQLObjectType("Mutation", dict(sorted(mutation.items()))) if mutation else None,
        subscription=GraphQLObjectType("Subscription", dict(sorted(subscription.items()))) if subscription else None,
    )


def _list(item: GraphQLOutputType) -> GraphQLOutputType:
    return GraphQLNonNull(GraphQLList(GraphQLNonNull(item)))


class _Types:
    """The object and input types of every collection, made once each (relations refer to them lazily)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.by_name = {collection.name: collection for collection in plan.collections}
        self.objects = {c.name: self._object(c) for c in plan.collections}
        self.wheres = {c.name: self._where(c) for c in plan.collections}
        self.orders = {c.name: self._order(c) for c in plan.collections}

    # -- output ---------------------------------------------------------------------------------

    def _object(self, collection: CollectionPlan) -> GraphQLObjectType:
        def fields() -> dict[str, GraphQLField]:
            result = {
                collection.id_name: GraphQLField(
                    GraphQLNonNull(GraphQLID),
                    resolve=resolvers.value_resolver(collection.id_key),
                    extensions={KEY: collection.id_key},
                )
            }
            for field in collection.fields:
                scalar = SCALAR_TYPES[field.spec.scalar]
                kind: GraphQLOutputType = GraphQLNonNull(scalar) if field.spec.required else scalar
                result[field.name] = GraphQLField(
                    kind, resolve=resolvers.value_resolver(field.key), extensions={KEY: field.key}
                )
            for relation in collection.relations:
                target = self.by_name[relation.target]
                if relation.children:
                    result[relation.name] = GraphQLField(
                        _list(self.objects[target.name]),
                        self.list_arguments(target, search=False),
                        resolve=resolvers.children_resolver(relation, target, collection.id_key),
                        description=f"The {target.name} whose {relation.key} is this record's id.",
                    )
                else:
                    result[relation.name] = GraphQLField(
                        self.objects[target.name],
                        resolve=resolvers.parent_resolver(relation, target.id_key),
                        description=f"The {target.name} record this record's {relation.key} names.",
                    )
            return result

        return GraphQLObjectType(collection.type, fields, description=f"A record of {collection.name}.")

    # -- inputs ---------------------------------------------------------------------------------

    def _where(self, collection: CollectionPlan) -> GraphQLInputObjectType:
        name = f"{collection.type}Where"

        def fields() -> dict[str, GraphQLInputField]:
            where = self.wheres[collection.name]
            result = {collection.id_name: GraphQLInputField(FILTERS[ID])}
            result.update(
                {
                    field.name: GraphQLInputField(FILTERS[field.spec.scalar])
                    for field in collection.fields
                    if field.key not in LOGICAL
                }
            )
            result["and"] = GraphQLInputField(GraphQLList(GraphQLNonNull(where)), description="Every one matches.")
            result["or"] = GraphQLInputField(GraphQLList(GraphQLNonNull(where)), description="At least one matches.")
            result["not"] = GraphQLInputField(
                where, description="Does not match (nor does a record lacking its fields)."
            )
            return result

        return GraphQLInputObjectType(name, fields, description=f"A filter on {collection.name} (REST's `_where`).")

    def _order(self, collection: CollectionPlan) -> GraphQLInputObjectType:
        names = [collection.id_name, *(field.name for field in collection.fields)]
        return GraphQLInputObjectType(
            f"{collection.type}OrderBy",
            {name: GraphQLInputField(SORT_DIRECTION) for name in names},
            description="One field to sort by; a list of them sorts by each in turn (REST's `_sort`).",
        )

    def _input(self, collection: CollectionPlan, *, patch: bool) -> GraphQLInputObjectType | None:
        fields: dict[str, GraphQLInputField] = {}
        if not patch:
            fields[collection.id_name] = GraphQLInputField(GraphQLID, description="Generated when not given.")
        for field in collection.fields:
            if field.key in collection.managed:
                continue
            scalar = SCALAR_TYPES[field.spec.scalar]
            required = field.spec.input_required and not patch
            kind: GraphQLInputType = GraphQLNonNull(scalar) if required else scalar
            fields[field.name] = GraphQLInputField(kind)
        if not fields:
            return None
        suffix, what = ("Patch", "merged into a record (PATCH)") if patch else ("Input", "a whole record (POST, PUT)")
        return GraphQLInputObjectType(f"{collection.type}{suffix}", fields, description=f"The fields of {what}.")

    def list_arguments(self, collection: CollectionPlan, *, search: bool) -> dict[str, GraphQLArgument]:
        """``where``, ``orderBy``, ``limit``, ``offset`` (and ``q`` on root lists)."""
        arguments = {
            "where": GraphQLArgument(self.wheres[collection.name]),
            "orderBy": GraphQLArgument(GraphQLList(GraphQLNonNull(self.orders[collection.name]))),
            "limit": GraphQLArgument(GraphQLInt, description="At most this many (and at most the page-size ceiling)."),
            "offset": GraphQLArgument(GraphQLInt, description="Skip this many first."),
        }
        if search:
            arguments["q"] = GraphQLArgument(GraphQLString, description="Full-text search (REST's `q`).")
        return arguments

    # -- root fields ----------------------------------------------------------------------------

    def queries(self, collection: CollectionPlan) -> dict[str, GraphQLField]:
        """The collection's list, count and record-by-id fields."""
        record = self.objects[collection.name]
        name = collection.name
        return {
            collection.list_field: GraphQLField(
                _list(record),
                self.list_arguments(collection, search=True),
                resolve=resolvers.list_resolver(collection),
                description=f"GET /{name}",
            ),
            collection.count_field: GraphQLField(
                GraphQLNonNull(GraphQLInt),
                {"where": GraphQLArgument(self.wheres[name]), "q": GraphQLArgument(GraphQLString)},
                resolve=resolvers.count_resolver(collection),
                description=f"How many records GET /{name} finds (X-Total-Count).",
            ),
            collection.item_field: GraphQLField(
                record, _id_argument(), resolve=resolvers.item_resolver(collection), description=f"GET /{name}/{{id}}"
            ),
        }

    def mutations(self, collection: CollectionPlan) -> dict[str, GraphQLField]:
        """The collection's create, update (when it has fields to patch), replace and delete fields."""
        record, name = self.objects[collection.name], collection.name
        whole = self._input(collection, patch=False)
        assert whole is not None  # noqa: S101 - it always has the id
        fields = {
            collection.create: GraphQLField(
                GraphQLNonNull(record),
                {"data": GraphQLArgument(GraphQLNonNull(whole))},
                resolve=resolvers.create_resolver(collection),
                description=f"POST /{name}",
            ),
            collection.replace: _write(
                record, whole, resolvers.update_resolver(collection, merge=False), f"PUT /{name}"
            ),
            collection.delete: GraphQLField(
                record,
                _id_argument(),
                resolve=resolvers.delete_resolver(collection),
                description=f"DELETE /{name}/{{id}}",
            ),
        }
        patch = self._input(collection, patch=True)
        if patch is not None:
            fields[collection.update] = _write(
                record, patch, resolvers.update_resolver(collection, merge=True), f"PATCH /{name}/{{id}}"
            )
        return fields

    def subscription(self, collection: CollectionPlan) -> GraphQLField:
        """``postChanged(where, since): PostChange!``: the collection's changes, as ``/realtime`` sends them."""
        record = self.objects[collection.name]
        change = GraphQLObjectType(
            f"{collection.type}Change",
            {
                "op": GraphQLField(GraphQLNonNull(CHANGE_OP), resolve=resolvers.value_of("op")),
                "seq": GraphQLField(
                    GraphQLNonNull(GraphQLInt), resolve=resolvers.value_of("seq"), description="Resume with since."
                ),
                "record": GraphQLField(
                    record, resolve=resolvers.change_side("record"), description="After (null for a delete)."
                ),
                "previous": GraphQLField(
                    record, resolve=resolvers.change_side("previous"), description="Before (null for a create)."
                ),
            },
            description=f"One change of {collection.name}, in seq order.",
        )
        arguments = {
            "where": GraphQLArgument(
                self.wheres[collection.name], description="Changes whose record or previous matches."
            ),
            "since": GraphQLArgument(GraphQLInt, description="The last seq received: first the changes after it."),
        }
        return GraphQLField(
            GraphQLNonNull(change),
            arguments,
            resolve=resolvers.change_event,
            subscribe=resolvers.change_subscriber(collection),
            description=f"The changes of /{collection.name} (as /realtime sends them).",
        )


def _id_argument() -> dict[str, GraphQLArgument]:
    return {"id": GraphQLArgument(GraphQLNonNull(GraphQLID))}


def _write(
    record: GraphQLObjectType, data: GraphQLInputObjectType, resolve: Callable[..., object], description: str
) -> GraphQLField:
    arguments = {**_id_argument(), "data": GraphQLArgument(GraphQLNonNull(data))}
    return GraphQLField(record, arguments, resolve=resolve, description=description)
