"""The sparse model: optimal on small graphs, a valid plan, and kept where it does better."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from gridder.cli import main
from gridder.io.write import read_meta
from gridder.partition import PartitionConfig, check_partition, partition_quality
from gridder.partition.sparse import is_sparse, sparse_plan
from tests.partition.conftest import brute_force_out_of_band, make_instance, random_connected_edges


def _random_sparse(seed: int) -> tuple[list[int], list[tuple[int, int]], np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 9
    value = [0] * n
    for u in rng.choice(n, size=3, replace=False).tolist():
        value[u] = int(rng.choice([90, 120, 150, 180, 240]))
    edges = random_connected_edges(rng, n, 4)
    xy = rng.uniform(0, 300, size=(n, 2))
    return value, edges, xy


@pytest.mark.parametrize("seed", range(8))
def test_sparse_plan_is_optimal_and_valid_on_small_graphs(seed: int) -> None:
    """Patches of one building: the model is exact, and its labels are a plan with its count."""
    value, edges, xy = _random_sparse(seed)
    inst = make_instance(value, xy, edges)
    free = np.ones(inst.n, dtype=bool)
    assert is_sparse(inst.households, free)
    got = sparse_plan(inst, inst.households, free, low=200, high=300, cap=400, time_limit=20.0)
    assert got is not None and got.status == "OPTIMAL" and got.patch_size == 1
    assert got.out_of_band == brute_force_out_of_band(value, edges, 200, 300, 400)
    assert (got.labels >= 0).all()
    config = PartitionConfig()
    assert check_partition(inst, got.labels, config).ok  # every grid connected
    quality = partition_quality(inst, got.labels, config)
    assert quality.n_counted - quality.n_in_band == got.out_of_band


def test_sparse_plan_prefers_grids_that_cross_no_barrier() -> None:
    """Two towers that make a grid either way: along the path that crosses no street."""
    value = [120, 0, 0, 150, 0, 0]
    xy = np.array([[0, 0], [30, 40], [70, 40], [100, 0], [30, -40], [70, -40]], dtype=float)
    edges = [(0, 1), (0, 4), (1, 2), (2, 3), (3, 5), (4, 5)]  # 4-5 crosses a major street
    inst = make_instance(value, xy, edges, hard=[False, False, False, False, False, True])
    free = np.ones(6, dtype=bool)
    got = sparse_plan(inst, inst.households, free, low=200, high=300, cap=400, time_limit=5.0)
    assert got is not None and got.out_of_band == 0 and got.crossings == 0
    assert got.labels[0] == got.labels[1] == got.labels[2] == got.labels[3]
    # a community of household buildings only is not sparse: no model
    dense = np.ones(6, dtype=bool)
    assert sparse_plan(inst, [100] * 6, dense, low=200, high=300, cap=400) is None


@pytest.mark.shared_data
def test_nanjing_corner_of_few_towers_among_empty_buildings(
    nanjing_gpkg: Path, tmp_path: Path
) -> None:
    """Nanjing's north-east quarter: 13 household buildings among 246 (was 3 out of band)."""
    b = pyogrio.read_dataframe(nanjing_gpkg, layer="buildings")
    metric = b.to_crs(b.estimate_utm_crs())
    hull = shapely.convex_hull(shapely.union_all(metric.geometry.values)).buffer(20)
    x0, y0, x1, y1 = hull.bounds
    corner = hull.intersection(shapely.box((x0 + x1) / 2, (y0 + y1) / 2, x1, y1))
    inputs = tmp_path / "inputs.gpkg"
    comm = gpd.GeoDataFrame({"community_id": ["NJ-NE"]}, geometry=[corner], crs=metric.crs)
    comm.to_crs(4326).to_file(inputs, layer="communities", driver="GPKG")
    b = b.assign(building_id=b["osm_type"].astype(str) + "/" + b["osm_id"].astype(str))
    b.to_file(inputs, layer="buildings", driver="GPKG")
    out = tmp_path / "plan.gpkg"
    code = main(
        [
            "partition",
            "--communities",
            f"{inputs}:communities",
            "--buildings",
            f"{inputs}:buildings",
            "--streets",
            f"{nanjing_gpkg}:streets",
            "--workers",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    meta = read_meta(out)
    (solved,) = meta["solver"]["communities"]
    # the sparse model's plan reaches the band's lower bound (so no zones are joined after it)
    assert solved["lower_bound_out_of_band"] == solved["out_of_band"] <= 2
    assert any("few household buildings among many empty ones" in n for n in solved["notes"])
    # a fresh solve names no "plan started from" (the planner gave none): the model's plan
    assert not any("plan started from" in n for n in solved["notes"])
    grids = pyogrio.read_dataframe(out, layer="grids")
    assert len(grids) == solved["n_grids"]


def test_no_plan_when_a_free_unit_is_linked_to_nothing() -> None:
    value = [120, 0, 0, 150, 0, 0, 0]  # unit 6 has no link
    xy = np.array([[0, 0], [30, 40], [70, 40], [100, 0], [30, -40], [70, -40], [500, 500]])
    edges = [(0, 1), (0, 4), (1, 2), (2, 3), (3, 5), (4, 5)]
    inst = make_instance(value, xy.astype(float), edges)
    free = np.ones(7, dtype=bool)
    assert sparse_plan(inst, inst.households, free, low=200, high=300, cap=400) is None
    free[6] = False  # not free (e.g. locked): the others make a plan
    got = sparse_plan(inst, inst.households, free, low=200, high=300, cap=400)
    assert got is not None and got.labels[6] == -1 and (got.labels[:6] >= 0).all()
