"""Plan comparison and hierarchy totals, checked against hand computations."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import boundary_building

from gridder.diff import diff_plans, write_diff
from gridder.edit import apply_edit
from gridder.hierarchy import plan_hierarchy
from gridder.planfile import PlanFile


def test_diff_after_an_edit_equals_the_edit(district_plan: Path, tmp_path: Path) -> None:
    plan = PlanFile.read(district_plan)
    out = tmp_path / "new.gpkg"
    result = apply_edit(
        district_plan, move=[boundary_building(plan, "C01-001", "C01-002")], to="C01-002", out=out
    )
    diff = diff_plans(district_plan, out)
    # an edit is no re-plan: no bound on its moves is claimed
    assert "households_moved_lower_bound" not in diff.summary
    moves = {m["building_id"]: m for m in result.hand_moves + result.rebalance_moves}
    moved = diff.moved.set_index("building_id")
    assert set(moved.index) == set(moves)
    for bid, m in moves.items():
        assert moved.loc[bid, "old_grid"] == m["from_grid"]
        assert moved.loc[bid, "new_grid"] == m["to_grid"]
    moved_hh = sum(m["households"] for m in moves.values())
    total = float(plan.assignments["households"].sum())
    assert diff.summary["households_moved"] == moved_hh
    assert diff.summary["moved_share"] == pytest.approx(moved_hh / total)
    changed = set(diff.grids.loc[diff.grids["status"] == "changed", "grid_id"])
    assert changed == set(result.changed_grids)
    assert diff.summary["grids_unchanged"] == len(plan.grids) - len(changed)
    assert diff.quality["old"]["n_grids"] == len(plan.grids)


def test_diff_added_removed_and_writers(district_plan: Path, tmp_path: Path) -> None:
    plan = PlanFile.read(district_plan)
    a = plan.assignments
    drop = a["building_id"].iloc[:3].tolist()
    plan.assignments = a[~a["building_id"].isin(drop)].copy()
    extra = a.iloc[[5]].copy()
    extra["building_id"] = "NEW1"
    plan.assignments = pd.concat([plan.assignments, extra], ignore_index=True)
    plan.grids = plan.grids[plan.grids["grid_id"] != "C02-012"].copy()
    new = plan.write(tmp_path / "new.gpkg")
    diff = diff_plans(district_plan, new)
    assert sorted(
        diff.buildings.loc[diff.buildings["change"] == "removed", "building_id"]
    ) == sorted(drop)
    assert diff.buildings.loc[diff.buildings["change"] == "added", "building_id"].tolist() == [
        "NEW1"
    ]
    assert diff.summary["buildings_moved"] == 0
    # a grid id in one plan only (C02-012 still has buildings in assignments: "changed" or kept)
    files = write_diff(diff, tmp_path / "d.csv")
    assert [f.name for f in files] == ["d.csv", "d_grids.csv", "d_summary.csv"]
    back = pd.read_csv(files[0], encoding="utf-8-sig")
    assert len(back) == len(diff.buildings)
    # counts are written as whole numbers, not 115.0
    summary = files[2].read_text(encoding="utf-8-sig").splitlines()
    assert f"households_in_both,{diff.summary['households_in_both']}" in summary
    assert not any(line.startswith("quality_old_n_grids,") and "." in line for line in summary)
    grids_csv = files[1].read_text(encoding="utf-8-sig")
    assert ".0," not in grids_csv
    xlsx = write_diff(diff, tmp_path / "d.xlsx")[0]
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["summary", "buildings", "grids", "quality"]
    assert wb["buildings"].max_row == len(diff.buildings) + 1


def test_grids_whose_households_changed_are_not_called_unchanged(
    district_plan: Path, tmp_path: Path
) -> None:
    plan = PlanFile.read(district_plan)
    a = plan.assignments
    bid = a["building_id"].iloc[0]
    gid = a["grid_id"].iloc[0]
    a.loc[a["building_id"] == bid, "households"] += 15  # a year later, same grids
    new = plan.write(tmp_path / "new.gpkg")
    diff = diff_plans(district_plan, new)
    row = diff.grids.set_index("grid_id").loc[gid]
    assert row["status"] == "households_changed"
    assert row["households_new"] - row["households_old"] == 15
    assert diff.summary["grids_households_changed"] == 1
    assert diff.summary["grids_unchanged"] == len(plan.grids) - 1
    assert diff.summary["buildings_moved"] == 0


def test_hierarchy_totals(district_plan: Path) -> None:
    plan = PlanFile.read(district_plan)
    h = plan_hierarchy(plan)
    hh_total = plan.assignments["households"].sum()
    district = h[h["level"] == "district"]
    assert district["households"].tolist() == [hh_total]
    assert district["grids"].tolist() == [len(plan.grids)]
    streets = h[h["level"] == "street"].set_index("street_id")
    comm = plan.communities.set_index("community_id")
    per_comm = plan.assignments.groupby("community_id")["households"].sum()
    for sid, row in streets.iterrows():
        members = comm.index[comm["street_id"] == sid]
        assert row["households"] == per_comm[members].sum()
    grid_rows = h[h["level"] == "grid"]
    assert len(grid_rows) == len(plan.grids)
    band = plan.band
    inband = plan.grids["households"].between(band.min, band.max).mean()
    assert district["in_band_share"].iloc[0] == pytest.approx(inband)


def test_a_grid_whose_land_grew_is_reshaped_not_unchanged() -> None:
    """Same buildings and households, twice the land (a neighbour gone): ``reshaped``."""
    from gridder.diff import _grid_changes

    frame = pd.DataFrame(
        {"grid_id": ["A-001", "A-002"], "community_id": "A", "households": [250.0, 240.0]},
        index=pd.Index(["b1", "b2"], name="building_id"),
    )
    old_area = pd.Series({"A-001": 10_000.0, "A-002": 8_000.0})
    new_area = pd.Series({"A-001": 20_000.0, "A-002": 8_040.0})  # +100% and +0.5%
    grids = pd.DataFrame({"grid_id": ["A-001", "A-002"], "community_id": "A"})
    got = _grid_changes(
        frame, frame, grids_old=grids, grids_new=grids, area_old=old_area, area_new=new_area
    ).set_index("grid_id")
    assert got.loc["A-001", "status"] == "reshaped"
    assert got.loc["A-002", "status"] == "unchanged"
    assert got.loc["A-001", "area_m2_new"] == 20_000.0
