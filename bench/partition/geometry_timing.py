"""Timing of the partition geometry: tessellation + adjacency, grid polygons, codes.

Run: ``.venv/bin/python bench/partition/geometry_timing.py [--buildings 5000] [--grids 200]
[--footprints]``

A generated community: a street grid of 160 m blocks (every third street a
primary road), buildings scattered in the blocks (some blocks empty, some
duplicate points, a few points just outside the community), compounds on
every other block; with ``--footprints`` each building also gets a 10 × 10 m
footprint (the land under it then stays with it). Grid labels come from a BFS
growth from random seeds on the adjacency graph (contiguous), then polygons and
codes are timed. Prints one line per step, best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import deque
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import shapely
from shapely import LineString, box

from gridder.partition.instance import PartitionInstance
from gridder.polygons import assign_grid_codes, boundary_on_street_share, grid_polygons

CRS = 32650


def synthetic_community(n: int, *, seed: int = 0, block: float = 160.0, footprints: bool = False):
    """A square community of street blocks holding ``n`` buildings."""
    rng = np.random.default_rng(seed)
    per_block = 25
    k = int(np.ceil(np.sqrt(n / per_block / 0.85)))
    side = k * block
    community = box(0, 0, side, side)
    coords = np.arange(0, side + 1, block)
    lines, highway = [], []
    for j, c in enumerate(coords[1:-1], start=1):
        cls = "primary" if j % 3 == 0 else "residential"
        lines += [LineString([(c, -20), (c, side + 20)]), LineString([(-20, c), (side + 20, c)])]
        highway += [cls, cls]
    streets = gpd.GeoDataFrame({"highway": highway}, geometry=lines, crs=CRS)
    bx, by = np.meshgrid(np.arange(k), np.arange(k))
    blocks = np.column_stack([bx.ravel(), by.ravel()])
    full = blocks[rng.random(len(blocks)) < 0.9]
    owner = full[rng.integers(0, len(full), n)]
    xy = owner * block + rng.uniform(8, block - 8, (n, 2))
    xy[1:20:2] = xy[0:19:2]  # a few coincident points
    xy[-3:] = [[-0.5, side / 3], [side + 0.3, side / 2], [side / 2, -1.0]]  # just outside
    compound = np.where((owner[:, 0] + owner[:, 1]) % 2 == 0, [f"X{a}_{b}" for a, b in owner], None)
    buildings = gpd.GeoDataFrame(
        {
            "building_id": [f"B{i:05d}" for i in range(n)],
            "households": rng.integers(0, 120, n),
            "compound_id": compound,
        },
        geometry=shapely.points(xy),
        crs=CRS,
    )
    if footprints:
        buildings["footprint"] = shapely.buffer(shapely.points(xy), 5.0, cap_style="square")
    return community, buildings, streets


def bfs_labels(n: int, edges: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Contiguous labels grown by BFS from ``k`` random seeds."""
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    rng = np.random.default_rng(seed)
    lab = np.full(n, -1)
    queue: deque[int] = deque()
    for g, s in enumerate(rng.choice(n, k, replace=False)):
        lab[s] = g
        queue.append(int(s))
    while queue:
        u = queue.popleft()
        for v in nbrs[u]:
            if lab[v] < 0:
                lab[v] = lab[u]
                queue.append(v)
    lab[lab < 0] = k  # isolated parts, if any
    return lab


def best_of(repeat: int, fn):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buildings", type=int, default=5000)
    parser.add_argument("--grids", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--footprints", action="store_true")
    args = parser.parse_args()
    community, buildings, streets = synthetic_community(args.buildings, footprints=args.footprints)
    value = buildings["households"].to_numpy()
    t_inst, (inst, tess) = best_of(
        args.repeat,
        lambda: PartitionInstance.from_frames("C1", community, buildings, value, streets),
    )
    labels = bfs_labels(inst.n, inst.edges, args.grids)
    t_poly, grids = best_of(args.repeat, lambda: grid_polygons(tess, labels))
    t_raw, _ = best_of(args.repeat, lambda: grid_polygons(tess, labels, smooth=0))
    t_codes, _ = best_of(args.repeat, lambda: assign_grid_codes("C1", grids))
    share = boundary_on_street_share(grids, community, streets, tess.compound_edges())
    machine = platform.processor() or platform.machine()
    print(
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}, "
        f"python {platform.python_version()}, shapely {shapely.__version__} "
        f"(GEOS {shapely.geos_version_string})"
    )
    print(
        f"buildings {inst.n}, faces {len(tess.faces.faces)}, blocks {tess.faces.n_blocks}, "
        f"edges {len(inst.edges)} (hard {int(inst.edge_hard.sum())}, "
        f"soft {int(inst.edge_soft.sum())}, street {int(inst.edge_street.sum())})"
    )
    print(f"tessellation + adjacency (from_frames): {t_inst:.3f} s")
    print(f"grid polygons, {len(grids)} grids, smoothed: {t_poly:.3f} s; unsmoothed: {t_raw:.3f} s")
    print(f"grid codes: {t_codes:.4f} s")
    print(
        f"cell area / community area - 1: {tess.area.sum() / community.area - 1:.2e}; "
        f"grids max parts {int(grids['n_parts'].max())}; "
        f"boundary on street/compound share {share:.3f}"
    )


if __name__ == "__main__":
    main()
