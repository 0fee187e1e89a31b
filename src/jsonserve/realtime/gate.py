"""Who may see what, at delivery time: the Service's read rule, its hidden fields, and the channel rules.

Nothing here is a second copy of the rules: the read rule is the one the Service ANDs into every read
(:class:`~jsonserve.auth.rules.ReadRule`, :class:`~jsonserve.auth.policy.RulePolicy` under ``--auth``),
evaluated on the changed record with the reference evaluator, and the redaction is the Service's.

Example:
    >>> gate = Gate(AllowAll(), NO_REDACTION, AllowAll())
    >>> gate.visible(ANONYMOUS, change) is change  # doctest: +SKIP
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from jsonserve._types import Record
from jsonserve.auth.access import ChannelAction
from jsonserve.auth.principal import Principal
from jsonserve.auth.rules import ChannelRule, ReadRule
from jsonserve.errors import Unauthorized
from jsonserve.query.evaluate import matches
from jsonserve.query.model import AnyOf, Node, Query
from jsonserve.storage.changelog import Change

NOTHING: Node = AnyOf(())


class Redactor(Protocol):
    """The Service's :class:`~jsonserve.service.redact.Redaction`, as far as realtime needs it."""

    def record(self, collection: str, record: Record) -> Record:
        """``record`` without its hidden fields."""
        ...

    def check_query(self, query: Query) -> None:
        """Raise :class:`~jsonserve.errors.QueryError` when ``query`` filters on a hidden field."""
        ...


class _NoRedaction:
    def record(self, collection: str, record: Record) -> Record:
        return record

    def check_query(self, query: Query) -> None:
        return None


NO_REDACTION: Redactor = _NoRedaction()


@dataclass(frozen=True)
class Gate:
    """The read rule, the redaction and the channel rule a realtime connection is checked against."""

    read_rule: ReadRule
    redactor: Redactor
    channel_rule: ChannelRule
    # The last change redacted, and its redacted copy: hidden fields are the same for every caller, so
    # one copy serves all subscribers (and the frame encoder recognises it: one encoding per change).
    _last: list[tuple[Change, Change]] = field(default_factory=list, compare=False, repr=False)

    def check_subscribe(self, principal: Principal, collection: str, where: Node | None) -> None:
        """Raise as a REST list of ``collection`` would.

        :class:`Unauthorized` without a needed token; ``invalid_query`` for a ``where`` on a hidden
        field (it would be an oracle on password hashes).
        """
        self.read_rule(principal, collection)
        if where is not None:
            self.redactor.check_query(Query(collection, where=where))

    def check_channel(self, principal: Principal, channel: str, action: ChannelAction) -> None:
        """Raise unless ``principal`` may ``subscribe`` to or ``publish`` on ``channel``."""
        self.channel_rule.channel(principal, channel, action)

    def visible(self, principal: Principal, change: Change) -> Change | None:
        """``change`` as ``principal`` may see it now (hidden fields removed), or ``None`` when it may not.

        A create or update is visible when the read rule allows the new ``record``; a delete when it
        allowed the ``previous`` one; a reset when the collection shows the caller anything at all.
        """
        try:
            rule = self.read_rule(principal, change.collection)
        except Unauthorized:
            return None
        if change.action == "reset":
            return None if rule == NOTHING else change
        shown = change.previous if change.action == "deleted" else change.record
        if rule is not None and (shown is None or not matches(shown, rule)):
            return None
        return self._redacted(change)

    def _redacted(self, change: Change) -> Change:
        last = self._last[0] if self._last else None
        if last is not None and last[0] is change:
            return last[1]
        redacted = self._redact(change)
        if redacted is not change:
            self._last[:] = [(change, redacted)]
        return redacted

    def _redact(self, change: Change) -> Change:
        record = None if change.record is None else self.redactor.record(change.collection, change.record)
        previous = None if change.previous is None else self.redactor.record(change.collection, change.previous)
        if record is change.record and previous is change.previous:
            return change
        return replace(change, record=record, previous=previous)
