"""De-duplication and merge rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import permutations

import pytest

from closeloop.domain.dedupe import PriorComplaint, check_merge, count_in_window, likely_duplicate_of, merge_root
from closeloop.domain.errors import DomainError, MergeRejected

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)
US = timedelta(microseconds=1)
CAT = "Mortgage"


def prior(id_: int, at: datetime, category: str = CAT, merged: bool = False) -> PriorComplaint:
    return PriorComplaint(id_, category, at, merged)


# ------------------------------------------------------------------ likely_duplicate_of

DUP_CASES = [
    # (id, earlier complaints, expected id)
    ("none", [], None),
    ("inside-window", [prior(1, NOW - timedelta(days=3))], 1),
    ("window-start-inclusive", [prior(1, NOW - WINDOW)], 1),
    ("just-before-window", [prior(1, NOW - WINDOW - US)], None),
    ("same-instant-inclusive", [prior(1, NOW)], 1),
    ("later-complaint-never-original", [prior(1, NOW + US)], None),
    ("later-one-day", [prior(1, NOW + timedelta(days=1))], None),
    ("category-mismatch", [prior(1, NOW - timedelta(days=1), category="Debt collection")], None),
    ("category-case-matters", [prior(1, NOW - timedelta(days=1), category="mortgage")], None),
    ("merged-ignored", [prior(1, NOW - timedelta(days=1), merged=True)], None),
    ("merged-skipped-older-taken",
     [prior(1, NOW - timedelta(days=5)), prior(2, NOW - timedelta(days=1), merged=True)], 1),
    ("most-recent-wins",
     [prior(1, NOW - timedelta(days=10)), prior(2, NOW - timedelta(days=2)), prior(3, NOW - timedelta(days=6))], 2),
    ("most-recent-in-window-not-later",
     [prior(1, NOW - timedelta(days=2)), prior(2, NOW + timedelta(hours=1))], 1),
    ("most-recent-of-matching-category",
     [prior(1, NOW - timedelta(days=4)), prior(2, NOW - timedelta(days=1), category="Other")], 1),
    ("other-offset-same-instant-window-edge",
     [prior(1, (NOW - WINDOW).astimezone(timezone(timedelta(hours=8))))], 1),
]


@pytest.mark.parametrize("earlier,expected", [c[1:] for c in DUP_CASES], ids=[c[0] for c in DUP_CASES])
def test_likely_duplicate_of(earlier, expected):
    assert likely_duplicate_of(CAT, NOW, earlier, WINDOW) == expected


def test_empty_category_never_deduplicates():
    assert likely_duplicate_of("", NOW, [prior(1, NOW - timedelta(hours=1), category="")], WINDOW) is None


def test_result_does_not_depend_on_input_order():
    earlier = [prior(i, NOW - timedelta(days=d)) for i, d in [(1, 9), (2, 1), (3, 4), (4, 13), (5, 20)]]
    results = {likely_duplicate_of(CAT, NOW, list(p), WINDOW) for p in permutations(earlier)}
    assert results == {2}


def test_tie_on_received_at_is_deterministic():
    same = NOW - timedelta(days=1)
    earlier = [prior(7, same), prior(3, same), prior(5, same)]
    results = {likely_duplicate_of(CAT, NOW, list(p), WINDOW) for p in permutations(earlier)}
    assert len(results) == 1


def test_accepts_a_generator():
    gen = (prior(i, NOW - timedelta(days=i)) for i in range(1, 4))
    assert likely_duplicate_of(CAT, NOW, gen, WINDOW) == 1


def test_zero_window_only_same_instant():
    earlier = [prior(1, NOW), prior(2, NOW - US)]
    assert likely_duplicate_of(CAT, NOW, earlier, timedelta(0)) == 1


# ------------------------------------------------------------------ count_in_window

COUNT_CASES = [
    # (id, instants, expected) — documented as [received_at - window, received_at)
    ("none", [], 0),
    ("inside", [NOW - timedelta(days=1), NOW - timedelta(days=13)], 2),
    ("window-start-inclusive", [NOW - WINDOW], 1),
    ("just-before-window", [NOW - WINDOW - US], 0),
    ("received-at-exclusive", [NOW], 0),
    ("just-before-received-at", [NOW - US], 1),
    ("later-excluded", [NOW + timedelta(days=1)], 0),
    ("mixed", [NOW - WINDOW - US, NOW - WINDOW, NOW - timedelta(days=7), NOW - US, NOW, NOW + US], 3),
    ("duplicates-counted", [NOW - timedelta(days=1)] * 3, 3),
]


@pytest.mark.parametrize("instants,expected", [c[1:] for c in COUNT_CASES], ids=[c[0] for c in COUNT_CASES])
def test_count_in_window(instants, expected):
    assert count_in_window(NOW, instants, WINDOW) == expected


def test_count_in_window_other_offsets():
    tokyo = timezone(timedelta(hours=9))
    assert count_in_window(NOW, [(NOW - timedelta(days=90)).astimezone(tokyo)], timedelta(days=90)) == 1
    assert count_in_window(NOW.astimezone(tokyo), [NOW - timedelta(days=1)], timedelta(days=90)) == 1


# ------------------------------------------------------------------ merge_root and check_merge

ROOT_CASES = [
    ("unmerged", 1, {}, 1),
    ("explicit-none", 1, {1: None}, 1),
    ("one-link", 1, {1: 2}, 2),
    ("chain", 1, {1: 2, 2: 3, 3: 4}, 4),
    ("chain-mid", 2, {1: 2, 2: 3, 3: 4}, 4),
    ("root-of-root", 4, {1: 2, 2: 3, 3: 4}, 4),
    ("chain-ending-in-none", 1, {1: 2, 2: None}, 2),
]


@pytest.mark.parametrize("start,links,expected", [c[1:] for c in ROOT_CASES], ids=[c[0] for c in ROOT_CASES])
def test_merge_root(start, links, expected):
    assert merge_root(start, links) == expected


@pytest.mark.parametrize("start,links", [
    (1, {1: 1}),
    (1, {1: 2, 2: 1}),
    (1, {1: 2, 2: 3, 3: 1}),
    (1, {1: 2, 2: 3, 3: 2}),  # loop not through the start
], ids=["self-loop", "two-cycle", "three-cycle", "tail-into-cycle"])
def test_merge_root_cycle_raises(start, links):
    with pytest.raises(MergeRejected) as info:
        merge_root(start, links)
    assert isinstance(info.value, DomainError)
    assert f"complaint {start}" in str(info.value)
    assert "loops" in str(info.value)


def test_check_merge_self_raises():
    with pytest.raises(MergeRejected, match="complaint 5 cannot be merged into itself"):
        check_merge(5, 5)


def test_check_merge_through_own_chain_raises():
    # 7 was merged into 5; merging 5 into 7 means merging 5 into its own root.
    links = {7: 5}
    with pytest.raises(MergeRejected):
        check_merge(5, merge_root(7, links))


def test_check_merge_distinct_is_allowed():
    assert check_merge(5, 6) is None
    assert check_merge(5, merge_root(7, {7: 6})) is None
