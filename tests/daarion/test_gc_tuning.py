"""The serving process freezes what start-up made and raises the young GC threshold
(daarion/server/gc_tuning.py): with Python's defaults, full collections walking every start-up
object were the largest cost of the gateway with many requests in flight."""

from __future__ import annotations

import gc

import pytest
from django.conf import settings

from daarion.server.gc_tuning import gc_tune_for_serving


@pytest.fixture
def gc_state():
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def test_the_asgi_application_is_served_with_the_tuned_collector() -> None:
    import daarion.server.asgi  # noqa: F401  (applies it on import)

    assert settings.SERVER_GC_THRESHOLD > 700
    assert gc.get_threshold()[0] == settings.SERVER_GC_THRESHOLD
    assert gc.get_freeze_count() > 10_000  # Django, the models, the libraries


def test_tuning_freezes_and_sets_thresholds(gc_state) -> None:
    assert gc_tune_for_serving(12_345) is True
    assert gc.get_threshold()[0] == 12_345
    assert gc.get_freeze_count() > 0


def test_zero_keeps_pythons_collector(gc_state) -> None:
    gc.set_threshold(700, 10, 10)
    assert gc_tune_for_serving(0) is False
    assert gc.get_threshold() == (700, 10, 10)


def test_cycles_are_still_collected(gc_state) -> None:
    gc_tune_for_serving(1_000)

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
