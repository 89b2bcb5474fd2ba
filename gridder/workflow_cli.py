"""The planner-workflow subcommands: ``gridder workers``, ``edit``, ``diff`` and ``export``.

:func:`add_workflow_commands` registers them on the ``gridder`` parser
(``gridder/cli.py`` calls it); each handler returns an exit status and lets
:class:`~gridder.errors.GridderError` propagate to the CLI's error handling
(exit 2 for bad input, 1 otherwise).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["add_workflow_commands"]


def _ids(text: str) -> list[str]:
    return [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]


def _cmd_workers(args: argparse.Namespace) -> int:
    from gridder.workers import assign_workers, write_workers

    result = assign_workers(
        args.plan,
        workers=args.workers,
        specialists=args.specialists,
        max_households_per_worker=args.max_households_per_worker,
        seed=args.seed,
        time_limit=args.time_limit,
    )
    path = write_workers(args.plan, result, out=args.out)
    console = Console()
    table = Table(title=f"workers ({result.status})")
    for col in ("worker_id", "role", "grid_ids", "households"):
        table.add_column(col, justify="right" if col == "households" else "left")
    for row in result.workers.itertuples(index=False):
        table.add_row(row.worker_id, row.role, row.grid_ids, f"{row.households:g}")
    console.print(table)
    verdict = "holds" if result.limit_holds else "[red]does not hold[/red]"
    console.print(f"largest load {result.max_load:g} households; limit {result.limit} {verdict}")
    for note in result.notes:
        console.print(f"[yellow]note[/yellow]: {note}")
    console.print(f"workers layer written to {path}")
    return 0


def _cmd_edit(args: argparse.Namespace) -> int:
    from gridder.edit import apply_edit

    result = apply_edit(
        args.plan,
        move=_ids(args.move) if args.move else None,
        to=args.to,
        lock=args.lock,
        unlock=args.unlock,
        undo=args.undo,
        out=args.out,
        plan_id=args.plan_id,
    )
    console = Console()
    if args.json:
        console.print_json(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
        return 0
    moves = [("hand", m) for m in result.hand_moves] + [
        ("rebalance", m) for m in result.rebalance_moves
    ]
    if moves:
        table = Table(title=f"{result.action}: community {result.community_id}")
        for col in ("kind", "building_id", "from", "to", "households"):
            table.add_column(col)
        for kind, m in moves:
            table.add_row(
                kind, m["building_id"], m["from_grid"], m["to_grid"], str(m["households"])
            )
        console.print(table)
        console.print(
            f"hand move {result.hand_households} households; rebalancing "
            f"{result.rebalance_households} (at most 3×)"
        )
    if result.quality_before:
        q = Table(title="quality")
        for col in ("measure", "before", "after"):
            q.add_column(col)
        for key, before in result.quality_before.items():
            q.add_row(key, _fmt(before), _fmt(result.quality_after.get(key)))
        console.print(q)
    if result.out_of_band:
        console.print(f"[yellow]still outside the band[/yellow]: {', '.join(result.out_of_band)}")
    for note in result.notes:
        console.print(f"[yellow]note[/yellow]: {note}")
    console.print(f"plan written to {result.path}")
    return 0


def _fmt(value: Any) -> str:
    """A number for the console: whole numbers with thousands separators, shares to 4 digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"  # a measure with nothing to measure (no households, no grid counted)
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _cmd_diff(args: argparse.Namespace) -> int:
    from gridder.diff import check_diff_path, diff_plans, write_diff

    if args.out:
        check_diff_path(args.out)  # before the tables are printed
    diff = diff_plans(args.old, args.new)
    console = Console()
    table = Table(title=f"diff {diff.summary['old_plan']} → {diff.summary['new_plan']}")
    table.add_column("item")
    table.add_column("value", justify="right")
    for key, value in diff.summary.items():
        table.add_row(key.replace("_", " "), _fmt(value))
    console.print(table)
    changed = diff.grids[diff.grids["status"] != "unchanged"]
    if len(changed):
        # short headers, so that an 80-column terminal shows the whole status
        g = Table(title="changed grids (households old → new; buildings in, out)")
        g.add_column("grid_id", no_wrap=True)
        g.add_column("status", no_wrap=True)
        for col in ("old", "new", "in", "out"):
            g.add_column(col, justify="right")
        for row in changed.head(args.limit).itertuples(index=False):
            g.add_row(
                row.grid_id,
                row.status,
                f"{row.households_old:g}",
                f"{row.households_new:g}",
                str(row.buildings_in),
                str(row.buildings_out),
            )
        console.print(g)
    q = Table(title="quality")
    for col in ("measure", "old", "new"):
        q.add_column(col)
    for row in diff.quality_table().itertuples(index=False):
        q.add_row(row.measure, _fmt(row.old), _fmt(row.new))
    console.print(q)
    if args.out:
        for path in write_diff(diff, args.out):
            console.print(f"wrote {path}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from gridder.export import export_plan

    paths = export_plan(
        args.plan,
        fmt=args.format,
        out=args.out,
        layer=args.layer,
        encoding=args.encoding,
        crs=args.crs,
        coverage=args.coverage,
    )
    console = Console()
    for path in paths:
        console.print(f"wrote {Path(path)}")
    return 0


def add_workflow_commands(sub: Any) -> None:
    """Register ``workers``, ``edit``, ``diff`` and ``export`` on a subparsers object."""
    workers = sub.add_parser(
        "workers",
        help="assign grid workers (网格员) to the grids of a plan",
        description="Assign grid workers with OR-Tools: every grid gets a responsible worker "
        "(一员一格), heavy grids get more staff, specialists serve contiguous groups of "
        "grids (一员多格), and no worker carries more than the limit when the staff allows. "
        "Writes a workers layer into the plan.",
    )
    workers.add_argument("--plan", required=True, help="plan GeoPackage")
    workers.add_argument(
        "--workers",
        type=int,
        required=True,
        help="number of grid workers (at least 1), each serving one grid (一员一格); with at "
        "least one per grid, every grid gets its own and the extra ones go to the heavy grids",
    )
    workers.add_argument(
        "--specialists",
        type=int,
        default=0,
        help="specialists on top of --workers, each serving a contiguous group of 2-4 grids "
        "of one community (一员多格; default 0)",
    )
    workers.add_argument(
        "--max-households-per-worker",
        type=int,
        default=400,
        help="most households one worker carries (default 400)",
    )
    workers.add_argument("--seed", type=int, default=0)
    workers.add_argument(
        "--time-limit",
        type=float,
        default=10.0,
        help="solver deterministic time limit, about seconds (default 10)",
    )
    workers.add_argument("--out", help="write the plan here instead of in place")
    workers.set_defaults(handler=_cmd_workers)

    edit = sub.add_parser(
        "edit",
        help="a hand edit of a plan, then local rebalancing",
        description="Move buildings to a grid (then rebalance only the neighbouring grids, "
        "moving at most 3x the households of the hand move), lock or unlock a grid, or undo "
        "the last edit. Every edit is recorded in plan_meta.history.",
    )
    action = edit.add_mutually_exclusive_group(required=True)
    action.add_argument("--move", metavar="IDS", help="building ids, comma separated (with --to)")
    action.add_argument("--lock", metavar="GRID", help="lock a grid: later edits keep it")
    action.add_argument("--unlock", metavar="GRID", help="unlock a grid")
    action.add_argument("--undo", action="store_true", help="revert the last edit")
    edit.add_argument("--to", metavar="GRID", help="the grid that receives the buildings")
    edit.add_argument("--plan", required=True, help="plan GeoPackage")
    edit.add_argument("--out", help="write the edited plan here instead of in place")
    edit.add_argument("--plan-id", help="a new plan_id for the edited plan")
    edit.add_argument("--json", action="store_true", help="print the result as JSON")
    edit.set_defaults(handler=_cmd_edit)

    diff = sub.add_parser(
        "diff",
        help="compare two plans",
        description="Which buildings changed grid (and the moved-households share), which "
        "grids are new, removed or changed, and quality before/after.",
    )
    diff.add_argument("old", help="the old plan")
    diff.add_argument("new", help="the new plan")
    diff.add_argument("--out", help="write FILE.csv (three CSV files) or FILE.xlsx")
    diff.add_argument("--limit", type=int, default=50, help="changed grids to print (default 50)")
    diff.set_defaults(handler=_cmd_diff)

    export = sub.add_parser(
        "export",
        help="export a plan to GeoJSON, GeoPackage, Shapefile or an Excel ledger",
        description="GeoJSON and Shapefile write the grids layer unless --layer names another; "
        "GeoPackage writes every layer; xlsx writes a grid ledger (网格台账), one sheet per "
        "community.",
    )
    export.add_argument("--plan", required=True, help="plan GeoPackage")
    export.add_argument("--format", required=True, choices=["geojson", "gpkg", "shp", "xlsx"])
    export.add_argument("--layer", default="grids", help="layer for geojson/shp (default grids)")
    export.add_argument("--out", required=True, help="output file (shp: X.shp or X.zip)")
    export.add_argument(
        "--encoding",
        default="utf-8",
        choices=["utf-8", "gbk", "gb18030"],
        help="Shapefile text encoding, written to the .cpg (default utf-8)",
    )
    export.add_argument(
        "--crs",
        default="wgs84",
        choices=["wgs84", "gcj02"],
        help="coordinates: wgs84, or gcj02 for Amap/Tencent front ends",
    )
    export.add_argument(
        "--coverage", help="coverage GeoPackage: adds coverage shares to the ledger"
    )
    export.set_defaults(handler=_cmd_export)
