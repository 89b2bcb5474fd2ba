"""The households a re-plan must move: a true lower bound, checked by brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from gridder.partition import PartitionConfig
from gridder.partition.movebound import cheapest_cover, moved_lower_bound
from gridder.partition.replan import replan
from tests.partition.conftest import lattice, make_instance


def _set_partitions(n: int):
    """Every partition of range(n) as a block label per item (restricted growth strings)."""

    def grow(prefix: list[int], top: int):
        if len(prefix) == n:
            yield list(prefix)
            return
        for k in range(top + 2):
            yield from grow([*prefix, k], max(top, k))

    yield from grow([0], 0) if n else iter([[]])


def _least_moved(values: list[int], previous: list[int], config: PartitionConfig) -> float:
    """Fewest households moved by any partition (contiguous or not) with every grid in band."""
    v = np.asarray(values)
    prev = np.asarray(previous)
    codes = sorted(set(prev[prev >= 0].tolist()))
    best = math.inf
    for labels in _set_partitions(len(v)):
        lab = np.asarray(labels)
        blocks = np.unique(lab)
        ok = True
        for b in blocks:
            members = v[lab == b]
            single_over = len(members) == 1 and members[0] > config.max
            if not single_over and not config.min <= members.sum() <= config.max:
                ok = False
                break
        if not ok:
            continue
        # each previous code goes to at most one block: keep the most households
        kept = np.array(
            [[v[(lab == b) & (prev == c)].sum() for c in codes] for b in blocks], dtype=float
        )
        rows, cols = linear_sum_assignment(kept, maximize=True)
        moved = float(v[prev >= 0].sum() - kept[rows, cols].sum())
        best = min(best, moved)
    return best


def test_cheapest_cover_is_the_least_cost_subset() -> None:
    rng = np.random.default_rng(3)
    for _ in range(40):
        value = rng.integers(0, 30, size=7)
        cost = rng.integers(0, 30, size=7)
        need = int(rng.integers(1, 80))
        brute = min(
            (
                float(cost[list(s)].sum())
                for r in range(8)
                for s in itertools.combinations(range(7), r)
                if value[list(s)].sum() >= need
            ),
            default=math.inf,
        )
        assert cheapest_cover(value, cost, need) == brute


def test_bound_never_exceeds_the_fewest_households_any_in_band_plan_moves() -> None:
    config = PartitionConfig(min=20, target=25, max=30)
    rng = np.random.default_rng(11)
    positive = tight = 0
    for _ in range(60):
        n = int(rng.integers(4, 8))
        values = rng.integers(0, 26, size=n).tolist()
        previous = rng.integers(-1, 3, size=n).tolist()
        if not any(p >= 0 for p in previous):
            previous[0] = 0
        xy = np.c_[np.arange(n) * 10.0, np.zeros(n)]
        inst = make_instance(values, xy, [(i, i + 1) for i in range(n - 1)], previous=previous)
        bound = moved_lower_bound(inst, config)
        least = _least_moved(values, previous, config)
        assert bound is not None
        if math.isinf(least):
            continue  # no plan puts every grid in band: nothing to bound
        assert bound <= least, (values, previous, bound, least)
        positive += bound > 0
        tight += bound == least > 0
    # the bound says something: it is positive, and exact, on a good part of the cases
    assert positive >= 10
    assert tight >= 5


def test_bound_counts_a_grown_grid_and_a_shrunk_one() -> None:
    config = PartitionConfig(min=200, target=250, max=300)
    # grid 0 grew to 360 (must shed a 40-household building at least: 60 over, its
    # smallest cover is 80); grid 1 shrank to 150 and nothing new was built
    values = [80, 140, 140, 50, 50, 50]
    previous = [0, 0, 0, 1, 1, 1]
    xy = np.c_[np.arange(6) * 10.0, np.zeros(6)]
    inst = make_instance(values, xy, [(i, i + 1) for i in range(5)], previous=previous)
    assert moved_lower_bound(inst, config) == 80
    assert _least_moved(values, previous, config) == 80


def test_no_bound_for_a_fresh_plan_and_none_for_unchanged_data() -> None:
    config = PartitionConfig()
    fresh = lattice(4, 4, [50] * 16)
    assert moved_lower_bound(fresh, config) is None
    same = lattice(4, 4, [50] * 16, previous=[i // 4 for i in range(16)])
    assert moved_lower_bound(same, config) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_replan_moves_at_least_the_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(20, 60, size=64).tolist()
    first = replan(lattice(8, 8, values, previous=[-1] * 64), PartitionConfig(), seed=seed)
    grown = [int(v * (1.5 if i < 24 else 1.0)) for i, v in enumerate(values)]
    later = lattice(8, 8, grown, previous=first.labels.tolist())
    bound = moved_lower_bound(later, PartitionConfig())
    result = replan(later, PartitionConfig(), seed=seed)
    hh = np.asarray(grown)
    moved = int(hh[result.labels != first.labels].sum())
    assert bound is not None and bound > 0
    if result.out_of_band == 0:
        assert moved >= bound
