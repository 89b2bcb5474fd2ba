"""Turn bench/coverage/results.json into the Markdown tables of RESULTS.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _f(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def peer_cell(res: dict) -> str:
    if res.get("status") != "ok":
        return res.get("status", "-")
    build = res.get("build_s", 0) + res.get("precompute_s", 0)
    return f"{_f(res['query_s'])} (+{_f(build)} build)"


def main(path: str = str(HERE / "results.json")) -> None:
    r = json.loads(Path(path).read_text())
    out = [f"Command: `{r['command']}`  ", f"Date: {r['date']}  ", f"Machine: {r['machine']}", ""]
    out += [
        "## Nearest facility of every type (cutoff 1,125 m = 15 min at 4.5 km/h)",
        "",
        "Seconds for all types, best of 3 runs for gridder and bare scipy (gridder's first "
        "run in brackets). gridder: exact edge-anchored distances (access legs and "
        "positions along edges) on its own graph; peers: the same graph with facilities "
        "and buildings at their nearest node, compared with bare scipy (max diff, "
        "reachability mismatches).",
        "",
        "| data | nodes | edges | buildings | types × facilities | gridder graph s | "
        "gridder snap s | gridder distances s | scipy s | networkx s | igraph s | "
        "pandana s | gridder / scipy | peers' max diff m / mismatches |",
        "|" + "---|" * 14,
    ]
    for row in r["nearest"]:
        sc = row.get("scipy", {})
        ratio = (
            (row["gridder_distances_s"] + row["gridder_virtual_graph_s"]) / sc["query_s"]
            if sc.get("status") == "ok" and sc["query_s"] > 0
            else None
        )
        first = ""
        if ratio is not None and "gridder_first_run_s" in row:
            first = f" (first run {_f(row['gridder_first_run_s'] / sc['query_s'])})"
        diffs = "; ".join(
            f"{p} {_f(row[p].get('max_diff_m'))}/{row[p].get('reach_mismatch')}"
            for p in ("networkx", "igraph", "pandana")
            if row.get(p, {}).get("status") == "ok"
        )
        out.append(
            f"| {row['dataset']} | {row['nodes']:,} | {row['edges']:,} | {row['buildings']:,} | "
            f"{row['types']} × {row['facilities'] // max(row['types'], 1)} | "
            f"{_f(row['gridder_graph_s'])} | {_f(row['gridder_snap_s'])} | "
            f"{_f(row['gridder_distances_s'] + row['gridder_virtual_graph_s'])} | "
            f"{peer_cell(sc)} | {peer_cell(row.get('networkx', {}))} | "
            f"{peer_cell(row.get('igraph', {}))} | {peer_cell(row.get('pandana', {}))} | "
            f"{_f(ratio)}{first} | {diffs} |"
        )
    e = r.get("end_to_end")
    if e:
        out += [
            "",
            f"## End to end, synthetic {e['size_km']:g} km city (GeoPackage inputs, "
            "plain lines noded by gridder)",
            "",
            "| step | seconds |",
            "|---|---|",
        ]
        for k, v in e.items():
            if k.endswith("_s"):
                out.append(f"| {k[:-2]} | {_f(v)} |")
        out.append(
            f"| (nodes, edges, access rows, gaps) | {e['nodes']:,}, {e['edges']:,}, "
            f"{e['access_rows']:,}, {e['gaps']:,} |"
        )
    out += [
        "",
        "## Isochrones (ms per facility; mean area km²)",
        "",
        "| data | hull 5 min | buffer 5 min | hull 15 min | buffer 15 min | "
        "OSMnx-style hull 15 min | OSMnx-style buffer 15 min | one call, 5/10/15 min: "
        "facilities, ms per polygon |",
        "|" + "---|" * 8,
    ]
    for i in r["isochrones"]:
        out.append(
            f"| {i['dataset']} | {_f(i['hull_5min_ms'])} ({_f(i['hull_5min_km2'])}) | "
            f"{_f(i['buffer_5min_ms'])} ({_f(i['buffer_5min_km2'])}) | "
            f"{_f(i['hull_15min_ms'])} ({_f(i['hull_15min_km2'])}) | "
            f"{_f(i['buffer_15min_ms'])} ({_f(i['buffer_15min_km2'])}) | "
            f"{_f(i.get('osmnx_hull_15min_ms'))} | {_f(i.get('osmnx_buffer_15min_ms'))} | "
            f"{i.get('call_facilities', '-')}, {_f(i.get('call_ms_per_polygon'))} |"
        )
    s = r.get("siting")
    if s:
        out += [
            "",
            f"## Siting: {s['candidates']:,} candidates × {s['demand']:,} demand "
            f"buildings, radius {s['radius_m']:g} m (10 km synthetic grid)"
            + (f" (rerun {r['siting_rerun']})" if r.get("siting_rerun") else ""),
            "",
            "| model | tool | matrix s | build s | solve s | total s | objective | status |",
            "|" + "---|" * 8,
        ]
        for k, v in s.items():
            if k.startswith("gridder_"):
                out.append(
                    f"| {k[8:]} | gridder (OR-Tools) | {_f(v['matrix_s'])} | "
                    f"{_f(v['build_s'])} | {_f(v['solve_s'])} | {_f(v['total_s'])} | "
                    f"{_f(v['objective'], 6)} | {v['status']} |"
                )
            elif k.startswith("spopt_"):
                if v.get("status") != "ok":
                    out.append(f"| {k} | spopt | - | - | - | - | - | {v.get('status')} |")
                    continue
                for model in ("mclp", "lscp"):
                    m = v[model]
                    out.append(
                        f"| {model} {k[6:]} | spopt (PuLP/CBC), matrix given | - | "
                        f"{_f(m['build_s'])} | {_f(m['solve_s'])} | "
                        f"{_f(m['build_s'] + m['solve_s'])} | {_f(m['objective'], 6)} | "
                        f"{m['status']} |"
                    )
    print("\n".join(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
