"""The numbers a data file carries while no server runs: its change ``seq`` and id high-water marks.

While a server runs they are the first line of the journal (``.db.json.journal``). At a clean
shutdown, once the file holds every write, the journal holds nothing else; so the numbers move into
an extended attribute of the file itself (``user.jsonserve``) and the journal is removed, leaving
the user's file alone in its folder. They must survive: ``seq`` only grows, per store (a realtime
client resuming from a ``seq`` of before a restart is told to resync rather than handed someone
else's changes under old numbers), and a deleted maximum id is never handed out again.

The attribute travels with the file (a rename, an edit in place); ``cp``, git and most editors'
saves do not copy it, and the file is then a new store (``seq`` from 0, ids after the largest held),
as when the journal is deleted. Where the file system keeps no extended attributes (or the system
has no ``os.setxattr``), :func:`write_meta` says so and the journal is kept instead.

Example:
    >>> write_meta(Path("db.json"), Meta(120, {"posts": 101}))  # doctest: +SKIP
    True
    >>> read_meta(Path("db.json"))  # doctest: +SKIP
    Meta(seq=120, high={'posts': 101})
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ATTRIBUTE = "user.jsonserve"
VERSION = 1
log = logging.getLogger("jsonserve.storage")


@dataclass(frozen=True)
class Meta:
    """A store's change ``seq`` and, per collection, the highest integer id it ever handed out."""

    seq: int = 0
    high: Mapping[str, int] = field(default_factory=dict)

    def merged(self, other: Meta) -> Meta:
        """The larger of each number (both only ever grow).

        Example:
            >>> Meta(3, {"a": 5}).merged(Meta(7, {"a": 2, "b": 1}))
            Meta(seq=7, high={'a': 5, 'b': 1})
        """
        names = dict.fromkeys([*self.high, *other.high])
        high = {name: max(self.high.get(name, 0), other.high.get(name, 0)) for name in names}
        return Meta(max(self.seq, other.seq), high)


def read_meta(path: Path) -> Meta:
    """The numbers kept in ``path``'s attribute; none (zeros) when it has none or it cannot be read.

    A damaged attribute is ignored with a warning: it is invisible to the user, and refusing to
    serve their file for it would be worse than starting the numbers afresh.
    """
    if not hasattr(os, "getxattr"):
        return Meta()
    try:
        raw = os.getxattr(path, ATTRIBUTE)
    except OSError:  # no such attribute, no attributes on this file system, no file
        return Meta()
    try:
        data = orjson.loads(raw)
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}")
        high = {str(name): int(value) for name, value in data["high"].items()}
        return Meta(int(data["seq"]), high)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        log.warning("ignored the %s attribute of %s, which is damaged (%s)", ATTRIBUTE, path.name, error)
        return Meta()


def write_meta(path: Path, meta: Meta) -> bool:
    """Keep ``meta`` in ``path``'s attribute, durably (the file is fsynced); ``False`` where that is impossible."""
    if not hasattr(os, "setxattr"):
        return False
    value = orjson.dumps({"version": VERSION, "seq": meta.seq, "high": dict(meta.high)})
    with contextlib.suppress(OSError):
        if os.getxattr(path, ATTRIBUTE) == value:
            return True  # kept already: setting it again would change the file's ctime (and void its snapshot)
    try:
        os.setxattr(path, ATTRIBUTE, value)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:  # ENOTSUP (tmpfs before Linux 6.6, some network file systems), EPERM, ENOSPC ...
        log.debug("cannot keep the %s attribute on %s (%s): the journal keeps it", ATTRIBUTE, path.name, error)
        return False
    return True
