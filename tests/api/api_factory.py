"""Tiny synthetic plans, coverage files and a fake partition job for the API tests.

A plan is a block of square communities (600 m) in central Nanjing, each cut
into Voronoi grids, with random buildings inside the grids. Everything is
built in a metric CRS (UTM 50N) and written in WGS84 with ``write_plan``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import shapely

from api.settings import ApiSettings, hash_api_key
from gridder.errors import InputError
from gridder.io.crs import local_metric_crs
from gridder.io.write import write_geopackage, write_plan

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KEY = "test-key-123"  # the write key of the test servers
ORIGIN = (118.78, 32.04)  # central Nanjing
SIDE = 600.0


def _points_in(poly: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    x0, y0, x1, y1 = poly.bounds
    out: list[np.ndarray] = []
    inner = poly.buffer(-3.0)  # keep buildings off the boundaries
    while sum(len(o) for o in out) < n:
        cand = rng.uniform([x0, y0], [x1, y1], (4 * n, 2))
        keep = shapely.contains_xy(inner, cand[:, 0], cand[:, 1])
        out.append(cand[keep])
    return np.concatenate(out)[:n]


def plan_frames(
    *,
    communities: int = 2,
    seeds_per_community: int = 6,
    buildings_per_grid: int = 4,
    seed: int = 0,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Grids, assignments and communities (metric CRS) of a synthetic plan."""
    rng = np.random.default_rng(seed)
    crs = local_metric_crs(*ORIGIN)
    x0, y0 = gpd.GeoSeries.from_xy([ORIGIN[0]], [ORIGIN[1]], crs=4326).to_crs(crs).iloc[0].coords[0]
    com_rows, grid_rows, b_rows = [], [], []
    bid = 0
    for k in range(communities * communities):
        i, j = divmod(k, communities)
        cid = f"C{k + 1:02d}"
        square = shapely.box(x0 + i * SIDE, y0 + j * SIDE, x0 + (i + 1) * SIDE, y0 + (j + 1) * SIDE)
        com_rows.append({"community_id": cid, "name": f"社区{k + 1}", "geometry": square})
        seeds = rng.uniform(square.bounds[:2], square.bounds[2:], (seeds_per_community, 2))
        cells = shapely.get_parts(
            shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=square)
        )
        cells = [c.intersection(square) for c in cells]
        # number west→east, north→south by centroid
        order = sorted(
            range(len(cells)), key=lambda c: (-round(cells[c].centroid.y, -1), cells[c].centroid.x)
        )
        for n, c in enumerate(order, start=1):
            gid = f"{cid}-{n:03d}"
            poly = cells[c]
            pts = _points_in(poly, buildings_per_grid, rng)
            hh = rng.integers(10, 80, len(pts))
            for (bx, by), h in zip(pts, hh, strict=True):
                bid += 1
                b_rows.append(
                    {
                        "building_id": f"B{bid}",
                        "grid_id": gid,
                        "community_id": cid,
                        "households": int(h),
                        "geometry": shapely.Point(bx, by),
                    }
                )
            grid_rows.append(
                {
                    "grid_id": gid,
                    "community_id": cid,
                    "households": int(hh.sum()),
                    "workload": float(hh.sum()) * 1.1,
                    "n_buildings": len(pts),
                    "area_m2": float(poly.area),
                    "geometry": poly,
                }
            )
    return (
        gpd.GeoDataFrame(grid_rows, crs=crs),
        gpd.GeoDataFrame(b_rows, crs=crs),
        gpd.GeoDataFrame(com_rows, crs=crs),
    )


def make_plan(
    path: Path | str,
    *,
    plan_id: str,
    seed: int = 0,
    created: str = "2024-06-01T00:00:00+00:00",
    workers: bool = False,
    **shape: Any,
) -> Path:
    """Write a synthetic plan file; returns its path."""
    grids, assignments, communities = plan_frames(seed=seed, **shape)
    extra: dict[str, Any] = {}
    if workers:
        ids = grids["grid_id"].tolist()
        rows = [
            {"worker_id": f"W{n:02d}", "grid_id": g, "name": f"网格员{n}", "role": "grid"}
            for n, g in enumerate(ids, start=1)
        ]
        rows.append(
            {"worker_id": "S01", "grid_id": ",".join(ids[:2]), "name": "专员", "role": "specialist"}
        )
        extra["workers"] = pd.DataFrame(rows)
    meta = {
        "plan_id": plan_id,
        "created": created,
        "seed": seed,
        "parameters": {"target": 250, "min": 200, "max": 300},
        "solver": {"status": "OPTIMAL"},
    }
    return write_plan(
        path,
        grids=grids,
        assignments=assignments,
        communities=communities,
        meta=meta,
        extra_layers=extra,
    )


def make_coverage(
    path: Path | str, *, plan_id: str | None = None, digest: str | None = None
) -> Path:
    """Write a coverage file: a ``summary`` table, and ``coverage_meta`` naming ``plan_id``.

    Without ``plan_id`` the file has no ``coverage_meta`` (a coverage tied to no plan);
    ``digest`` is recorded as the plan's ``plan_assignment_digest``.
    """
    rows = [
        {
            "scope": "all",
            "scope_id": None,
            "facility_type": "kindergarten",
            "minutes": 5.0,
            "households": 1000,
            "households_covered": 850,
            "share": 0.85,
        },
        {
            "scope": "community",
            "scope_id": "C01",
            "facility_type": "kindergarten",
            "minutes": 5.0,
            "households": 300,
            "households_covered": 270,
            "share": 0.9,
        },
        {
            "scope": "community",
            "scope_id": "C02",
            "facility_type": "clinic",
            "minutes": 15.0,
            "households": 200,
            "households_covered": 100,
            "share": 0.5,
        },
    ]
    meta = None if plan_id is None else {"coverage_id": "coverage-test", "plan_id": plan_id}
    if meta is not None and digest is not None:
        meta["plan_assignment_digest"] = digest
    return write_geopackage(
        path, {"summary": pd.DataFrame(rows)}, meta=meta, meta_layer="coverage_meta"
    )


def fake_partition(
    *,
    communities: str,
    buildings: str,
    streets: str | None,
    out: str,
    params: dict[str, Any],
    compounds: str | None = None,
    previous: str | None = None,
    uploads: dict[str, str] | None = None,
) -> str:
    """Stand-in for ``gridder.pipeline.partition_files``: writes a synthetic plan.

    Seed 13 fails with an input error naming the buildings file; seed 17 is a
    long solve (sleeps 120 s).
    """
    for name, value in (("communities", communities), ("buildings", buildings)):
        if not Path(value).is_file():
            raise InputError.single(value, "", f"{name} file missing")
    if params.get("seed") == 13:
        raise InputError.single(buildings, "building_id=B7", "negative household count")
    if params.get("seed") == 17:
        time.sleep(120)
    seed = int(params.get("seed", 0))
    make_plan(out, plan_id=f"job-{seed}", seed=seed, created="2025-01-01T00:00:00+00:00")
    return out


def settings_for(plans_dir: Path, **overrides: Any) -> ApiSettings:
    """Test settings: the write key KEY, thread jobs with the fake runner, no refresher."""
    values: dict[str, Any] = {
        "plans_dir": plans_dir,
        "api_key_hashes": [hash_api_key(KEY)],
        "refresh_seconds": 0,
        "job_executor": "thread",
        "partition_runner": "api_factory:fake_partition",
        "jobs_dir": plans_dir.parent / "jobs",
    }
    values.update(overrides)
    return ApiSettings(**values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A uvicorn server in a subprocess, configured by GRIDDER_* variables."""

    def __init__(self, env: dict[str, str], *, log: Path | None = None) -> None:
        """Start the server; its stderr goes to ``log`` when given (else inherited)."""
        self.port = free_port()
        self.log = None if log is None else log.open("wb")
        self.url = f"http://127.0.0.1:{self.port}"
        full = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=full,
            cwd=REPO,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start in 60 s")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.log is not None:
            self.log.close()
