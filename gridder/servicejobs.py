"""Coverage and siting jobs: a plan and input files in, coverage and sites GeoPackages out.

``gridder coverage`` reads the plan's buildings (``assignments``), the streets
and the facilities through the same reading path as every command, computes
walking access (:func:`gridder.coverage.compute_coverage`) and writes the
CONTRACT §4 layers plus ``facilities``, ``network`` (the walking network's
edges, so that ``gridder site`` works from the coverage file alone),
``components`` and ``coverage_meta``.

``gridder site`` reads a coverage file and chooses new sites for one facility
type, or one life-circle category — also one no facility belongs to yet
(:func:`gridder.coverage.site_facilities`).
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
from pyogrio.errors import DataLayerError, DataSourceError

from gridder import __version__
from gridder.coverage import compute_coverage, distinct_minutes, site_facilities
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


def _layers(path: str | Path, what: str) -> list[str]:
    """The layer names of the GeoPackage ``path`` (the ``what`` file: plan, coverage).

    Raises
    ------
    InputError
        Naming the file when it is missing or cannot be read as a GeoPackage (empty,
        truncated, another format renamed ``.gpkg``).
    """
    source = str(path)
    if not Path(path).exists():
        raise InputError.single(source, "", f"{what} file not found")
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # any unreadable file is bad input
        raise InputError.single(source, "", f"cannot read the {what} file: {exc}") from exc


def _unreadable(path: str | Path, what: str, exc: Exception) -> InputError:
    """A file whose layers list but do not read (a truncated GeoPackage) is bad input."""
    return InputError.single(str(path), "", f"cannot read the {what} file: {exc}")


def _plan_buildings(plan: str | Path) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    source = str(plan)
    names = _layers(plan, "plan")
    if "assignments" not in names:
        raise InputError.single(source, "", "not a gridder plan (no assignments layer)")
    try:
        buildings = pyogrio.read_dataframe(plan, layer="assignments")
        meta = read_meta(plan) if "plan_meta" in names else {}
    except (DataSourceError, DataLayerError) as exc:
        raise _unreadable(plan, "plan", exc) from exc
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
        Thresholds: each is ``minutes × speed`` metres of network distance (sorted; a
        repeated one is computed once, with a warning).
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
    minutes = distinct_minutes(minutes)
    try:
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
    except InputError as exc:
        # compute_coverage names the frames it was given: name the files they came from
        files = {kind: str(frame.attrs.get("source", kind)) for kind, frame in layers.items()}
        files["buildings"] = str(plan)
        raise InputError(
            Problem(files.get(p.source, p.source), p.feature, p.problem) for p in exc.problems
        ) from exc
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
    written = _write_coverage_file(out, frames, meta)
    return written, meta


def _write_coverage_file(
    out: str | Path, frames: dict[str, gpd.GeoDataFrame | pd.DataFrame], meta: dict[str, Any]
) -> Path:
    """Write the coverage GeoPackage; an empty ``isochrones`` layer is still polygonal.

    CONTRACT §4 says ``isochrones`` is Polygon / MultiPolygon: without features
    (``--isochrones none``) the layer is declared MultiPolygon, the type every
    isochrone fits, and its fields get the types a non-empty layer has (text ids
    and types, whole minutes).
    """
    iso = frames.get("isochrones")
    if iso is not None and not len(iso):
        kinds = {
            "facility_id": str,
            "facility_type": str,
            "minutes": "int64",
            "distance_m": "float64",
        }
        frames = {
            **frames,
            "isochrones": iso.astype({c: t for c, t in kinds.items() if c in iso.columns}),
        }
    return write_geopackage(
        out,
        frames,
        meta=meta,
        meta_layer=COVERAGE_META,
        empty_geometry_types={"isochrones": "MultiPolygon"},
    )


def _check_site_options(
    *,
    minutes: float | None,
    distance_m: float | None,
    capacity: float | None,
    candidate_spacing_m: float,
) -> None:
    """Check ``gridder site``'s numbers before any file is read: finite and above zero.

    Raises
    ------
    InputError
        Naming each bad option and its value, every problem at once; also when both
        ``--minutes`` and ``--distance-m`` are given (which one would win is a guess).
    """
    problems: list[Problem] = []
    checks = (
        ("--minutes", minutes, "a number of minutes above 0, finite"),
        ("--distance-m", distance_m, "a network distance above 0 m, finite"),
        (
            "--capacity",
            capacity,
            "a number of households per site above 0, finite (leave it out for no limit)",
        ),
        ("--candidate-spacing", candidate_spacing_m, "a spacing above 0 m, finite"),
    )
    for option, value, expected in checks:
        if value is not None and not _finite_positive(value):
            problems.append(Problem(option, f"{value}", f"expected {expected}"))
    if minutes is not None and distance_m is not None:
        problems.append(
            Problem(
                "--minutes/--distance-m",
                f"{minutes:g} min, {distance_m:g} m",
                "give one threshold: --minutes or --distance-m, not both",
            )
        )
    if problems:
        raise InputError(problems)


def _finite_positive(value: float) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0


def _threshold(
    meta: dict[str, Any], minutes: float | None, distance_m: float | None, default_m: float | None
) -> float:
    if distance_m is not None:
        return float(distance_m)
    thresholds = meta.get("thresholds") or []
    if minutes is not None:
        speed = float(meta.get("parameters", {}).get("speed_kmh", 4.5))
        return float(minutes) * speed * 1000.0 / 60.0
    if default_m is not None:
        return float(default_m)
    if not thresholds:
        raise InputError.single("--minutes", "", "give --minutes or --distance-m")
    return float(max(t["distance_m"] for t in thresholds))


def _names(category: str, zh: str, en: str) -> set[str]:
    """The names a category answers to: its key, English name, Chinese name and its parts."""
    parts = re.split(r"[、/，,（）()]", zh.lower())
    return {category.lower(), en.lower(), zh.lower(), *(x.strip() for x in parts if x.strip())}


def _category_named(
    name: str, access: pd.DataFrame, compliance: pd.DataFrame | None = None
) -> str | None:
    """The life-circle category that ``name`` names, if any.

    ``name`` is the category's key, its Chinese or English name in the coverage's
    catalogue (its ``compliance`` table) or in GB 50180, or — for a category the
    coverage file holds facilities of — a type name the catalogue maps to it
    (``社区服务站`` → ``community_service_station``, ``幼儿园`` → ``kindergarten``). A
    category no facility of the coverage file belongs to is named by key or name only:
    siting its first facilities.
    """
    present = (
        set(access["category"].dropna().astype(str)) if "category" in access.columns else set()
    )
    if name in present:
        return name
    wanted = name.strip().lower()
    if compliance is not None and "category" in compliance.columns:
        keys = compliance["category"].astype(str).tolist()
        zh = compliance.get("category_zh", compliance["category"]).astype(str).tolist()
        for key, cat_zh in zip(keys, zh, strict=True):
            if wanted in _names(key, cat_zh, key):
                return str(key)
    for cat in load_standard("gb50180").categories.values():
        if wanted in _names(cat.key, cat.zh, cat.en):
            return cat.key
        # the type names the catalogue maps to it count for the facilities present
        if cat.key in present and wanted in {t.lower() for t in cat.types}:
            return cat.key
    return None


def _category_distance(
    category: str | None, compliance: pd.DataFrame | None, *, absent: bool
) -> float | None:
    """The distance a life-circle category is judged at: its level's, as compliance does.

    From the coverage file's ``compliance`` table (a coverage made with
    ``--standard``); for a category no facility belongs to, else from GB 50180. ``None``
    when neither applies (the coverage's longest threshold is used).
    """
    if category is None:
        return None
    if compliance is not None and "category" in compliance.columns:
        rows = compliance[compliance["category"].astype(str) == category]
        return float(rows["distance_m"].iloc[0]) if len(rows) else None
    if absent:
        std = load_standard("gb50180")
        cat = std.categories.get(category)
        return std.level(cat.level).distance_m if cat is not None else None
    return None


def _refuse_long_threshold(meta: dict[str, Any], threshold: float, source: str) -> None:
    """Refuse a threshold beyond the distances the coverage file measured.

    ``access`` holds distances up to the coverage's cutoff only: beyond it, a building
    the existing facilities reach would count as uncovered.
    """
    measured = [float(t["distance_m"]) for t in meta.get("thresholds") or []]
    if not measured or threshold <= max(measured) + 1e-6:
        return
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
        The facility ``type`` (verbatim) to site, or a life-circle category (key,
        Chinese or English name); a category no facility of the coverage belongs to
        is sited from scratch (every building uncovered).
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
        The coverage threshold, one of them (default: in a coverage made with
        ``--standard``, the distance of the level the type's category is judged at in
        ``compliance``; for a category absent from the coverage, that of its GB 50180
        level; else the coverage file's longest).
    capacity
        Households one new site can serve (finite, above 0; one at least the
        households to cover sets no limit).
    candidate_spacing_m
        Spacing of network candidates.
    crs
        ``--crs`` of the candidates file.

    Returns
    -------
    tuple
        The written path and the run's metadata.

    Raises
    ------
    InputError
        Bad options or files, an unknown type; with ``cover_all`` and ``capacity``, a
        building with more households than a site may serve.
    """
    _check_site_options(
        minutes=minutes,
        distance_m=distance_m,
        capacity=capacity,
        candidate_spacing_m=candidate_spacing_m,
    )
    source = str(coverage)
    names = _layers(coverage, "coverage")
    for needed in ("access", "network", COVERAGE_META):
        if needed not in names:
            raise InputError.single(source, "", f"not a gridder coverage file (no {needed})")
    try:
        meta = read_meta(coverage, layer=COVERAGE_META)
        access = pyogrio.read_dataframe(coverage, layer="access")
        edges = pyogrio.read_dataframe(coverage, layer="network")
        table = (
            pyogrio.read_dataframe(coverage, layer="compliance", read_geometry=False)
            if "compliance" in names
            else None
        )
    except (DataSourceError, DataLayerError, ValueError) as exc:
        raise _unreadable(coverage, "coverage", exc) from exc
    compliance = None
    if table is not None and "scope" in table.columns:
        compliance = table[table["scope"].astype(str) == "all"]
    known = sorted(set(access["facility_type"].astype(str)))
    if "category" not in access.columns:
        access["category"] = None
    column, category = "facility_type", None
    if facility_type in known:
        cats = access.loc[access["facility_type"].astype(str) == facility_type, "category"]
        category = str(cats.dropna().iloc[0]) if cats.notna().any() else None
    else:
        # a category of the life-circle standard (community_service_station, 社区服务站, ...):
        # the types the coverage file mapped to it count together
        category = _category_named(facility_type, access, compliance)
        if category is None:
            problem = _unknown(facility_type, known)
            raise InputError.single(source, f"type {facility_type!r}", problem)
        column, facility_type = "category", category
    absent = column == "category" and not (access["category"] == category).any()
    metric = edges.crs if edges.crs and not edges.crs.is_geographic else None
    if metric is None:
        minx, miny, maxx, maxy = edges.total_bounds
        metric = local_metric_crs((minx + maxx) / 2, (miny + maxy) / 2)
    network = WalkNetwork.from_streets(edges.to_crs(metric))
    default_m = _category_distance(category, compliance, absent=absent)
    threshold = _threshold(meta, minutes, distance_m, default_m)
    if absent:
        # no facility of the category anywhere: every building is uncovered (the first
        # sites of the category), and no measured distance is needed
        log.info("no facility of category %s in %s: every building is uncovered", category, source)
        buildings = access.drop_duplicates("building_id").assign(dist_m=np.nan)
    else:
        _refuse_long_threshold(meta, threshold, source)
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
        "category": category,
        "category_absent": bool(absent),
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


def _unknown(name: str, known: Sequence[str]) -> str:
    """Why ``name`` names no type or category, with what it could be."""
    std = load_standard("gb50180")
    text = f"no such facility type; known: {', '.join(known)}"
    text += f"; or a life-circle category: {', '.join(std.categories)}"
    alias = std.category_of(name)
    if alias is not None:
        text += (
            f" ({name!r} is a type name of the category {alias!r}: give --type {alias} to "
            "site the first facilities of that category)"
        )
    return text
