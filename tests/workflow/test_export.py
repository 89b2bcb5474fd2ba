"""Exports read back with pyogrio/openpyxl and compared with the plan."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely

from gridder.edit import apply_edit
from gridder.errors import InputError
from gridder.export import export_plan, short_field_names
from gridder.io.crs import gcj02_to_wgs84
from gridder.io.write import write_geopackage
from gridder.planfile import PlanFile, assignment_digest
from gridder.workers import assign_workers, write_workers


def test_geojson_and_gpkg_round_trip(district_plan: Path, tmp_path: Path) -> None:
    plan = PlanFile.read(district_plan)
    gj = export_plan(district_plan, fmt="geojson", out=tmp_path / "g.geojson")[0]
    back = pyogrio.read_dataframe(gj)
    assert back["grid_id"].tolist() == plan.grids["grid_id"].tolist()
    assert back["households"].tolist() == plan.grids["households"].tolist()
    gp = export_plan(district_plan, fmt="gpkg", out=tmp_path / "all.gpkg")[0]
    again = PlanFile.read(gp)
    assert list(again.layers) == list(plan.layers)
    assert again.meta == plan.meta


def test_gcj02_coordinates(district_plan: Path, tmp_path: Path) -> None:
    plan = PlanFile.read(district_plan)
    gj = export_plan(district_plan, fmt="geojson", out=tmp_path / "g.geojson", crs="gcj02")[0]
    back = pyogrio.read_dataframe(gj)
    xy = shapely.get_coordinates(back.geometry.to_numpy())
    orig = shapely.get_coordinates(shapely.orient_polygons(plan.grids.geometry.to_numpy()))
    shift = np.hypot(*(xy - orig).T) * 111_000
    assert shift.min() > 100 and shift.max() < 1000  # GCJ-02 is offset by hundreds of metres
    wx, wy = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    assert np.abs(np.column_stack([wx, wy]) - orig).max() < 1e-6
    # GCJ-02 has no CRS code: the file does not claim WGS84 (a WGS84 export does)
    assert "crs" not in json.loads(gj.read_text(encoding="utf-8"))
    wgs = export_plan(district_plan, fmt="geojson", out=tmp_path / "w.geojson")[0]
    assert "CRS84" in json.loads(wgs.read_text(encoding="utf-8"))["crs"]["properties"]["name"]


def test_export_refuses_to_overwrite_the_plan(district_plan: Path, tmp_path: Path) -> None:
    copy = tmp_path / "plan.gpkg"
    shutil.copy(district_plan, copy)
    before = copy.read_bytes()
    with pytest.raises(InputError, match="replace the plan"):
        export_plan(copy, fmt="gpkg", out=copy, crs="gcj02")
    assert copy.read_bytes() == before


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_shapefile_keeps_chinese_text_and_short_unique_names(
    district_plan: Path, tmp_path: Path, encoding: str
) -> None:
    plan = PlanFile.read(district_plan)
    comm = plan.communities.assign(
        所属街道名称=["鼓楼区华侨路街道", "鼓楼区宁海路街道"],
        households_estimated=[1, 2],
        households_total=[3, 4],
    )
    plan.layers["communities"] = comm
    src = plan.write(tmp_path / "plan.gpkg")
    files = export_plan(
        src, fmt="shp", out=tmp_path / "shp" / "c.shp", layer="communities", encoding=encoding
    )
    names = {f.name for f in files}
    assert {"c.shp", "c.dbf", "c.shx", "c.prj", "c.cpg", "c.fields.csv"} <= names
    cpg = (tmp_path / "shp" / "c.cpg").read_text()
    assert cpg == {"gbk": "GBK", "utf-8": "UTF-8"}[encoding]
    raw = (tmp_path / "shp" / "c.dbf").read_bytes()
    assert "鼓楼区华侨路街道".encode(encoding) in raw
    back = pyogrio.read_dataframe(tmp_path / "shp" / "c.shp")
    mapping = pd.read_csv(tmp_path / "shp" / "c.fields.csv", encoding="utf-8-sig")
    short = dict(zip(mapping["name"], mapping["short"], strict=True))
    assert all(len(s.encode(encoding)) <= 10 for s in short.values())
    assert len({s.lower() for s in short.values()}) == len(short)
    assert back[short["所属街道名称"]].tolist() == ["鼓楼区华侨路街道", "鼓楼区宁海路街道"]
    assert back[short["name"]].tolist() == plan.communities["name"].tolist()
    assert short["community_id"] == "community_"  # the plain cut gridder.io reads back
    assert short["households_estimated"] == "households"
    assert short["households_total"] == "househol_1"


def test_short_field_names_are_deterministic() -> None:
    names = ["floating_population", "floating_people", "Floating_p", "社区名称社区名称"]
    a = short_field_names(names, encoding="GBK")
    assert a == short_field_names(names, encoding="GBK")
    assert a["floating_population"] == "floating_p"
    assert a["floating_people"] == "floating_1"
    assert a["Floating_p"] == "Floating_2"
    assert a["社区名称社区名称"] == "社区名称社"  # 5 characters = 10 bytes in GBK


def test_shapefile_zip_and_refusals(district_plan: Path, tmp_path: Path) -> None:
    z = export_plan(district_plan, fmt="shp", out=tmp_path / "grids.zip")[0]
    with zipfile.ZipFile(z) as zf:
        assert {"grids.shp", "grids.dbf", "grids.cpg"} <= set(zf.namelist())
    back = pyogrio.read_dataframe(f"/vsizip/{z}/grids.shp")
    assert len(back) == len(PlanFile.read(district_plan).grids)
    with pytest.raises(InputError, match="no such layer"):
        export_plan(district_plan, fmt="shp", out=tmp_path / "x.shp", layer="nope")
    plan = PlanFile.read(district_plan)
    staffed = write_workers(
        plan, assign_workers(plan, workers=len(plan.grids), time_limit=1), out=tmp_path / "w.gpkg"
    )
    with pytest.raises(InputError, match="no geometry"):
        export_plan(staffed, fmt="geojson", out=tmp_path / "x.geojson", layer="workers")
    with pytest.raises(InputError, match="no geometry"):
        export_plan(staffed, fmt="shp", out=tmp_path / "x.shp", layer="workers")
    assert not list(tmp_path.glob("x.*"))


def test_missing_plans_and_wrong_endings_exit_2(
    district_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gridder.cli import main

    missing = str(tmp_path / "nope.gpkg")
    assert main(["diff", str(district_plan), missing]) == 2
    assert (
        main(["export", "--plan", missing, "--format", "gpkg", "--out", str(tmp_path / "a.gpkg")])
        == 2
    )
    assert "no such plan file" in capsys.readouterr().err
    for fmt, out in (
        ("geojson", "a.gpkg"),
        ("shp", "a.txt"),
        ("gpkg", "a.geojson"),
        ("xlsx", "a.csv"),
    ):
        assert (
            main(
                [
                    "export",
                    "--plan",
                    str(district_plan),
                    "--format",
                    fmt,
                    "--out",
                    str(tmp_path / out),
                ]
            )
            == 2
        )
        assert "a file ending in" in capsys.readouterr().err
    capsys.readouterr()
    assert (
        main(["diff", str(district_plan), str(district_plan), "--out", str(tmp_path / "d.txt")])
        == 2
    )
    captured = capsys.readouterr()
    assert "must end in .csv or .xlsx" in captured.err
    assert "households" not in captured.out  # refused before the tables are printed
    assert not list(tmp_path.iterdir())


def test_excel_ledger(district_plan: Path, tmp_path: Path) -> None:
    plan = PlanFile.read(district_plan)
    result = assign_workers(plan, workers=len(plan.grids), time_limit=1)
    staffed = write_workers(district_plan, result, out=tmp_path / "staffed.gpkg")
    rows = [
        {
            "scope": "grid",
            "scope_id": g,
            "facility_type": "幼儿园",
            "minutes": 5.0,
            "households": 1.0,
            "households_covered": 1.0,
            "share": i / 100,
        }
        for i, g in enumerate(plan.grids["grid_id"])
    ]
    cov = write_geopackage(tmp_path / "cov.gpkg", {"summary": pd.DataFrame(rows)})
    xlsx = export_plan(staffed, fmt="xlsx", out=tmp_path / "台账.xlsx", coverage=cov)[0]
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["说明 plan", "层级汇总 hierarchy", "C01 鼓楼社区1", "C02 鼓楼社区2"]
    ws = wb["C01 鼓楼社区1"]
    header = [c.value for c in ws[1]]
    assert header[:2] == ["网格编码 grid_id", "户数 households"]
    body = pd.DataFrame([[c.value for c in r] for r in ws.iter_rows(min_row=2)], columns=header)
    mine = plan.grids[plan.grids["community_id"] == "C01"].sort_values("grid_id")
    assert body["网格编码 grid_id"].tolist() == mine["grid_id"].tolist()
    assert body["户数 households"].tolist() == mine["households"].tolist()
    staff = result.by_grid.set_index("grid_id")["worker_ids"]
    assert body["网格员 workers"].tolist() == staff[mine["grid_id"]].tolist()
    share = dict(zip((r["scope_id"] for r in rows), (r["share"] for r in rows), strict=True))
    assert body["幼儿园 5分钟覆盖率"].tolist() == [share[g] for g in mine["grid_id"]]


def _one_grid_summary(plan: PlanFile) -> pd.DataFrame:
    """A coverage ``summary`` table with one row, for the plan's first grid."""
    return pd.DataFrame(
        {
            "scope": ["grid"],
            "scope_id": [plan.grids["grid_id"].iloc[0]],
            "facility_type": ["幼儿园"],
            "minutes": [5.0],
            "households": [1.0],
            "households_covered": [1.0],
            "share": [1.0],
        }
    )


def test_ledger_refuses_another_plans_coverage(district_plan: Path, tmp_path: Path) -> None:
    """As ``gridder map`` does: coverage made for another plan would show its shares."""
    plan = PlanFile.read(district_plan)
    rows = _one_grid_summary(plan)
    other = write_geopackage(
        tmp_path / "other.gpkg",
        {"summary": rows},
        meta={"plan_id": "plan-of-another-day"},
        meta_layer="coverage_meta",
    )
    with pytest.raises(InputError, match="plan-of-another-day"):
        export_plan(district_plan, fmt="xlsx", out=tmp_path / "l.xlsx", coverage=other)
    same = write_geopackage(
        tmp_path / "same.gpkg",
        {"summary": rows},
        meta={"plan_id": plan.meta["plan_id"]},
        meta_layer="coverage_meta",
    )
    assert export_plan(district_plan, fmt="xlsx", out=tmp_path / "l.xlsx", coverage=same)
    with pytest.raises(InputError, match="not a coverage file"):
        export_plan(district_plan, fmt="xlsx", out=tmp_path / "m.xlsx", coverage=district_plan)


def test_ledger_refuses_coverage_made_before_an_edit(
    district_plan: Path, plan_copy: Path, tmp_path: Path
) -> None:
    """An edit keeps the plan_id; the coverage's assignment digest tells it apart."""
    plan = PlanFile.read(district_plan)
    rows = _one_grid_summary(plan)
    cov = write_geopackage(
        tmp_path / "cov.gpkg",
        {"summary": rows},
        meta={
            "plan_id": plan.meta["plan_id"],
            "plan_assignment_digest": assignment_digest(plan.assignments),
        },
        meta_layer="coverage_meta",
    )
    assert export_plan(plan_copy, fmt="xlsx", out=tmp_path / "a.xlsx", coverage=cov)
    members = plan.assignments[plan.assignments["grid_id"] == "C01-001"].to_crs(32650)
    target = plan.grids[plan.grids["grid_id"] == "C01-002"].to_crs(32650).geometry.iloc[0]
    nearest = members.loc[members.geometry.distance(target).idxmin(), "building_id"]
    apply_edit(plan_copy, move=[str(nearest)], to="C01-002")
    with pytest.raises(InputError, match="before it was edited"):
        export_plan(plan_copy, fmt="xlsx", out=tmp_path / "b.xlsx", coverage=cov)
    apply_edit(plan_copy, undo=True)  # the plan as the coverage saw it again
    assert export_plan(plan_copy, fmt="xlsx", out=tmp_path / "c.xlsx", coverage=cov)


def test_ledger_orders_coverage_columns_by_type_then_minutes(
    district_plan: Path, tmp_path: Path
) -> None:
    """``clinic 5, 10, 15`` (numbers), not ``clinic 10, 15, 5`` (text)."""
    plan = PlanFile.read(district_plan)
    rows = [
        {
            "scope": "grid",
            "scope_id": g,
            "facility_type": kind,
            "minutes": minutes,
            "households": 1.0,
            "households_covered": 1.0,
            "share": 0.5,
        }
        for g in plan.grids["grid_id"]
        for kind in ("school", "clinic")
        for minutes in (15.0, 5.0, 10.0)
    ]
    cov = write_geopackage(tmp_path / "cov.gpkg", {"summary": pd.DataFrame(rows)})
    xlsx = export_plan(district_plan, fmt="xlsx", out=tmp_path / "台账.xlsx", coverage=cov)[0]
    ws = openpyxl.load_workbook(xlsx)["C01 鼓楼社区1"]
    header = [c.value for c in ws[1]]
    shares = [h for h in header if str(h).endswith("分钟覆盖率")]
    assert shares == [
        "clinic 5分钟覆盖率",
        "clinic 10分钟覆盖率",
        "clinic 15分钟覆盖率",
        "school 5分钟覆盖率",
        "school 10分钟覆盖率",
        "school 15分钟覆盖率",
    ]
