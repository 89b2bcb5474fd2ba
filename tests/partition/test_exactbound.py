"""The exact bound of small sparse communities: equal to brute force, never above a plan."""

from __future__ import annotations

import numpy as np
import pytest

from gridder.partition import PartitionConfig
from gridder.partition.exactbound import MAX_VALUED, exact_lower_bound
from gridder.partition.lowerbound import band_lower_bound
from tests.partition.conftest import brute_force_out_of_band, make_instance, small_towers_graph


@pytest.mark.parametrize("seed", range(12))
def test_exact_bound_equals_brute_force_on_small_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    value, edges = small_towers_graph(rng)
    n = len(value)
    e = np.array(edges, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    got = exact_lower_bound(n, e, value, free, low=200, high=300, cap=400, time_limit=20.0)
    assert got == brute_force_out_of_band(value, sorted(edges), 200, 300, 400)


def test_the_bound_sees_a_shared_empty_patch_and_stays_below_plans() -> None:
    """Two pairs of towers that can each meet only through one empty cell."""
    value = [0, 150, 150, 150, 150]
    xy = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=float) * 50
    inst = make_instance(value, xy, [(0, 1), (0, 2), (0, 3), (0, 4)])
    lb = band_lower_bound(inst, PartitionConfig(), stop_at=4, cap=400, exact_time=5.0)
    assert lb.exact_out_of_band == 2 and lb.min_out_of_band == 2
    # a community too large for the model gets no exact bound (and no cost)
    many = [150] * (MAX_VALUED + 1)
    e = np.array([(i, i + 1) for i in range(len(many) - 1)], dtype=np.int64)
    free = np.ones(len(many), dtype=bool)
    assert exact_lower_bound(len(many), e, many, free, low=200, high=300, cap=400) is None


def test_the_exact_bound_runs_once_per_cap_and_a_larger_caps_bound_holds() -> None:
    value = [0, 150, 150, 150, 150]
    xy = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], dtype=float) * 50
    inst = make_instance(value, xy, [(0, 1), (0, 2), (0, 3), (0, 4)])
    known: dict[int, int] = {}
    config = PartitionConfig()
    for stop_at in (4, 3):  # the solves of one community ask with other plans' counts
        lb = band_lower_bound(
            inst, config, stop_at=stop_at, cap=400, exact_time=5.0, exact_known=known
        )
        assert lb.exact_out_of_band == 2
    assert known == {400: 2}
    known[600] = 3  # proven for grids of up to 600: holds for grids of up to 400 too
    lb = band_lower_bound(inst, config, stop_at=4, cap=400, exact_time=5.0, exact_known=known)
    assert lb.exact_out_of_band == 3 and lb.min_out_of_band == 3
