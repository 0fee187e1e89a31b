"""Counts kept per filter, each under the version of the data it counted (the SQL backends' page totals).

A page of json-server's dialects needs the number of matches (``X-Total-Count``, the 1.x envelope's
``items`` and ``pages``), and ``COUNT(*)`` walks every match: about 40 ms for the 100,000 posts of
``/posts?_page=2``, against 0.04 ms for the page's rows. A count is kept under the version of the
data it counted and served only to a read of that very version; nothing is ever invalidated, an
entry for an older version simply no longer matches (and falls out, least recently used first).

On SQLite the version is ``PRAGMA data_version`` as one reader saw it, and the key names the reader
(``sqlite.py``). On PostgreSQL the version is the statement's snapshot (``pg_current_snapshot()``, read in the page's
own statement, and in the count's): two snapshots that are equal see exactly the same committed
transactions, so a count kept under one is exact for the other, whoever wrote meanwhile (another
instance, ``psql``). Any commit, in any database of the server, gives later statements a new
snapshot: a count is then made again, once per filter.

Example:
    >>> counts = KeptCounts()
    >>> counts.keep("posts", "795:795:", 100_000)
    >>> counts.get("posts", "795:795:"), counts.get("posts", "795:797:796")
    (100000, None)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

SIZE = 512
"""Filters whose count is kept."""


class KeptCounts:
    """A bounded map from a filter to its count and the version of the data it was counted in."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._kept: OrderedDict[Hashable, tuple[Hashable, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: Hashable, version: Hashable) -> int | None:
        """The count kept for ``key`` if it was counted in ``version``, else ``None``."""
        kept = self._kept.get(key)
        if kept is None or kept[0] != version:
            return None
        self._kept.move_to_end(key)
        return kept[1]

    def keep(self, key: Hashable, version: Hashable, count: int) -> None:
        """Keep ``count`` for ``key``, counted in ``version`` (replacing what was kept for it)."""
        self._kept[key] = (version, count)
        self._kept.move_to_end(key)
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
