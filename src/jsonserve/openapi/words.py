"""English for the document's summaries: one record of a collection, in the singular, with its article.

Example:
    >>> one("posts"), one("albums"), one("users"), one("categories")
    ('a post', 'an album', 'a user', 'a category')
"""

from __future__ import annotations

import re

from jsonserve.schema.relations import singular

# Words that start with a vowel letter but a consonant sound ("a user"), or the reverse ("an hour").
_A_BEFORE = ("eu", "ewe", "one", "once", "uni", "url", "uuid")
_AN_BEFORE = ("hour", "honest", "honor", "honour", "heir")
# "u" then one consonant then a vowel is said "you" (user, unit, usage); "u" then two consonants is not (update).
_YOU = re.compile(r"u[b-df-hj-np-tv-z][aeiouy]")


def article(noun: str) -> str:
    """``noun`` with "a" or "an" in front, by how it is said (a guess from its spelling).

    Example:
        >>> article("item"), article("user"), article("update"), article("hour")
        ('an item', 'a user', 'an update', 'an hour')
    """
    word = noun.lower()
    if word.startswith(_AN_BEFORE):
        return f"an {noun}"
    if word[:1] not in ("a", "e", "i", "o", "u") or word.startswith(_A_BEFORE) or _YOU.match(word):
        return f"a {noun}"
    return f"an {noun}"


def one(collection: str) -> str:
    """One record of ``collection``: its singular name with an article (``posts`` -> ``a post``)."""
    return article(singular(collection))
