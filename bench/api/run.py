"""Benchmark of the grid service (issue 5): lookups in-process and through the HTTP API.

Usage (from the repository root)::

    .venv/bin/python bench/api/run.py [--grids 4000] [--seconds 8] [--out bench/api/results.json]

Measures, on one generated city of Voronoi grids (default 4,000 grids in 40
communities, 25 buildings each):

1. in-process: plan load, single ``Plan.locate`` (µs), 1,000,000 points with
   ``Plan.locate_many`` (WGS84 and GCJ-02), against shapely's STRtree on the same
   polygons in the same run (the baseline's fastest general method), with agreement;
2. HTTP, uvicorn with one worker on 127.0.0.1 (as ``gridder serve`` runs it),
   ``wrk`` one thread: ``GET /v1/locate`` against a constant ``async`` endpoint
   on the same server at 1 and 16 connections (requests/s, p50, p99, ratio);
3. HTTP batch: 1,000,000 points in POSTs of 100,000 (the default batch limit).

Every peer runs under its own timeout; a peer that does not finish is recorded
as "timeout". PostGIS (a named peer) is measured by postgis.py (same city): see README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import shapely

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from gridder.io.crs import local_metric_crs, wgs84_to_gcj02  # noqa: E402
from gridder.io.write import write_plan  # noqa: E402
from gridder.plan import Plan  # noqa: E402

ORIGIN = (118.70, 31.95)  # south-west corner of the generated city (Nanjing)


def make_city(path: Path, *, n_grids: int, n_communities: int, per_grid: int, seed: int) -> Path:
    """Write a plan: a city of n_communities square communities cut into Voronoi grids."""
    rng = np.random.default_rng(seed)
    crs = local_metric_crs(*ORIGIN)
    x0, y0 = gpd.GeoSeries.from_xy([ORIGIN[0]], [ORIGIN[1]], crs=4326).to_crs(crs).iloc[0].coords[0]
    side = int(np.ceil(np.sqrt(n_communities)))
    size = 2500.0
    per = n_grids // n_communities
    grid_rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "grid_id",
            "community_id",
            "households",
            "workload",
            "n_buildings",
            "area_m2",
            "geometry",
        )
    }
    b_rows: dict[str, list[Any]] = {
        k: [] for k in ("building_id", "grid_id", "community_id", "households", "geometry")
    }
    com_rows: dict[str, list[Any]] = {"community_id": [], "geometry": []}
    bid = 0
    for k in range(n_communities):
        i, j = divmod(k, side)
        cid = f"C{k + 1:03d}"
        sq = shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
        com_rows["community_id"].append(cid)
        com_rows["geometry"].append(sq)
        seeds = rng.uniform(sq.bounds[:2], sq.bounds[2:], (per, 2))
        cells = shapely.intersection(
            shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=sq)),
            sq,
        )
        cent = shapely.centroid(cells)
        order = np.lexsort((shapely.get_x(cent), -np.round(shapely.get_y(cent), -1)))
        for n, c in enumerate(order, start=1):
            gid = f"{cid}-{n:03d}"
            cell = cells[c]
            bx0, by0, bx1, by1 = cell.bounds
            cand = rng.uniform([bx0, by0], [bx1, by1], (per_grid * 6, 2))
            cand = cand[shapely.contains_xy(cell, cand[:, 0], cand[:, 1])][:per_grid]
            hh = rng.integers(5, 20, len(cand))
            for (px, py), h in zip(cand, hh, strict=True):
                bid += 1
                b_rows["building_id"].append(f"B{bid}")
                b_rows["grid_id"].append(gid)
                b_rows["community_id"].append(cid)
                b_rows["households"].append(int(h))
                b_rows["geometry"].append(shapely.Point(px, py))
            for key, value in (
                ("grid_id", gid),
                ("community_id", cid),
                ("households", int(hh.sum())),
                ("workload", float(hh.sum())),
                ("n_buildings", len(cand)),
                ("area_m2", float(cell.area)),
                ("geometry", cell),
            ):
                grid_rows[key].append(value)
    return write_plan(
        path,
        grids=gpd.GeoDataFrame(grid_rows, crs=crs),
        assignments=gpd.GeoDataFrame(b_rows, crs=crs),
        communities=gpd.GeoDataFrame(com_rows, crs=crs),
        meta={"plan_id": "bench-city", "created": datetime.now(UTC).isoformat(), "seed": seed},
    )


def best_of(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def in_process(path: Path, n_points: int, seed: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    t = time.perf_counter()
    plan = Plan.open(path)
    res["plan_open_s"] = time.perf_counter() - t
    res["grids"] = len(plan)
    res["buildings"] = plan.n_buildings
    geoms = plan._geoms  # the plan's own polygons, for the shapely baseline
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    rng = np.random.default_rng(seed)
    xy = rng.uniform([x0, y0], [x1, y1], (n_points, 2))
    res["locate_many_1M_wgs84_s"], rows = best_of(lambda: plan.locate_indices(xy))
    gx, gy = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    gcj = np.column_stack([gx, gy])
    res["locate_many_1M_gcj02_s"], rows_g = best_of(
        lambda: plan.locate_indices(gcj, crs="gcj02"), 1
    )
    res["gcj02_vs_wgs84_mismatch"] = int((rows_g != rows).sum())
    res["locate_many_dataframe_1M_s"], _ = best_of(lambda: plan.locate_many(xy), 1)

    def strtree() -> np.ndarray:
        tree = shapely.STRtree(geoms)
        pi, gi = tree.query(shapely.points(xy), predicate="intersects")
        best = np.full(len(xy), np.iinfo(np.int64).max)
        np.minimum.at(best, pi, gi)
        return np.where(best == np.iinfo(np.int64).max, -1, best)

    res["shapely_strtree_1M_s"], ref = best_of(strtree, 1)
    res["mismatch_vs_strtree"] = int((ref != rows).sum())
    res["outside_points"] = int((rows < 0).sum())
    sample = xy[:20000]
    t = time.perf_counter()
    for x, y in sample:
        plan.locate(float(x), float(y))
    res["single_locate_us"] = (time.perf_counter() - t) / len(sample) * 1e6
    return res


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(plans: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GRIDDER_PLANS_DIR": str(plans),
        "GRIDDER_REFRESH_SECONDS": "0",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
    }
    proc = subprocess.Popen(  # same as gridder serve: one worker, log level warning
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_app:create_bench_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=REPO,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start")


_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def wrk(url: str, *, connections: int, seconds: int, script: Path | None) -> dict[str, Any]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 60, check=True
        ).stdout
    except subprocess.TimeoutExpired:
        return {"status": "timeout"}
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    lat = {
        f"p{m.group(1)}_ms": float(m.group(2)) * scale[m.group(3)] for m in _LATENCY.finditer(out)
    }
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        **lat,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def lua_script(path: Path, points: np.ndarray, endpoint: str) -> Path:
    urls = ",".join(f'"{endpoint}?lon={x:.7f}&lat={y:.7f}"' for x, y in points)
    path.write_text(
        f"local urls = {{{urls}}}\nlocal i = 0\n"
        'request = function()\n  i = i % #urls + 1\n  return wrk.format("GET", urls[i])\nend\n'
    )
    return path


def http_batch(base: str, xy: np.ndarray, batch: int) -> dict[str, Any]:
    bodies = [
        json.dumps({"points": xy[i : i + batch].tolist()}).encode()
        for i in range(0, len(xy), batch)
    ]
    located = 0
    t = time.perf_counter()
    server_s = 0.0
    with httpx.Client(base_url=base, timeout=120) as c:
        for body in bodies:
            t1 = time.perf_counter()
            r = c.post("/v1/locate", content=body, headers={"content-type": "application/json"})
            r.raise_for_status()
            server_s += time.perf_counter() - t1
            located += sum(v is not None for v in r.json()["results"])
    total = time.perf_counter() - t
    return {
        "points": len(xy),
        "batch": batch,
        "requests": len(bodies),
        "total_s": total,
        "post_and_wait_s": server_s,
        "located": located,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grids", type=int, default=4000)
    parser.add_argument("--communities", type=int, default=40)
    parser.add_argument("--per-grid", type=int, default=25)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    work = Path(tempfile.mkdtemp(prefix="gridder-bench-api-"))
    proc = None
    try:
        plans = work / "plans"
        t = time.perf_counter()
        path = make_city(
            plans / "city.gpkg",
            n_grids=args.grids,
            n_communities=args.communities,
            per_grid=args.per_grid,
            seed=args.seed,
        )
        results["city_build_s"] = time.perf_counter() - t
        results["in_process"] = in_process(path, args.points, args.seed)
        print(json.dumps(results["in_process"], indent=1), flush=True)

        port = free_port()
        proc = start_server(plans, port)
        base = f"http://127.0.0.1:{port}"
        plan = Plan.open(path)
        x0, y0, x1, y1 = shapely.total_bounds(plan._geoms)
        rng = np.random.default_rng(args.seed + 1)
        pts = rng.uniform([x0, y0], [x1, y1], (1000, 2))
        # Both endpoints get the same URLs from the same Lua script, so wrk's own cost
        # (it shares the 2 cores) is the same on both sides of the ratio.
        script = lua_script(work / "locate.lua", pts, "/v1/locate")
        const_script = lua_script(work / "const.lua", pts, "/bench/const")
        http: dict[str, Any] = {}
        if shutil.which("wrk") is None:
            http["status"] = "wrk not installed (apt-get install wrk)"
        else:
            for c in (1, 16):
                http[f"const_c{c}"] = wrk(
                    base + "/bench/const", connections=c, seconds=args.seconds, script=const_script
                )
                http[f"locate_c{c}"] = wrk(
                    base + "/v1/locate", connections=c, seconds=args.seconds, script=script
                )
                http[f"ratio_c{c}"] = http[f"locate_c{c}"]["rps"] / http[f"const_c{c}"]["rps"]
                print(c, http[f"const_c{c}"], http[f"locate_c{c}"], http[f"ratio_c{c}"], flush=True)
        results["http_single"] = http
        xy = rng.uniform([x0, y0], [x1, y1], (args.points, 2))
        results["http_batch"] = http_batch(base, xy, 100_000)
        print(results["http_batch"], flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
