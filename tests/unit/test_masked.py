"""``masked``: a source as the user typed it, with any password hidden (messages name databases this way)."""

from __future__ import annotations

import pytest

from jsonserve.storage.registry import masked

CASES = [
    ("postgresql://app:s3cret@db.local:5433/app", "postgresql://app:***@db.local:5433/app"),
    ("postgres://app:s3cret@db.local/app", "postgres://app:***@db.local/app"),  # the scheme as typed
    ("postgresql+asyncpg://app:s3cret@db.local/app", "postgresql+asyncpg://app:***@db.local/app"),
    ("postgresql://app:p%40ss@db.local/app", "postgresql://app:***@db.local/app"),  # encoded "@"
    ("postgresql://app:p@ss@db.local/app", "postgresql://app:***@db.local/app"),  # a raw "@" in it
    ("postgresql://app:a:b@db.local/app", "postgresql://app:***@db.local/app"),  # a ":" in it
    ("postgresql://app:@db.local/app", "postgresql://app:***@db.local/app"),  # an empty one
    (
        "postgresql://db.local/app?password=s3cret&sslmode=require",
        "postgresql://db.local/app?password=***&sslmode=require",
    ),
    ("postgresql://app@db.local/app", "postgresql://app@db.local/app"),  # none: unchanged
    ("postgresql:///app?host=/run/postgresql", "postgresql:///app?host=/run/postgresql"),  # unchanged to the character
    ("db.json", "db.json"),
    ("sqlite:///data/app.db", "sqlite:///data/app.db"),
    ("[odd.json", "[odd.json"),  # not parsable as a URL
]


@pytest.mark.parametrize(("source", "shown"), CASES)
def test_masked(source: str, shown: str) -> None:
    assert masked(source) == shown
    assert "s3cret" not in masked(source)
