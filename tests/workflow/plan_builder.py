"""Build real plan files in code for the workflow tests (the partition engine end to end).

A generated district: ``nx × ny`` square communities (社区) in central Nanjing,
each with buildings on a jittered lattice (10–60 households each) and a street
through the middle; communities carry ``name`` (Chinese), ``street_id`` (街道)
and ``district_id``. Each community is partitioned with the real engine
(``PartitionInstance.from_frames`` → ``GridPartitioner`` → ``grid_polygons`` →
``assign_grid_codes``) and written with ``write_plan`` (CONTRACT §3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridder.io.crs import local_metric_crs
from gridder.io.write import write_plan
from gridder.partition import GridPartitioner, PartitionConfig, PartitionInstance
from gridder.polygons import assign_grid_codes, grid_polygons

ORIGIN = (118.78, 32.04)


def district_frames(
    *, nx: int = 2, ny: int = 1, side: float = 360.0, spacing: float = 40.0, seed: int = 0
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Communities, buildings and streets of a generated district (metric CRS)."""
    rng = np.random.default_rng(seed)
    crs = local_metric_crs(*ORIGIN)
    origin = gpd.GeoSeries.from_xy([ORIGIN[0]], [ORIGIN[1]], crs=4326).to_crs(crs).iloc[0]
    x0, y0 = origin.x, origin.y
    comms, blds, streets = [], [], []
    bid = 0
    for k in range(nx * ny):
        i, j = k % nx, k // nx
        cid = f"C{k + 1:02d}"
        ox, oy = x0 + i * side, y0 + j * side
        comms.append(
            {
                "community_id": cid,
                "name": f"鼓楼社区{k + 1}",
                "street_id": "S1" if i < max(1, nx // 2) else "S2",
                "district_id": "D1",
                "geometry": shapely.box(ox, oy, ox + side, oy + side),
            }
        )
        ticks = np.arange(spacing / 2, side, spacing)
        for gx in ticks:
            for gy in ticks:
                bid += 1
                jx, jy = rng.uniform(-6, 6, 2)
                blds.append(
                    {
                        "building_id": f"B{bid:04d}",
                        "community_id": cid,
                        "households": int(rng.integers(10, 60)),
                        "geometry": shapely.Point(ox + gx + jx, oy + gy + jy),
                    }
                )
        streets.append(
            {
                "highway": "residential",
                "name": "中山路",
                "geometry": shapely.LineString([(ox + side / 2, oy), (ox + side / 2, oy + side)]),
            }
        )
    return (
        gpd.GeoDataFrame(comms, crs=crs),
        gpd.GeoDataFrame(blds, crs=crs),
        gpd.GeoDataFrame(streets, crs=crs),
    )


def partition_frames(
    communities: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    *,
    config: PartitionConfig,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[str, Any]]:
    """Grids and assignments (metric CRS) and per-community solver meta."""
    grid_parts, assign_parts, solver = [], [], {}
    for cid, geom in zip(communities["community_id"], communities.geometry, strict=True):
        mine = buildings[buildings["community_id"] == cid].reset_index(drop=True)
        inst, tess = PartitionInstance.from_frames(
            cid, geom, mine, mine["households"].to_numpy(np.int64), streets
        )
        res = GridPartitioner(inst, config).solve()
        polys = grid_polygons(tess, res.labels)
        codes = assign_grid_codes(cid, polys)
        gid = pd.Series(res.labels).map(codes).to_numpy()
        hh = mine.groupby(gid)["households"].sum()
        g = gpd.GeoDataFrame(
            {
                "grid_id": [codes[lab] for lab in polys.index],
                "community_id": cid,
                "n_buildings": polys["n_buildings"].to_numpy(),
                "area_m2": polys["area_m2"].to_numpy(),
            },
            geometry=polys.geometry.to_numpy(),
            crs=buildings.crs,
        )
        g["households"] = g["grid_id"].map(hh).fillna(0).astype(np.int64)
        g["workload"] = g["households"].astype(float)
        grid_parts.append(g)
        a = mine[["building_id", "community_id", "households", "geometry"]].copy()
        a["grid_id"] = gid
        assign_parts.append(a)
        solver[cid] = res.to_meta()
    grids = pd.concat(grid_parts, ignore_index=True)
    grids = grids.sort_values("grid_id").reset_index(drop=True)
    assignments = pd.concat(assign_parts, ignore_index=True)
    return (
        gpd.GeoDataFrame(grids, crs=buildings.crs),
        gpd.GeoDataFrame(assignments, crs=buildings.crs),
        solver,
    )


def build_plan(
    path: Path,
    communities: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    *,
    plan_id: str = "plan-test",
    config: PartitionConfig | None = None,
    with_streets_layer: bool = True,
) -> Path:
    """Partition and write a plan file; returns its path."""
    config = config or PartitionConfig(min=200, max=300, target=250, time_limit=1.0)
    grids, assignments, solver = partition_frames(communities, buildings, streets, config=config)
    meta = {
        "plan_id": plan_id,
        "created": "2025-01-01T00:00:00+00:00",
        "parameters": {
            "min": config.min,
            "max": config.max,
            "target": config.target,
            "balance_on": config.balance_on,
            "seed": config.seed,
        },
        "seed": config.seed,
        "solver": solver,
        "unassigned_buildings": [],
    }
    extra = {"streets": streets} if (with_streets_layer and streets is not None) else None
    return write_plan(
        path,
        grids=grids,
        assignments=assignments,
        communities=communities,
        meta=meta,
        extra_layers=extra,
    )
