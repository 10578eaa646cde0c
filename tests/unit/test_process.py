"""The serving process's collector: what wiring built is frozen, young collections are rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.process import YOUNG_THRESHOLD, tune_collector


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class Wired:
    """Something built while wiring, that lives in a cycle."""

    def __init__(self) -> None:
        self.me = self


def test_what_is_alive_at_tuning_is_frozen_and_cycles_are_still_collected(
    collector: None,
) -> None:
    older = gc.get_threshold()[1:]
    wired = Wired()
    tune_collector()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, *older)
    assert gc.get_freeze_count() > 0
    assert not gc.is_tracked(wired) or not any(o is wired for o in gc.get_objects())

    later = Wired()  # built while serving: the collector still frees its cycle
    collected_before = sum(s["collected"] for s in gc.get_stats())
    del later
    gc.collect()
    assert sum(s["collected"] for s in gc.get_stats()) > collected_before
