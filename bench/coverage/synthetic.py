"""Synthetic city for the coverage benchmark: a perturbed street grid, buildings, facilities.

Same recipe as the project's baselines (shared/reference/coverage-baselines.md): 40 m
spacing, 15 % of edges dropped, seed 42; 30 km → 750 × 750 = 562,500 nodes.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

CRS = "EPSG:32650"


def street_grid(
    size_m: float,
    *,
    spacing: float = 40.0,
    drop: float = 0.15,
    seed: int = 42,
    with_ids: bool = False,
) -> gpd.GeoDataFrame:
    """Grid streets, one LineString per segment (``u``/``v`` ids when ``with_ids``)."""
    rng = np.random.default_rng(seed)
    n = int(size_m // spacing)
    xs = np.arange(n) * spacing
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    X = X + rng.uniform(-spacing * 0.2, spacing * 0.2, X.shape)
    Y = Y + rng.uniform(-spacing * 0.2, spacing * 0.2, Y.shape)
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    v = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    keep = rng.random(len(u)) >= drop
    u, v = u[keep], v[keep]
    fx, fy = X.ravel(), Y.ravel()
    geoms = shapely.linestrings(
        np.stack([np.column_stack([fx[u], fy[u]]), np.column_stack([fx[v], fy[v]])], axis=1)
    )
    cols: dict[str, object] = {"highway": np.full(len(u), "residential", dtype=object)}
    if with_ids:
        cols = {"u": u, "v": v, **cols}
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=CRS)


def buildings(size_m: float, n: int, *, seed: int = 43) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, size_m, n)
    y = rng.uniform(0, size_m, n)
    cell = 1500.0
    comm = (x // 3000).astype(int) * 100 + (y // 3000).astype(int)
    grid = (x // cell).astype(int) * 1000 + (y // cell).astype(int)
    return gpd.GeoDataFrame(
        {
            "building_id": np.char.add("B", np.arange(n).astype(str)),
            "households": rng.integers(1, 16, n),
            "community_id": np.char.add("C", comm.astype(str)),
            "grid_id": np.char.add("G", grid.astype(str)),
        },
        geometry=shapely.points(x, y),
        crs=CRS,
    )


def facilities(size_m: float, n_types: int, per_type: int, *, seed: int = 44) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    k = n_types * per_type
    return gpd.GeoDataFrame(
        {
            "facility_id": np.char.add("F", np.arange(k).astype(str)),
            "type": np.repeat([f"type{t}" for t in range(n_types)], per_type),
        },
        geometry=shapely.points(rng.uniform(0, size_m, k), rng.uniform(0, size_m, k)),
        crs=CRS,
    )
