"""Tiny synthetic street lattices, buildings and facilities, built in code."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from gridder.graph.streets import Anchors, WalkNetwork
from gridder.io.write import write_geopackage

CRS = "EPSG:32650"


def lattice_edges(
    nx_: int, ny_: int, spacing: float, *, drop: float = 0.0, jitter: float = 0.0, seed: int = 0
) -> gpd.GeoDataFrame:
    """A grid of streets, one row per segment, with OSM-style ``u``/``v`` node ids."""
    rng = np.random.default_rng(seed)
    xs = np.arange(nx_) * spacing
    ys = np.arange(ny_) * spacing
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    X = X + rng.uniform(-jitter, jitter, X.shape)
    Y = Y + rng.uniform(-jitter, jitter, Y.shape)
    node = np.arange(nx_ * ny_).reshape(nx_, ny_)
    us, vs = [], []
    for i in range(nx_):
        for j in range(ny_):
            if i + 1 < nx_:
                us.append(node[i, j])
                vs.append(node[i + 1, j])
            if j + 1 < ny_:
                us.append(node[i, j])
                vs.append(node[i, j + 1])
    u, v = np.array(us), np.array(vs)
    keep = rng.random(len(u)) >= drop
    u, v = u[keep], v[keep]
    fx, fy = X.ravel(), Y.ravel()
    geoms = shapely.linestrings(
        np.stack([np.column_stack([fx[u], fy[u]]), np.column_stack([fx[v], fy[v]])], axis=1)
    )
    return gpd.GeoDataFrame(
        {"u": u + 1000, "v": v + 1000, "highway": "residential", "name": None},
        geometry=geoms,
        crs=CRS,
    )


def random_points(n: int, extent: float, *, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return shapely.points(rng.uniform(0, extent, n), rng.uniform(0, extent, n))


def make_buildings(n: int, extent: float, *, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    pts = random_points(n, extent, seed=seed)
    x = shapely.get_x(pts)
    return gpd.GeoDataFrame(
        {
            "building_id": [f"B{k}" for k in range(n)],
            "households": rng.integers(0, 40, n),
            "community_id": np.where(x < extent / 2, "C1", "C2"),
            "grid_id": [
                f"{'C1' if xx < extent / 2 else 'C2'}-{int(yy // (extent / 3)):03d}"
                for xx, yy in zip(x, shapely.get_y(pts), strict=True)
            ],
        },
        geometry=pts,
        crs=CRS,
    )


def make_facilities(types: dict[str, int], extent: float, *, seed: int = 2) -> gpd.GeoDataFrame:
    rows, geoms = [], []
    k = 0
    for t, count in types.items():
        pts = random_points(count, extent, seed=seed + k)
        for p in pts:
            rows.append({"facility_id": f"F{k}", "type": t, "name": f"{t} {k}"})
            geoms.append(p)
            k += 1
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS)


def reference_graph(net: WalkNetwork, anchor_sets: dict[str, Anchors]) -> nx.Graph:
    """An independent networkx graph: every edge split at every anchor, legs as edges.

    Anchor ``k`` of set ``name`` becomes node ``(name, k)``.
    """
    G = nx.Graph()
    cuts: dict[int, list[tuple[float, object]]] = {}
    for name, anc in anchor_sets.items():
        for k in range(len(anc)):
            if anc.edge[k] < 0:
                continue
            snap_node = (name, k, "snap")
            cuts.setdefault(int(anc.edge[k]), []).append((float(anc.offset[k]), snap_node))
            G.add_edge((name, k), snap_node, weight=float(anc.leg[k]))
    for e in range(net.n_edges):
        u, v, length = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_length[e])
        pts = [(0.0, u), *sorted(cuts.get(e, []), key=lambda t: t[0]), (length, v)]
        for (a, na), (b, nb) in itertools.pairwise(pts):
            w = max(b - a, 0.0)
            if na == nb:
                continue
            if G.has_edge(na, nb):
                w = min(w, G[na][nb]["weight"])
            G.add_edge(na, nb, weight=w)
    return G


@pytest.fixture
def small_lattice() -> gpd.GeoDataFrame:
    return lattice_edges(12, 12, 100.0, drop=0.1, jitter=15.0, seed=3)


@pytest.fixture
def synth() -> SimpleNamespace:
    """The builders above, for tests."""
    return SimpleNamespace(
        lattice_edges=lattice_edges,
        random_points=random_points,
        make_buildings=make_buildings,
        make_facilities=make_facilities,
        reference_graph=reference_graph,
        crs=CRS,
    )


def outside_own_polygon(result):
    """Per (type, minutes): covered buildings, metres each lies outside its facility's polygon."""
    access = result.access
    iso = result.isochrones.set_index(["facility_id", "minutes"]).geometry
    out = {}
    for (ftype, minutes), group in result.isochrones.groupby(["facility_type", "minutes"]):
        limit = float(group["distance_m"].iloc[0])
        rows = access[(access["facility_type"] == ftype) & (access["dist_m"] <= limit)]
        keys = [(fid, minutes) for fid in rows["nearest_facility_id"]]
        polys = iso.loc[keys].to_numpy()
        out[(ftype, minutes)] = (len(rows), shapely.distance(rows.geometry.values, polys))
    return out


@pytest.fixture
def polygon_gaps():
    """:func:`outside_own_polygon`, for tests."""
    return outside_own_polygon


@pytest.fixture
def files(synth: SimpleNamespace, tmp_path: Path) -> dict[str, Path]:
    """A plan (its assignments), streets and facilities written to GeoPackages."""
    buildings = synth.make_buildings(40, 500.0)
    return {
        "plan": write_geopackage(
            tmp_path / "plan.gpkg", {"assignments": buildings}, meta={"plan_id": "p1"}
        ),
        "streets": write_geopackage(
            tmp_path / "streets.gpkg", {"streets": synth.lattice_edges(6, 6, 100.0)}
        ),
        "facilities": write_geopackage(
            tmp_path / "facilities.gpkg",
            {"facilities": synth.make_facilities({"clinic": 2}, 500.0)},
        ),
    }
