"""End-to-end partition benchmark: files in, plan out, through the real command.

Generates compound-style cities of growing size (gridder.datasets.synthetic),
writes them as a GeoPackage like a planner's inputs, and times
``gridder partition`` as a subprocess (reading, validation, tessellation,
solving, polygons, checking, writing). Reports how the cost grows with size.

    python -m bench.partition.e2e --blocks 6 12 30 --workers 2 --timeout 600
    python -m bench.partition.e2e --blocks 30 --lanes   # with compounds' internal roads
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from gridder.datasets.synthetic import generate_city
from gridder.io.write import read_meta, write_geopackage

OUT = Path(__file__).resolve().parents[1] / "out" / "partition_e2e"


def run(blocks: int, *, workers: int, timeout: float, lanes: bool = False) -> dict[str, object]:
    OUT.mkdir(parents=True, exist_ok=True)
    city = generate_city(blocks, blocks, seed=0, lanes=lanes)
    tag = f"{blocks}_lanes" if lanes else str(blocks)
    inputs = OUT / f"city_{tag}.gpkg"
    write_geopackage(inputs, city.layers)
    plan = OUT / f"plan_{tag}.gpkg"
    cmd = [
        sys.executable,
        "-m",
        "gridder",
        "-q",
        "partition",
        "--communities",
        f"{inputs}:communities",
        "--buildings",
        f"{inputs}:buildings",
        "--streets",
        f"{inputs}:streets",
        "--compounds",
        f"{inputs}:compounds",
        "--workers",
        str(workers),
        "--out",
        str(plan),
    ]
    t0 = time.perf_counter()
    try:
        subprocess.run(cmd, check=True, timeout=timeout, capture_output=True)
    except subprocess.TimeoutExpired:
        return {"blocks": blocks, "status": "timeout"}
    wall = time.perf_counter() - t0
    meta = read_meta(plan)
    q = meta["quality"]
    return {
        "blocks": blocks,
        "lanes": lanes,
        "communities": len(city.communities),
        "buildings": len(city.buildings),
        "households": city.households,
        "wall_s": round(wall, 2),
        "solve_s_sum": q["solve_time_s"],
        "grids": q["n_grids"],
        "in_band": round(q["in_band_share"], 4),
        "ceiling": round(q["in_band_ceiling"], 4),
        "pp": round(q["mean_polsby_popper"], 3),
        "single_compound": round(q["single_compound_share"], 3),
        "street_share": round(q["boundary_on_street_share"] or 0, 3),
        "contiguity": q["contiguity_share"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, nargs="+", default=[6, 12, 30])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--lanes", action="store_true", help="give compounds and old blocks internal roads"
    )
    args = parser.parse_args()
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{platform.python_version()}, workers={args.workers}"
    )
    for b in args.blocks:
        out = run(b, workers=args.workers, timeout=args.timeout, lanes=args.lanes)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
