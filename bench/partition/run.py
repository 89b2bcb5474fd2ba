"""Run gridder and the peer partitioners on the same instances, each in its own subprocess.

Usage (from the repository root)::

    python -m bench.partition.run all --instances city_60k city_1m \
        --methods gridder pymetis_contig kmeans ward maxp skater regionkmeans azp --timeout 200
    python -m bench.partition.run table          # results.jsonl -> stdout (markdown)

Each (instance, method) runs as ``timeout -s KILL T python -m bench.partition.run one I M``;
a run killed by the timeout is recorded as ``timeout``. Instances are generated
cities (:mod:`bench.partition.city`), cached under ``bench/out/partition``.
Every method partitions each community separately with the same ``k``
(gridder chooses its own; the peers get ``round(households / 250)``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "out" / "partition"
RESULTS = HERE / "results.jsonl"
SIZES = {"city_60k": 60_000, "city_250k": 250_000, "city_1m": 1_000_000}
LO, HI, TARGET = 200, 300, 250


def load(name: str):
    path = OUT / f"{name}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    from bench.partition.city import generate_city

    t = time.perf_counter()
    comms = generate_city(SIZES[name], seed=42)
    geom_s = time.perf_counter() - t
    OUT.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump((comms, geom_s), f)
    return comms, geom_s


# ---------------------------------------------------------------- methods
def _csr(inst):
    n = inst.n
    e = inst.edges
    src = np.r_[e[:, 0], e[:, 1]]
    dst = np.r_[e[:, 1], e[:, 0]]
    o = np.lexsort((dst, src))
    xadj = np.r_[0, np.cumsum(np.bincount(src[o], minlength=n))]
    return xadj.astype(np.int64), dst[o].astype(np.int64)


def k_of(inst) -> int:
    return max(1, round(int(inst.value.sum()) / TARGET))


def m_pymetis(inst, contiguous: bool):
    import pymetis

    k = k_of(inst)
    if k == 1 or inst.n <= k:
        return np.arange(inst.n) if inst.n <= k else np.zeros(inst.n, int)
    xadj, adj = _csr(inst)
    r = pymetis.part_graph(
        k, xadj=xadj, adjncy=adj, vweights=inst.value.astype(np.int64), contiguous=contiguous
    )
    return np.asarray(r[1])


def m_kmeans(inst):
    from sklearn.cluster import KMeans

    k = min(k_of(inst), inst.n)
    km = KMeans(n_clusters=k, n_init=1, random_state=0)
    km.fit(inst.xy, sample_weight=inst.value + 0.01)
    return km.labels_


def _gdf_w(inst):
    import geopandas as gpd
    import libpysal

    z = (inst.xy - inst.xy.mean(0)) / np.maximum(inst.xy.std(0), 1e-9)
    gdf = gpd.GeoDataFrame(
        {"x": z[:, 0], "y": z[:, 1], "hh": inst.value.astype(float)},
        geometry=gpd.points_from_xy(inst.xy[:, 0], inst.xy[:, 1]),
    )
    nb = {i: [] for i in range(inst.n)}
    for a, b in inst.edges.tolist():
        nb[a].append(b)
        nb[b].append(a)
    return gdf, libpysal.weights.W(nb, silence_warnings=True)


def m_spopt(inst, which: str):
    import warnings

    warnings.filterwarnings("ignore")
    from spopt.region import AZP, MaxPHeuristic, RegionKMeansHeuristic, Skater, WardSpatial

    gdf, w = _gdf_w(inst)
    k = min(k_of(inst), inst.n)
    if which == "maxp":
        m = MaxPHeuristic(
            gdf,
            w,
            ["x", "y"],
            "hh",
            LO,
            top_n=2,
            max_iterations_construction=10,
            max_iterations_sa=3,
        )
    elif which == "skater":
        m = Skater(
            gdf,
            w,
            ["x", "y"],
            n_clusters=k,
            floor=max(1, int(0.25 * inst.n / k)),
            trace=False,
            islands="increase",
        )
    elif which == "regionkmeans":
        m = RegionKMeansHeuristic(gdf[["x", "y"]].values, k, w, seed=0)
    elif which == "azp":
        m = AZP(gdf, w, ["x", "y"], n_clusters=k, random_state=0)
    else:
        m = WardSpatial(gdf, w, ["x", "y"], n_clusters=k)
    m.solve()
    return np.asarray(m.labels_)


def run_gridder(comms, workers: int):
    from gridder.partition import PartitionConfig, solve_many

    res = solve_many([c.instance for c in comms], PartitionConfig(), max_workers=workers)
    info = {
        "limit_hit": sum(r.limit_hit for r in res),
        "lower_bound_out": sum(r.lower_bound.min_out_of_band for r in res),
        "status": sorted({r.status for r in res}),
    }
    return [r.labels for r in res], info


def run_gridder_replan(comms, workers: int, max_moved: float = 1.0):
    """Plan, then re-plan the city a year later; only the re-plan is timed by the caller.

    ``max_moved`` is the re-plan's ``--max-moved`` (``gridder_replan_capped``: 0.05).
    """
    from bench.partition.city import year_later
    from gridder.partition import PartitionConfig, solve_many
    from gridder.partition.movebound import moved_lower_bound

    cfg = PartitionConfig()
    base = solve_many([c.instance for c in comms], cfg, max_workers=workers)
    now, prevs = year_later(comms, [r.labels for r in base])
    t = time.perf_counter()
    res = solve_many(now, cfg.with_(max_moved=max_moved), max_workers=workers)
    replan_s = time.perf_counter() - t
    moved = stay = 0.0
    worst = 0.0  # the largest share one community moved
    # where a community's every grid is in band: what it moved and what any such plan must
    bound_in_band = moved_in_band = 0.0
    for inst, r, p in zip(now, res, prevs, strict=True):
        hh = inst.households.astype(float)
        both = p >= 0
        stay += float(hh[both].sum())
        moved += float(hh[both & (r.labels != p)].sum())
        if r.out_of_band == 0:
            bound_in_band += float(moved_lower_bound(inst, cfg) or 0)
            moved_in_band += float(hh[both & (r.labels != p)].sum())
        if hh[both].sum() > 0:
            worst = max(worst, float(hh[both & (r.labels != p)].sum() / hh[both].sum()))
    kept = sum(
        len(set(r.labels.tolist()) & set(p[p >= 0].tolist()))
        for r, p in zip(res, prevs, strict=True)
    )
    before = sum(len(set(p[p >= 0].tolist())) for p in prevs)
    info = {
        "moved_share": round(moved / stay, 4),
        "moved_share_worst_community": round(worst, 4),
        # the communities left with every grid in band: households they moved, and the
        # fewest any such plan must move (movebound), as shares of all that stay
        "moved_lower_bound_share": round(bound_in_band / stay, 4),
        "moved_in_band_communities_share": round(moved_in_band / stay, 4),
        "replan_s": round(replan_s, 2),
        "codes_kept": round(kept / before, 4),
        "limit_hit": sum(r.limit_hit for r in res),
        "lower_bound_out": sum(r.lower_bound.min_out_of_band for r in res),
    }
    return [r.labels for r in res], info, list(now)


# ---------------------------------------------------------------- metrics
def evaluate(comms, labels_per_comm, instances=None) -> dict:
    from gridder.partition import PartitionConfig, partition_quality

    cfg = PartitionConfig()
    n_in = n_cnt = n_grids = n_contig = n_single = 0
    max_dev = 0.0
    pp, wd_num, wd_den = [], 0.0, 0.0
    instances = instances or [c.instance for c in comms]
    for c, inst, lab in zip(comms, instances, labels_per_comm, strict=True):
        q = partition_quality(inst, np.asarray(lab), cfg, unit_perimeter=c.unit_perimeter)
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
    return {
        "grids": n_grids,
        "in_band": round(n_in / n_cnt, 4),
        "max_dev": round(max_dev, 3),
        "contiguity": round(n_contig / n_grids, 4),
        "pp_mean": round(float(np.mean(pp)), 3),
        "wdist_m": round(wd_num / wd_den, 1),
        "single_compound": round(n_single / n_grids, 4),
    }


def cmd_one(name: str, method: str, workers: int) -> None:
    comms, geom_s = load(name)
    t = time.perf_counter()
    info: dict = {}
    instances = None
    if method == "gridder":
        labels, info = run_gridder(comms, workers)
    elif method == "gridder_replan":
        labels, info, instances = run_gridder_replan(comms, workers)
    elif method == "gridder_replan_capped":
        labels, info, instances = run_gridder_replan(comms, workers, max_moved=0.05)
    else:
        fn = {
            "pymetis_contig": lambda i: m_pymetis(i, True),
            "pymetis": lambda i: m_pymetis(i, False),
            "kmeans": m_kmeans,
        }.get(method) or (lambda i: m_spopt(i, method))
        labels = [fn(c.instance) for c in comms]
    solve_s = time.perf_counter() - t
    if method.startswith("gridder_replan"):
        solve_s = info["replan_s"]  # the re-plan alone (the first plan is not timed)
    res = {
        "instance": name,
        "method": method,
        "status": "ok",
        "solve_s": round(solve_s, 2),
        "geometry_s": round(geom_s, 2),
        "workers": workers if method.startswith("gridder") else 1,
        "communities": len(comms),
        "buildings": sum(c.instance.n for c in comms),
        "households": int(
            sum(int(i.value.sum()) for i in (instances or [c.instance for c in comms]))
        ),
    }
    res.update(evaluate(comms, labels, instances))
    res["info"] = info
    print("RESULT " + json.dumps(res), flush=True)


SHOWN = (
    "instance",
    "method",
    "status",
    "solve_s",
    "in_band",
    "contiguity",
    "pp_mean",
    "wdist_m",
    "single_compound",
)


def run_isolated(
    module: str,
    name: str,
    method: str,
    *,
    timeout: int,
    workers: int,
    results: Path,
    shown: tuple[str, ...] = SHOWN,
) -> dict:
    """Run ``python -m MODULE one NAME METHOD`` under ``timeout -s KILL`` and record it.

    The subprocess prints one ``RESULT {json}`` line; a killed or failed run is
    recorded as ``timeout`` or ``error N``. The result (with the wall time, date
    and machine) is appended to ``results`` and its main figures printed.
    """
    t = time.time()
    cmd = [
        "timeout",
        "-s",
        "KILL",
        str(timeout),
        sys.executable,
        "-m",
        module,
        "one",
        name,
        method,
        "--workers",
        str(workers),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent.parent, check=False)
    wall = time.time() - t
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if line:
        res = json.loads(line[-1][7:])
    else:
        res = {
            "instance": name,
            "method": method,
            "status": ("timeout" if p.returncode in (-9, 137) else f"error {p.returncode}"),
            "error": p.stderr[-300:],
        }
    res["proc_wall_s"] = round(wall, 2)
    res["date"] = time.strftime("%Y-%m-%d %H:%M")
    res["machine"] = f"{platform.node()} {os.cpu_count()} cores {platform.machine()}"
    with open(results, "a") as f:
        f.write(json.dumps(res) + "\n")
    print(json.dumps({k: res.get(k) for k in shown}), flush=True)
    return res


def cmd_all(instances, methods, timeout: int, workers: int) -> None:
    for name in instances:
        load(name)  # generate once, outside the timed runs
        for m in methods:
            run_isolated(
                "bench.partition.run", name, m, timeout=timeout, workers=workers, results=RESULTS
            )


def print_table(results: Path, cols: list[str]) -> None:
    """Markdown table of the latest run of each (instance, method), with ratios to gridder."""
    with open(results) as f:
        rows = [json.loads(x) for x in f]
    last = {(r["instance"], r["method"]): r for r in rows}
    print("| " + " | ".join(cols) + " | vs gridder time | vs gridder in band |")
    print("|" + "---|" * (len(cols) + 2))
    for (inst, _), r in sorted(last.items()):
        g = last.get((inst, "gridder"), {})
        ratio_t = (
            f"{r['solve_s'] / g['solve_s']:.1f}×" if r.get("solve_s") and g.get("solve_s") else ""
        )
        ratio_b = (
            f"{r['in_band'] - g['in_band']:+.3f}"
            if r.get("in_band") is not None and g.get("in_band") is not None
            else ""
        )
        print(
            "| "
            + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in cols)
            + f" | {ratio_t} | {ratio_b} |"
        )


def cmd_table() -> None:
    cols = [
        "instance",
        "method",
        "status",
        "buildings",
        "households",
        "grids",
        "solve_s",
        "proc_wall_s",
        "in_band",
        "max_dev",
        "contiguity",
        "pp_mean",
        "wdist_m",
        "single_compound",
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
    a.add_argument("--instances", nargs="+", default=["city_60k"])
    a.add_argument("--methods", nargs="+", default=["gridder", "pymetis_contig", "kmeans"])
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
