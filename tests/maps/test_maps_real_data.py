"""Maps of real OpenStreetMap buildings (central Nanjing), opened in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gridder.io.write import write_geopackage, write_plan
from gridder.maps import write_maps

pytestmark = pytest.mark.shared_data

METRIC = "EPSG:32650"
CELL_M = 300.0


def nanjing_plan(gpkg: Path, out: Path) -> dict[str, Path]:
    """A plan over the real buildings: two communities split at the median easting,
    square 300 m grids clipped to them (so the grids tile each community), and the
    OSM amenities as facilities (hospital, school, kindergarten, ...)."""
    b = pyogrio.read_dataframe(gpkg, layer="buildings").to_crs(METRIC)
    b = b[b.geometry.notna() & ~b.geometry.is_empty].reset_index(drop=True)
    levels = pd.to_numeric(b["building:levels"], errors="coerce").fillna(4)
    households = np.maximum(1, np.round(b.geometry.area * levels / 80.0)).astype(int)
    points = b.geometry.representative_point()
    minx, miny, maxx, maxy = shapely.total_bounds(points.values)
    minx, miny, maxx, maxy = minx - 10, miny - 10, maxx + 10, maxy + 10
    mid = float(np.median(shapely.get_x(points.values)))
    comms = gpd.GeoDataFrame(
        {"community_id": ["NJ01", "NJ02"], "name": ["鼓楼西", "鼓楼东"]},
        geometry=[shapely.box(minx, miny, mid, maxy), shapely.box(mid, miny, maxx, maxy)],
        crs=METRIC,
    )
    rows = []
    for cid, comm in zip(comms["community_id"], comms.geometry, strict=True):
        x0, y0, x1, y1 = comm.bounds
        cells = [
            shapely.box(x, y, x + CELL_M, y + CELL_M)
            for y in np.arange(y1, y0, -CELL_M) - CELL_M
            for x in np.arange(x0, x1, CELL_M)
        ]
        parts = [c.intersection(comm) for c in cells]
        parts = [p for p in parts if p.area > 1.0]
        rows += [
            {"grid_id": f"{cid}-{i + 1:03d}", "community_id": cid, "geometry": p}
            for i, p in enumerate(parts)
        ]
    grids = gpd.GeoDataFrame(rows, crs=METRIC)
    assignments = gpd.GeoDataFrame(
        {"building_id": b["osm_id"].astype(str), "households": households},
        geometry=points,
        crs=METRIC,
    )
    joined = gpd.sjoin(assignments, grids, predicate="within", how="inner")
    joined = joined.drop(columns="index_right").drop_duplicates("building_id")
    totals = joined.groupby("grid_id")["households"].agg(["sum", "size"])
    grids["households"] = grids["grid_id"].map(totals["sum"]).fillna(0).astype(int)
    grids["n_buildings"] = grids["grid_id"].map(totals["size"]).fillna(0).astype(int)
    grids["workload"] = grids["households"].astype(float)
    grids["area_m2"] = grids.geometry.area
    plan = write_plan(
        out / "plan.gpkg",
        grids=grids,
        assignments=joined,
        communities=comms,
        meta={"plan_id": "nanjing-test", "parameters": {"target": 250, "min": 200, "max": 300}},
    )
    pois = pyogrio.read_dataframe(gpkg, layer="pois").to_crs(METRIC)
    pois = pois[pois["amenity"].notna()].reset_index(drop=True)
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": pois["osm_id"].astype(str),
            "type": pois["amenity"].astype(str),
            "name": pois["name"],
        },
        geometry=pois.geometry,
        crs=METRIC,
    )
    # a coverage file holds a summary (here: nobody counted as within reach)
    summary = pd.DataFrame(
        {
            "scope": "all",
            "scope_id": "all",
            "facility_type": ["school"],
            "minutes": [15.0],
            "households": [int(joined["households"].sum())],
            "households_covered": [0],
            "share": [0.0],
        }
    )
    coverage = write_geopackage(
        out / "coverage.gpkg", {"summary": summary, "facilities": facilities}
    )
    return {"plan": plan, "coverage": coverage, "grids": grids, "facilities": facilities}


def test_nanjing_maps_open_offline(
    nanjing_gpkg: Path, tmp_path: Path, page: Any, artifacts: Path
) -> None:
    city = nanjing_plan(nanjing_gpkg, tmp_path)
    out = tmp_path / "maps"
    write_maps(city["plan"], out_dir=out, coverage=city["coverage"], tiles="none")
    page.goto((out / "index.html").as_uri())
    page.wait_for_function("window.gridderReady !== undefined", timeout=30_000)
    assert [e for e in page.gridder_console if e[0] in ("error", "pageerror")] == []
    n = page.evaluate("document.querySelectorAll('path.gr-grid').length")
    assert n == len(city["grids"]) > 10
    assert page.evaluate("document.querySelectorAll('.gr-facility').length") == len(
        city["facilities"]
    )
    page.screenshot(path=str(artifacts / "maps-nanjing.png"))
    page.goto((out / "community-NJ01.html").as_uri())
    page.wait_for_function("window.gridderReady !== undefined", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.gr-building, .marker-cluster').length > 0")
    assert [e for e in page.gridder_console if e[0] in ("error", "pageerror")] == []
