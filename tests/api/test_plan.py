"""gridder.plan.Plan: lookups against shapely on the plan's own polygons, GeoJSON, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from api_factory import make_plan, plan_frames

from gridder.errors import InputError, NotFoundError
from gridder.io.crs import wgs84_to_bd09, wgs84_to_gcj02
from gridder.io.write import write_plan
from gridder.plan import Location, Plan


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_plan(tmp_path_factory.mktemp("plan") / "p.gpkg", plan_id="p1", workers=True)


@pytest.fixture(scope="module")
def plan(plan_path: Path) -> Plan:
    return Plan.open(plan_path)


def interior_points(path: Path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random WGS84 points ≥ 1 m from every grid boundary, and shapely's answer for each."""
    grids = pyogrio.read_dataframe(path, layer="grids")
    metric = grids.to_crs(grids.estimate_utm_crs())
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = metric.total_bounds
    xy = rng.uniform([x0 - 50, y0 - 50], [x1 + 50, y1 + 50], (n, 2))
    pts = shapely.points(xy)
    boundary = shapely.union_all(shapely.boundary(metric.geometry.values))
    far = shapely.distance(pts, boundary) > 1.0
    pts, xy = pts[far], xy[far]
    tree = shapely.STRtree(metric.geometry.values)
    pi, gi = tree.query(pts, predicate="within")
    assert len(np.unique(pi)) == len(pi)  # away from boundaries: at most one grid
    truth = np.full(len(pts), None, dtype=object)
    truth[pi] = grids["grid_id"].to_numpy()[gi]
    wgs = shapely.get_coordinates(
        pd.Series(pts)
        .pipe(lambda s: __import__("geopandas").GeoSeries(s, crs=metric.crs))
        .to_crs(4326)
        .values
    )
    return wgs, truth


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09"])
def test_locate_matches_shapely_away_from_boundaries(plan: Plan, plan_path: Path, crs: str) -> None:
    wgs, truth = interior_points(plan_path, 3000, seed=7)
    assert (truth != None).sum() > 1000 and (truth == None).sum() > 50  # noqa: E711
    if crs == "gcj02":
        x, y = wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
    elif crs == "bd09":
        x, y = wgs84_to_bd09(wgs[:, 0], wgs[:, 1])
    else:
        x, y = wgs[:, 0], wgs[:, 1]
    if crs != "wgs84":  # the offset is hundreds of metres: answers must change without the crs
        moved = plan.locate_many(np.column_stack([x, y]))["grid_id"].to_numpy()
        assert crs == "cgcs2000" or (moved != truth).mean() > 0.3
    got = plan.locate_many(np.column_stack([x, y]), crs=crs)
    assert list(got["grid_id"]) == list(truth)
    for i in range(0, len(truth), 97):
        single = plan.locate(float(x[i]), float(y[i]), crs=crs)
        assert (single.grid_id if single else None) == truth[i]


def test_locate_many_keeps_order_and_communities(plan: Plan) -> None:
    b = [plan.building(f"B{i}") for i in (5, 1, 40, 17)]
    pts = [[r["lon"], r["lat"]] for r in b] + [[0.0, 0.0]]
    got = plan.locate_many(pts)
    assert list(got["grid_id"]) == [r["grid_id"] for r in b] + [None]
    assert list(got["community_id"]) == [r["community_id"] for r in b] + [None]
    assert plan.locate(0.0, 0.0) is None
    loc = plan.locate(b[0]["lon"], b[0]["lat"])
    assert loc == Location(b[0]["grid_id"], b[0]["community_id"])
    assert plan.locate_many(np.zeros((0, 2))).empty


def test_every_building_lies_in_its_grid(plan: Plan, plan_path: Path) -> None:
    a = pyogrio.read_dataframe(plan_path, layer="assignments")
    xy = shapely.get_coordinates(a.geometry.values)
    got = plan.locate_many(xy)
    assert (got["grid_id"].to_numpy() == a["grid_id"].to_numpy()).all()


def test_shared_boundary_goes_to_smallest_grid_id(plan: Plan, plan_path: Path) -> None:
    # Shared vertices lie exactly on the boundaries of two or three grids.
    grids = pyogrio.read_dataframe(plan_path, layer="grids")
    geoms, ids = grids.geometry.values, grids["grid_id"].to_numpy()
    xy = np.unique(shapely.get_coordinates(geoms), axis=0)
    pts = shapely.points(xy)
    pi, gi = shapely.STRtree(geoms).query(pts, predicate="intersects")
    owners = pd.Series(ids[gi]).groupby(pi).agg(list)
    shared = owners[owners.map(len) >= 2]
    assert len(shared) > 20
    got = plan.locate_many(xy[shared.index.to_numpy()])["grid_id"].tolist()
    assert got == [min(o) for o in shared]
    for i, o in list(shared.items())[:20]:
        assert plan.locate(*xy[i]).grid_id == min(o)


def test_building_and_grids(plan: Plan) -> None:
    b = plan.building("B1")
    assert set(b) >= {"building_id", "grid_id", "community_id", "households", "lon", "lat"}
    assert isinstance(b["households"], int)
    with pytest.raises(NotFoundError, match="building 'nope'"):
        plan.building("nope")
    fc = plan.grids()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(plan) == 24
    c02 = plan.grids("C02")
    assert {f["properties"]["community_id"] for f in c02["features"]} == {"C02"}
    assert len(c02["features"]) == 6
    with pytest.raises(NotFoundError):
        plan.grids("C99")
    f = plan.grid("C01-001")
    assert f["id"] == "C01-001" and f["geometry"]["type"] == "Polygon"
    props = f["properties"]
    assert props["households"] > 0 and props["n_buildings"] == 4 and props["area_m2"] > 1000
    roles = sorted(w["role"] for w in props["workers"])
    assert roles == ["grid", "specialist"]  # the specialist serves C01-001 and C01-002
    assert [w["role"] for w in plan.grid("C01-003")["properties"]["workers"]] == ["grid"]
    with pytest.raises(NotFoundError):
        plan.grid("C01-999")
    assert plan.meta["seed"] == 0 and plan.plan_id == "p1" and plan.created.startswith("2024")


def test_grid_geometry_round_trips(plan: Plan, plan_path: Path) -> None:
    grids = pyogrio.read_dataframe(plan_path, layer="grids").set_index("grid_id")
    for f in plan.grids()["features"][:5]:
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.symmetric_difference(grids.geometry[f["id"]]).area < 1e-14


def test_unknown_crs_is_input_error(plan: Plan) -> None:
    with pytest.raises(InputError, match="unknown coordinate system"):
        plan.locate(118.78, 32.04, crs="mars")
    with pytest.raises(ValueError, match=r"shape"):
        plan.locate_many([1.0, 2.0, 3.0])


def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        Plan.open(tmp_path / "missing.gpkg")
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a geopackage")
    with pytest.raises(InputError, match=r"junk\.gpkg"):
        Plan.open(junk)
    grids, assignments, communities = plan_frames(communities=1)
    only = tmp_path / "nometa.gpkg"
    pyogrio.write_dataframe(grids.to_crs(4326), only, layer="grids")
    with pytest.raises(InputError, match="missing layer"):
        Plan.open(only)
    dup = pd.concat([grids, grids.iloc[:1]])
    path = write_plan(
        tmp_path / "dup.gpkg",
        grids=dup,
        assignments=assignments,
        communities=communities,
        meta={"plan_id": "d"},
    )
    with pytest.raises(InputError, match="repeated in grids"):
        Plan.open(path)
    nocol = write_plan(
        tmp_path / "nocol.gpkg",
        grids=grids.drop(columns="community_id"),
        assignments=assignments,
        communities=communities,
        meta={"plan_id": "d"},
    )
    with pytest.raises(InputError, match="missing column"):
        Plan.open(nocol)


def test_integer_ids_become_strings(tmp_path: Path) -> None:
    grids, assignments, communities = plan_frames(communities=1)
    assignments["building_id"] = np.arange(len(assignments)) + 1000
    path = write_plan(
        tmp_path / "int.gpkg",
        grids=grids,
        assignments=assignments,
        communities=communities,
        meta={},
    )
    plan = Plan.open(path)
    assert plan.plan_id == "int"  # no plan_id in meta: the file's stem
    assert plan.building("1000")["building_id"] == "1000"
