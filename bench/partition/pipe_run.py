"""Benchmark through the real pipeline's instances: gridder and peers side by side.

Instances are built exactly as ``gridder partition`` builds them
(:mod:`bench.partition.pipeline`: the pipeline's own tasks, then
``PartitionInstance.from_frames`` — street/compound-cut tessellation). Every
method is measured on the real grid polygons (``gridder.polygons.grid_polygons``).

Usage (repository root)::

    python -m bench.partition.pipe_run all --instances gen_4x6 helsinki nanjing gen_30x30 \
        --methods gridder pymetis_contig maxp --timeout 200 --workers 2
    python -m bench.partition.pipe_run table

Each (instance, method) runs as its own subprocess under ``timeout -s KILL``;
results are appended to ``bench/partition/results_pipeline.jsonl``.
Peers get ``k = round(households / 250)`` per community (pymetis, contiguous,
household weights) or a floor of 200 (spopt MaxPHeuristic).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.partition.pipeline import PipeCommunity, load_instances, summary
from bench.partition.run import m_kmeans, m_pymetis, m_spopt

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_pipeline.jsonl"


def run_gridder(comms: list[PipeCommunity], workers: int) -> tuple[list[Any], dict[str, Any]]:
    from gridder.partition import PartitionConfig, solve_many

    cfg = PartitionConfig()
    res = solve_many([c.instance for c in comms], cfg, max_workers=workers)
    info = {
        "limit_hit": sum(r.limit_hit for r in res),
        "status": sorted({r.status for r in res}),
        "max_community_s": round(max(r.solve_time for r in res), 2),
        "out_of_band": sum(r.out_of_band for r in res),
        "zone_bound": sum(r.zone_bound.min_out_of_band for r in res if r.zone_bound),
        "zone_bound_proven": sum(r.zone_bound.proven for r in res if r.zone_bound),
        "zone_bound_fallback": sum(r.zone_bound.fallback for r in res if r.zone_bound),
        "region_bound": sum(r.region_bound.min_out_of_band for r in res if r.region_bound),
        "region_bound_proven": sum(r.region_bound.proven for r in res if r.region_bound),
        "region_bound_fallback": sum(r.region_bound.fallback for r in res if r.region_bound),
    }
    return [r.labels for r in res], info


def evaluate(comms: list[PipeCommunity], labels: list[Any]) -> dict[str, Any]:
    """CONTRACT §6 measures on the real grid polygons, and the lower bound's ceiling."""
    from gridder.partition import PartitionConfig, band_lower_bound, partition_quality, plan_cap
    from gridder.polygons import boundary_on_street_lengths, grid_polygons

    cfg = PartitionConfig()
    n_in = n_cnt = n_grids = n_contig = n_single = lb_out = 0
    max_dev = 0.0
    pp: list[float] = []
    wd_num = wd_den = 0.0
    poly_fail = thin = in_hole = 0
    near_m = total_m = 0.0
    for c, raw in zip(comms, labels, strict=True):
        inst = c.instance
        lab = np.asarray(raw, dtype=np.int64)
        kw: dict[str, Any] = {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                polys = grid_polygons(c.tess, lab).sort_index()
            geoms = polys.geometry.to_numpy()
            import shapely

            kw = {"grid_area": shapely.area(geoms), "grid_perimeter": shapely.length(geoms)}
            thin += int((4 * np.pi * kw["grid_area"] / kw["grid_perimeter"] ** 2 < 0.1).sum())
            in_hole += _inside_holes(geoms)
            if c.streets is not None:
                near, total = boundary_on_street_lengths(
                    polys, c.geometry, c.streets, c.tess.compound_edges()
                )
                near_m += near
                total_m += total
        except Exception:  # a peer's disconnected grids may not make polygons
            poly_fail += 1
        q = partition_quality(inst, lab, cfg, **kw)
        n_in += q.n_in_band
        n_cnt += q.n_counted
        n_grids += q.n_grids
        n_contig += int(q.contiguous.sum())
        n_single += int(q.single_compound.sum())
        if q.n_counted:
            max_dev = max(max_dev, float(q.deviation[~q.excluded].max()))
        pp += q.polsby_popper.tolist()
        hh = float(inst.households.sum())
        wd_num += q.mean_weighted_distance * hh
        wd_den += hh
        # the bound as the solver computes it: with the exact model of a small sparse
        # community when the plan stays above the other bounds
        lb_out += band_lower_bound(
            inst,
            cfg,
            cap=plan_cap(inst, lab, cfg),
            stop_at=q.n_counted - q.n_in_band,
            exact_time=5.0,
        ).min_out_of_band
    return {
        "grids": n_grids,
        "counted": n_cnt,
        "in_band": round(n_in / max(n_cnt, 1), 4),
        "ceiling": round(1 - lb_out / max(n_cnt, 1), 4),
        "lower_bound_out": lb_out,
        "max_dev": round(max_dev, 3),
        "contiguity": round(n_contig / max(n_grids, 1), 4),
        "pp_mean": round(float(np.mean(pp)), 3) if pp else None,
        "wdist_m": round(wd_num / max(wd_den, 1.0), 1),
        "single_compound": round(n_single / max(n_grids, 1), 4),
        "street_share": round(near_m / total_m, 3) if total_m else None,
        "polygon_failures": poly_fail,
        "thin_grids": thin,
        "grids_in_holes": in_hole,
    }


def _inside_holes(geoms: Any) -> int:
    """Grids lying inside a hole of another grid (a grid ringing others)."""
    import shapely

    holes = [
        shapely.polygons(ring)
        for geom in geoms
        for part in shapely.get_parts(geom)
        for ring in shapely.get_rings(part)[1:]
    ]
    if not holes:
        return 0
    return int(shapely.within(shapely.point_on_surface(geoms), shapely.union_all(holes)).sum())


def cmd_one(name: str, method: str, workers: int) -> None:
    comms = load_instances(name)
    t = time.perf_counter()
    info: dict[str, Any] = {}
    if method == "gridder":
        labels, info = run_gridder(comms, workers)
    elif method in ("pymetis_contig", "pymetis"):
        labels = [m_pymetis(c.instance, method == "pymetis_contig") for c in comms]
    elif method == "kmeans":
        labels = [m_kmeans(c.instance) for c in comms]
    elif method in ("maxp", "skater", "regionkmeans", "azp", "ward"):
        labels = [m_spopt(c.instance, method) for c in comms]
    else:
        msg = f"unknown method {method!r}"
        raise ValueError(msg)
    solve_s = time.perf_counter() - t
    res: dict[str, Any] = {
        "instance": name,
        "method": method,
        "status": "ok",
        "solve_s": round(solve_s, 2),
        "workers": workers if method == "gridder" else 1,
        **summary(comms),
    }
    res.update(evaluate(comms, labels))
    res["info"] = info
    print("RESULT " + json.dumps(res), flush=True)


def cmd_all(instances: list[str], methods: list[str], timeout: int, workers: int) -> None:
    from bench.partition.run import SHOWN, run_isolated

    for name in instances:
        load_instances(name)  # build once, outside the timed runs
        for m in methods:
            run_isolated(
                "bench.partition.pipe_run",
                name,
                m,
                timeout=timeout,
                workers=workers,
                results=RESULTS,
                shown=(*SHOWN[:5], "ceiling", *SHOWN[5:]),
            )


def cmd_table() -> None:
    from bench.partition.run import print_table

    cols = [
        "instance",
        "method",
        "status",
        "buildings",
        "households",
        "grids",
        "solve_s",
        "in_band",
        "ceiling",
        "max_dev",
        "contiguity",
        "pp_mean",
        "wdist_m",
        "single_compound",
        "street_share",
        "thin_grids",
        "grids_in_holes",
    ]
    print_table(RESULTS, cols)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("one")
    one.add_argument("instance")
    one.add_argument("method")
    one.add_argument("--workers", type=int, default=2)
    a = sub.add_parser("all")
    a.add_argument("--instances", nargs="+", default=["gen_4x6", "helsinki"])
    a.add_argument("--methods", nargs="+", default=["gridder", "pymetis_contig", "maxp"])
    a.add_argument("--timeout", type=int, default=200)
    a.add_argument("--workers", type=int, default=2)
    sub.add_parser("table")
    o = ap.parse_args()
    if o.cmd == "one":
        cmd_one(o.instance, o.method, o.workers)
    elif o.cmd == "all":
        cmd_all(o.instances, o.methods, o.timeout, o.workers)
    else:
        cmd_table()


if __name__ == "__main__":
    main()
