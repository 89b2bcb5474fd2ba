"""Builders of tiny synthetic communities (buildings, streets, lattices) for the geometry tests."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

CRS = "EPSG:32650"


def buildings_at(xy, *, compound=None, households=None) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = len(xy)
    data = {
        "building_id": [f"B{i:03d}" for i in range(n)],
        "households": np.full(n, 10) if households is None else households,
    }
    if compound is not None:
        data["compound_id"] = compound
    return gpd.GeoDataFrame(data, geometry=shapely.points(xy), crs=CRS)


def streets_of(lines, highway) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"highway": highway}, geometry=list(lines), crs=CRS)


def lattice(nx_: int, ny_: int, spacing: float, origin=(0.0, 0.0)) -> np.ndarray:
    xs = origin[0] + spacing / 2 + np.arange(nx_) * spacing
    ys = origin[1] + spacing / 2 + np.arange(ny_) * spacing
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    return np.column_stack([X.ravel(), Y.ravel()])
