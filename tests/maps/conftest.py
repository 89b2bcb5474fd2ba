"""Synthetic plan, coverage and sites files for the map tests, and a headless Chromium.

``make_city`` builds a square city in code: ``nx × ny`` communities of ``k × k``
square grids, ``per_grid`` buildings in each grid, three facility types placed
in some communities only (so that there are gaps), round walking areas, a
coverage summary, proposed sites and an older plan with other boundaries.
``bench/maps`` uses the same function at city scale.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridder.io.write import write_geopackage, write_plan

METRIC = "EPSG:32650"  # UTM 50N: central Nanjing
ORIGIN = (668_000.0, 3_547_000.0)
TYPES = ("幼儿园", "社区卫生服务站", "菜市场")
SPEED_M_PER_MIN = 4.5 * 1000 / 60
CHROMIUM = os.environ.get("GRIDDER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _grids(cid: str, x0: float, y0: float, k: int, side: float) -> list[tuple[str, Any]]:
    """Grid codes and squares of one community, numbered west→east, north→south."""
    out = []
    n = 1
    for row in range(k - 1, -1, -1):
        for col in range(k):
            box = shapely.box(
                x0 + col * side, y0 + row * side, x0 + (col + 1) * side, y0 + (row + 1) * side
            )
            out.append((f"{cid}-{n:03d}", box))
            n += 1
    return out


def _summary(
    buildings: gpd.GeoDataFrame, covered: dict[tuple[str, int], np.ndarray]
) -> pd.DataFrame:
    rows = []
    hh = buildings["households"].to_numpy(dtype=float)
    scopes = [
        ("all", np.array(["all"] * len(buildings))),
        ("community", buildings["community_id"].to_numpy()),
        ("grid", buildings["grid_id"].to_numpy()),
    ]
    for (ftype, minutes), mask in covered.items():
        for scope, ids in scopes:
            frame = pd.DataFrame({"id": ids, "hh": hh, "cov": hh * mask})
            for sid, part in frame.groupby("id", sort=True):
                total = float(part["hh"].sum())
                rows.append(
                    {
                        "scope": scope,
                        "scope_id": str(sid),
                        "facility_type": ftype,
                        "minutes": minutes,
                        "households": total,
                        "households_covered": float(part["cov"].sum()),
                        "share": float(part["cov"].sum()) / total if total else None,
                    }
                )
    return pd.DataFrame(rows)


def make_city(
    out: Path,
    *,
    nx: int = 2,
    ny: int = 1,
    k: int = 3,
    per_grid: int = 4,
    side: float = 150.0,
    seed: int = 0,
    old: bool = True,
) -> dict[str, Path]:
    """Write plan.gpkg, coverage.gpkg, sites.gpkg and (optionally) old_plan.gpkg into ``out``."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    size = k * side
    comm_rows, grid_rows, bld_rows, old_rows = [], [], [], []
    for j in range(ny):
        for i in range(nx):
            cid = f"C{j * nx + i + 1:03d}"
            x0, y0 = ORIGIN[0] + i * size, ORIGIN[1] + j * size
            comm_rows.append(
                {
                    "community_id": cid,
                    "name": f"测试社区{j * nx + i + 1}",
                    "geometry": shapely.box(x0, y0, x0 + size, y0 + size),
                }
            )
            for gid, box in _grids(cid, x0, y0, k, side):
                total = max(rng.normal(250, 60), per_grid)
                shares = rng.dirichlet(np.ones(per_grid) * 3)
                hh = np.maximum(1, np.round(shares * total)).astype(int)
                minx, miny, maxx, maxy = box.bounds
                xs = rng.uniform(minx + 5, maxx - 5, per_grid)
                ys = rng.uniform(miny + 5, maxy - 5, per_grid)
                for b in range(per_grid):
                    bld_rows.append(
                        {
                            "building_id": f"{gid}-B{b:02d}",
                            "grid_id": gid,
                            "community_id": cid,
                            "households": int(hh[b]),
                            "geometry": shapely.Point(xs[b], ys[b]),
                        }
                    )
                grid_rows.append(
                    {
                        "grid_id": gid,
                        "community_id": cid,
                        "households": int(hh.sum()),
                        "workload": round(float(hh.sum()) * 1.1, 1),
                        "n_buildings": per_grid,
                        "area_m2": box.area,
                        "geometry": box,
                    }
                )
            if old:
                for gid, box in _grids(cid, x0, y0, max(k - 1, 1), size / max(k - 1, 1)):
                    old_rows.append(
                        {"grid_id": gid, "community_id": cid, "households": 0, "geometry": box}
                    )
    communities = gpd.GeoDataFrame(comm_rows, crs=METRIC)
    grids = gpd.GeoDataFrame(grid_rows, crs=METRIC)
    buildings = gpd.GeoDataFrame(bld_rows, crs=METRIC)
    meta = {
        "plan_id": f"synthetic-{seed}",
        "seed": seed,
        "parameters": {"target": 250, "min": 200, "max": 300, "balance_on": "households"},
    }
    paths = {
        "plan": write_plan(
            out / "plan.gpkg",
            grids=grids,
            assignments=buildings,
            communities=communities,
            meta=meta,
        )
    }

    fac_rows = []
    for c, comm in enumerate(comm_rows):
        for t, ftype in enumerate(TYPES):
            if (c + t) % 2 == 0:
                x0, y0, x1, y1 = comm["geometry"].bounds
                fac_rows.append(
                    {
                        "facility_id": f"F{len(fac_rows) + 1:04d}",
                        "type": ftype,
                        "name": f"{ftype}{c + 1}",
                        "geometry": shapely.Point(
                            rng.uniform(x0 + 20, x1 - 20), rng.uniform(y0 + 20, y1 - 20)
                        ),
                    }
                )
    facilities = gpd.GeoDataFrame(fac_rows, crs=METRIC)
    iso_rows, gap_rows, covered = [], [], {}
    city = shapely.union_all(communities.geometry.values)
    pts = buildings.geometry.values
    for ftype in TYPES:
        fac = facilities[facilities["type"] == ftype]
        for minutes in (5, 15):
            circles = shapely.buffer(fac.geometry.values, minutes * SPEED_M_PER_MIN, quad_segs=24)
            iso_rows += [
                {"facility_id": f, "facility_type": ftype, "minutes": minutes, "geometry": g}
                for f, g in zip(fac["facility_id"], circles, strict=True)
            ]
            union = shapely.union_all(circles)
            covered[(ftype, minutes)] = shapely.intersects(pts, union)
            gap = shapely.difference(city, union)
            for part in shapely.get_parts(gap):
                if part.area < 1.0:
                    continue
                inside = shapely.intersects(pts, part)
                gap_rows.append(
                    {
                        "facility_type": ftype,
                        "minutes": minutes,
                        "households": int(buildings["households"][inside].sum()),
                        "geometry": part,
                    }
                )
    paths["coverage"] = write_geopackage(
        out / "coverage.gpkg",
        {
            "summary": _summary(buildings, covered),
            "isochrones": gpd.GeoDataFrame(iso_rows, crs=METRIC),
            "gaps": gpd.GeoDataFrame(gap_rows, crs=METRIC, geometry="geometry"),
            "facilities": facilities,
        },
        meta={"coverage_id": f"coverage-synthetic-{seed}", "plan_id": meta["plan_id"]},
        meta_layer="coverage_meta",
    )
    gaps15 = [g for g in gap_rows if g["minutes"] == 15] or gap_rows
    site_rows = [
        {
            "site_id": f"S{n + 1}",
            "facility_type": g["facility_type"],
            "households_gained": g["households"],
            "geometry": g["geometry"].representative_point(),
        }
        for n, g in enumerate(gaps15[:3])
    ]
    paths["sites"] = write_geopackage(
        out / "sites.gpkg",
        {
            "sites": gpd.GeoDataFrame(site_rows, crs=METRIC, geometry="geometry")
            if site_rows
            else gpd.GeoDataFrame(
                {"site_id": [], "facility_type": [], "households_gained": []},
                geometry=[],
                crs=METRIC,
            )
        },
    )
    if old:
        old_grids = gpd.GeoDataFrame(old_rows, crs=METRIC)
        joined = gpd.sjoin(
            buildings[["building_id", "households", "geometry"]],
            old_grids[["grid_id", "community_id", "geometry"]],
            predicate="within",
            how="inner",
        ).drop(columns="index_right")
        paths["old_plan"] = write_plan(
            out / "old_plan.gpkg",
            grids=old_grids,
            assignments=joined,
            communities=communities,
            meta={"plan_id": "old"},
        )
    return paths


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two communities of 3×3 grids, four buildings per grid, coverage, sites, an old plan."""
    return make_city(tmp_path_factory.mktemp("city"))


def _have_browser() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium fonts-wqy-zenhei)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; no browser download)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (which never downloads a browser)."""
    missing = _have_browser()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    """A fresh page with the network cut: only file:// and 127.0.0.1 are reachable."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(("file://", "http://127.0.0.1", "data:")):
            request_route.continue_()
        else:
            request_route.abort("internetdisconnected")

    context.route("**/*", route)
    pg = context.new_page()
    pg.gridder_console = []  # type: ignore[attr-defined]
    pg.gridder_requests = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: pg.gridder_console.append((m.type, m.text)))
    pg.on("pageerror", lambda e: pg.gridder_console.append(("pageerror", str(e))))
    pg.on("request", lambda r: pg.gridder_requests.append(r.url))
    yield pg
    context.close()


@pytest.fixture()
def http_root() -> Iterator[Any]:
    """Serve a directory over http://127.0.0.1:<free port>/maps/ like the API's StaticFiles."""
    procs: list[subprocess.Popen[bytes]] = []

    def serve(directory: Path) -> str:
        root = directory.parent / "_http_root"
        root.mkdir(exist_ok=True)
        link = root / "maps"
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(directory.resolve(), target_is_directory=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                str(port),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return f"http://127.0.0.1:{port}/maps/"
            time.sleep(0.05)
        raise RuntimeError("http.server did not start")

    yield serve
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/`` (gitignored): screenshots for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def staffed_plan(city: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The city's plan with a ``workers`` layer (see :func:`with_workers`)."""
    return with_workers(city["plan"], tmp_path_factory.mktemp("staffed") / "plan.gpkg")


def with_workers(plan: Path, out: Path) -> Path:
    """A copy of ``plan`` with a ``workers`` layer (as ``gridder workers`` writes it).

    One grid worker per grid (``W001``…, in grid order), a second one in the first
    grid of the second community, and a specialist ``S01`` serving the first two
    grids of the first community.
    """
    from gridder.planfile import PlanFile

    pf = PlanFile.read(plan)
    grids = pf.grids.sort_values("grid_id")
    rows = [
        {
            "worker_id": f"W{i + 1:03d}",
            "role": "grid",
            "grid_ids": g,
            "community_id": c,
            "households": float(h),
        }
        for i, (g, c, h) in enumerate(
            zip(grids["grid_id"], grids["community_id"], grids["households"], strict=True)
        )
    ]
    second = grids[grids["community_id"] == "C002"].iloc[0]
    rows.append(
        {
            "worker_id": f"W{len(rows) + 1:03d}",
            "role": "grid",
            "grid_ids": second["grid_id"],
            "community_id": "C002",
            "households": 100.0,
        }
    )
    rows.append(
        {
            "worker_id": "S01",
            "role": "specialist",
            "grid_ids": "C001-001,C001-002",
            "community_id": "C001",
            "households": 120.0,
        }
    )
    pf.layers["workers"] = pd.DataFrame(rows)
    pf.meta["workers"] = {"workers": len(rows) - 1, "specialists": 1}
    return pf.write(out)
