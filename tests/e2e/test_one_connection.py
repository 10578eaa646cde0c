"""The whole journey on a pool of one PostgreSQL connection.

The pool has no overflow: when every connection is busy, a unit of work waits for one. That
is only safe while nothing in the product holds a connection and waits for a second one
(it would wait for itself). Here any such path waits out the pool's timeout and fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine, is_sqlite
from tests.e2e.conftest import World
from tests.e2e.test_journey import test_from_application_to_payout as journey


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    if is_sqlite(database_url):
        pytest.skip("SQLite's pool is not the one sized for production")
    engine = create_engine(database_url, pool_size=1, pool_timeout=10)
    yield engine
    await engine.dispose()


async def test_the_journey_needs_one_connection_at_a_time(world: World) -> None:
    await journey(world)
