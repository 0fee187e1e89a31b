"""Fixtures for the storage tests: a throw-away PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from jsonserve import testing
from tests.api.conftest import require_postgres


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A fresh schema name on :data:`jsonserve.testing.POSTGRES_URL`, dropped afterwards."""
    require_postgres()
    schema = new_schema()
    try:
        yield schema
    finally:
        await drop_schema(schema)


def new_schema() -> str:
    """A schema name no other test uses."""
    return f"jsonserve_test_{uuid.uuid4().hex[:12]}"


async def drop_schema(schema: str) -> None:
    """Drop ``schema`` and everything in it."""
    from jsonserve.storage.sql.postgres import PostgresStorage

    cleaner = PostgresStorage(testing.POSTGRES_URL, pool_size=1)
    async with cleaner.engine.begin() as connection:
        await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await cleaner.aclose()
