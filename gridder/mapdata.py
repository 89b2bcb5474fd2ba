"""What gridder's maps draw: plan, coverage and sites files read and made ready for display.

Reading checks each file (CONTRACT §3–4) and raises one :class:`InputError`
naming the file, the layer and every problem. Preparing for display never
changes the files' numbers, only their drawing: polygons are simplified in a
local metric CRS (a grid coverage with shapely's ``coverage_simplify``, so that
neighbouring grids keep sharing their edges), optionally shifted to GCJ-02 for
Chinese basemaps, and every coordinate is rounded to 6 decimals (about 0.1 m).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from gridder.errors import InputError, Problem
from gridder.io.crs import local_metric_crs, wgs84_to_gcj02
from gridder.io.write import read_meta
from gridder.schema import WGS84

__all__ = [
    "Band",
    "CoverageData",
    "PlanData",
    "check_same_plan",
    "check_sites_plan",
    "display_geometries",
    "feature_collection",
    "load_coverage",
    "load_plan",
    "load_sites",
    "metric_crs_of",
    "point_arrays",
    "safe_json",
]

log = logging.getLogger(__name__)

#: Decimals kept in map coordinates: 1e-6 degree is about 0.1 m.
DECIMALS: Final = 6
Shift = Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class Band:
    """The balance band of a plan: which column is balanced, its target and its bounds."""

    target: float
    low: float
    high: float
    column: str = "households"

    def deviation(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Relative deviation ``(value - target) / target`` of each value."""
        return (np.asarray(values, dtype=np.float64) - self.target) / self.target

    def in_band(self, values: npt.ArrayLike, n_buildings: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Per grid: whether it lies in the band, as CONTRACT §6 counts it.

        Returns a float array: 1.0 in band, 0.0 out of band, NaN for a grid that
        is a single building above the upper bound (left out of the share).
        """
        v = np.asarray(values, dtype=np.float64)
        n = np.asarray(n_buildings, dtype=np.float64)
        inside = ((v >= self.low) & (v <= self.high)).astype(np.float64)
        return np.where((n == 1) & (v > self.high), np.nan, inside)


@dataclass(frozen=True)
class PlanData:
    """A plan file read for drawing (WGS84)."""

    path: Path
    grids: gpd.GeoDataFrame
    assignments: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    meta: dict[str, Any]
    band: Band
    workers: pd.DataFrame | None = None


@dataclass(frozen=True)
class CoverageData:
    """A coverage file read for drawing (WGS84); absent layers are ``None``.

    ``meta`` is its ``coverage_meta`` table (empty when the file has none).
    """

    path: Path
    summary: pd.DataFrame | None
    isochrones: gpd.GeoDataFrame | None
    gaps: gpd.GeoDataFrame | None
    facilities: gpd.GeoDataFrame | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def plan_id(self) -> str | None:
        """The ``plan_id`` of the plan the coverage was computed for, when recorded."""
        value = self.meta.get("plan_id")
        return None if value is None else str(value)


def _layers(path: Path, problems: list[Problem]) -> set[str]:
    if not path.is_file():
        problems.append(Problem(str(path), "", "file not found"))
        return set()
    try:
        return {str(name) for name in pyogrio.list_layers(path)[:, 0]}
    except Exception as exc:  # pyogrio raises several types for unreadable files
        problems.append(Problem(str(path), "", f"cannot be read as a GeoPackage ({exc})"))
        return set()


def _read(
    path: Path,
    layer: str,
    required: Sequence[str],
    problems: list[Problem],
    *,
    geometry: bool = True,
) -> Any:
    try:
        frame = pyogrio.read_dataframe(path, layer=layer, read_geometry=geometry)
    except Exception as exc:
        problems.append(Problem(f"{path}:{layer}", "", f"cannot be read ({exc})"))
        return None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        problems.append(Problem(f"{path}:{layer}", "", f"missing column(s): {', '.join(missing)}"))
        return None
    if geometry:
        if not isinstance(frame, gpd.GeoDataFrame):
            problems.append(Problem(f"{path}:{layer}", "", "has no geometry"))
            return None
        if frame.crs is None:
            frame = frame.set_crs(WGS84)
        elif not CRS.from_user_input(frame.crs).equals(CRS.from_user_input(WGS84)):
            frame = frame.to_crs(WGS84)
        bad = frame.geometry.isna() | frame.geometry.is_empty
        if bad.any():
            log.warning("%s:%s: %d empty geometries not drawn", path, layer, int(bad.sum()))
            frame = frame.loc[~bad].copy()
    for column in ("grid_id", "community_id", "building_id", "facility_id", "site_id"):
        if column in frame.columns:
            frame[column] = frame[column].astype(str)
    return frame


def _number(meta: Mapping[str, Any], names: Iterable[str], default: float) -> float:
    params = meta.get("parameters")
    sources = [params if isinstance(params, Mapping) else {}, meta]
    for source in sources:
        for name in names:
            value = source.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    return default


def _band(meta: Mapping[str, Any], grids: pd.DataFrame) -> Band:
    params = meta.get("parameters")
    params = params if isinstance(params, Mapping) else {}
    column = str(params.get("balance_on") or meta.get("balance_on") or "households")
    if column not in grids.columns:
        column = "households"
    target = _number(meta, ("target",), 250.0)
    low = _number(meta, ("min", "min_households"), min(target, 200.0))
    high = _number(meta, ("max", "max_households"), max(target, 300.0))
    if not low <= target <= high or target <= 0:
        log.warning(
            "plan_meta band %s ≤ %s ≤ %s is inconsistent; using 200/250/300", low, target, high
        )
        low, target, high = 200.0, 250.0, 300.0
    return Band(target=target, low=low, high=high, column=column)


def load_plan(path: str | Path) -> PlanData:
    """Read a plan GeoPackage (CONTRACT §3) for drawing.

    Raises
    ------
    InputError
        When the file, a layer or a column the maps need is missing.
    """
    path = Path(path)
    problems: list[Problem] = []
    layers = _layers(path, problems)
    if layers:
        for name in ("grids", "assignments", "communities"):
            if name not in layers:
                problems.append(Problem(str(path), "", f"has no '{name}' layer: not a plan file"))
    if problems:
        raise InputError(problems)
    grids = _read(path, "grids", ("grid_id", "community_id", "households"), problems)
    assignments = _read(path, "assignments", ("building_id", "grid_id", "households"), problems)
    communities = _read(path, "communities", ("community_id",), problems)
    if problems:
        raise InputError(problems)
    meta = read_meta(path) if "plan_meta" in layers else {}
    workers = _workers(path, problems) if "workers" in layers else None
    if problems:
        raise InputError(problems)
    if "community_id" not in assignments.columns:
        lookup = grids.set_index("grid_id")["community_id"]
        assignments["community_id"] = assignments["grid_id"].map(lookup).astype(str)
    if "n_buildings" not in grids.columns:
        counts = assignments.groupby("grid_id").size()
        grids["n_buildings"] = grids["grid_id"].map(counts).fillna(0).astype(int)
    if "workload" not in grids.columns:
        grids["workload"] = grids["households"]
    return PlanData(path, grids, assignments, communities, meta, _band(meta, grids), workers)


def _workers(path: Path, problems: list[Problem]) -> pd.DataFrame | None:
    """The optional ``workers`` layer (``gridder workers``): one row per worker."""
    frame = _read(path, "workers", ("worker_id", "role"), problems, geometry=False)
    if frame is None:
        return None
    column = next((c for c in ("grid_ids", "grid_id") if c in frame.columns), None)
    if column is None:
        problems.append(Problem(f"{path}:workers", "", "missing column(s): grid_ids"))
        return None
    frame = frame.assign(
        worker_id=frame["worker_id"].astype(str),
        role=frame["role"].astype(str),
        grid_ids=frame[column].fillna("").astype(str),
    )
    if "community_id" in frame.columns:
        frame["community_id"] = frame["community_id"].fillna("").astype(str)
    else:
        frame["community_id"] = ""
    return frame


#: The table of metadata ``gridder coverage`` writes into a coverage file.
COVERAGE_META: Final = "coverage_meta"


def load_coverage(path: str | Path) -> CoverageData:
    """Read a coverage GeoPackage (CONTRACT §4).

    The ``summary`` layer (households within reach, shown in popups and tables) is
    required; ``isochrones``, ``gaps`` and ``facilities`` are drawn when present.

    Raises
    ------
    InputError
        When the file is missing or unreadable, is not a coverage file (no ``summary``
        layer, e.g. a plan file), or a layer lacks a column.
    """
    path = Path(path)
    problems: list[Problem] = []
    layers = _layers(path, problems)
    if layers and "summary" not in layers:
        hint = (
            " — it looks like a plan file"
            if {"grids", "assignments"} <= layers
            else f" (its layers: {', '.join(sorted(layers))})"
        )
        problems.append(
            Problem(
                str(path),
                "",
                "has no 'summary' layer: not a coverage file"
                f"{hint}; write one with gridder coverage --plan PLAN ... --out COVERAGE.gpkg",
            )
        )
    if problems:
        raise InputError(problems)
    summary = isochrones = gaps = facilities = None
    if "summary" in layers:
        summary = _read(
            path,
            "summary",
            ("scope", "scope_id", "facility_type", "minutes", "share"),
            problems,
            geometry=False,
        )
    if "isochrones" in layers:
        isochrones = _read(path, "isochrones", ("facility_type", "minutes"), problems)
    if "gaps" in layers:
        gaps = _read(path, "gaps", ("facility_type", "minutes", "households"), problems)
    if "facilities" in layers:
        facilities = _read(path, "facilities", ("facility_id", "type"), problems)
    meta: dict[str, Any] = {}
    if COVERAGE_META in layers:
        try:
            meta = read_meta(path, layer=COVERAGE_META)
        except Exception as exc:  # a hand-made table: bad JSON, missing key/value columns
            problems.append(Problem(f"{path}:{COVERAGE_META}", "", f"cannot be read ({exc})"))
    if problems:
        raise InputError(problems)
    if summary is not None:
        summary["scope_id"] = summary["scope_id"].astype(str)
    if facilities is not None:
        facilities = facilities.set_geometry(facilities.geometry.representative_point())
    return CoverageData(path, summary, isochrones, gaps, facilities, meta)


def check_same_plan(
    plan: PlanData | tuple[str | None, str | Path, pd.DataFrame], coverage: CoverageData
) -> None:
    """Check that a coverage file was computed for this plan, as it is now.

    ``plan`` is a plan read for drawing, or its ``(plan_id, path,
    assignments)``. The ``plan_id`` must match; and when the coverage file
    records the digest of the assignments it was computed from
    (:func:`~gridder.planfile.assignment_digest`), so must they: a hand edit
    keeps the ``plan_id`` but moves buildings. Files that record no
    ``plan_id`` (hand-made ones) are not compared.

    Raises
    ------
    InputError
        Naming the coverage file and both plan ids, or saying the plan was edited.
    """
    from gridder.planfile import assignment_digest

    if isinstance(plan, tuple):
        plan_id, plan_path, assignments = plan
    else:
        plan_id, plan_path, assignments = plan.meta.get("plan_id"), plan.path, plan.assignments
    if plan_id is None or coverage.plan_id is None:
        return
    if str(plan_id) == coverage.plan_id:
        digest = coverage.meta.get("plan_assignment_digest")
        if digest is None or digest == assignment_digest(assignments):
            return
        raise InputError.single(
            str(coverage.path),
            "",
            f"was computed for plan {str(plan_id)!r} before it was edited ({plan_path} "
            "now puts some buildings in other grids), so its shares are out of date; "
            f"make it again with gridder coverage --plan {plan_path}",
        )
    raise InputError.single(
        str(coverage.path),
        "",
        f"was computed for plan {coverage.plan_id!r}, not for plan {str(plan_id)!r} "
        f"({plan_path}), so its shares are another plan's; give the coverage file made "
        f"for {str(plan_id)!r}, or make one with gridder coverage --plan {plan_path}",
    )


def check_sites_plan(plan: PlanData, sites: Path) -> None:
    """Check that a sites file (``gridder site``) was proposed for this plan.

    Its ``sites_meta.plan_id`` names the plan of the coverage it started from;
    a file that records none is not compared.

    Raises
    ------
    InputError
        Naming the sites file and both plan ids.
    """
    if "sites_meta" not in _layers(sites, []):
        return
    from gridder.io.write import read_meta

    site_plan = read_meta(sites, layer="sites_meta").get("plan_id")
    plan_id = plan.meta.get("plan_id")
    if site_plan is None or plan_id is None or str(site_plan) == str(plan_id):
        return
    raise InputError.single(
        str(sites),
        "",
        f"proposes sites for plan {str(site_plan)!r}, not for plan {str(plan_id)!r} "
        f"({plan.path}); run gridder site on this plan's coverage",
    )


def load_sites(path: str | Path) -> gpd.GeoDataFrame:
    """Read the ``sites`` layer (Points: site_id, facility_type, households_gained)."""
    path = Path(path)
    problems: list[Problem] = []
    layers = _layers(path, problems)
    if layers and "sites" not in layers:
        problems.append(Problem(str(path), "", "has no 'sites' layer"))
    if problems:
        raise InputError(problems)
    sites = _read(path, "sites", ("facility_type",), problems)
    if problems:
        raise InputError(problems)
    if "site_id" not in sites.columns:
        sites["site_id"] = [str(i + 1) for i in range(len(sites))]
    return sites.set_geometry(sites.geometry.representative_point())


def metric_crs_of(frame: gpd.GeoDataFrame) -> CRS:
    """The local metric CRS at the centre of a WGS84 frame."""
    minx, miny, maxx, maxy = frame.total_bounds
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        return local_metric_crs(118.78, 32.04)
    return local_metric_crs((minx + maxx) / 2.0, (miny + maxy) / 2.0)


def _gcj_shift(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def _round(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.round(coords, DECIMALS)


def _simplify_coverage(geoms: npt.NDArray[Any], tolerance: float) -> npt.NDArray[Any]:
    valid = bool(shapely.coverage_is_valid(geoms))
    if valid:
        out = shapely.coverage_simplify(geoms, tolerance)
    else:
        log.debug("not a valid coverage: simplifying %d polygons one by one", len(geoms))
        out = shapely.simplify(geoms, tolerance, preserve_topology=True)
    broken = shapely.is_empty(out) | ~shapely.is_valid(out)
    return np.where(broken, geoms, out)


def display_geometries(
    frame: gpd.GeoDataFrame,
    *,
    metric: CRS,
    tolerance_m: float,
    groups: pd.Series | None = None,
    gcj02: bool = False,
) -> npt.NDArray[Any]:
    """Geometries of a WGS84 frame simplified, shifted and rounded for drawing.

    Parameters
    ----------
    frame
        Polygons (or points) in WGS84.
    metric
        The metric CRS the tolerance is measured in.
    tolerance_m
        Simplification tolerance in metres (0 keeps every vertex).
    groups
        Labels of polygon coverages (e.g. the ``community_id`` of grids): each
        group is simplified as one coverage, keeping shared edges shared. Without
        it every polygon is simplified on its own (topology preserved).
    gcj02
        Shift the result from WGS84 to GCJ-02 (for Amap and Tencent basemaps).

    Returns
    -------
    numpy.ndarray
        Shapely geometries in WGS84 (or GCJ-02), coordinates rounded to 6 decimals.
    """
    geoms = np.asarray(frame.to_crs(metric).geometry.values, dtype=object)
    if tolerance_m > 0 and len(geoms):
        polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
        if groups is None:
            simplified = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
            geoms = np.where(polygonal, simplified, geoms)
        else:
            labels = np.asarray(groups.astype(str).values)
            for label in pd.unique(labels):
                idx = np.flatnonzero((labels == label) & polygonal)
                if len(idx):
                    geoms[idx] = _simplify_coverage(geoms[idx], tolerance_m)
    wgs = gpd.GeoSeries(geoms, crs=metric).to_crs(WGS84).values
    out = np.asarray(wgs, dtype=object)
    if gcj02:
        out = shapely.transform(out, _gcj_shift)
    return np.asarray(shapely.transform(out, _round), dtype=object)


def point_arrays(
    frame: gpd.GeoDataFrame, *, gcj02: bool = False
) -> tuple[list[float], list[float]]:
    """Rounded latitude and longitude lists of a WGS84 point frame (Leaflet order)."""
    coords = shapely.get_coordinates(frame.geometry.values)
    if gcj02 and len(coords):
        coords = _gcj_shift(coords)
    coords = _round(coords)
    return coords[:, 1].tolist(), coords[:, 0].tolist()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def safe_json(value: Any) -> str:
    """Compact JSON that is safe inside an HTML ``<script>`` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_plain)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_LONG_NUMBER: Final = re.compile(r"-?\d+\.\d{7,}(?:[eE][-+]?\d+)?")


def _short_numbers(text: str) -> str:
    """Print numbers GEOS wrote with 17 digits (118.79463199999999) at 6 decimals."""
    return _LONG_NUMBER.sub(lambda m: repr(round(float(m.group()), DECIMALS)), text)


def feature_collection(geoms: npt.ArrayLike, properties: Sequence[Mapping[str, Any]]) -> str:
    """A GeoJSON FeatureCollection as compact, script-safe JSON text."""
    geo = [_short_numbers(g) for g in shapely.to_geojson(np.asarray(geoms, dtype=object))]
    parts = [
        '{"type":"Feature","properties":'
        + safe_json({k: _plain(v) for k, v in props.items()})
        + ',"geometry":'
        + g
        + "}"
        for g, props in zip(geo, properties, strict=True)
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"
