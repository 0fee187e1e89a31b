"""Read rules: a filter the Service ANDs into every read of a collection (PocketBase's pattern).

A rule maps ``(principal, collection)`` to a :data:`~jsonserve.query.model.Node` that the records
the principal may read must match, or to ``None`` when every record may be read. Because the
answer is a filter and not a verdict on records already fetched, SQL backends compile it into the
query: lists, counts and joins stay correct (``X-Total-Count`` counts only what may be read) and no
record a caller may not read ever leaves the database. Today the only rule is :class:`AllowAll`;
the auth issue plugs in rules built from its configuration.

Example:
    >>> from jsonserve.auth.principal import ANONYMOUS
    >>> AllowAll()(ANONYMOUS, "posts") is None
    True
    >>> def own_posts(principal: Principal, collection: str) -> Node | None:  # a rule the auth issue could add
    ...     return Condition(("userId",), Op.EQ, principal.id or "") if collection == "posts" else None
"""

from __future__ import annotations

from typing import Protocol

from jsonserve.auth.principal import Principal
from jsonserve.query.model import Node


class ReadRule(Protocol):
    """What a principal may read of a collection: a filter to AND into the query, or ``None`` for all."""

    def __call__(self, principal: Principal, collection: str) -> Node | None:
        """The filter the readable records of ``collection`` match, or ``None`` when all are readable."""
        ...


class AllowAll:
    """The rule while there is no auth: everyone reads everything."""

    def __call__(self, principal: Principal, collection: str) -> Node | None:
        """Always ``None``: no filter."""
        return None
