"""Coverage and siting jobs: a plan and input files in, coverage and sites GeoPackages out.

``gridder coverage`` reads the plan's buildings (``assignments``), the streets
and the facilities through the same reading path as every command, computes
walking access (:func:`gridder.coverage.compute_coverage`) and writes the
CONTRACT §4 layers plus ``facilities``, ``network`` (the walking network's
edges, so that ``gridder site`` works from the coverage file alone),
``components`` and ``coverage_meta``.

``gridder site`` reads a coverage file and chooses new sites for one facility
type (:func:`gridder.coverage.site_facilities`).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridder import __version__
from gridder.coverage import compute_coverage, site_facilities
from gridder.coverage.standard import load_standard
from gridder.errors import InputError, Problem
from gridder.graph.streets import WalkNetwork
from gridder.inputs import read_valid
from gridder.io.columns import ColumnMapping
from gridder.io.crs import local_metric_crs
from gridder.io.write import read_meta, write_geopackage
from gridder.planfile import assignment_digest
from gridder.schema import WGS84

__all__ = ["coverage_job", "site_job"]

log = logging.getLogger(__name__)

COVERAGE_META = "coverage_meta"
SITES_META = "sites_meta"


def _layers(path: str | Path) -> list[str]:
    return [str(n) for n in pyogrio.list_layers(path)[:, 0]]


def _plan_buildings(plan: str | Path) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    source = str(plan)
    if not Path(plan).exists():
        raise InputError.single(source, "", "plan file not found")
    try:
        names = _layers(plan)
    except Exception as exc:  # any unreadable file is bad input
        raise InputError.single(source, "", f"cannot read the plan: {exc}") from exc
    if "assignments" not in names:
        raise InputError.single(source, "", "not a gridder plan (no assignments layer)")
    buildings = pyogrio.read_dataframe(plan, layer="assignments")
    meta = read_meta(plan) if "plan_meta" in names else {}
    return buildings, meta


def _points(frame: gpd.GeoDataFrame, metric: Any) -> gpd.GeoDataFrame:
    out = frame.to_crs(metric)
    geoms = out.geometry.to_numpy()
    not_point = shapely.get_type_id(geoms) != 0
    if not_point.any():
        geoms = geoms.copy()
        geoms[not_point] = shapely.centroid(geoms[not_point])
        out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=metric))
    return out


def _refuse_far_candidates(
    candidates: gpd.GeoDataFrame, network: Any, threshold_m: float, source: str
) -> None:
    """Refuse candidate sites farther from every street than the walking threshold.

    Such a site can serve no household within the threshold: a wrong location
    or a wrong CRS (another city's candidates), reported rather than sited.

    Raises
    ------
    InputError
        Naming each such candidate and its distance to the network.
    """
    leg = network.snap(candidates.geometry).leg
    far = np.flatnonzero(~(leg <= threshold_m))
    if len(far):
        ids = candidates["candidate_id"].astype(str).to_numpy()
        raise InputError(
            [
                Problem(
                    source,
                    f"candidate_id={ids[i]}",
                    f"lies {leg[i]:.0f} m from the nearest street of the coverage's network, "
                    f"beyond the {threshold_m:.0f} m threshold: it can serve no household "
                    "(a wrong location or CRS?)",
                )
                for i in far[:20]
            ]
        )


def coverage_job(
    *,
    plan: str,
    streets: str,
    facilities: str,
    out: str,
    minutes: Sequence[float] = (5, 15),
    speed_kmh: float = 4.5,
    standard: str | None = None,
    isochrones: str = "buffer",
    types: Sequence[str] | None = None,
    crs: str | None = None,
    columns: dict[str, str] | None = None,
    fix_geometry: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Compute walking coverage for a plan and write the coverage GeoPackage.

    Parameters
    ----------
    plan
        The plan GeoPackage (its ``assignments`` are the buildings).
    streets, facilities
        Input files (any supported format; ``.osm.pbf`` too).
    out
        The coverage GeoPackage to write.
    minutes, speed_kmh
        Thresholds: each is ``minutes × speed`` metres of network distance.
    standard
        ``gb50180`` or a catalogue file: its distances replace ``minutes`` and a
        ``compliance`` table is written.
    isochrones
        ``buffer`` (default), ``hull`` (convex preview) or ``none``.
    types
        Facility types to compute (default: all).
    crs, columns, fix_geometry
        Input options, as for every command.
    progress
        Called as ``progress(step, done, total)``.

    Returns
    -------
    tuple
        The written path and the coverage metadata.
    """
    started = time.perf_counter()
    buildings, plan_meta = _plan_buildings(plan)
    minx, miny, maxx, maxy = buildings.to_crs(WGS84).total_bounds
    metric = local_metric_crs((minx + maxx) / 2, (miny + maxy) / 2)
    problems = []
    layers: dict[str, gpd.GeoDataFrame] = {}
    for kind, path in (("streets", streets), ("facilities", facilities)):
        try:
            layers[kind] = read_valid(
                path, kind, crs=crs, columns=columns, fix_geometry=fix_geometry
            )
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    if isinstance(columns, ColumnMapping):
        columns.check_used(f"{streets}, {facilities}")
    result = compute_coverage(
        layers["streets"].to_crs(metric),
        buildings.to_crs(metric),
        _points(layers["facilities"], metric),
        minutes=minutes,
        speed_kmh=speed_kmh,
        standard=standard,
        isochrones=isochrones,  # type: ignore[arg-type]
        types=types,
        progress=progress,
    )
    meta = {
        "coverage_id": f"coverage-{datetime.now(UTC):%Y%m%d-%H%M%S}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan_id": plan_meta.get("plan_id"),
        # which buildings were in which grid: an edit keeps the plan_id, not this
        "plan_assignment_digest": assignment_digest(buildings),
        "parameters": {
            "minutes": list(minutes),
            "speed_kmh": speed_kmh,
            "standard": standard,
            "isochrones": isochrones,
            "types": list(types) if types else None,
        },
        "gridder": __version__,
        **result.meta,
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    facilities_out = _points(layers["facilities"], metric)
    facilities_out = facilities_out.drop(columns=["_row"], errors="ignore")
    if "category" not in facilities_out.columns:
        # the life-circle category each type counts for (as in the access layer)
        catalogue = load_standard(standard or "gb50180")
        facilities_out["category"] = [catalogue.category_of(t) for t in facilities_out["type"]]
    summary = result.summary.copy()
    for col in ("households", "households_covered"):
        if col in summary.columns and summary[col].notna().all():
            summary[col] = summary[col].round().astype(np.int64)
    frames: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {
        "access": result.access,
        "summary": summary,
        "isochrones": result.isochrones,
        "gaps": result.gaps,
    }
    if result.compliance is not None:
        frames["compliance"] = result.compliance
    if result.missing is not None:
        frames["missing"] = result.missing
    frames["facilities"] = facilities_out
    frames["network"] = result.network.edges_frame()
    frames["components"] = result.components
    written = write_geopackage(out, frames, meta=meta, meta_layer=COVERAGE_META)
    return written, meta


def _threshold(meta: dict[str, Any], minutes: float | None, distance_m: float | None) -> float:
    if distance_m is not None:
        return float(distance_m)
    thresholds = meta.get("thresholds") or []
    if minutes is not None:
        speed = float(meta.get("parameters", {}).get("speed_kmh", 4.5))
        return float(minutes) * speed * 1000.0 / 60.0
    if not thresholds:
        raise InputError.single("--minutes", "", "give --minutes or --distance-m")
    return float(max(t["distance_m"] for t in thresholds))


def _category_named(name: str, access: pd.DataFrame) -> str | None:
    """The ``category`` of ``access`` that ``name`` names, if any.

    ``name`` is the category's key, its Chinese or English name in the GB 50180
    catalogue, or a type name the catalogue maps to it (``社区服务站`` →
    ``community_service_station``, ``幼儿园`` → ``kindergarten``).
    """
    if "category" not in access.columns:
        return None
    present = set(access["category"].dropna().astype(str))
    if name in present:
        return name
    from gridder.coverage.standard import load_standard

    wanted = name.strip().lower()
    for cat in load_standard("gb50180").categories.values():
        names = {cat.zh.lower(), cat.en.lower(), *re.split(r"[、/，,]", cat.zh.lower())}
        names |= {t.lower() for t in cat.types}  # the type names the catalogue maps to it
        if cat.key in present and wanted in names:
            return cat.key
    return None


def site_job(
    *,
    coverage: str,
    facility_type: str,
    out: str,
    add: int | None = None,
    cover_all: bool = False,
    candidates: str | None = None,
    minutes: float | None = None,
    distance_m: float | None = None,
    capacity: float | None = None,
    candidate_spacing_m: float = 100.0,
    crs: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Choose new sites for one facility type and write the sites GeoPackage.

    Parameters
    ----------
    coverage
        A coverage GeoPackage written by :func:`coverage_job`.
    facility_type
        The facility ``type`` (verbatim) to site.
    out
        The sites GeoPackage to write (layer ``sites``).
    add
        Maximal covering: this many new sites.
    cover_all
        Set covering: fewest sites covering every reachable household.
    candidates
        Candidate points file (default: street-network nodes every
        ``candidate_spacing_m``).
    minutes, distance_m
        The coverage threshold (default: the coverage file's largest).
    capacity
        Households one new site can serve.
    candidate_spacing_m
        Spacing of network candidates.
    crs
        ``--crs`` of the candidates file.

    Returns
    -------
    tuple
        The written path and the run's metadata.
    """
    source = str(coverage)
    if not Path(coverage).exists():
        raise InputError.single(source, "", "coverage file not found")
    names = _layers(coverage)
    for needed in ("access", "network", COVERAGE_META):
        if needed not in names:
            raise InputError.single(source, "", f"not a gridder coverage file (no {needed})")
    meta = read_meta(coverage, layer=COVERAGE_META)
    access = pyogrio.read_dataframe(coverage, layer="access")
    known = sorted(set(access["facility_type"].astype(str)))
    column = "facility_type"
    if facility_type not in known:
        # a category of the life-circle standard (community_service_station, 社区服务站, ...):
        # the types the coverage file mapped to it count together
        category = _category_named(facility_type, access)
        if category is None:
            cats = sorted(set(access.get("category", pd.Series(dtype=str)).dropna().astype(str)))
            raise InputError.single(
                source,
                f"type {facility_type!r}",
                f"no such facility type; known: {', '.join(known)}"
                + (f"; or a category: {', '.join(cats)}" if cats else ""),
            )
        column, facility_type = "category", category
    edges = pyogrio.read_dataframe(coverage, layer="network")
    metric = edges.crs if edges.crs and not edges.crs.is_geographic else None
    if metric is None:
        minx, miny, maxx, maxy = edges.total_bounds
        metric = local_metric_crs((minx + maxx) / 2, (miny + maxy) / 2)
    network = WalkNetwork.from_streets(edges.to_crs(metric))
    threshold = _threshold(meta, minutes, distance_m)
    measured = [float(t["distance_m"]) for t in meta.get("thresholds") or []]
    if measured and threshold > max(measured) + 1e-6:
        # access holds distances up to the coverage's cutoff only: beyond it, a building
        # the existing facilities reach would count as uncovered
        params = meta.get("parameters", {})
        speed = float(params.get("speed_kmh", 4.5))
        need = math.ceil(threshold / (speed * 1000.0 / 60.0))
        standard = params.get("standard")
        cap = f" (the longest distance of the {standard} catalogue)" if standard else ""
        again = f"--minutes {need} or more" + (" and without --standard" if standard else "")
        raise InputError.single(
            source,
            "--minutes/--distance-m",
            f"the coverage file measured walking distances up to {max(measured):.0f} m{cap}; "
            f"a {threshold:.0f} m threshold is longer: give --distance-m {max(measured):.0f} "
            f"or less, or make the coverage again with {again}",
        )
    mine = access[access[column].astype(str) == facility_type]
    # nearest of the type (or of any type of the category) per building
    mine = mine.assign(_d=pd.to_numeric(mine["dist_m"], errors="coerce")).sort_values(
        ["building_id", "_d"], na_position="last", kind="stable"
    )
    buildings = mine.drop_duplicates("building_id").drop(columns="_d")
    buildings = buildings.to_crs(metric).reset_index(drop=True)
    dist = pd.to_numeric(buildings["dist_m"], errors="coerce").to_numpy(float)
    covered = np.nan_to_num(dist, nan=np.inf) <= threshold
    cand = None
    if candidates:
        raw = read_valid(candidates, "candidates", crs=crs)
        cand = _points(raw, metric).drop(columns=["_row"], errors="ignore")
        if "candidate_id" not in cand.columns:
            cand["candidate_id"] = [f"candidate-{k}" for k in range(len(cand))]
        _refuse_far_candidates(cand, network, threshold, candidates)
    result = site_facilities(
        network,
        buildings,
        distance_m=threshold,
        covered=covered,
        add=add,
        cover_all=cover_all,
        candidates=cand,
        candidate_spacing_m=candidate_spacing_m,
        capacity=capacity,
    )
    sites = result.sites.copy()
    sites.insert(0, "facility_type", facility_type)
    run = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "coverage_id": meta.get("coverage_id"),
        "plan_id": meta.get("plan_id"),
        "facility_type": facility_type,
        "mode": "add" if add else "cover_all",
        "add": add,
        "distance_m": threshold,
        "capacity": capacity,
        "status": result.status,
        "objective": result.objective,
        **{k: v for k, v in result.stats.items() if isinstance(v, int | float | str | bool)},
    }
    path = write_geopackage(out, {"sites": sites}, meta=run, meta_layer=SITES_META)
    return path, run
