"""Hand edits: guarantees kept, rebalancing within 3x, exact undo, clear refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely
from conftest import boundary_building, neighbour_pairs

from gridder.edit import apply_edit
from gridder.errors import InputError
from gridder.planfile import PlanFile
from gridder.testing import assert_plan_valid


def _assert_valid(path: Path, building_ids: list[str]) -> PlanFile:
    plan = PlanFile.read(path)
    assert_plan_valid(plan.grids, plan.assignments, plan.communities, building_ids=building_ids)
    return plan


def _same_plan(a: Path, b: Path) -> None:
    pa, pb = PlanFile.read(a), PlanFile.read(b)
    assert list(pa.layers) == list(pb.layers)
    for name, fa in pa.layers.items():
        fb = pb.layers[name]
        assert list(fa.columns) == list(fb.columns), name
        if "geometry" in fa.columns:
            wa = shapely.to_wkb(fa.geometry.to_numpy())
            wb = shapely.to_wkb(fb.geometry.to_numpy())
            assert np.array_equal(wa, wb), name
            left, right = fa.drop(columns="geometry"), fb.drop(columns="geometry")
        else:
            left, right = fa, fb
        assert left.reset_index(drop=True).equals(right.reset_index(drop=True)), name
    assert pa.meta == pb.meta


def test_move_keeps_guarantees_and_budget_and_undo_is_exact(
    district_plan: Path, plan_copy: Path
) -> None:
    plan = PlanFile.read(plan_copy)
    ids = plan.assignments["building_id"].tolist()
    bid = boundary_building(plan, "C01-001", "C01-002")
    result = apply_edit(plan_copy, move=[bid], to="C01-002")
    edited = _assert_valid(plan_copy, ids)
    row = edited.assignments.set_index("building_id").loc[bid]
    assert row["grid_id"] == "C01-002"
    hand = int(plan.assignments.set_index("building_id").loc[bid, "households"])
    assert result.hand_households == hand
    assert result.rebalance_households == sum(m["households"] for m in result.rebalance_moves)
    assert result.rebalance_households <= 3 * hand
    # the changed grids are exactly those whose members changed; others keep their polygons
    before = plan.grids.set_index("grid_id")
    after = edited.grids.set_index("grid_id")
    for gid in after.index.difference(result.changed_grids):
        assert shapely.to_wkb(before.loc[gid].geometry) == shapely.to_wkb(after.loc[gid].geometry)
    # households of the changed grids equal the sums over their buildings
    sums = edited.assignments.groupby("grid_id")["households"].sum()
    assert (after["households"] == sums.reindex(after.index)).all()
    # the history records the edit
    entry = edited.meta["history"][-1]
    assert entry["action"] == "move"
    assert entry["moved"][0]["building_id"] == bid
    assert entry["rebalance_households"] == result.rebalance_households
    assert "in_band_share" in entry["quality_before"]
    # plan_meta.quality describes the edited plan
    quality = edited.meta["quality"]
    assert quality["recomputed_after_edit"] is True
    assert quality["n_grids"] == len(after)
    assert quality["in_band_share"] == pytest.approx(result.quality_after["in_band_share"])
    assert quality["households_min"] == int(sums.min())
    undone = apply_edit(plan_copy, undo=True)
    _same_plan(district_plan, plan_copy)
    # the undo reports its own moves: the building goes back from C01-002 to C01-001
    back = undone.hand_moves[0]
    assert (back["building_id"], back["from_grid"], back["to_grid"]) == (bid, "C01-002", "C01-001")


def test_rebalancing_restores_the_band_when_the_budget_allows(plan_copy: Path) -> None:
    plan = PlanFile.read(plan_copy)
    band = plan.band
    done = 0
    for src, dst in neighbour_pairs(plan)[:6]:
        bid = boundary_building(plan, src, dst)
        try:
            result = apply_edit(plan_copy, move=[bid], to=dst)
        except InputError:
            continue  # this border building does not touch dst: refused, checked elsewhere
        plan = _assert_valid(plan_copy, plan.assignments["building_id"].tolist())
        values = plan.grid_values()
        near = set(result.changed_grids)
        done += 1
        assert result.rebalance_households <= 3 * result.hand_households
        if not result.out_of_band:
            assert all(band.min <= values[g] <= band.max for g in near)
        else:
            assert set(result.out_of_band) <= set(plan.grids["grid_id"])
    assert done >= 4


def test_successive_edits_undo_step_by_step(plan_copy: Path, tmp_path: Path) -> None:
    snapshots = []
    plan = PlanFile.read(plan_copy)
    pairs = [("C01-001", "C01-002"), ("C02-003", "C02-001")]
    pairs = [p for p in pairs if p in neighbour_pairs(plan) or p[::-1] in neighbour_pairs(plan)]
    assert pairs
    for src, dst in pairs:
        snap = tmp_path / f"snap{len(snapshots)}.gpkg"
        shutil.copy(plan_copy, snap)
        snapshots.append(snap)
        plan = PlanFile.read(plan_copy)
        apply_edit(plan_copy, move=[boundary_building(plan, src, dst)], to=dst)
    snap = tmp_path / "snaplock.gpkg"
    shutil.copy(plan_copy, snap)
    snapshots.append(snap)
    apply_edit(plan_copy, lock="C01-005")
    assert PlanFile.read(plan_copy).locked_grids == ["C01-005"]
    assert len(PlanFile.read(plan_copy).meta["history"]) == len(pairs) + 1
    for snap in reversed(snapshots):
        apply_edit(plan_copy, undo=True)
        _same_plan(snap, plan_copy)
    with pytest.raises(InputError, match="no edit to undo"):
        apply_edit(plan_copy, undo=True)


def test_out_leaves_the_input_alone(district_plan: Path, plan_copy: Path, tmp_path: Path) -> None:
    plan = PlanFile.read(plan_copy)
    out = tmp_path / "edited.gpkg"
    bid = boundary_building(plan, "C01-001", "C01-002")
    apply_edit(plan_copy, move=[bid], to="C01-002", out=out, plan_id="edited-1")
    _same_plan(district_plan, plan_copy)
    edited = PlanFile.read(out)
    assert edited.meta["plan_id"] == "edited-1"
    apply_edit(out, undo=True)
    _same_plan(district_plan, out)


def test_refusals_say_why(plan_copy: Path) -> None:
    plan = PlanFile.read(plan_copy)
    a = plan.assignments
    c01 = a[a["community_id"] == "C01"]["building_id"].iloc[0]
    with pytest.raises(InputError, match="not in the plan"):
        apply_edit(plan_copy, move=["NOPE"], to="C01-002")
    with pytest.raises(InputError, match="no such grid"):
        apply_edit(plan_copy, move=[c01], to="C09-001")
    with pytest.raises(InputError, match="belongs to community C02"):
        apply_edit(plan_copy, move=[c01], to="C02-001")
    # a building far from the grid: moving it would split the grid
    crs = plan.metric_crs()
    g = plan.grids.to_crs(crs).set_index("grid_id")
    mine = a[a["community_id"] == "C01"].to_crs(crs)
    far = mine.iloc[
        int(np.argmax(shapely.distance(mine.geometry.to_numpy(), g.loc["C01-001"].geometry)))
    ]
    with pytest.raises(InputError, match="do not touch grid C01-001"):
        apply_edit(plan_copy, move=[far["building_id"]], to="C01-001")
    # locked grids can neither receive nor give
    apply_edit(plan_copy, lock="C01-002")
    bid = boundary_building(plan, "C01-001", "C01-002")
    with pytest.raises(InputError, match="is locked"):
        apply_edit(plan_copy, move=[bid], to="C01-002")
    inside = a[a["grid_id"] == "C01-002"]["building_id"].iloc[0]
    with pytest.raises(InputError, match="locked grid"):
        apply_edit(plan_copy, move=[inside], to="C01-001")
    with pytest.raises(InputError, match="already locked"):
        apply_edit(plan_copy, lock="C01-002")
    with pytest.raises(InputError, match="exactly one"):
        apply_edit(plan_copy, lock="C01-003", undo=True)
    # nothing was written by the refused edits: only the lock is in the history
    assert [e["action"] for e in PlanFile.read(plan_copy).meta["history"]] == ["lock"]


def test_locked_grids_are_never_touched_by_rebalancing(plan_copy: Path) -> None:
    plan = PlanFile.read(plan_copy)
    pairs = neighbour_pairs(plan)
    src, dst = pairs[0]
    others = {b for a_, b in pairs if a_ in (src, dst)} | {a_ for a_, b in pairs if b in (src, dst)}
    others -= {src, dst}
    for g in sorted(others):
        apply_edit(plan_copy, lock=g)
    before = PlanFile.read(plan_copy)
    members = before.assignments.groupby("grid_id")["building_id"].apply(frozenset)
    result = apply_edit(plan_copy, move=[boundary_building(plan, src, dst)], to=dst)
    after = PlanFile.read(plan_copy)
    members2 = after.assignments.groupby("grid_id")["building_id"].apply(frozenset)
    for g in others:
        assert members[g] == members2[g]
        assert g not in result.changed_grids


def test_undo_restores_the_workers_layer_after_gridder_workers(
    district_plan: Path, plan_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from gridder.workers import assign_workers, write_workers

    n = len(PlanFile.read(plan_copy).grids)
    # a plan staffed before the edit: undo brings back these workers and no stale mark
    write_workers(plan_copy, assign_workers(plan_copy, workers=n, time_limit=1))
    staffed = tmp_path / "staffed.gpkg"
    shutil.copy(plan_copy, staffed)
    plan = PlanFile.read(plan_copy)
    apply_edit(plan_copy, move=[boundary_building(plan, "C01-001", "C01-002")], to="C01-002")
    assert PlanFile.read(plan_copy).meta["workers_stale"] is True
    from gridder.plan import Plan  # what the API serves says so too

    assert Plan.open(plan_copy).grid("C01-002")["properties"]["workers_stale"] is True
    from gridder.export import export_plan

    with caplog.at_level("WARNING", logger="gridder.export"):
        export_plan(plan_copy, fmt="xlsx", out=tmp_path / "ledger.xlsx")
    assert any("workers are the old assignment" in r.getMessage() for r in caplog.records)
    # the edited plan is staffed again: different workers, 23 or 24 grids
    edited = PlanFile.read(plan_copy)
    write_workers(plan_copy, assign_workers(plan_copy, workers=n + 3, time_limit=1))
    rerun = PlanFile.read(plan_copy).layer("workers")
    assert rerun is not None and len(rerun) == n + 3
    assert "workers_stale" not in PlanFile.read(plan_copy).meta
    assert Plan.open(plan_copy).grid("C01-002")["properties"]["workers_stale"] is False
    apply_edit(plan_copy, undo=True)
    _same_plan(staffed, plan_copy)
    assert len(edited.meta["history"]) == 1
    # a plan without workers before the edit: undo removes the layer written after it
    shutil.copy(district_plan, plan_copy)
    apply_edit(plan_copy, lock="C01-003")
    write_workers(plan_copy, assign_workers(plan_copy, workers=n, time_limit=1))
    apply_edit(plan_copy, undo=True)
    assert PlanFile.read(plan_copy).layer("workers") is None
    _same_plan(district_plan, plan_copy)
