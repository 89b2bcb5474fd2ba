"""Real data: Nanjing Gulou buildings and streets (OSM), planned, edited, staffed and exported."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from conftest import boundary_building, neighbour_pairs
from plan_builder import build_plan

from gridder.edit import apply_edit
from gridder.errors import InputError
from gridder.export import export_plan
from gridder.io.crs import local_metric_crs
from gridder.planfile import PlanFile
from gridder.testing import assert_plan_valid
from gridder.workers import assign_workers

pytestmark = pytest.mark.shared_data

WINDOW = 1200.0  # metres: two 600 m × 600 m communities side by side


@pytest.fixture(scope="module")
def nanjing_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import SHARED_DATA

    gpkg = SHARED_DATA / "nanjing_gulou" / "nanjing_gulou.gpkg"
    b = pyogrio.read_dataframe(gpkg, layer="buildings")
    s = pyogrio.read_dataframe(gpkg, layer="streets")
    b = b[b.geometry.notna() & ~b.geometry.is_empty]
    c = b.geometry.union_all().centroid
    crs = local_metric_crs(c.x, c.y)
    b, s = b.to_crs(crs), s.to_crs(crs)
    pts = b.geometry.representative_point()
    cx, cy = float(np.median(pts.x)), float(np.median(pts.y))
    x0, y0 = cx - WINDOW / 2, cy - WINDOW / 4
    comms = gpd.GeoDataFrame(
        {
            "community_id": ["NJ01", "NJ02"],
            "name": ["华侨路社区", "宁海路社区"],
            "street_id": ["华侨路街道", "宁海路街道"],
            "district_id": ["鼓楼区", "鼓楼区"],
        },
        geometry=[
            shapely.box(x0, y0, x0 + WINDOW / 2, y0 + WINDOW / 2),
            shapely.box(x0 + WINDOW / 2, y0, x0 + WINDOW, y0 + WINDOW / 2),
        ],
        crs=crs,
    )
    levels = pd.to_numeric(b.get("building:levels"), errors="coerce").fillna(4.0).to_numpy()
    hh = np.maximum(1, np.rint(b.area.to_numpy() * levels / 80.0)).astype(np.int64)
    blds = gpd.GeoDataFrame(
        {
            "building_id": b["osm_id"].astype(str) if "osm_id" in b else b.index.astype(str),
            "households": hh,
        },
        geometry=pts.to_numpy(),
        crs=crs,
    )
    blds = blds.drop_duplicates("building_id")
    idx, cidx = shapely.STRtree(comms.geometry.to_numpy()).query(
        blds.geometry.to_numpy(), predicate="within"
    )
    blds = blds.iloc[idx].assign(community_id=comms["community_id"].to_numpy()[cidx])
    assert len(blds) > 100
    out = tmp_path_factory.mktemp("nanjing") / "plan.gpkg"
    return build_plan(out, comms, blds.reset_index(drop=True), s[["highway", "name", "geometry"]])


def test_nanjing_edits_keep_guarantees_and_undo(nanjing_plan: Path, tmp_path: Path) -> None:
    path = tmp_path / "plan.gpkg"
    shutil.copy(nanjing_plan, path)
    plan = PlanFile.read(path)
    ids = plan.assignments["building_id"].tolist()
    assert_plan_valid(plan.grids, plan.assignments, plan.communities, building_ids=ids)
    done = 0
    for k in range(12):
        plan = PlanFile.read(path)
        sizes = plan.assignments["grid_id"].value_counts()
        pairs = [(a, b) for a, b in neighbour_pairs(plan) if sizes[a] >= 3]
        src, dst = pairs[(7 * k) % len(pairs)]
        try:
            result = apply_edit(path, move=[boundary_building(plan, src, dst)], to=dst)
        except InputError:
            continue
        edited = PlanFile.read(path)
        assert_plan_valid(edited.grids, edited.assignments, edited.communities, building_ids=ids)
        assert result.rebalance_households <= 3 * result.hand_households
        done += 1
    assert done >= 3
    for _ in range(done):
        apply_edit(path, undo=True)
    back = PlanFile.read(path)
    orig = PlanFile.read(nanjing_plan)
    assert back.meta == orig.meta
    assert back.assignments.drop(columns="geometry").equals(
        orig.assignments.drop(columns="geometry")
    )
    assert np.array_equal(
        shapely.to_wkb(back.grids.geometry.to_numpy()),
        shapely.to_wkb(orig.grids.geometry.to_numpy()),
    )


def test_nanjing_workers_and_gbk_shapefile(nanjing_plan: Path, tmp_path: Path) -> None:
    plan = PlanFile.read(nanjing_plan)
    n = len(plan.grids)
    result = assign_workers(plan, workers=n + 2, specialists=1, time_limit=2)
    assert set(",".join(result.workers["grid_ids"]).split(",")) == set(plan.grids["grid_id"])
    files = export_plan(
        nanjing_plan, fmt="shp", layer="communities", encoding="gbk", out=tmp_path / "c.shp"
    )
    assert (tmp_path / "c.cpg").read_text() == "GBK"
    back = pyogrio.read_dataframe(tmp_path / "c.shp")
    assert back["name"].tolist() == ["华侨路社区", "宁海路社区"]
    assert back["street_id"].tolist() == ["华侨路街道", "宁海路街道"]
    assert len(files) == 6
