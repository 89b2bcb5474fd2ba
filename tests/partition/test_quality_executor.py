"""Quality measures on a hand-made plan, the checker's errors, and the executor."""

from __future__ import annotations

import numpy as np
import pytest

from gridder.partition import (
    GridPartitioner,
    PartitionCheckError,
    PartitionConfig,
    assert_partition_valid,
    partition_quality,
    solve_many,
)

from .conftest import lattice, make_instance

FAST = PartitionConfig(time_limit=1.0)


def test_quality_on_hand_made_plan() -> None:
    # 4 units on a path: grids {0,1} = 250 (in band), {2,3} = 150 + 400 -> 550 (out)
    inst = make_instance(
        [100, 150, 150, 400],
        np.array([[0, 0], [10, 0], [20, 0], [30, 0]]),
        [(0, 1), (1, 2), (2, 3)],
        compound=[1, 1, 1, -1],
    )
    q = partition_quality(inst, [0, 0, 1, 1], FAST)
    s = q.summary()
    assert s["in_band_share"] == 0.5
    assert s["max_deviation"] == pytest.approx(300 / 250)
    assert q.single_compound.tolist() == [True, False]
    # centre of grid 0: (150*10)/250 = 6 -> distances 6, 4 -> weighted 100*6+150*4 = 1200
    assert q.weighted_distance[0] == pytest.approx(1200 / 250)
    # a single building above max alone is left out of the band measures
    q2 = partition_quality(inst, [0, 0, 1, 2], FAST)
    assert q2.excluded.tolist() == [False, False, True] and q2.n_counted == 2


def test_checker_lists_violations() -> None:
    inst = make_instance(
        [100, 100, 100], np.array([[0, 0], [10, 0], [20, 0]]), [(0, 1), (1, 2)], locked=[4, -1, -1]
    )
    with pytest.raises(PartitionCheckError) as err:
        assert_partition_valid(inst, [0, 1, 0], FAST)
    msg = str(err.value)
    assert "grid 0 is in 2 disconnected pieces" in msg
    assert "locked unit" in msg


def _instances():
    rng = np.random.default_rng(4)
    return [lattice(8, 6, rng.integers(1, 20, 48).tolist(), community_id=f"C{i}") for i in range(4)]


def test_solve_many_matches_sequential_and_reports_progress() -> None:
    insts = _instances()
    seen: list[tuple[int, int]] = []
    pooled = solve_many(insts, FAST, max_workers=2, progress=lambda d, t, r: seen.append((d, t)))
    inline = solve_many(insts, FAST, max_workers=1)
    alone = [GridPartitioner(i, FAST).solve() for i in insts]
    assert [r.community_id for r in pooled] == ["C0", "C1", "C2", "C3"]
    for a, b, c in zip(pooled, inline, alone, strict=True):
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.labels, c.labels)
    assert sorted(seen) == [(1, 4), (2, 4), (3, 4), (4, 4)]
