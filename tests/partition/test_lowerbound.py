"""The lower bound on out-of-band grids, on hand-built cases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gridder.partition import GridPartitioner, PartitionConfig, band_lower_bound, plan_cap
from gridder.partition.lowerbound import BandLowerBound

from .conftest import lattice, make_instance


def test_tower_198_between_132_and_312_is_forced() -> None:
    # 132 - 198 - 312 on a path: {198}=198, {198,132}=330, {198,312}=510: none in band
    inst = make_instance([132, 198, 312], np.array([[0, 0], [20, 0], [40, 0]]), [(0, 1), (1, 2)])
    lb = band_lower_bound(inst, PartitionConfig())
    assert inst.unit_ids[lb.forced_units].tolist() == ["B0", "B1"]  # 132 alone is stuck too
    assert lb.over_max_units.tolist() == [2]
    # 132 and 198 can share a grid of 330 <= 600: one forced grid, not two
    assert lb.min_out_of_band == 1
    res = GridPartitioner(inst).solve()
    assert res.out_of_band >= lb.min_out_of_band
    assert set(res.forced_unit_ids) == {"B0", "B1"}
    assert res.over_max_unit_ids == ("B2",)


def test_two_far_apart_forced_towers_count_twice() -> None:
    # 198 | 0-hh chain of 300+ ... use a heavy separator: 198 - 290 - 290 - 198
    inst = make_instance(
        [198, 290, 290, 198],
        np.array([[0, 0], [20, 0], [40, 0], [60, 0]]),
        [(0, 1), (1, 2), (2, 3)],
    )
    lb = band_lower_bound(inst, PartitionConfig())
    assert sorted(lb.forced_units.tolist()) == [0, 3]
    assert lb.min_out_of_band == 2  # 198+290+290+198 = 976 > 600
    res = GridPartitioner(inst).solve()
    assert res.out_of_band >= 2


def test_few_households_among_many_empty_buildings_are_forced() -> None:
    # a campus: 3 small dormitories (6, 47, 50) among 60 household-less buildings and
    # four towers above the maximum. No in-band grid exists (103 < 200); the search
    # must not drown in the sets that differ only in empty buildings (it used to give
    # up, leaving the bound at 0 and the ceiling at 100%)
    vals = [0] * 64
    vals[9], vals[30], vals[54] = 6, 47, 50
    vals[0], vals[7], vals[56], vals[63] = 451, 521, 704, 1060
    inst = lattice(8, 8, vals)
    lb = band_lower_bound(inst, PartitionConfig(), budget=500)
    assert sorted(lb.forced_units.tolist()) == [9, 30, 54]
    assert len(lb.undecided_units) == 0
    assert lb.min_out_of_band == 1  # the three can share one grid (103 <= 400)
    res = GridPartitioner(inst, PartitionConfig(restarts=0)).solve()
    assert res.out_of_band == 1 == res.lower_bound.min_out_of_band
    assert res.lower_bound.ceiling(res.quality.n_counted) == 0.0  # one counted grid, out


def test_smooth_area_forces_nothing(smooth_lattice) -> None:
    lb = band_lower_bound(smooth_lattice, PartitionConfig())
    assert len(lb.forced_units) == 0 and lb.min_out_of_band == 0
    assert lb.ceiling(10) == 1.0


def test_locked_out_of_band_grid_counts() -> None:
    inst = make_instance(
        [100, 150, 150, 100],
        np.array([[0, 0], [20, 0], [40, 0], [60, 0]]),
        [(0, 1), (1, 2), (2, 3)],
        locked=[5, -1, -1, -1],
    )
    lb = band_lower_bound(inst, PartitionConfig())
    assert lb.locked_out_of_band == 1 and lb.min_out_of_band >= 1
    # a locked grid of one tower above the maximum is left out, as the measures leave it;
    # a locked tower with land is more than a single building (CONTRACT §6): counted
    tower = make_instance(
        [450, 0, 150, 100],
        np.array([[0, 0], [20, 0], [40, 0], [60, 0]]),
        [(0, 1), (1, 2), (2, 3)],
        locked=[5, -1, -1, -1],
    )
    assert band_lower_bound(tower, PartitionConfig()).locked_out_of_band == 0
    with_land = replace(tower, locked=np.array([5, 5, -1, -1]))
    assert band_lower_bound(with_land, PartitionConfig()).locked_out_of_band == 1


def test_towers_competing_for_one_partner_force_two_grids() -> None:
    # a tower compound (4 x 4; 308-399 are single buildings above the maximum):
    #   285 308 339 332
    #   214 291 152 316
    #   374  68 138 189
    #   268 399 162 241
    # 152, 68 and 162 each reach the band only with the 138 between them, and 189 with
    # nobody: one building is forced, but at least two grids are out of band
    vals = [285, 308, 339, 332, 214, 291, 152, 316, 374, 68, 138, 189, 268, 399, 162, 241]
    inst = lattice(4, 4, vals)
    wide = band_lower_bound(inst, PartitionConfig(), cap=600)  # grids up to 600 allowed
    assert inst.unit_ids[wide.forced_units].tolist() == ["B11"]
    assert wide.forced_out_of_band == 1
    assert wide.packing_out_of_band == 2 and wide.min_out_of_band == 2
    # grids of at most 400 (the default): 68+138+152 = 358 may share, 162+138+189 = 489
    # may not, so one more grid is forced
    lb = band_lower_bound(inst, PartitionConfig())
    assert lb.cap == 400
    assert lb.packing_out_of_band == 3 and lb.min_out_of_band == 3
    res = GridPartitioner(inst, PartitionConfig(time_limit=1.0)).solve()
    assert res.out_of_band >= 3
    meta = res.to_meta()
    assert meta["lower_bound_cap"] >= 400
    assert meta["lower_bound_packing"] == (3 if meta["lower_bound_cap"] == 400 else 2)


def test_packing_bound_with_fillers() -> None:
    # 180 | 30 | 180 on a path: both towers need the one 30-household filler
    inst = make_instance([180, 30, 180], np.array([[0, 0], [20, 0], [40, 0]]), [(0, 1), (1, 2)])
    lb = band_lower_bound(inst, PartitionConfig())
    assert lb.forced_out_of_band == 0  # each tower alone can reach the band
    assert lb.packing_out_of_band == 1  # but not both
    assert lb.min_out_of_band == 1


def test_towers_behind_one_empty_cell_cannot_both_reach_the_band() -> None:
    # 140 and 189 touch each other (329: out of band together) and leave their corner only
    # through the empty cell 2; 62 and 68 lie beyond it. Each tower can reach the band
    # (140+62, 189+68), and the footprints {140, 62} and {189, 68} have two entries
    # between them (2 and 3), but each tower needs cell 2 itself: one grid is out of band
    value = [140, 189, 0, 0, 62, 68]
    edges = [(0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 5)]
    xy = np.array([[0, 0], [0, 20], [20, 10], [40, 10], [60, 0], [60, 20]], dtype=float)
    lb = band_lower_bound(make_instance(value, xy, edges), PartitionConfig())
    assert lb.forced_out_of_band == 0
    assert lb.packing_out_of_band == 1 and lb.min_out_of_band == 1
    # with a way of its own to the 68 for the 189, both reach the band
    lb = band_lower_bound(make_instance(value, xy, [*edges, (1, 5)]), PartitionConfig())
    assert lb.min_out_of_band == 0


def test_packing_bound_is_skipped_when_the_forced_bound_is_tight() -> None:
    inst = make_instance([180, 30, 180], np.array([[0, 0], [20, 0], [40, 0]]), [(0, 1), (1, 2)])
    lb = band_lower_bound(inst, PartitionConfig(), stop_at=0)
    assert lb.packing_out_of_band == -1 and lb.forced_out_of_band == 0
    assert lb.min_out_of_band == 1  # 390 households: one grid too many, two too few


def test_plan_cap_is_the_plans_largest_grid_when_larger() -> None:
    # three grids: {0,1} = 420, {2} = 350 alone (a single building above the maximum), {3} = 50
    inst = make_instance(
        [210, 210, 350, 50],
        np.array([[0, 0], [20, 0], [40, 0], [60, 0]]),
        [(0, 1), (1, 2), (2, 3)],
    )
    cfg = PartitionConfig()
    assert plan_cap(inst, [0, 0, 1, 2], cfg) == 420
    assert plan_cap(inst, [0, 1, 2, 3], cfg) == 400  # 350 alone does not count


def test_a_total_no_in_band_grids_can_split_forces_one() -> None:
    # 306 households: one grid is too many, two too few (200-300); no building is forced
    inst = lattice(6, 1, [51] * 6)
    lb = band_lower_bound(inst, PartitionConfig())
    assert len(lb.forced_units) == 0
    assert lb.min_out_of_band == 1
    # nothing but empty buildings: their one grid holds nothing
    assert band_lower_bound(lattice(3, 1, [0, 0, 0]), PartitionConfig()).min_out_of_band == 1
    # 500 splits into 250 + 250: nothing forced
    assert band_lower_bound(lattice(10, 1, [50] * 10), PartitionConfig()).min_out_of_band == 0


def test_empty_land_only_a_tower_can_take_puts_one_grid_out_of_band() -> None:
    """CONTRACT §6 leaves out a single building above the maximum, not a tower with land."""
    # a 900-household tower between two empty cells, nothing else: whichever grid takes
    # the empty cells holds no household of the band
    xy = np.array([[0, 0], [20, 0], [40, 0]], dtype=float)
    lb = band_lower_bound(make_instance([0, 900, 0], xy, [(0, 1), (1, 2)]), PartitionConfig())
    assert lb.forced_out_of_band == 0 and lb.min_out_of_band == 1
    # with a free household building the land can join, nothing is forced
    xy4 = np.array([[0, 0], [20, 0], [40, 0], [20, 20]], dtype=float)
    edges = [(0, 1), (1, 2), (0, 3), (2, 3)]  # the 250 touches both empty cells
    lb = band_lower_bound(make_instance([0, 900, 0, 250], xy4, edges), PartitionConfig())
    assert lb.min_out_of_band == 0
    # and the solver reaches that: the tower alone, the land with the 250
    inst = make_instance([0, 900, 0, 250], xy4, edges)
    result = GridPartitioner(inst, PartitionConfig()).solve()
    assert result.out_of_band == 0
    assert np.flatnonzero(result.labels == result.labels[1]).tolist() == [1]


def test_generated_city_plans_meet_their_bounds_and_a_loose_bound_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Generated city seed 5: every community within one grid of its bound.

    Before the strips between compound walls and streets were split (round 15), C0000 left
    5 grids out of band over a bound of 2 that the packing bound had given up on, and
    C0001 kept five towers (798 households) as one grid. Now C0001's oversized grid is
    split, no grid of several buildings holds more than 400, every community's plan lies
    within one grid of its bound, and a plan at its bound says nothing about it. The
    printed line names the communities whose bound is loose.
    """
    import pyogrio

    from gridder.cli import _print_quality, main
    from gridder.datasets.synthetic import generate_city
    from gridder.io.write import read_meta, write_geopackage

    city = generate_city(4, 6, seed=5)
    write_geopackage(tmp_path / "in.gpkg", city.layers)
    g = tmp_path / "in.gpkg"
    out = tmp_path / "plan.gpkg"
    args = ["partition", "--communities", f"{g}:communities", "--buildings", f"{g}:buildings"]
    args += ["--streets", f"{g}:streets", "--compounds", f"{g}:compounds", "--out", str(out)]
    assert main([*args, "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    meta = read_meta(out)
    comms = {c["community_id"]: c for c in meta["solver"]["communities"]}
    for c in comms.values():
        assert c["lower_bound_out_of_band"] <= c["out_of_band"] <= c["lower_bound_out_of_band"] + 1
        assert c["lower_bound_cap"] == 400
    assert any("was split" in n for n in comms["C0001"]["notes"])
    grids = pyogrio.read_dataframe(out, layer="grids")
    assert grids.loc[grids["n_buildings"] > 1, "households"].max() <= 400
    met = [c for c in comms.values() if c["out_of_band"] == c["lower_bound_out_of_band"]]
    assert met
    assert not any("the band's lower bound" in n for c in met for n in c["notes"])
    assert not any(c["lower_bound_loose"] for c in met)
    # the printed line: no loose bound here; one named where plan_meta records one
    _print_quality(meta, grids)
    assert "a loose bound" not in capsys.readouterr().out
    comms["C0000"]["lower_bound_loose"] = ["packing_gave_up"]
    _print_quality(meta, grids)
    printed = " ".join(capsys.readouterr().out.split())
    assert "a loose bound in C0000: see the notes in plan_meta" in printed


def test_a_solve_above_a_bound_whose_packing_gave_up_records_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The solver records a loose bound in its result, notes and ``plan_meta``.

    The packing bound gives up only on large communities; here it is made to give up (a
    bound of 0 from forced buildings alone) under a plan that leaves 2 grids out of band.
    """
    import gridder.partition.solver as solver

    real = solver.band_lower_bound

    def gave_up(*args: object, **kwargs: object) -> BandLowerBound:
        lb = real(*args, **kwargs)  # type: ignore[arg-type]
        return replace(lb, packing_out_of_band=-1, forced_out_of_band=0, min_out_of_band=0)

    monkeypatch.setattr(solver, "band_lower_bound", gave_up)
    n = 4
    inst = make_instance(
        [190] * n,
        np.column_stack([np.arange(n) * 20.0, np.zeros(n)]),
        [(i, i + 1) for i in range(n - 1)],
    )
    result = GridPartitioner(inst, PartitionConfig()).solve()
    assert result.out_of_band == 2 and result.lower_bound.min_out_of_band == 0
    assert result.loose_bound == ("packing_gave_up",)
    assert any("packing bound gave up" in n for n in result.notes)
    assert result.to_meta()["lower_bound_loose"] == ["packing_gave_up"]


def _bound(**counts: int) -> BandLowerBound:
    """A band lower bound of these counts, with no buildings named."""
    empty = np.empty(0, dtype=np.int64)
    return BandLowerBound(
        forced_units=empty,
        undecided_units=empty,
        over_max_units=empty,
        locked_out_of_band=0,
        **counts,
    )


def test_a_plan_above_a_bound_whose_packing_gave_up_says_so() -> None:
    """``packing_gave_up``: the bound counts forced buildings only."""
    from gridder.partition.solver import loose_bound_reasons

    config = PartitionConfig()
    lb = _bound(min_out_of_band=2, cap=400, forced_out_of_band=2, packing_out_of_band=-1)
    assert [code for code, _ in loose_bound_reasons(lb, 5, config)] == ["packing_gave_up"]
    assert "forced buildings only" in loose_bound_reasons(lb, 5, config)[0][1]
    assert loose_bound_reasons(lb, 2, config) == []
    # a packing bound that did not give up explains nothing
    tight = replace(lb, packing_out_of_band=3, min_out_of_band=3)
    assert loose_bound_reasons(tight, 5, config) == []


def test_a_plan_above_a_bound_for_larger_grids_says_so() -> None:
    """``plan_cap``: the bound holds for grids as large as the plan's largest (552 here)."""
    from gridder.partition.solver import loose_bound_reasons

    config = PartitionConfig()
    lb = _bound(min_out_of_band=4, cap=552, forced_out_of_band=2, packing_out_of_band=4)
    codes = [code for code, _ in loose_bound_reasons(lb, 6, config)]
    assert codes == ["plan_cap"]
    text = dict(loose_bound_reasons(lb, 6, config))["plan_cap"]
    assert "holds 552" in text and "at most 400" in text
    assert loose_bound_reasons(lb, 4, config) == []  # at the bound: nothing to explain
    # a workload band of 2-3 solved in hundredths says so in the band's own units
    scaled = PartitionConfig(min=2, max=3, target=2).scaled(100)
    text = dict(loose_bound_reasons(lb, 6, scaled))["plan_cap"]
    assert "holds 5.52" in text and "at most 4" in text


def test_a_grid_far_above_the_band_is_split_when_that_costs_less() -> None:
    """A grid of several buildings above max + band width is split even at one more grid
    out of band, when fewer households then lie outside the band (the objective).

    Four towers of 190 households in a row: as one grid (760) one grid is out of band, by
    460 households; as two grids of 380, two are, by 80 each. The generated city's seed 3
    kept such a 552-household grid before its strips were split (bench round 14); here the
    one-grid plan is given as the first plan, as the solver's search may leave it.
    """
    n = 4
    inst = make_instance(
        [190] * n,
        np.column_stack([np.arange(n) * 20.0, np.zeros(n)]),
        [(i, i + 1) for i in range(n - 1)],
    )
    solver = GridPartitioner(inst, PartitionConfig())
    fresh = solver.solve()
    whole = solver.keep_start(np.zeros(n, dtype=np.int64), fresh, over_max_moved=True)
    assert whole.labels.tolist() == [0] * n and whole.out_of_band == 1
    split = solver._split_over_cap(whole, 0.0)
    sizes = np.bincount(np.unique(split.labels, return_inverse=True)[1], weights=inst.value)
    assert sorted(sizes.tolist()) == [380, 380]
    assert split.out_of_band == 2 and split.objective < whole.objective
    assert any("1 more grid(s) out of band, fewer households outside" in n for n in split.notes)
    assert fresh.objective <= split.objective  # a fresh solve finds it directly
