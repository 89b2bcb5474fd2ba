"""Jobs that glue the pipeline's steps together; the CLI and the API call these.

read → validate → prepare → graph → partition → polygons → coverage → publish.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from gridder.datasets.demo import demo_layers
from gridder.inputs import load_inputs, read_valid
from gridder.io.columns import column_mapping
from gridder.io.write import atomic_path, write_geopackage
from gridder.maps import write_maps
from gridder.partition import PartitionConfig
from gridder.planning import PreviousPlan, check_weights, partition_inputs, read_locked
from gridder.servicejobs import coverage_job, site_job

__all__ = ["demo_job", "partition_files", "write_json"]

log = logging.getLogger(__name__)

#: The facility type the demo sites new stations for (社区服务站 → OSM community_centre).
DEMO_SITE_TYPE = "community_centre"


def write_json(path: Path, data: Any) -> Path:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), "utf-8")
    return path


def demo_job(out: str | Path, *, workers: int = 2, tiles: str = "osm") -> dict[str, Path]:
    """Run the whole job on the embedded Helsinki demo data.

    Writes ``out/inputs.gpkg`` (layers communities, buildings, streets,
    facilities, as a planner would give them: buildings with their OSM tags and
    no households), ``out/check.json`` (the ``gridder check`` report of those
    inputs, read back through the same path every command uses),
    ``out/plan.gpkg`` (the partition), ``out/coverage.gpkg`` (walking access
    by the GB 50180-2018 life-circle levels), ``out/sites.gpkg`` (two new
    community service stations) and ``out/maps/index.html``.

    Parameters
    ----------
    out
        Output directory (created).
    workers
        Processes for the partition.
    tiles
        Basemap of the maps (``osm``, ``none``, ...).

    Returns
    -------
    dict
        Output name → path.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    layers = demo_layers()
    inputs_path = out / "inputs.gpkg"
    write_geopackage(
        inputs_path,
        {
            "communities": layers.communities,
            "buildings": layers.buildings,
            "streets": layers.streets,
            "facilities": layers.facilities,
        },
    )
    inputs = load_inputs(
        communities=f"{inputs_path}:communities",
        buildings=f"{inputs_path}:buildings",
        streets=f"{inputs_path}:streets",
        facilities=f"{inputs_path}:facilities",
    )
    outputs = {"inputs": inputs_path, "check": write_json(out / "check.json", inputs.report())}
    log.info("demo: inputs and check report in %.1f s", time.perf_counter() - started)
    frames = partition_inputs(inputs, PartitionConfig(), workers=workers)
    outputs["plan"] = frames.write(out / "plan.gpkg")
    log.info("demo: plan in %.1f s", time.perf_counter() - started)
    outputs["coverage"], _ = coverage_job(
        plan=str(outputs["plan"]),
        streets=f"{inputs_path}:streets",
        facilities=f"{inputs_path}:facilities",
        out=str(out / "coverage.gpkg"),
        standard="gb50180",
    )
    log.info("demo: coverage in %.1f s", time.perf_counter() - started)
    outputs["sites"], _ = site_job(
        coverage=str(outputs["coverage"]),
        facility_type=DEMO_SITE_TYPE,
        out=str(out / "sites.gpkg"),
        add=2,
    )
    outputs["maps"] = write_maps(
        outputs["plan"],
        out_dir=out / "maps",
        coverage=outputs["coverage"],
        sites=outputs["sites"],
        tiles=tiles,
    )
    log.info("demo finished in %.1f s", time.perf_counter() - started)
    return outputs


def partition_files(
    *,
    communities: str,
    buildings: str,
    streets: str | None,
    out: str,
    params: dict[str, Any] | None = None,
    compounds: str | None = None,
    previous: str | None = None,
    uploads: dict[str, str] | None = None,
) -> str:
    """Partition input files into a plan file (what an API job runs).

    Parameters
    ----------
    communities, buildings, streets
        Input paths, as ``gridder partition`` takes them.
    out
        The plan GeoPackage to write.
    params
        Options with the CLI's names: ``target``, ``min``, ``max``,
        ``balance_on``, ``weights`` (a mapping), ``barriers`` (``major``,
        ``none`` or a file), ``keep_compounds``, ``area_weight``, ``seed``,
        ``time_limit``, ``crs``, ``columns`` (canonical name → header, as
        ``--columns``), ``fix_geometry``,
        ``locked_grids`` (grid ids of ``previous`` to keep exactly) and
        ``max_moved``.
    compounds
        The compound (小区) polygons, as ``--compounds``.
    previous
        A plan file to re-plan from (``--previous``): few households move.
    uploads
        Input kind → the name of the file the client uploaded: ``plan_meta``
        records ``uploaded NAME`` instead of the job's temporary copy.

    Returns
    -------
    str
        The new plan's id.
    """
    params = dict(params or {})
    crs = params.get("crs")
    columns = column_mapping(params.get("columns") or {}, "params.columns")
    fix_geometry = bool(params.get("fix_geometry"))
    inputs = load_inputs(
        communities=communities,
        buildings=buildings,
        streets=streets,
        compounds=compounds,
        crs=crs,
        columns=columns,
        fix_geometry=fix_geometry,
    )
    paths = (communities, buildings, streets, compounds)
    columns.check_used(", ".join(p for p in paths if p))
    for kind, name in (uploads or {}).items():
        if kind in inputs.sources:
            inputs.sources[kind]["file"] = f"uploaded {name}"
    weights = params.get("weights")
    if weights is not None:
        weights = check_weights(weights, "params.weights")
    keys = ("target", "min", "max", "balance_on", "seed", "time_limit", "keep_compounds")
    more = ("area_weight", "max_moved")
    options = {key: params[key] for key in (*keys, *more) if params.get(key) is not None}
    for key in ("target", "min", "max", "seed"):
        if key in options:
            options[key] = int(options[key])
    barriers = params.get("barriers") or "major"
    if barriers not in {"major", "none"}:
        barriers = read_valid(str(barriers), "barriers", crs=crs, fix_geometry=fix_geometry)
    plan = PreviousPlan.open(previous) if previous else None
    locked_ids = params.get("locked_grids")
    locked = read_locked(None, plan, grid_ids=None if locked_ids is None else list(locked_ids))
    frames = partition_inputs(
        inputs,
        PartitionConfig(**options),
        weights=weights,
        barriers=barriers,
        locked=locked,
        previous=plan,
        workers=1,
        parameters={
            "source": "api",
            "locked_grids": [] if locked_ids is None else sorted(map(str, locked_ids)),
        },
    )
    frames.write(out)
    return str(frames.meta["plan_id"])
