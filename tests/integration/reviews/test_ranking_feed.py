"""A customer's review reaches the provider's catalog profile, and with it search ranking."""

from __future__ import annotations

import pytest

from app.bootstrap import Runtime
from core.catalog.commands import ApproveApplication
from core.identity.model import User
from core.reviews.commands import EditReview, SubmitReview
from tests.integration.catalog.support import application, seeded
from tests.integration.identity.helpers import register
from tests.integration.reviews.test_reviews import complete_order


async def profile_stats(runtime: Runtime, provider_id: int) -> tuple[int, float, float]:
    async with runtime.uow_factory() as uow:
        profile = await uow.providers.get(provider_id)
    return profile.rating_count, profile.rating_average, profile.rating_bayesian


async def approved_provider(runtime: Runtime) -> User:
    catalog = await seeded(runtime)
    provider = await register(runtime, "2001", name="Pro")
    submitted = await runtime.bus.handle(application(provider.id, catalog["honor-of-kings"]))
    await runtime.bus.handle(ApproveApplication(application_id=submitted.id))
    return provider


async def test_submitting_and_editing_update_the_profile_in_the_same_transaction(
    runtime: Runtime,
) -> None:
    provider = await approved_provider(runtime)
    customer = await register(runtime, "1001")
    await complete_order(runtime, 1, customer, provider)
    await complete_order(runtime, 2, customer, provider)
    await runtime.bus.handle(SubmitReview(order_id=1, reviewer_id=customer.id, rating=5))
    await runtime.bus.handle(SubmitReview(order_id=2, reviewer_id=customer.id, rating=2))
    count, average, bayesian = await profile_stats(runtime, provider.id)
    assert (count, average) == (2, 3.5)
    assert bayesian == pytest.approx((10 * 4.0 + 7) / 12, abs=1e-4)
    await runtime.bus.handle(EditReview(order_id=2, reviewer_id=customer.id, rating=4))
    assert (await profile_stats(runtime, provider.id))[:2] == (2, 4.5)


async def test_the_providers_rating_of_a_customer_does_not_touch_ranking(runtime: Runtime) -> None:
    provider = await approved_provider(runtime)
    customer = await register(runtime, "1001")
    await complete_order(runtime, 1, customer, provider)
    before = await profile_stats(runtime, provider.id)
    await runtime.bus.handle(SubmitReview(order_id=1, reviewer_id=provider.id, rating=1))
    assert await profile_stats(runtime, provider.id) == before
