"""A provider's rating figures are written with one UPDATE that ranks them with the row's own
service figures: over several rating histories the stored figures and rank_base are exactly
what the ranking formula gives, as when the row was read first."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app.bootstrap import Runtime
from core.catalog.commands import ApproveApplication
from core.catalog.ranking import bayesian_average, quality
from core.shared.errors import NotFound
from storage.tables.catalog import providers
from tests.integration.catalog.support import application, register, seeded
from tests.integration.statements import statements_on


@pytest.fixture
async def pro(runtime: Runtime) -> int:
    game = (await seeded(runtime))["honor-of-kings"]
    user_id = await register(runtime, "201")
    submitted = await runtime.bus.handle(application(user_id, game))
    await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
    return user_id


_rng = random.Random(20260105)
# Edge figures, then everyday ones: (completion rate, response time in seconds).
SERVICE_FIGURES = [(1.0, 300), (2 / 3, 0), (0.0, 86_400), (0.9173, 17), (1.2, -5), (-0.1, 299),
                   (0.123456789, 7)] + [(_rng.random(), _rng.randint(0, 3_000)) for _ in range(8)]
HISTORIES = [[5] * 3, [1, 5, 4, 4, 2], [_rng.randint(1, 5) for _ in range(40)], [3]]


async def test_rating_figures_are_one_update_ranking_with_the_row_s_service_figures(
    runtime: Runtime, engine: AsyncEngine, pro: int
) -> None:
    for completion_rate, response_s in SERVICE_FIGURES:
        async with runtime.uow_factory() as uow:
            await uow.providers.set_service_stats(pro, completion_rate, response_s)
            await uow.commit()
        for history in HISTORIES:
            for n in range(len(history) + 1):
                count = n
                average = sum(history[:n]) / n if n else 0.0
                bayesian = bayesian_average(count, average)
                async with runtime.uow_factory() as uow:
                    with statements_on(engine) as seen:
                        await uow.providers.set_rating_stats(pro, count, average, bayesian)
                    await uow.commit()
                (statement,) = [s for s in seen if not s.startswith("BEGIN")]
                assert statement.startswith("UPDATE")
                async with runtime.uow_factory() as uow:
                    row = (await uow.connection.execute(
                        sa.select(providers.c.rating_count, providers.c.rating_average,
                                  providers.c.rating_bayesian, providers.c.rank_base)
                        .where(providers.c.user_id == pro))).one()
                assert tuple(row) == (count, average, bayesian,
                                      quality(bayesian, completion_rate, response_s))
    # Out-of-range ratings are clamped as the formula clamps them.
    for rating in (-0.5, 5.7, 0.0, 5.0, 4.123456789):
        async with runtime.uow_factory() as uow:
            await uow.providers.set_rating_stats(pro, 3, rating, rating)
            await uow.commit()
        async with runtime.uow_factory() as uow:
            rank = (await uow.connection.execute(
                sa.select(providers.c.rank_base).where(providers.c.user_id == pro))).scalar_one()
        assert rank == quality(rating, *SERVICE_FIGURES[-1])


async def test_rating_figures_for_somebody_who_is_not_a_provider_are_refused(runtime: Runtime) -> None:
    async with runtime.uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.providers.set_rating_stats(424242, 1, 5.0, 4.1)
