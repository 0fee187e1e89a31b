"""One GraphQL request, transport-free: the live schema, the checks before execution, the answer's status.

:class:`GraphQL` keeps the schema built for the catalogue's current version and builds it again
when that moves (a collection created by ``--auto-create``, an edit under ``--watch``, a write that
widened a shape), so the next request sees it. :meth:`GraphQL.run` then takes a request as GraphQL
over HTTP carries it (``query``, ``variables``, ``operationName``) and gives an :class:`Outcome`:

* 400 for a request that is not valid GraphQL: no query, bad ``variables``, a syntax or validation
  error, an unknown operation, variables that do not fit (``invalid_query``/``bad_request``), or a
  request over a limit of :mod:`jsonserve.gql.limits` (``too_complex``), with ``errors`` and no ``data``;
* 405 (``Allow: POST``) for a mutation sent where only queries are taken (a GET);
* 200 otherwise, with ``data`` and any field's ``errors``.

Example:
    >>> engine = GraphQL(service)  # doctest: +SKIP
    >>> (await engine.run({"query": "{ postsCount }"}, principal=ANONYMOUS)).body  # doctest: +SKIP
    {'data': {'postsCount': 3}}
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    Executor,
    GraphQLError,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    create_source_event_stream,
    execute,
    get_operation_ast,
    map_source_to_response_event,
    parse,
    specified_rules,
    validate,
)
from graphql.execution import VariableValues, get_variable_values

from jsonserve.auth.principal import ANONYMOUS, Principal
from jsonserve.gql.build import build_schema
from jsonserve.gql.errors import INVALID_QUERY, TOO_COMPLEX, coded, execution_errors, formatted
from jsonserve.gql.lane import Root, compile_lane, run_lane
from jsonserve.gql.limits import GraphQLLimits, TooComplex, check_document, check_operation
from jsonserve.gql.plan import Plan, make_plan
from jsonserve.gql.resolvers import Context, Follow
from jsonserve.service import Service

MAX_ERRORS = 50
CACHED_DOCUMENTS = 256  # parsed and validated documents kept (clients send the same few queries again and again)


@dataclass(frozen=True)
class GraphQLOptions:
    """The endpoint's options: introspection (on by default), the limits, and the bound on values' nesting."""

    introspection: bool = True
    limits: GraphQLLimits = field(default_factory=GraphQLLimits)
    max_value_depth: int = 64
    fast_lane: bool = True  # answer simple queries without graphql-core's executor (jsonserve.gql.lane)


@dataclass(frozen=True)
class Outcome:
    """What to answer: the status, the ``{data, errors}`` body, and ``Allow`` for a 405."""

    status: int
    body: dict[str, Any]
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """One operation, parsed, validated and within the limits: ready to execute (or to subscribe)."""

    schema: GraphQLSchema
    plan: Plan
    document: DocumentNode
    operation: OperationDefinitionNode
    values: VariableValues
    variables: dict[str, Any]
    name: str | None
    query: str

    @property
    def kind(self) -> OperationType:
        """``QUERY``, ``MUTATION`` or ``SUBSCRIPTION``."""
        return self.operation.operation


class _Refused(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.status)
        self.outcome = outcome


def _refused(status: int, errors: list[dict[str, Any]], allow: tuple[str, ...] = ()) -> _Refused:
    return _Refused(Outcome(status, {"errors": errors}, allow))


class GraphQL:
    """The GraphQL endpoint of one Service."""

    def __init__(self, service: Service, options: GraphQLOptions | None = None) -> None:
        self.service = service
        self.options = options or GraphQLOptions()
        self._built: tuple[int, GraphQLSchema, Plan] | None = None
        self._documents: dict[str, DocumentNode] = {}
        self._validated: dict[str, GraphQLSchema] = {}  # documents known valid, by query text, for that schema
        self._lanes: dict[str, tuple[GraphQLSchema, tuple[Root, ...] | None]] = {}
        self._rules = list(specified_rules)
        if not self.options.introspection:
            self._rules.append(NoSchemaIntrospectionCustomRule)

    async def schema(self) -> GraphQLSchema:
        """The schema of what is served now (built again only when the catalogue's version has moved)."""
        version = self.service.catalogue.version  # read first: a write during the build leaves a newer one
        if self._built is None or self._built[0] != version:
            plan = await make_plan(self.service.catalogue, self.service.redaction.hidden)
            self._built = (version, build_schema(plan), plan)
        return self._built[1]

    async def example(self) -> str:
        """A first query for GraphiQL's editor: a few records of the data's first collection, and their count."""
        await self.schema()
        assert self._built is not None  # noqa: S101 - built just now
        plan = self._built[2]
        position = {name: index for index, name in enumerate(self.service.kinds())}
        collections = sorted(plan.collections, key=lambda collection: position.get(collection.name, len(position)))
        if not collections:
            return "# No collection yet: add one to the data, then reload.\n{\n  __typename\n}\n"
        first = collections[0]
        scalars = [field.name for field in first.fields if field.spec.scalar != "JSON"][:3]
        selection = "\n    ".join([first.id_name, *scalars])
        return (
            "# jsonserve's GraphQL endpoint: run this with the button above (or Ctrl-Enter).\n"
            f"{{\n  {first.list_field}(limit: 5) {{\n    {selection}\n  }}\n  {first.count_field}\n}}\n"
        )

    async def run(
        self, request: Mapping[str, Any], *, principal: Principal = ANONYMOUS, mutations: bool = True
    ) -> Outcome:
        """Answer one request (``{"query", "variables"?, "operationName"?}``) for ``principal``.

        ``mutations=False`` (a GET) answers a mutation with 405; a subscription is a 400 (it needs
        the WebSocket transport).
        """
        prepared = await self.prepare(request, mutations=mutations)
        if isinstance(prepared, Outcome):
            return prepared
        if prepared.kind is OperationType.SUBSCRIPTION:
            message = "a subscription needs a WebSocket: connect to /graphql with the graphql-transport-ws subprotocol"
            return Outcome(400, {"errors": [coded(message, "bad_request")]})
        return await self.execute(prepared, principal=principal)

    async def prepare(self, request: Mapping[str, Any], *, mutations: bool = True) -> Prepared | Outcome:
        """Parse, validate and check ``request`` against the limits: the operation to run, or the refusal."""
        try:
            schema, plan = await self._current()
            query, variables, operation_name = _parts(request)
            operation = self._operation(schema, query, operation_name, mutations=mutations)
            document = self._parse(query)
            values = self._variables(schema, operation, variables)
            check_operation(schema, document, operation, values.coerced, self.options.limits)
        except _Refused as refused:
            return refused.outcome
        except TooComplex as error:
            return Outcome(400, {"errors": [coded(str(error), TOO_COMPLEX)]})
        return Prepared(schema, plan, document, operation, values, variables, operation_name, query)

    def context(self, principal: Principal, follow: Follow | None = None) -> Context:
        """What the resolvers of one operation read (``follow``: a subscription's source, from the transport)."""
        limits = self.options.limits
        return Context(self.service, principal, limits.max_page_size, self.options.max_value_depth, follow)

    async def execute(self, prepared: Prepared, *, principal: Principal = ANONYMOUS) -> Outcome:
        """Run a prepared query or mutation for ``principal``: 200 with ``data`` and any field's ``errors``."""
        context = self.context(principal)
        lane = self._lane(prepared.schema, prepared.operation, f"{prepared.name}\n{prepared.query}")
        if lane is not None:
            data = await run_lane(lane, prepared.values, context)
            if data is not None:
                return Outcome(200, {"data": data})
        result = execute(
            prepared.schema,
            prepared.document,
            context_value=context,
            variable_values=prepared.variables,
            operation_name=prepared.name,
        )
        if inspect.isawaitable(result):
            result = await result
        return Outcome(200, _body(result))

    async def subscribe(
        self, prepared: Prepared, context: Context
    ) -> AsyncGenerator[dict[str, Any], None] | dict[str, Any]:
        """Start a prepared subscription: its stream of ``{data, errors?}`` bodies, or the body of its refusal.

        The root field's ``subscribe`` resolver asks ``context.follow`` for the source of changes;
        each change is then resolved through the operation's selection (relations included).
        """
        executor = Executor.build(
            prepared.schema,
            prepared.document,
            context_value=context,
            raw_variable_values=prepared.variables,
            operation_name=prepared.name,
            hide_suggestions=not self.options.introspection,
        )
        if isinstance(executor, list):  # the variables were checked by prepare(): kept for safety
            return {"errors": [formatted(error, INVALID_QUERY) for error in executor]}
        stream = create_source_event_stream(executor)
        if inspect.isawaitable(stream):
            stream = await stream
        if isinstance(stream, ExecutionResult):
            return _body(stream)
        return _bodies(map_source_to_response_event(executor, stream))

    async def _current(self) -> tuple[GraphQLSchema, Plan]:
        await self.schema()
        assert self._built is not None  # noqa: S101 - built just now
        return self._built[1], self._built[2]

    def _parse(self, query: str) -> DocumentNode:
        """The document, parsed and within the aliases and nesting bounds (kept: the same text comes again)."""
        document = self._documents.get(query)
        if document is not None:
            return document
        try:
            document = parse(query, max_lexical_tokens=self.options.limits.max_tokens)
        except GraphQLError as error:
            raise _refused(400, [formatted(error, INVALID_QUERY)]) from None
        check_document(document, self.options.limits)
        _keep(self._documents, query, document)
        return document

    def _operation(
        self, schema: GraphQLSchema, query: str, name: str | None, *, mutations: bool
    ) -> OperationDefinitionNode:
        document = self._parse(query)
        operation = get_operation_ast(document, name)
        if operation is not None and operation.operation is OperationType.MUTATION and not mutations:
            message = "a mutation must be sent with POST (GET takes queries only)"
            raise _refused(405, [coded(message, "method_not_allowed")], ("POST",))
        self._validate(schema, document, query)
        if operation is None:
            message = f"no operation named {name!r}" if name else "several operations: say which in operationName"
            raise _refused(400, [coded(message, INVALID_QUERY)])
        return operation

    def _validate(self, schema: GraphQLSchema, document: DocumentNode, query: str) -> None:
        """Refuse an invalid document (400); a valid one is remembered, by its text, for this schema."""
        if self._validated.get(query) is schema:
            return
        hide = not self.options.introspection  # "did you mean" would name fields introspection hides
        errors = validate(schema, document, self._rules, max_errors=MAX_ERRORS, hide_suggestions=hide)
        if errors:
            raise _refused(400, [formatted(error, INVALID_QUERY) for error in errors])
        _keep(self._validated, query, schema)

    def _lane(self, schema: GraphQLSchema, operation: OperationDefinitionNode, key: str) -> tuple[Root, ...] | None:
        """The fast lane's plan for this operation (``None``: graphql-core executes it), kept per schema."""
        if not self.options.fast_lane:
            return None
        kept = self._lanes.get(key)
        if kept is not None and kept[0] is schema:
            return kept[1]
        lane = compile_lane(schema, operation)
        _keep(self._lanes, key, (schema, lane))
        return lane

    def _variables(
        self, schema: GraphQLSchema, operation: OperationDefinitionNode, variables: dict[str, Any]
    ) -> VariableValues:
        values = get_variable_values(
            schema, operation.variable_definitions or (), variables, max_errors=MAX_ERRORS,
            hide_suggestions=not self.options.introspection,
        )  # fmt: skip
        if isinstance(values, list):
            raise _refused(400, [formatted(error, INVALID_QUERY) for error in values])
        return values


def _keep(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= CACHED_DOCUMENTS:
        cache.clear()  # a few queries at a time are the common case: start again rather than track use
    cache[key] = value


def _parts(request: Mapping[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """``query``, ``variables`` and ``operationName``, checked: a 400 ``bad_request`` says what is wrong."""
    query, variables, name = request.get("query"), request.get("variables"), request.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise _refused(400, [coded("send a GraphQL document in `query`", "bad_request")])
    if variables is not None and not isinstance(variables, dict):
        raise _refused(400, [coded("`variables` must be a JSON object", "bad_request")])
    if name is not None and not isinstance(name, str):
        raise _refused(400, [coded("`operationName` must be a string", "bad_request")])
    return query, variables or {}, name


async def _bodies(results: AsyncGenerator[ExecutionResult, None]) -> AsyncGenerator[dict[str, Any], None]:
    try:
        async for result in results:
            yield _body(result)
    finally:
        await results.aclose()


def _body(result: ExecutionResult) -> dict[str, Any]:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = execution_errors(result.errors)
    return body
