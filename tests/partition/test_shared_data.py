"""Real data: Nanjing Gulou buildings (OSM) partitioned as one community.

Adjacency here is a plain Voronoi neighbourhood of building points (the
geometry engineer's ``PartitionInstance.from_frames`` is the real path);
households follow the CONTRACT §1 estimate rule in its simplest form.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gridder.partition import GridPartitioner, PartitionConfig, PartitionInstance, check_partition

DATA = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "nanjing_gulou" / "nanjing_gulou.gpkg"
)


def nanjing_instance() -> PartitionInstance:
    import geopandas as gpd
    from scipy.spatial import Voronoi

    from gridder.io.crs import local_metric_crs

    b = gpd.read_file(DATA, layer="buildings")
    b = b[b.geometry.notna() & ~b.geometry.is_empty]
    c = b.to_crs(4326).geometry.union_all().centroid
    b = b.to_crs(local_metric_crs(c.x, c.y))
    levels = (
        np.asarray(gpd.pd.to_numeric(b.get("building:levels"), errors="coerce"), dtype=float)
        if "building:levels" in b
        else np.full(len(b), np.nan)
    )
    levels = np.where(np.isnan(levels), 4.0, levels)
    hh = np.maximum(1, np.rint(b.area.to_numpy() * levels / 80.0)).astype(np.int64)
    pts = b.geometry.representative_point()
    xy = np.c_[pts.x.to_numpy(), pts.y.to_numpy()]
    xy += np.random.default_rng(0).normal(0, 0.01, xy.shape)  # split duplicate points
    vor = Voronoi(xy)
    e = np.sort(vor.ridge_points, axis=1).astype(np.int64)
    d = np.hypot(*(xy[e[:, 0]] - xy[e[:, 1]]).T)
    e = e[d < 400]  # no long-range neighbours across empty land
    n, m = len(xy), len(e)
    return PartitionInstance(
        community_id="nanjing",
        unit_ids=np.asarray(b.index.astype(str), dtype=object),
        value=hh,
        households=hh,
        xy=xy,
        edges=e,
        edge_length=np.full(m, 10.0),
        edge_hard=np.zeros(m, bool),
        edge_soft=np.zeros(m, bool),
        edge_street=np.zeros(m, bool),
        compound=np.full(n, -1, np.int64),
        area=np.full(n, 100.0),
    )


@pytest.mark.shared_data
def test_nanjing_partition_is_valid_and_balanced() -> None:
    if not DATA.exists():
        pytest.fail(f"shared data missing: {DATA}")
    inst = nanjing_instance()
    cfg = PartitionConfig(time_limit=2.0)
    res = GridPartitioner(inst, cfg).solve()
    assert check_partition(inst, res.labels, cfg).ok
    q = res.quality
    share = q.n_in_band / q.n_counted
    assert share >= res.lower_bound.ceiling(q.n_counted) - 0.1
    assert res.solve_time < 30
    print(
        f"nanjing: {inst.n} buildings, {int(inst.value.sum())} hh, {res.n_grids} grids, "
        f"in band {share:.3f}, ceiling {res.lower_bound.ceiling(q.n_counted):.3f}, "
        f"{res.solve_time:.2f}s"
    )


@pytest.mark.shared_data
def test_nanjing_polish_and_zone_bound() -> None:
    from gridder.partition.compact import unit_perimeter_proxy
    from gridder.partition.quality import polsby_popper_from_cells

    if not DATA.exists():
        pytest.fail(f"shared data missing: {DATA}")
    inst = nanjing_instance()
    cfg = PartitionConfig(time_limit=2.0)
    off = GridPartitioner(inst, cfg.with_(compactness_passes=0)).solve()
    on = GridPartitioner(inst, cfg).solve()
    per = unit_perimeter_proxy(inst)
    pp_off = polsby_popper_from_cells(inst, off.labels, per)[1].mean()
    pp_on = polsby_popper_from_cells(inst, on.labels, per)[1].mean()
    assert check_partition(inst, on.labels, cfg).ok
    assert on.out_of_band <= off.out_of_band
    assert pp_on >= pp_off
    meta = on.to_meta()["lower_bound_respecting_barriers"]
    assert meta["zones_proven"] + meta["zones_fallback"] == meta["zones"]
    assert meta["with_band_bound"] >= on.lower_bound.min_out_of_band
