"""GraphQL names for the data's names: made safe, and collisions resolved deterministically.

A GraphQL name matches ``[_A-Za-z][_0-9A-Za-z]*`` and must not start with ``__`` (introspection's
prefix). A data name is made safe by :func:`safe_name`: every other character becomes ``_``, a name
starting with a digit gets a leading ``_``, and a leading ``__`` is shortened to ``_``
(``first-name`` -> ``first_name``, ``2fa`` -> ``_2fa``, ``__v`` -> ``_v``).

Two names may still meet: two fields made safe alike (``a-b`` and ``a_b``), a collection whose type
name is a built-in one (``strings`` -> ``String``), a field that has a relation's name. A
:class:`Namespace` gives each claimant, in a fixed order, its first free candidate, and past the
candidates the last one with ``_2``, ``_3``... appended. The orders are documented in
``docs/graphql.md`` (the data's own names before mangled ones, data fields before relations,
collections by name), so the same data always gives the same schema.

Example:
    >>> names = Namespace({"String"})
    >>> names.claim("String"), names.claim("String"), names.claim("Post")
    ('String_2', 'String_3', 'Post')
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_UNSAFE = re.compile(r"[^_0-9A-Za-z]")
_WORDS = re.compile(r"[^0-9A-Za-z]+")
_LEADING = re.compile(r"^_+")


def safe_name(text: str) -> str:
    """``text`` as a GraphQL name (see the module's rules).

    Example:
        >>> safe_name("first-name"), safe_name("2fa"), safe_name("__v"), safe_name("")
        ('first_name', '_2fa', '_v', '_')
    """
    name = _UNSAFE.sub("_", text) or "_"
    if name[0].isdigit():
        name = "_" + name
    while name.startswith("__"):
        name = name[1:]
    return name


def pascal(text: str) -> str:
    """A type name: the words of ``text`` capitalised and joined (``blog-post`` -> ``BlogPost``), made safe.

    Example:
        >>> pascal("blog-post"), pascal("userProfile"), pascal("文章")
        ('BlogPost', 'UserProfile', '_')
    """
    words = [word for word in _WORDS.split(text) if word]
    return safe_name("".join(word[:1].upper() + word[1:] for word in words))


def camel(text: str) -> str:
    """A field name: :func:`pascal` with its first letter in lower case (``blog-posts`` -> ``blogPosts``).

    Example:
        >>> camel("blog-posts"), camel("Posts"), camel("posts")
        ('blogPosts', 'posts', 'posts')
    """
    name = pascal(text)
    return name[:1].lower() + name[1:] if name[:1].isalpha() else name


class Namespace:
    """Names already taken in one scope (a type's fields, the root fields, the type names)."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self.taken: set[str] = set(reserved)

    def free(self, name: str) -> bool:
        """Whether ``name`` is not taken yet."""
        return name not in self.taken

    def claim(self, *candidates: str) -> str:
        """Take the first free candidate, else the last one numbered from 2 (``post_2``)."""
        for candidate in candidates:
            if candidate not in self.taken:
                self.taken.add(candidate)
                return candidate
        return self.claim(numbered(candidates[-1], self.taken))


def numbered(base: str, taken: set[str] | Namespace) -> str:
    """``base_N`` for the smallest N from 2 that is not in ``taken`` (``_2``, not ``__2``, for ``_``)."""
    names = taken.taken if isinstance(taken, Namespace) else taken
    number = 2
    while suffixed(base, number) in names:
        number += 1
    return suffixed(base, number)


def suffixed(base: str, number: int) -> str:
    """``base_number``, kept clear of introspection's ``__`` (``_`` and 2 give ``_2``).

    Example:
        >>> suffixed("Post", 2), suffixed("_", 3)
        ('Post_2', '_3')
    """
    return _LEADING.sub("_", f"{base}_{number}")
