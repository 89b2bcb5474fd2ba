"""Invariants of the solver: every unit once, grids connected, band, determinism, locks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gridder.errors import InputError
from gridder.partition import (
    GridPartitioner,
    PartitionConfig,
    check_partition,
    plan_objective,
)

from .conftest import compound_district, lattice, make_instance

FAST = PartitionConfig(time_limit=2.0)


def assert_valid(inst, res, config=FAST) -> None:
    report = check_partition(inst, res.labels, config)
    assert report.ok, report.violations
    assert (res.labels >= 0).all()
    assert res.quality.contiguous.all()
    assert res.n_grids == len(np.unique(res.labels))


def test_smooth_all_in_band(smooth_lattice) -> None:
    res = GridPartitioner(smooth_lattice, FAST).solve()
    assert_valid(smooth_lattice, res)
    total = int(smooth_lattice.value.sum())
    assert res.n_grids == res.k_target == round(total / 250)
    assert res.quality.summary()["in_band_share"] == 1.0
    assert res.objective == pytest.approx(plan_objective(smooth_lattice, res.labels, FAST))
    assert res.bound <= res.objective and 0 <= res.gap <= 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lumpy_district_near_the_ceiling(seed: int) -> None:
    # a harsh district: a third of the towers hold more than 300 households
    inst = compound_district(seed)
    res = GridPartitioner(inst, FAST).solve()
    assert_valid(inst, res)
    q = res.quality
    share = q.n_in_band / q.n_counted
    assert share >= res.lower_bound.ceiling(q.n_counted) - 0.06  # measured: 0.0-1.5 points
    assert share >= 0.85
    assert q.summary()["single_compound_share"] >= 0.8  # measured 0.84-0.89 on this harsh fixture


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5, 6, 7])
def test_lumpy_district_within_two_points_of_ceiling(seed: int) -> None:
    inst = compound_district(seed)
    res = GridPartitioner(inst, FAST).solve()
    q = res.quality
    assert q.n_in_band / q.n_counted >= res.lower_bound.ceiling(q.n_counted) - 0.02


def test_deterministic_for_a_seed(lumpy_lattice) -> None:
    a = GridPartitioner(lumpy_lattice, FAST).solve()
    b = GridPartitioner(lumpy_lattice, FAST).solve()
    assert np.array_equal(a.labels, b.labels)
    assert a.objective == b.objective
    c = GridPartitioner(lumpy_lattice, FAST.with_(seed=5)).solve()
    assert_valid(lumpy_lattice, c)


def test_restarts_keep_the_best_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    # the harsh districts' bounds fall back (one zone, too many sets), so the solver
    # would not restart there; widen the gate to exercise the restarts themselves
    import gridder.partition.solver as solver

    inst = compound_district(3)
    once = GridPartitioner(inst, FAST.with_(restarts=0)).solve()
    assert once.attempts == 1 and once.attempt_kept == 0
    assert once.out_of_band > once.lower_bound.min_out_of_band  # room for a restart
    monkeypatch.setattr(
        solver,
        "_worth_restarting",
        lambda r, joined: r.out_of_band > r.lower_bound.min_out_of_band,
    )
    a = GridPartitioner(inst, FAST.with_(restarts=3)).solve()
    b = GridPartitioner(inst, FAST.with_(restarts=3)).solve()
    assert_valid(inst, a)
    assert np.array_equal(a.labels, b.labels) and a.attempts == b.attempts
    assert 2 <= a.attempts <= 4 and 0 <= a.attempt_kept < a.attempts
    assert a.out_of_band <= once.out_of_band
    assert a.seed == once.seed  # the community's seed; attempt k derives from it
    if a.attempt_kept:
        assert a.out_of_band < once.out_of_band or a.objective < once.objective
        kept_seed = PartitionConfig.attempt_seed(a.seed, a.attempt_kept)
        alone = GridPartitioner(inst, FAST.with_(restarts=0), seed=kept_seed).solve()
        assert np.array_equal(alone.labels, a.labels)  # the kept attempt, reproduced
    # stops as soon as a plan meets the bound
    if a.out_of_band == a.lower_bound.min_out_of_band:
        assert a.attempts == a.attempt_kept + 1


def test_attempt_seeds_derive_from_the_community_seed() -> None:
    seeds = [PartitionConfig.attempt_seed(12345, k) for k in range(4)]
    assert seeds[0] == 12345 and len(set(seeds)) == 4
    assert seeds == [PartitionConfig.attempt_seed(12345, k) for k in range(4)]
    with pytest.raises(InputError, match="restarts"):
        PartitionConfig(restarts=-1)


def test_community_seed_is_stable() -> None:
    cfg = PartitionConfig(seed=3)
    assert cfg.community_seed("A") == PartitionConfig(seed=3).community_seed("A")
    assert cfg.community_seed("A") != cfg.community_seed("B")


def test_locked_units_keep_their_grid() -> None:
    rng = np.random.default_rng(1)
    vals = rng.integers(1, 9, 200).tolist()
    locked = [-1] * 200
    for u in (0, 1, 2, 10, 11, 12):  # a locked grid in the corner (10 x 20 lattice)
        locked[u] = 7
    inst = lattice(10, 20, vals, locked=locked)
    res = GridPartitioner(inst, FAST).solve()
    assert_valid(inst, res)
    lab = res.labels
    assert (lab[np.array(locked) == 7] == 7).all()
    assert (lab[np.array(locked) != 7] != 7).all()


def test_hard_barrier_not_crossed_when_avoidable() -> None:
    rng = np.random.default_rng(2)
    inst = lattice(10, 20, rng.integers(1, 9, 200).tolist(), hard_row=9)
    res = GridPartitioner(inst, FAST).solve()
    assert_valid(inst, res)
    assert res.grids.hard_inside.sum() == 0
    assert res.hard_barrier_merges == 0


def test_small_zone_behind_barrier_joins_across_it() -> None:
    vals = [20] * 30 + [5] * 10  # 3 rows of 10 (600) + 1 row of 10 (50) behind a barrier
    inst = lattice(10, 4, vals, hard_row=2)
    res = GridPartitioner(inst, FAST).solve()
    assert_valid(inst, res)
    assert res.hard_barrier_merges == 1
    assert res.notes and "barrier" in res.notes[0]
    assert res.quality.summary()["in_band_share"] == 1.0


def test_building_above_max_is_its_own_grid() -> None:
    vals = [10] * 24 + [450]
    inst = lattice(5, 5, vals)
    res = GridPartitioner(inst, FAST).solve()
    assert_valid(inst, res)
    big = res.labels[24]
    assert (res.labels == big).sum() == 1
    assert res.over_max_unit_ids == ("B24",)
    assert res.quality.n_counted == res.n_grids - 1


def test_community_below_min_is_one_grid() -> None:
    inst = lattice(4, 4, [5] * 16)
    res = GridPartitioner(inst, FAST).solve()
    assert res.n_grids == 1 and res.status == "TRIVIAL"


def test_keep_compounds_never_splits_a_fitting_compound() -> None:
    inst = compound_district(7)
    cfg = FAST.with_(keep_compounds=True)
    res = GridPartitioner(inst, cfg).solve()
    assert_valid(inst, res, cfg)
    for c in np.unique(inst.compound[inst.compound >= 0]):
        members = inst.compound == c
        total = int(inst.value[members].sum())
        if cfg.in_band(total):
            assert len(np.unique(res.labels[members])) == 1


def test_empty_and_single_unit() -> None:
    one = make_instance([120], np.array([[0.0, 0.0]]), [])
    res = GridPartitioner(one, FAST).solve()
    assert res.labels.tolist() == [0] and res.n_grids == 1


def test_bad_arrays_raise_input_error(smooth_lattice) -> None:
    bad = replace(smooth_lattice, edge_length=smooth_lattice.edge_length[:-1])
    with pytest.raises(InputError, match="edge_length"):
        GridPartitioner(bad)
    neg = replace(smooth_lattice, value=-smooth_lattice.value)
    with pytest.raises(InputError, match="negative"):
        GridPartitioner(neg)


def test_result_meta_is_json(lumpy_lattice) -> None:
    import json

    res = GridPartitioner(lumpy_lattice, FAST).solve()
    meta = res.to_meta()
    json.dumps(meta)
    assert meta["status"] in {"OPTIMAL", "FEASIBLE"}
    assert meta["lower_bound_out_of_band"] <= meta["out_of_band"]


def test_disconnected_locked_grid_is_bad_input() -> None:
    locked = [-1] * 25
    locked[0] = locked[24] = 3
    inst = lattice(5, 5, [10] * 25, locked=locked)
    with pytest.raises(InputError, match="locked grid 3"):
        GridPartitioner(inst)


def test_zones_are_joined_to_the_longest_barrier_first_then_to_every_neighbour() -> None:
    from gridder.partition.solver import _relaxable_edges
    from gridder.partition.zonebound import zone_lower_bound

    # columns 0-1: zone B, 2-3: zone A (120 households, too few for a grid), 4-5: zone C;
    # A shares two barrier links with B and one with C
    ids = {(r, c): r * 6 + c for r in range(2) for c in range(6)}
    edges = [(ids[r, c], ids[r, c + 1]) for r in range(2) for c in range(5)]
    edges += [(ids[0, c], ids[1, c]) for c in range(6)]
    edges.remove((ids[1, 3], ids[1, 4]))
    edges = sorted((min(a, b), max(a, b)) for a, b in edges)
    col = {u: c for (r, c), u in ids.items()}
    hard = [{col[a], col[b]} in ({1, 2}, {3, 4}) for a, b in edges]
    vals = [150, 150, 30, 30, 150, 150] * 2
    xy = np.array([[20.0 * c, 20.0 * r] for r in range(2) for c in range(6)])
    inst = make_instance(vals, xy, edges, hard=hard)
    bound = zone_lower_bound(inst, FAST)
    assert bound.zones == 3 and bound.per_zone == (0, 1, 0)
    e = np.asarray(inst.edges)
    relax, joined = _relaxable_edges(inst, FAST, bound)
    assert joined == 1
    assert {(col[a], col[b]) for a, b in e[relax]} == {(1, 2)}  # the longer barrier, to B
    relax, joined = _relaxable_edges(inst, FAST, bound, every=True)
    assert joined == 1
    assert {(col[a], col[b]) for a, b in e[relax]} == {(1, 2), (3, 4)}
    assert relax.sum() == 3


def test_keep_compounds_keeps_a_fitting_compound_whole_with_a_stranded_neighbour() -> None:
    """A tiny compound beside a fitting one stays whole, and the tiny one joins it.

    The tiny compound (20 households) reaches the low-rise buildings only across a
    major street; merged into the fitting compound's piece it used to make that piece
    count as mixed, and the fitting compound was split. Now the fitting compound is
    kept whole, and the tiny one, stranded, joins it (260, in band) instead of being
    a grid out of band of its own.
    """
    from gridder.partition.reduce import reduce_instance

    values = [120, 120, 20, 100, 100, 100, 100, 50, 100, 100]
    xy = np.array([[20.0 * (u % 5), 20.0 * (u // 5)] for u in range(10)])
    edges = [(u, u + 1) for u in range(10) if u % 5 < 4] + [(u, u + 5) for u in range(5)]
    compound = [0, 0, 1, -1, -1, -1, -1, -1, -1, -1]
    soft = [compound[a] != compound[b] for a, b in sorted(edges)]
    # the tiny compound reaches the low-rise buildings only across a major street
    hard = [(a, b) in {(2, 3), (2, 7)} for a, b in sorted(edges)]
    inst = make_instance(values, xy, edges, compound=compound, soft=soft, hard=hard)
    cfg = FAST.with_(keep_compounds=True)
    red = reduce_instance(inst, cfg, free=np.ones(10, dtype=bool))
    piece_of_a = {int(red.piece[red.unit_super[u]]) for u in (0, 1)}
    assert len(piece_of_a) == 1
    assert piece_of_a <= red.frozen_piece
    res = GridPartitioner(inst, cfg).solve()
    assert_valid(inst, res, cfg)
    assert res.labels[0] == res.labels[1]
    assert set(np.flatnonzero(res.labels == res.labels[0]).tolist()) == {0, 1, 2}
    assert res.out_of_band == 0


def test_community_below_min_across_a_major_street_is_one_grid() -> None:
    """Two zones of 40 households each: one grid of 80, not two grids out of band."""
    inst = lattice(4, 4, [5] * 16, hard_row=1)
    res = GridPartitioner(inst, FAST).solve()
    assert_valid(inst, res, FAST)
    assert res.n_grids == 1


def test_keep_compounds_empty_buildings_stay_in_their_own_compound() -> None:
    """An empty building of compound B nearest to compound A's households is not glued to A.

    Before, it joined A's household building (the nearest), A's piece counted as
    mixed, A was not kept whole and could be split.
    """
    from gridder.partition.reduce import reduce_instance

    # one row: A = units 0-2 (120, 0, 120), B = units 3-8 (empty 3-7, 250 at 8), C = 9-11
    values = [120, 0, 120, 0, 0, 0, 0, 0, 250, 100, 100, 60]
    compound = [0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2]
    xy = np.array([[20.0 * u, 0.0] for u in range(12)])
    edges = [(u, u + 1) for u in range(11)]
    soft = [compound[a] != compound[b] for a, b in edges]
    inst = make_instance(values, xy, edges, compound=compound, soft=soft)
    cfg = FAST.with_(keep_compounds=True)
    red = reduce_instance(inst, cfg, free=np.ones(12, dtype=bool))
    for s, members in enumerate(red.members):
        assert len({compound[u] for u in members.tolist()}) == 1, (s, members)
    pieces = {int(red.piece[red.unit_super[u]]) for u in (0, 1, 2)}
    assert len(pieces) == 1 and pieces <= red.frozen_piece
    res = GridPartitioner(inst, cfg).solve()
    assert_valid(inst, res, cfg)
    for c in (0, 1):
        members = np.flatnonzero(np.asarray(compound) == c)
        assert len(set(res.labels[members].tolist())) == 1
