"""What a top-level name of the data is: a collection (an array of records) or a singular object.

Example:
    >>> Kind("plural") is Kind.PLURAL
    True
"""

from __future__ import annotations

import enum


class Kind(enum.StrEnum):
    """A top-level key of the data: an array of records, or one object."""

    PLURAL = "plural"
    SINGULAR = "singular"
