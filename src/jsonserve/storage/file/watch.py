"""Watching one data file for external edits (``watchfiles``, inotify underneath).

The folder is watched rather than the file, because editors save by writing a temporary file and
renaming it over the original, which replaces the inode a file watch would hold.

Example:
    >>> async for _ in watch_file(Path("db.json")):  # doctest: +SKIP
    ...     reload()
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import watchfiles


async def watch_file(path: Path) -> AsyncIterator[None]:
    """Yield once per batch of changes that touch ``path`` (debounced to 50 ms)."""
    name = path.name

    def only_this_file(_change: watchfiles.Change, changed: str) -> bool:
        return Path(changed).name == name

    async for _ in watchfiles.awatch(path.parent, watch_filter=only_this_file, debounce=50, step=20):
        yield
