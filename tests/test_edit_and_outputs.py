"""Hand edits of --keep-compounds plans, and outputs of several files refused before writing.

Findings of an outside review (session 13); each test failed before its fix.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from shapely.geometry import Point, box

from gridder.cli import main
from gridder.edit import apply_edit

X0, Y0 = 665000.0, 3546000.0
CRS = 32650


@pytest.fixture(scope="module")
def compounds_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """200 buildings of 25 households; compounds of 10 buildings (250: each fits the band)."""
    d = tmp_path_factory.mktemp("kc")
    gpd.GeoDataFrame(
        {"community_id": ["E1"]}, geometry=[box(X0, Y0, X0 + 500, Y0 + 300)], crs=CRS
    ).to_file(d / "comm.gpkg")
    xs, ys = np.arange(12.5, 500, 25), np.arange(15, 300, 30)
    pts = [(x, y) for x in xs for y in ys]
    gpd.GeoDataFrame(
        {"building_id": [f"e{int(x * 10):05d}_{int(y):03d}" for x, y in pts], "households": 25},
        geometry=[Point(X0 + x, Y0 + y) for x, y in pts],
        crs=CRS,
    ).to_file(d / "bld.gpkg")
    comps, ids = [], []
    for j, y in enumerate(range(0, 300, 60)):
        off = 0 if j % 2 == 0 else 62.5
        for i, x in enumerate(np.arange(-125 + off, 500, 125)):
            lo, hi = max(x, 0), min(x + 125, 500)
            if hi > lo:
                comps.append(box(X0 + lo, Y0 + y, X0 + hi, Y0 + y + 60))
                ids.append(f"E{j}{i}")
    gpd.GeoDataFrame({"compound_id": ids}, geometry=comps, crs=CRS).to_file(d / "comp.gpkg")
    plan = d / "plan.gpkg"
    args = ["partition", "--communities", str(d / "comm.gpkg"), "--buildings"]
    args += [str(d / "bld.gpkg"), "--compounds", str(d / "comp.gpkg"), "--keep-compounds"]
    assert main([*args, "--workers", "1", "--out", str(plan)]) == 0
    return plan, d


def _whole(plan: Path) -> set[str]:
    a = pyogrio.read_dataframe(plan, layer="assignments")
    counts = a.groupby("compound_id")["grid_id"].nunique()
    return set(counts.index[counts == 1])


def test_rebalancing_after_a_hand_move_keeps_compounds_whole(
    compounds_plan: tuple[Path, Path], tmp_path: Path
) -> None:
    plan, _ = compounds_plan
    a = pyogrio.read_dataframe(plan, layer="assignments").set_index("building_id")
    before = _whole(plan)
    one = "e00875_165"
    target = "E1-003" if a.loc[one, "grid_id"] != "E1-003" else "E1-004"
    result = apply_edit(plan, move=[one], to=target, out=tmp_path / "edited.gpkg")
    after = _whole(tmp_path / "edited.gpkg")
    # only the compound the planner split by hand may be split now
    assert before - after <= {a.loc[one, "compound_id"]}
    moved = {m["building_id"] for m in result.rebalance_moves}
    kept = a.loc[a["compound_id"].isin(before - {a.loc[one, "compound_id"]})].index
    assert not moved & set(kept)


def test_outputs_that_cannot_be_written_are_refused_before_any_is(
    compounds_plan: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, _ = compounds_plan
    # a Shapefile one of whose parts is a directory: refused, the earlier export untouched
    shp = tmp_path / "s.shp"
    assert main(["export", "--plan", str(plan), "--format", "shp", "--out", str(shp)]) == 0
    dbf = (tmp_path / "s.dbf").read_bytes()
    (tmp_path / "s.prj").unlink()
    (tmp_path / "s.prj").mkdir()
    assert main(["export", "--plan", str(plan), "--format", "shp", "--out", str(shp)]) == 2
    assert "s.prj: is a directory" in capsys.readouterr().err
    assert (tmp_path / "s.dbf").read_bytes() == dbf
    # a diff whose summary CSV would be a directory: nothing written
    (tmp_path / "d_summary.csv").mkdir()
    out = tmp_path / "d.csv"
    assert main(["diff", str(plan), str(plan), "--out", str(out)]) == 2
    assert not out.exists()
    assert not (tmp_path / "d_grids.csv").exists()
    # an edited plan written anywhere but a GeoPackage file
    assert main(["edit", "--plan", str(plan), "--lock", "E1-001", "--out", str(tmp_path)]) == 2
    bad = tmp_path / "o.txt"
    assert main(["edit", "--plan", str(plan), "--lock", "E1-001", "--out", str(bad)]) == 2
    assert not bad.exists()


def test_a_replan_within_max_moved_says_which_compounds_stay_split(
    compounds_plan: tuple[Path, Path], tmp_path: Path
) -> None:
    """--max-moved 0 keeps a compound the planner split by hand split, and says so."""
    from gridder.io.write import read_meta

    plan, d = compounds_plan
    a = pyogrio.read_dataframe(plan, layer="assignments").set_index("building_id")
    one = "e00875_165"
    target = "E1-003" if a.loc[one, "grid_id"] != "E1-003" else "E1-004"
    edited = tmp_path / "edited.gpkg"
    apply_edit(plan, move=[one], to=target, out=edited)
    assert a.loc[one, "compound_id"] not in _whole(edited)
    out = tmp_path / "replan.gpkg"
    args = ["partition", "--communities", str(d / "comm.gpkg"), "--buildings"]
    args += [str(d / "bld.gpkg"), "--compounds", str(d / "comp.gpkg"), "--keep-compounds"]
    args += ["--previous", str(edited), "--max-moved", "0", "--workers", "1", "--out", str(out)]
    assert main(args) == 0
    notes = [n for c in read_meta(out)["solver"]["communities"] for n in c["notes"]]
    assert a.loc[one, "compound_id"] not in _whole(out)  # mending it would move households
    assert any("stay split: mending them would move more than --max-moved 0%" in n for n in notes)
