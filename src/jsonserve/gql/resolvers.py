"""Resolvers: each root field is one Service call with the caller's Principal; relations load per level.

So every rule, validation, hidden field and backend behaves as it does for REST: ``posts`` is
``GET /posts`` (``Service.find``), ``post(id)`` is ``GET /posts/{id}``, ``createPost`` is ``POST``,
``updatePost`` ``PATCH``, ``replacePost`` ``PUT``, ``deletePost`` ``DELETE``; a singular resource
is ``GET``/``PATCH``/``PUT /profile``. Relation fields read through :mod:`jsonserve.gql.batch`.

A domain error raised here (``NotFound``, ``ValidationFailed``, ``PermissionDenied``...) becomes the
field's error, with REST's code (:mod:`jsonserve.gql.errors`).

Example:
    >>> resolve = list_resolver(plan)  # doctest: +SKIP
    >>> rows = await resolve(None, info, where={"views": {"gt": 10}}, limit=5)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from graphql import GraphQLResolveInfo

from jsonserve._types import Record
from jsonserve.auth.principal import Principal
from jsonserve.errors import BadRequest, BodyError
from jsonserve.gql.arguments import sort_keys, where_node, window
from jsonserve.gql.batch import Batch, Reader, Row, link_text
from jsonserve.gql.plan import CollectionPlan, Relation, SingularPlan
from jsonserve.query.model import Node, Query, Slice
from jsonserve.service import Service
from jsonserve.service.values import check_value

Resolver = Callable[..., Any]
Info: TypeAlias = "GraphQLResolveInfo[Context]"
Follow = Callable[[str, Node | None, Any], Awaitable[AsyncIterable[Any]]]
"""Start a subscription's source stream: the collection, its ``where`` (``None``: all), ``since``."""


@dataclass(frozen=True)
class Context:
    """What every resolver of one request reads: the Service, the caller, and the request's bounds."""

    service: Service
    principal: Principal
    max_page_size: int = 1000
    max_depth: int = 64
    follow: Follow | None = None  # a subscription's source of changes (the WebSocket transport's)

    @property
    def reader(self) -> Reader:
        """Related records, read for this caller."""
        return Reader(self.service, self.principal)


def _context(info: Info) -> Context:
    return info.context


# -- record fields -------------------------------------------------------------------------------


def value_resolver(key: str) -> Resolver:
    """A data field's value (``None`` when the record lacks it)."""

    def resolve(row: Row, _info: Info) -> Any:
        return row.record.get(key)

    return resolve


def children_resolver(relation: Relation, child: CollectionPlan, id_key: str) -> Resolver:
    """``Post.comments(where, orderBy, limit, offset)``: the children of every post of the level, read at once."""

    async def resolve(
        row: Row,
        info: Info,
        where: Mapping[str, Any] | None = None,
        orderBy: list[Mapping[str, str]] | None = None,  # noqa: N803 - the GraphQL argument's name
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[Row]:
        context = _context(info)
        node, sort = where_node(child, where), sort_keys(child, orderBy)
        span = window(limit, offset, context.max_page_size)
        index = await row.batch.load(
            (relation.name, node, sort),
            lambda records: context.reader.children(
                relation.target, relation.key, [record.get(id_key) for record in records], node, sort
            ),
        )
        own = link_text(row.record.get(id_key))
        return [] if own is None else index.get(own, [])[span.start : span.stop]

    return resolve


def parent_resolver(relation: Relation, id_key: str) -> Resolver:
    """``Comment.post``: the parent each comment's ``postId`` names, for every comment of the level at once."""

    async def resolve(row: Row, info: Info) -> Row | None:
        context = _context(info)
        reference = link_text(row.record.get(relation.key))
        if reference is None:
            return None
        index = await row.batch.load(
            (relation.name,),
            lambda records: context.reader.parents(
                relation.target, id_key, [record.get(relation.key) for record in records]
            ),
        )
        return index.get(reference)

    return resolve


# -- Query ---------------------------------------------------------------------------------------


def list_resolver(plan: CollectionPlan) -> Resolver:
    """``posts(where, orderBy, limit, offset, q)``: ``GET /posts`` with the same filter, order and window."""

    async def resolve(
        _root: object,
        info: Info,
        where: Mapping[str, Any] | None = None,
        orderBy: list[Mapping[str, str]] | None = None,  # noqa: N803
        limit: int | None = None,
        offset: int | None = None,
        q: str | None = None,
    ) -> list[Row]:
        context = _context(info)
        query = Query(
            plan.name,
            where=where_node(plan, where, q),
            sort=sort_keys(plan, orderBy),
            window=window(limit, offset, context.max_page_size),
        )
        listing = await context.service.find(query, principal=context.principal)
        return Batch(listing.items).rows()

    return resolve


def count_resolver(plan: CollectionPlan) -> Resolver:
    """``postsCount(where, q)``: how many records the same filter finds (``X-Total-Count``)."""

    async def resolve(_root: object, info: Info, where: Mapping[str, Any] | None = None, q: str | None = None) -> int:
        context = _context(info)
        query = Query(plan.name, where=where_node(plan, where, q), window=Slice(0, 0))
        return (await context.service.find(query, principal=context.principal)).total

    return resolve


def item_resolver(plan: CollectionPlan) -> Resolver:
    """``post(id)``: ``GET /posts/{id}``; missing or unreadable is ``null`` with ``not_found`` (or ``forbidden``)."""

    async def resolve(_root: object, info: Info, id: str) -> Row:
        context = _context(info)
        return Row.alone(await context.service.get(plan.name, id, principal=context.principal))

    return resolve


def singular_resolver(singular: SingularPlan) -> Resolver:
    """``profile``: ``GET /profile``."""

    async def resolve(_root: object, info: Info) -> Record:
        context = _context(info)
        return await context.service.get_singular(singular.name, principal=context.principal)

    return resolve


# -- Mutation ------------------------------------------------------------------------------------


def create_resolver(plan: CollectionPlan) -> Resolver:
    """``createPost(data)``: ``POST /posts`` (the id generated unless ``data`` gives one)."""

    async def resolve(_root: object, info: Info, data: Mapping[str, Any]) -> Row:
        context = _context(info)
        body = record_body(plan, data, context.max_depth)
        return Row.alone(await context.service.create(plan.name, body, principal=context.principal))

    return resolve


def update_resolver(plan: CollectionPlan, *, merge: bool) -> Resolver:
    """``updatePost(id, data)`` (``PATCH``, merged) or ``replacePost(id, data)`` (``PUT``)."""

    async def resolve(_root: object, info: Info, id: str, data: Mapping[str, Any]) -> Row:
        context = _context(info)
        body = record_body(plan, data, context.max_depth)
        write = context.service.patch if merge else context.service.replace
        return Row.alone(await write(plan.name, id, body, principal=context.principal))

    return resolve


def delete_resolver(plan: CollectionPlan) -> Resolver:
    """``deletePost(id)``: ``DELETE /posts/{id}``; the deleted record."""

    async def resolve(_root: object, info: Info, id: str) -> Row:
        context = _context(info)
        return Row.alone(await context.service.delete(plan.name, id, principal=context.principal))

    return resolve


def singular_write_resolver(singular: SingularPlan, *, merge: bool) -> Resolver:
    """``updateProfile(data)`` (``PATCH /profile``) or ``replaceProfile(data)`` (``PUT /profile``)."""

    async def resolve(_root: object, info: Info, data: Any) -> Record:
        context = _context(info)
        if not isinstance(data, dict):
            raise BodyError(f"`data` must be a JSON object to write {singular.name}")
        check_value(data, max_depth=context.max_depth)
        service = context.service
        write = service.patch_singular if merge else service.replace_singular
        return await write(singular.name, data, principal=context.principal)

    return resolve


def record_body(plan: CollectionPlan, data: Mapping[str, Any], max_depth: int) -> Record:
    """A mutation's ``data`` as the record body REST would receive: the data's field names, checked alike."""
    body: Record = {}
    for name, value in data.items():
        if name == plan.id_name:
            body[plan.id_key] = id_value(value, integer=plan.integer_ids)
            continue
        field = plan.field_named(name)
        if field is not None:
            body[field.key] = value
    check_value(body, max_depth=max_depth)
    return body


def id_value(text: Any, *, integer: bool) -> Any:
    """An ``ID`` argument as the id to store: an integer for a collection of integer ids, when it reads as one."""
    if integer and isinstance(text, str) and text.lstrip("-").isdecimal():
        number = int(text)
        if str(number) == text:
            return number
    return text


# -- Subscription --------------------------------------------------------------------------------


def change_subscriber(plan: CollectionPlan) -> Resolver:
    """``postChanged(where, since)``'s source: the realtime changes of the collection, through the transport."""

    async def subscribe(
        _root: object, info: Info, where: Mapping[str, Any] | None = None, since: Any = None
    ) -> AsyncIterable[Any]:
        context = _context(info)
        if context.follow is None:
            raise BadRequest("a subscription needs the WebSocket transport (graphql-transport-ws at /graphql)")
        return await context.follow(plan.name, where_node(plan, where) if where else None, since)

    return subscribe


def change_event(event: Any, _info: Info, **_arguments: Any) -> Any:
    """``postChanged``'s value for one event: the event itself (a realtime change frame)."""
    return event


def change_side(side: str) -> Resolver:
    """``PostChange.record`` / ``previous``: that side of the change (``None`` for a create's previous...)."""

    def resolve(event: Mapping[str, Any], _info: Info) -> Row | None:
        record = event.get(side)
        return None if record is None else Row.alone(record)

    return resolve


def value_of(key: str) -> Resolver:
    """A key of a change event."""

    def resolve(event: Mapping[str, Any], _info: Info) -> Any:
        return event.get(key)

    return resolve
