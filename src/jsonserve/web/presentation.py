"""How a REST answer is presented, apart from which records it holds: 1.x's envelope and ``_delay``.

The :class:`~jsonserve.query.Query` says what to read, for REST, GraphQL and subscriptions alike;
the envelope ``{first, prev, next, last, pages, items, data}`` and an artificial delay are REST's own.

Example:
    >>> presentation(Query("posts", window=PageRequest(2, 5, clamp=True)), [("_delay", "250")])
    Presentation(envelope=True, delay_ms=250)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jsonserve.config import Settings
from jsonserve.query.model import PageRequest, Query
from jsonserve.query.params import ParseOptions, parse_integer

MAX_DELAY_MS = 60_000


@dataclass(frozen=True)
class Presentation:
    """The envelope (json-server 1.x's paged shape) or a plain array; ``_delay`` in ms (None: the setting)."""

    envelope: bool = False
    delay_ms: int | None = None


def parse_options(settings: Settings) -> ParseOptions:
    """How a REST request's query parameters are read under these settings (the routes' and the fast lane's)."""
    return ParseOptions(settings.compat, settings.max_page_size, id_field=settings.id_field)


def presentation(query: Query, items: Iterable[tuple[str, str]]) -> Presentation:
    """Read the presentation of a request whose query string parsed into ``query``.

    Parse the query first: its errors come before a bad ``_delay``'s, as they always have.
    """
    # json-server 1.x answers its pages, and only those, in the envelope, and the envelope reports the
    # page it clamped to: so a clamped page is an envelope page.
    envelope = isinstance(query.window, PageRequest) and query.window.clamp
    return Presentation(envelope, requested_delay(items))


def requested_delay(items: Iterable[tuple[str, str]]) -> int | None:
    """The ``_delay`` a request asks for in ms (the last one wins), or ``None``; a malformed one is a 400.

    Example:
        >>> requested_delay([("_delay", "9"), ("_delay", "20")])
        20
    """
    delays = [value for key, value in items if key == "_delay"]
    return parse_integer("_delay", delays[-1], 0, MAX_DELAY_MS, clamp=False) if delays else None
