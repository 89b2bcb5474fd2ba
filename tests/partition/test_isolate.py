"""A building above the maximum ends up alone in its grid wherever its land can go elsewhere."""

from __future__ import annotations

import numpy as np

from gridder.partition import PartitionConfig
from gridder.partition.check import check_partition, excluded_grids
from gridder.partition.isolate import isolate_over_max
from gridder.partition.solver import GridPartitioner
from tests.partition.conftest import lattice


def _tower_in_empty_land() -> tuple[list[int], int]:
    """A 6 × 6 lattice: a 900-household tower at (1, 1), empty cells around it, small houses."""
    values = [0] * 36
    tower = 1 * 6 + 1
    values[tower] = 900
    for u in range(36):
        if u % 6 >= 3:
            values[u] = 40  # 18 houses of 40: 720 households, three grids of 240
    return values, tower


def test_solver_gives_a_tower_grid_no_other_building() -> None:
    values, tower = _tower_in_empty_land()
    inst = lattice(6, 6, values)
    config = PartitionConfig()
    result = GridPartitioner(inst, config, seed=1).solve()
    lab = result.labels
    assert check_partition(inst, lab, config).ok
    assert np.flatnonzero(lab == lab[tower]).tolist() == [tower]
    assert excluded_grids(inst, lab, config) == {int(lab[tower])}
    totals = np.bincount(lab, weights=np.asarray(values))
    assert all(config.in_band(t) for g, t in enumerate(totals) if g != lab[tower] and t > 0)


def test_peeling_keeps_every_grid_connected_and_every_value() -> None:
    values, tower = _tower_in_empty_land()
    inst = lattice(6, 6, values)
    # the tower grid holds the whole empty west half; the houses are one grid per 2 columns
    lab = np.array([0 if u % 6 < 3 else 1 + (u % 6 - 3) // 2 for u in range(36)])
    over = np.zeros(36, dtype=bool)
    over[tower] = True
    out, moved = isolate_over_max(inst, lab, np.asarray(values), over)
    assert moved == 17  # every empty cell found a neighbouring grid
    assert np.flatnonzero(out == out[tower]).tolist() == [tower]
    assert check_partition(inst, out, PartitionConfig(min=1, max=10_000)).ok
    before = np.bincount(lab, weights=np.asarray(values), minlength=4)
    after = np.bincount(out, weights=np.asarray(values), minlength=4)
    np.testing.assert_array_equal(before, after)  # only household-less units moved
    # a locked neighbour takes nothing: with every other grid locked nothing moves
    kept, none = isolate_over_max(inst, lab, np.asarray(values), over, frozen={1, 2})
    assert none == 0
    np.testing.assert_array_equal(kept, lab)


def test_land_across_a_barrier_goes_there_when_nothing_else_takes_it() -> None:
    """A tower's empty neighbour whose only other neighbour lies across a major street."""
    # a 3 × 2 lattice: the tower (0) and an empty cell (1) in the top row; a hard row
    # below them; three houses of 100 beneath (grid 1)
    values = [900, 0, 0, 100, 100, 100]
    inst = lattice(3, 2, values, hard_row=0)
    lab = np.array([0, 0, 0, 1, 1, 1])
    over = np.array([True, False, False, False, False, False])
    out, moved = isolate_over_max(inst, lab, np.asarray(values), over)
    assert moved == 2
    assert np.flatnonzero(out == out[0]).tolist() == [0]
    assert check_partition(inst, out, PartitionConfig(min=1, max=10_000)).ok


def test_a_tower_that_keeps_empty_land_is_counted_as_contract_6_reads() -> None:
    """Only a grid of one building above the maximum is left out of the band measures."""
    from gridder.partition.quality import partition_quality

    # two towers side by side with an empty cell each: nothing else can take the land
    values = [900, 0, 800, 0]
    inst = lattice(2, 2, values)
    config = PartitionConfig()
    lab = np.array([0, 0, 1, 1])
    assert excluded_grids(inst, lab, config) == set()  # CONTRACT §6: not single buildings
    assert excluded_grids(inst, lab, config, valued=True) == {0, 1}  # what the solver compares
    q = partition_quality(inst, lab, config)
    assert q.n_counted == 2 and q.n_in_band == 0
    alone = np.array([0, 2, 1, 3])  # the towers alone, the empty cells as grids of their own
    assert excluded_grids(inst, alone, config) == {0, 1}
