"""The import's garbage-collector setting: raised while importing, restored after (also when nested)."""

from __future__ import annotations

import gc

import pytest

from closeloop.services.intake.importing import IMPORT_GC_THRESHOLD, collect_less


@pytest.fixture
def thresholds():
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_threshold_raised_inside_and_restored_after(thresholds):
    gc.set_threshold(700, 10, 10)
    with collect_less():
        assert gc.get_threshold() == (IMPORT_GC_THRESHOLD, 10, 10)
        with collect_less():  # a second import at the same time
            assert gc.get_threshold()[0] == IMPORT_GC_THRESHOLD
        assert gc.get_threshold()[0] == IMPORT_GC_THRESHOLD  # the first is still running
    assert gc.get_threshold() == (700, 10, 10)


def test_restored_when_the_import_fails(thresholds):
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), collect_less():
        raise RuntimeError("bad rows")
    assert gc.get_threshold() == (700, 10, 10)


def test_automatic_collection_left_off(thresholds):
    gc.set_threshold(0, 10, 10)
    with collect_less():
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)
