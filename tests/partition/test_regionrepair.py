"""Region repair: an out-of-band grid re-drawn with the grids around it (issue 3, part 2)."""

from __future__ import annotations

import numpy as np
import pytest

from gridder.partition import PartitionConfig, check_partition
from gridder.partition.pairrepair import repair_pairs
from gridder.partition.reduce import reduce_instance
from gridder.partition.regionrepair import repair_regions

from .conftest import make_instance

CFG = PartitionConfig()
# a 187-household tower T touching only grid B (130 + 86); grid C (80 + 220) beyond it.
# No split of T and B puts both in band (317 + 86, 273 + 130); the plan that puts all
# three in band moves T to the 86, the 130 to the 80, and leaves the 220 alone.
VALUES = [187, 130, 86, 80, 220]  # T, b1, b2, c1, c2
EDGES = [(0, 1), (0, 2), (1, 2), (1, 3), (3, 4)]
XY = np.array([(0, 0), (10, 0), (5, 10), (20, 0), (30, 0)], dtype=float)
PLAN = np.array([0, 1, 1, 2, 2])


def _totals(labels: np.ndarray) -> list[int]:
    return [int(np.asarray(VALUES)[labels == g].sum()) for g in np.unique(labels)]


def _repair(inst, labels, **kw):
    value = np.asarray(VALUES, dtype=np.int64)
    return repair_regions(inst, labels, CFG, value=value, movable=np.ones(5, bool), seed=1, **kw)


def test_a_chain_through_three_grids_is_found_where_pairs_fail() -> None:
    inst = make_instance(VALUES, XY, EDGES)
    value = np.asarray(VALUES, dtype=np.int64)
    same, pairs = repair_pairs(inst, PLAN, CFG, value=value, movable=np.ones(5, bool), seed=1)
    assert pairs == 0 and np.array_equal(same, PLAN)  # the pair model cannot do it
    out, done, used = _repair(inst, PLAN)
    assert done == 1 and used > 0
    assert all(CFG.in_band(t) for t in _totals(out))
    assert len(np.unique(out)) == 3  # no grid vanished
    check_partition(inst, out, CFG).raise_if_invalid()  # every grid connected
    again, _, _ = _repair(inst, PLAN)
    assert np.array_equal(out, again)  # deterministic for a seed


@pytest.mark.parametrize("blocked", ["hard", "frozen", "hopeless"])
def test_barriers_frozen_and_hopeless_grids_are_respected(blocked: str) -> None:
    hard = [False, False, False, blocked == "hard", False]  # the 130 | 80 link is a major street
    inst = make_instance(VALUES, XY, EDGES, hard=hard)
    kw = {"frozen": [2]} if blocked == "frozen" else {}
    if blocked == "hopeless":
        kw = {"hopeless": [0]}
    out, done, _ = _repair(inst, PLAN, **kw)
    assert done == 0
    assert np.array_equal(out, PLAN)


def test_the_reduction_names_the_barriers_a_grid_may_cross() -> None:
    # a 120-household area behind a major street is too small for a grid of its own:
    # it joins its neighbour, and only the street between them becomes crossable
    values = [120, 150, 140, 130]
    edges = [(0, 1), (1, 2), (2, 3)]
    hard = [True, False, True]  # 0 | 1-2 | 3, both streets major
    xy = np.array([(0, 0), (10, 0), (20, 0), (30, 0)], dtype=float)
    inst = make_instance(values, xy, edges, hard=hard)
    red = reduce_instance(inst, CFG, free=np.ones(4, bool))
    assert red.forced_hard_merges >= 1
    pairs = [tuple(pq) for pq in np.asarray(inst.edges).tolist()]
    crossed = dict(zip(pairs, red.crossed_barriers.tolist(), strict=True))
    assert crossed[(0, 1)] and not crossed[(1, 2)]  # the small area's street; never a soft link


def test_a_region_met_again_takes_the_answer_found_before() -> None:
    inst = make_instance(VALUES, XY, EDGES)
    memo: dict = {}
    out, done, used = _repair(inst, PLAN, memo=memo)
    assert done == 1 and used > 0 and len(memo) == 1
    # the same grids under other labels (a restart reaching them): no model, same grids
    relabelled = np.array([7, 4, 4, 9, 9])
    again, done_again, used_again = _repair(inst, relabelled, memo=memo)
    assert done_again == 1 and used_again == 0.0
    assert sorted(map(sorted, _groups(again))) == sorted(map(sorted, _groups(out)))
    # an answer (found or not) is remembered whatever it was: no second model
    stuck = make_instance(VALUES, XY, [(0, 1), (1, 2), (1, 3), (3, 4)])  # T only via b1
    start = np.array([0, 1, 1, 1, 1])
    memo_stuck: dict = {}
    first, _, spent = _repair(stuck, start, memo=memo_stuck)
    second, _, spent_again = _repair(stuck, start, memo=memo_stuck)
    assert spent > 0 and spent_again == 0.0 and np.array_equal(first, second)


def _groups(labels: np.ndarray) -> list[list[int]]:
    return [np.flatnonzero(labels == g).tolist() for g in np.unique(labels)]
