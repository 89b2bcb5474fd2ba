"""Tower pieces that draw on low-rise reservoirs, entry fillers in the packing bound,
and zones joined across a barrier when they cannot reach the band alone."""

from __future__ import annotations

import numpy as np

from gridder.partition import GridPartitioner, PartitionConfig, band_lower_bound
from gridder.partition.check import assert_partition_valid
from gridder.partition.reduce import connected_parts, reduce_instance
from gridder.partition.reservoir import Reservoir, realise_draw, solve_with_reservoirs

from .conftest import lattice, make_instance

CFG = PartitionConfig(time_limit=2.0)


def _gateway_district() -> tuple[list[int], list[tuple[int, int]]]:
    """Towers 0-3 (198, 198, 156, 54) whose only way out is gateway cell 4 (0 hh).

    Behind the gateway lies a low-rise street of 12 buildings of 20 households
    (units 5-16, a path). Tower 0 touches 3 (54); towers 1 and 2 touch only
    each other and the gateway.
    """
    values = [198, 198, 156, 54, 0] + [20] * 12
    edges = [(0, 3), (1, 2), (0, 4), (1, 4), (2, 4), (3, 4), (4, 5)]
    edges += [(i, i + 1) for i in range(5, 16)]
    return values, edges


def _xy(n: int) -> np.ndarray:
    return np.c_[np.arange(n) * 20.0, np.zeros(n)]


def test_reservoir_model_feeds_one_grid_per_entry() -> None:
    values, edges = _gateway_district()
    inst = make_instance(values, _xy(len(values)), edges, compound=[0] * 4 + [-1] * 13)
    red = reduce_instance(inst, CFG, free=np.ones(inst.n, bool))
    towers = sorted({int(red.unit_super[u]) for u in range(4)})
    low = [s for s in range(red.n) if s not in towers]
    reservoir = Reservoir(key=1, units=frozenset(low), cap=200)
    out = solve_with_reservoirs(red, towers, CFG, [reservoir], seed=1, time_limit=2.0)
    assert out is not None
    drawing = [d for d in out.draws if d is not None]
    # 198 + 54 = 252 is in band; of 198 and 156 only one can enter through the gateway
    assert len(drawing) == 1
    planned = [
        int(red.value[list(g)].sum()) + (0 if d is None else d.amount)
        for g, d in zip(out.outcome.grids, out.draws, strict=True)
    ]
    assert sum(1 for v in planned if not CFG.in_band(v)) == 1
    grid, draw = next((g, d) for g, d in zip(out.outcome.grids, out.draws, strict=True) if d)
    available = set(low)
    taken = realise_draw(red, grid, draw, available, CFG)
    assert (
        taken and taken[0] == draw.entry and draw.entry in {j for u in grid for j in red.links(u)}
    )
    total = int(red.value[list(grid)].sum() + red.value[taken].sum())
    assert CFG.in_band(total)
    assert len(connected_parts(sorted([*grid, *taken]), red.links)) == 1
    assert not available & set(taken)


def test_solver_draws_tower_grids_into_the_low_rise_area() -> None:
    values, edges = _gateway_district()
    inst = make_instance(values, _xy(len(values)), edges, compound=[0] * 4 + [-1] * 13)
    res = GridPartitioner(inst, CFG).solve()
    assert_partition_valid(inst, res.labels, CFG)
    # towers 198 and 156 compete for the gateway: one grid at most is left out of band
    assert res.out_of_band <= 1
    assert res.out_of_band >= res.lower_bound.min_out_of_band


def test_packing_bound_sees_a_single_gateway() -> None:
    # five large towers that each need a partner; the only way out is one 0-hh cell
    values = [198, 198, 156, 156, 104, 0] + [20] * 20
    edges = [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 6)] + [(i, i + 1) for i in range(6, 25)]
    inst = make_instance(values, _xy(len(values)), edges)
    lb = band_lower_bound(inst, PartitionConfig())
    # one grid may use the gateway (156 + 104 in band); 198, 198 and 156 are then cut off
    assert lb.packing_out_of_band == 3
    res = GridPartitioner(inst, CFG).solve()
    assert res.out_of_band >= lb.min_out_of_band


def test_zone_that_cannot_reach_the_band_alone_joins_across_the_barrier() -> None:
    # row 0: 190-50-190-130 (560: two grids by total, but no in-band split of the path);
    # rows 1-3 behind a major street: 12 buildings of 25 (300)
    vals = [190, 50, 190, 130] + [25] * 12
    inst = lattice(4, 4, vals, hard_row=0, community_id="Z")
    res = GridPartitioner(inst, CFG).solve()
    assert_partition_valid(inst, res.labels, CFG)
    assert res.zone_bound is not None and res.zone_bound.per_zone[0] >= 1
    assert res.out_of_band == 0
    assert res.hard_barrier_merges == 1
    assert any("exact zone model" in note for note in res.notes)
    assert res.grids.hard_inside.sum() > 0


def test_zones_that_can_reach_the_band_keep_the_barrier() -> None:
    vals = [150, 100, 150, 100] + [25] * 12  # row 0 splits into 250 + 250
    inst = lattice(4, 4, vals, hard_row=0, community_id="Y")
    res = GridPartitioner(inst, CFG).solve()
    assert res.out_of_band == 0
    assert res.hard_barrier_merges == 0
    assert res.grids.hard_inside.sum() == 0


def test_pair_repair_finds_the_path_through_household_less_buildings() -> None:
    # a 187 whose neighbours are a 130 and household-less cells; a 17 lies two empty
    # cells away: super-units glue the empty cells to the 130/86, the buildings do not
    #   0:187 - 1:0 - 2:0 - 3:17          187 + 17 = 204 (through 1, 2)
    #     |                 |
    #   4:130 ----------- 5:86            130 + 86 = 216 (directly)
    from gridder.partition.pairrepair import repair_pairs

    values = [187, 0, 0, 17, 130, 86]
    edges = [(0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (3, 5)]
    inst = make_instance(values, _xy(6), edges)
    cfg = PartitionConfig()
    labels = np.array([0, 1, 1, 1, 1, 1])  # 187 alone (out of band), the rest 233
    value = np.array(values)
    out, done = repair_pairs(inst, labels, cfg, value=value, movable=np.ones(6, bool), seed=1)
    assert done == 1
    totals = sorted(int(value[out == g].sum()) for g in np.unique(out))
    assert totals == [204, 216]
    assert out[0] == out[3] and out[4] == out[5] and out[0] != out[4]
    assert_partition_valid(inst, out, cfg)
    # frozen grids are left alone
    same, none = repair_pairs(
        inst, labels, cfg, value=value, movable=np.ones(6, bool), frozen=[1], seed=1
    )
    assert none == 0 and np.array_equal(same, labels)
