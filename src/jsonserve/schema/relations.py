"""Relations between collections by json-server's naming convention.

``comments.postId`` points at ``posts.id``: the foreign key is the singular of the parent collection
plus the suffix (``--fks``, default ``Id``). Singular and plural forms come from ``inflection`` (the
Python port of the Rails inflector that json-server 1.x uses in JavaScript), cached per name.

Example:
    >>> r = Relations(["posts", "comments"])
    >>> r.foreign_key("posts"), r.parent_collection("post")
    ('postId', 'posts')
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import inflection


@functools.lru_cache(maxsize=4096)
def singular(name: str) -> str:
    """``posts`` -> ``post``; a name that is already singular is returned unchanged."""
    return str(inflection.singularize(name))


@functools.lru_cache(maxsize=4096)
def plural(name: str) -> str:
    """``post`` -> ``posts``."""
    return str(inflection.pluralize(name))


class Relations:
    """Foreign keys between a fixed set of collections."""

    def __init__(self, collections: Iterable[str], fk_suffix: str = "Id") -> None:
        self.collections = frozenset(collections)
        self.fk_suffix = fk_suffix

    def foreign_key(self, collection: str) -> str:
        """The field that children use to point at a record of ``collection``."""
        return singular(collection) + self.fk_suffix

    def parent_collection(self, name: str) -> str | None:
        """The collection a singular name (``post``) or a foreign key's stem refers to."""
        for candidate in (plural(name), name):
            if candidate in self.collections and singular(candidate) == name:
                return candidate
        return None
