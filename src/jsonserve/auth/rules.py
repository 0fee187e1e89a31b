"""Read and write rules: a read rule is a filter the Service ANDs into every read (PocketBase's pattern).

A rule maps ``(principal, collection)`` to a :data:`~jsonserve.query.model.Node` that the records
the principal may read must match, or to ``None`` when every record may be read. Because the
answer is a filter and not a verdict on records already fetched, SQL backends compile it into the
query: lists, counts and joins stay correct (``X-Total-Count`` counts only what may be read) and no
record a caller may not read ever leaves the database. A read rule may raise
:class:`~jsonserve.errors.Unauthorized` when the caller must sign in first: the request's own
collection then answers 401, while joins, ``/db`` and counts read nothing of it. A write rule checks
(and may complete) each record written. :class:`AllowAll` is both while there is no auth;
:class:`~jsonserve.auth.policy.RulePolicy` is both under ``--auth``.

Example:
    >>> from jsonserve.auth.principal import ANONYMOUS
    >>> AllowAll()(ANONYMOUS, "posts") is None
    True
    >>> def own_posts(principal: Principal, collection: str) -> Node | None:  # a rule the auth issue could add
    ...     return Condition(("userId",), Op.EQ, principal.id or "") if collection == "posts" else None
"""

from __future__ import annotations

from typing import Protocol

from jsonserve._types import Record
from jsonserve.auth.access import ChannelAction
from jsonserve.auth.principal import Principal
from jsonserve.query.model import Node


class ReadRule(Protocol):
    """What a principal may read of a collection: a filter to AND into the query, or ``None`` for all."""

    def __call__(self, principal: Principal, collection: str) -> Node | None:
        """The filter the readable records of ``collection`` match, or ``None`` when all are readable."""
        ...


class WriteRule(Protocol):
    """What a principal may write: each method returns the record to store, or raises.

    The verdicts are :class:`~jsonserve.errors.Unauthorized` (a token is needed) and
    :class:`~jsonserve.errors.PermissionDenied`. ``update`` and ``delete`` run inside the storage's
    atomic write, on the current record, so a rule cannot be raced by a concurrent write.
    """

    def create(self, principal: Principal, collection: str, record: Record) -> Record:
        """The record to insert (e.g. its owner field set to the caller), or raise."""
        ...

    def update(self, principal: Principal, collection: str, current: Record, new: Record) -> Record:
        """The record to store in place of ``current``, or raise."""
        ...

    def delete(self, principal: Principal, collection: str, current: Record) -> None:
        """Return if ``current`` may be deleted, else raise."""
        ...


class ChannelRule(Protocol):
    """Who may subscribe to and publish on a realtime channel."""

    def channel(self, principal: Principal, channel: str, action: ChannelAction) -> None:
        """Return if ``principal`` may do ``action`` on ``channel``; raise ``Unauthorized``/``PermissionDenied``."""
        ...


class AllowAll:
    """The rule while there is no auth: everyone reads and writes everything."""

    def __call__(self, principal: Principal, collection: str) -> Node | None:
        """Always ``None``: no filter."""
        return None

    def create(self, principal: Principal, collection: str, record: Record) -> Record:
        """``record`` as it is."""
        return record

    def update(self, principal: Principal, collection: str, current: Record, new: Record) -> Record:
        """``new`` as it is."""
        return new

    def delete(self, principal: Principal, collection: str, current: Record) -> None:
        """Allowed."""

    def channel(self, principal: Principal, channel: str, action: ChannelAction) -> None:
        """Allowed."""
