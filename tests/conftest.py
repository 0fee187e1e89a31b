"""Shared fixtures: an in-process client over small json-server-style data, and the anyio backend.

The clients publish to the test's ``hub`` (a :class:`RecordingHub`), whose record the ``changes``
fixture (``tests/api/conftest.py``) hands to API tests.

Also the test tiers (``JSONSERVE_TIER=ci|long``, :mod:`tests.reliability.tier`): a test marked
``long`` runs only in the long tier (``make reliability``).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from jsonserve.testing import serve
from tests.reliability import tier
from tests.support.hub import RecordingHub

pytest_plugins = ["pytester"]  # tests/plugin runs pytest inside pytest (only a top-level conftest may say so)

DB: dict[str, Any] = {
    "posts": [
        {"id": 1, "title": "json-server", "author": "typicode", "views": 100, "userId": 1, "meta": {"lang": "en"}},
        {"id": 2, "title": "jsonserve", "author": "us", "views": 250, "userId": 1, "meta": {"lang": "fr"}},
        {"id": 3, "title": "Another Post", "author": "typicode", "views": 7, "userId": 2, "tags": ["a", "b"]},
    ],
    "comments": [
        {"id": 1, "body": "some comment", "postId": 1},
        {"id": 2, "body": "another", "postId": 1},
        {"id": 3, "body": "on two", "postId": 2},
    ],
    "users": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Linus"}],
    "profile": {"name": "typicode"},
}


def pytest_report_header() -> str:
    return tier.header()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tier.skip_long_tests(items)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db() -> dict[str, Any]:
    """A fresh deep copy of the small sample database."""
    return copy.deepcopy(DB)


@pytest.fixture
def hub() -> RecordingHub:
    """The hub the test's clients publish to: it records every change their requests make."""
    return RecordingHub()


@pytest.fixture
async def client(db: dict[str, Any], hub: RecordingHub) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client over :data:`DB` with default (0.17) settings."""
    async with serve(db, hub=hub) as http:
        yield http


@pytest.fixture
async def client_v1(db: dict[str, Any], hub: RecordingHub) -> AsyncIterator[httpx.AsyncClient]:
    """The same data served with ``--compat 1``."""
    async with serve(db, compat="1", hub=hub) as http:
        yield http
