"""`existing_objects_frozen` (the Mailchimp phase of every asset, `run_mailchimp`): what existed
is out of the collector's scans only while the phase runs; garbage is never frozen."""

import gc
import weakref

import pytest

from mc_pipelines.assets.common import run_mailchimp
from mc_pipelines.sync._perf import FROZEN_PHASE_THRESHOLDS, existing_objects_frozen


class _Node:
    """A container that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: object | None = None


def _cycle() -> weakref.ref:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_what_existed_is_frozen_during_the_phase_and_unfrozen_after():
    before = gc.get_freeze_count()
    handed = [_Node() for _ in range(1000)]  # what an asset hands its Mailchimp phase

    async def freeze_count() -> int:
        return gc.get_freeze_count()

    assert run_mailchimp(freeze_count()) >= before + len(handed)
    assert gc.get_freeze_count() == before


def test_the_phase_collects_less_often_and_restores_the_thresholds():
    before = gc.get_threshold()

    async def thresholds() -> tuple[int, ...]:
        return gc.get_threshold()

    assert run_mailchimp(thresholds()) == FROZEN_PHASE_THRESHOLDS != before
    assert gc.get_threshold() == before


def test_overlapping_phases_restore_the_thresholds_once_both_end():
    before = gc.get_threshold()
    with existing_objects_frozen():
        with existing_objects_frozen():
            assert gc.get_threshold() == FROZEN_PHASE_THRESHOLDS
        assert gc.get_threshold() == FROZEN_PHASE_THRESHOLDS  # the outer phase still runs
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before


def test_a_failing_phase_unfreezes_too():
    before, thresholds = gc.get_freeze_count(), gc.get_threshold()

    async def boom() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_mailchimp(boom())
    assert gc.get_freeze_count() == before
    assert gc.get_threshold() == thresholds


def test_garbage_left_by_earlier_steps_is_freed_not_frozen():
    gone = _cycle()  # garbage only the cyclic collector can free (a step's input frame can be)

    async def still_there() -> bool:
        return gone() is not None

    assert run_mailchimp(still_there()) is False


def test_a_cycle_made_during_the_phase_is_collected_after_it():
    async def make() -> weakref.ref:
        return _cycle()

    gone = run_mailchimp(make())
    gc.collect()
    assert gone() is None
