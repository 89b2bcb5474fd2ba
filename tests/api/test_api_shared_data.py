"""Real OpenStreetMap buildings (central Nanjing) through the plan file, Plan and the API."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from api_factory import settings_for
from fastapi.testclient import TestClient

from api.main import create_app
from gridder.io.crs import wgs84_to_gcj02
from gridder.io.write import write_plan

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def nanjing_plan(nanjing_gpkg: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan of Voronoi grids over the Nanjing extract's buildings (one community)."""
    b = pyogrio.read_dataframe(nanjing_gpkg, layer="buildings")
    metric = b.to_crs(b.estimate_utm_crs())
    pts = shapely.point_on_surface(metric.geometry.values)
    community = shapely.convex_hull(shapely.multipoints(pts)).buffer(30)
    seeds = shapely.multipoints(pts[::50])
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=community))
    cells = shapely.intersection(cells, community)
    order = np.lexsort(
        (shapely.get_x(shapely.centroid(cells)), -shapely.get_y(shapely.centroid(cells)))
    )
    cells = cells[order]
    ids = np.array([f"NJ01-{i + 1:03d}" for i in range(len(cells))])
    pi, gi = shapely.STRtree(cells).query(pts, predicate="intersects")
    first = np.unique(pi, return_index=True)[1]
    grid_of = np.full(len(pts), "", dtype=object)
    grid_of[pi[first]] = ids[np.minimum.reduceat(gi, first)]  # smallest id on a boundary
    crs = metric.crs
    assignments = gpd.GeoDataFrame(
        {
            "building_id": (
                metric["osm_type"].astype(str) + "/" + metric["osm_id"].astype(str)
            ).to_numpy(),
            "grid_id": grid_of,
            "community_id": "NJ01",
            "households": 10,
        },
        geometry=pts,
        crs=crs,
    )
    grids = gpd.GeoDataFrame({"grid_id": ids, "community_id": "NJ01"}, geometry=cells, crs=crs)
    grids["n_buildings"] = grids["grid_id"].map(assignments["grid_id"].value_counts()).fillna(0)
    grids["area_m2"] = grids.area
    communities = gpd.GeoDataFrame({"community_id": ["NJ01"]}, geometry=[community], crs=crs)
    path = tmp_path_factory.mktemp("nanjing") / "plans" / "nanjing.gpkg"
    return write_plan(
        path,
        grids=grids,
        assignments=assignments,
        communities=communities,
        meta={"plan_id": "nanjing", "created": "2021-06-12"},
    )


def test_every_real_building_is_found_in_its_grid(nanjing_plan: Path) -> None:
    a = pyogrio.read_dataframe(nanjing_plan, layer="assignments")
    assert len(a) > 1000 and (a["grid_id"] != "").all()
    xy = shapely.get_coordinates(a.geometry.values)
    gx, gy = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    app = create_app(settings_for(nanjing_plan.parent))
    with TestClient(app) as c:
        for crs, (x, y) in (("wgs84", (xy[:, 0], xy[:, 1])), ("gcj02", (gx, gy))):
            r = c.post("/v1/locate", json={"points": np.column_stack([x, y]).tolist(), "crs": crs})
            got = [v["grid_id"] for v in r.json()["results"]]
            assert got == a["grid_id"].tolist(), crs
        some = a.iloc[123]
        assert c.get(f"/v1/buildings/{some['building_id']}").json()["grid_id"] == some["grid_id"]
        fc = c.get("/v1/grids", params={"community_id": "NJ01"}).json()
        assert len(fc["features"]) == len(pyogrio.read_dataframe(nanjing_plan, layer="grids"))
