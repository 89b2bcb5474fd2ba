"""Everything the maps draw, prepared once for the overview and every community page.

:func:`build_scene` turns the files read by :mod:`gridder.mapdata` into display
arrays: simplified and rounded geometries, per-grid tooltip values and colours,
building arrays, dissolved walking areas per facility type and minutes, and the
metric geometries that decide what each community page shows. Pages then only
select from it, so writing hundreds of community pages costs little more than
writing their HTML.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS

from gridder.mapdata import (
    Band,
    CoverageData,
    PlanData,
    display_geometries,
    metric_crs_of,
    point_arrays,
)
from gridder.mapstyle import (
    GRID_PALETTE,
    Tiles,
    deviation_colors,
    grid_palette_index,
    type_colors,
)
from gridder.schema import WGS84

__all__ = [
    "Geoms",
    "Scene",
    "build_scene",
    "community_page_name",
    "coverage_table",
    "grid_workers",
    "iso_display",
    "minutes_label",
    "near",
]

log = logging.getLogger(__name__)

#: Simplification tolerances (metres), for drawing only.
GRID_TOLERANCE_M: Final = 1.0
AREA_TOLERANCE_M: Final = 3.0

Geoms = npt.NDArray[np.object_]


@dataclass(frozen=True)
class Scene:
    """Display-ready data of one plan (and its coverage, sites and previous plan)."""

    labels: Mapping[str, str]
    band: Band
    tiles: Tiles
    plan: PlanData
    metric: CRS
    grid_geoms: Geoms
    grid_props: list[dict[str, Any]]
    grid_codes: list[str]
    grid_colors: list[str]
    community_geoms: Geoms
    community_metric: Geoms
    community_names: dict[str, str]
    pages: dict[str, str]
    buildings: dict[str, np.ndarray]
    cov_labels: list[str]
    cov_keys: list[tuple[str, float]]
    coverage: CoverageData | None
    type_colors: dict[str, str]
    iso: list[tuple[float, list[tuple[str, Any]]]]
    gap_metric: Geoms
    gap_geoms: Geoms
    facility_metric: Geoms
    sites: gpd.GeoDataFrame | None
    site_metric: Geoms
    compare: gpd.GeoDataFrame | None
    compare_geoms: Geoms


def community_page_name(community_id: str, taken: set[str] | None = None) -> str:
    """The file name of a community's page: ``community-<id>.html`` with a file-safe id."""
    slug = re.sub(r"[^0-9A-Za-z_-]+", "_", str(community_id)).strip("_") or "x"
    name = f"community-{slug}.html"
    k = 2
    while taken is not None and name in taken:
        name = f"community-{slug}-{k}.html"
        k += 1
    return name


def minutes_label(value: float, labels: Mapping[str, str]) -> str:
    """``5分钟`` / ``5 min``."""
    m = float(value)
    return labels["minutes"].format(m=f"{m:.0f}" if m.is_integer() else f"{m:g}")


def _share_pct(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    share = float(value)
    return round(share * 100.0 if share <= 1.0 else share, 1)


def coverage_table(
    coverage: CoverageData | None, scope: str, keys: Sequence[tuple[str, float]]
) -> dict[str, list[float | None]]:
    """Coverage shares in percent per ``scope_id``, in the order of ``keys`` (type, minutes)."""
    if coverage is None or coverage.summary is None or not keys:
        return {}
    rows = coverage.summary[coverage.summary["scope"].astype(str) == scope]
    out: dict[str, list[float | None]] = {}
    index = {k: i for i, k in enumerate(keys)}
    for sid, ftype, minutes, share in zip(
        rows["scope_id"],
        rows["facility_type"].astype(str),
        rows["minutes"],
        rows["share"],
        strict=True,
    ):
        i = index.get((ftype, float(minutes)))
        if i is not None:
            out.setdefault(str(sid), [None] * len(keys))[i] = _share_pct(share)
    return out


def _metric(frame: gpd.GeoDataFrame | None, metric: CRS) -> Geoms:
    if frame is None or not len(frame):
        return np.empty(0, dtype=object)
    return np.asarray(frame.to_crs(metric).geometry.values, dtype=object)


def _names(plan: PlanData) -> dict[str, str]:
    comms = plan.communities
    source = comms["name"] if "name" in comms else comms["community_id"]
    names = {
        str(cid): str(name) if pd.notna(name) and str(name) else str(cid)
        for cid, name in zip(comms["community_id"], source, strict=True)
    }
    for cid in plan.grids["community_id"]:
        names.setdefault(str(cid), str(cid))
    return names


def _cov_keys(coverage: CoverageData | None) -> list[tuple[str, float]]:
    if coverage is None or coverage.summary is None or not len(coverage.summary):
        return []
    pairs = {
        (str(t), float(m))
        for t, m in zip(coverage.summary["facility_type"], coverage.summary["minutes"], strict=True)
    }
    return sorted(pairs, key=lambda k: (k[1], k[0]))


def grid_workers(workers: pd.DataFrame | None, labels: Mapping[str, str]) -> dict[str, str]:
    """Per ``grid_id``: its workers as text, e.g. ``W001 网格员, S01 专职网格员``."""
    if workers is None or not len(workers):
        return {}
    found: dict[str, list[tuple[int, str, str]]] = {}
    for wid, role, gids in zip(
        workers["worker_id"], workers["role"], workers["grid_ids"], strict=True
    ):
        rank = 0 if role == "grid" else 1
        name = labels.get(f"role_{role}", role)
        for gid in str(gids).split(","):
            if gid.strip():
                found.setdefault(gid.strip(), []).append((rank, str(wid), name))
    return {gid: ", ".join(f"{w} {n}" for _, w, n in sorted(staff)) for gid, staff in found.items()}


def _grid_props(
    grids: pd.DataFrame,
    band: Band,
    names: Mapping[str, str],
    pages: Mapping[str, str],
    *,
    grid_cov: Mapping[str, list[float | None]],
    staff: Mapping[str, str],
) -> list[dict[str, Any]]:
    values = grids[band.column].to_numpy(dtype=float)
    deviation = band.deviation(values)
    colors = deviation_colors(values, band)
    area = (
        grids["area_m2"].to_numpy(dtype=float) / 10_000.0
        if "area_m2" in grids
        else np.full(len(grids), np.nan)
    )
    props = []
    for i, (gid, cid, hh, wl, nb) in enumerate(
        zip(
            grids["grid_id"],
            grids["community_id"].astype(str),
            grids["households"],
            grids["workload"],
            grids["n_buildings"],
            strict=True,
        )
    ):
        props.append(
            {
                "code": gid,
                "community": names.get(cid, cid),
                "hh": round(float(hh)),
                "wl": round(float(wl), 1),
                "dev": f"{deviation[i] * 100:+.1f}%",
                "nb": int(nb),
                "area": round(float(area[i]), 2) if np.isfinite(area[i]) else None,
                "cov": grid_cov.get(gid),
                "page": pages.get(cid),
                "_fill": colors[i],
                "wk": staff.get(str(gid), "–") if staff else None,
                "lb": str(gid).removeprefix(f"{cid}-") or str(gid),
            }
        )
    return props


def _buildings(
    plan: PlanData, codes: list[str], colors: list[str], tiles: Tiles
) -> dict[str, np.ndarray]:
    assignments = plan.assignments
    lat, lon = point_arrays(assignments, gcj02=tiles.gcj02)
    index = {c: i for i, c in enumerate(codes)}
    gidx = assignments["grid_id"].map(index).fillna(-1).astype(int).to_numpy()
    if (gidx < 0).any():
        log.warning("%d buildings name a grid not in the plan; drawn grey", int((gidx < 0).sum()))
        codes.append("?")
        colors.append("#999999")
        gidx = np.where(gidx < 0, len(codes) - 1, gidx)
    hh = np.nan_to_num(assignments["households"].to_numpy(dtype=float))
    return {
        "lat": np.asarray(lat),
        "lon": np.asarray(lon),
        "g": gidx,
        "hh": np.round(hh).astype(int),
        "id": assignments["building_id"].astype(str).to_numpy(),
        "community": assignments["community_id"].astype(str).to_numpy(),
    }


def _iso_unions(
    coverage: CoverageData | None, metric: CRS
) -> list[tuple[float, list[tuple[str, Any]]]]:
    """Walking areas dissolved per (minutes, facility type), in metric coordinates."""
    if coverage is None or coverage.isochrones is None or not len(coverage.isochrones):
        return []
    iso = coverage.isochrones
    geoms = shapely.simplify(_metric(iso, metric), AREA_TOLERANCE_M)
    types = iso["facility_type"].astype(str).to_numpy()
    minutes = iso["minutes"].astype(float).to_numpy()
    out = []
    for m in sorted(set(minutes.tolist())):
        parts = []
        for t in sorted(set(types[minutes == m].tolist())):
            union = shapely.union_all(geoms[(minutes == m) & (types == t)])
            if not union.is_empty:
                parts.append((t, union))
        out.append((m, parts))
    return out


def build_scene(
    plan: PlanData,
    *,
    coverage: CoverageData | None,
    sites: gpd.GeoDataFrame | None,
    compare: PlanData | None,
    tiles: Tiles,
    labels: Mapping[str, str],
) -> Scene:
    """Prepare everything the pages draw (see the module docstring)."""
    band = plan.band
    grids = plan.grids.sort_values(["community_id", "grid_id"]).reset_index(drop=True)
    plan = replace(plan, grids=grids)
    metric = metric_crs_of(grids if len(grids) else plan.communities)
    grid_geoms = display_geometries(
        grids,
        metric=metric,
        tolerance_m=GRID_TOLERANCE_M,
        groups=grids["community_id"],
        gcj02=tiles.gcj02,
    )
    community_geoms = display_geometries(
        plan.communities,
        metric=metric,
        tolerance_m=GRID_TOLERANCE_M,
        groups=pd.Series(np.zeros(len(plan.communities), dtype=int)),
        gcj02=tiles.gcj02,
    )
    names = _names(plan)
    taken: set[str] = set()
    pages: dict[str, str] = {}
    for cid in sorted(names):
        pages[cid] = community_page_name(cid, taken)
        taken.add(pages[cid])
    keys = _cov_keys(coverage)
    props = _grid_props(
        grids,
        band,
        names,
        pages,
        grid_cov=coverage_table(coverage, "grid", keys),
        staff=grid_workers(plan.workers, labels),
    )
    if len(grid_geoms):  # where the grid code is written at high zooms
        spots = np.round(shapely.get_coordinates(shapely.point_on_surface(grid_geoms)), 6)
        for p, (lon, lat) in zip(props, spots.tolist(), strict=True):
            p["_lp"] = [lat, lon]

    codes = grids["grid_id"].astype(str).tolist()
    grid_metric = _metric(grids, metric)
    palette = grid_palette_index(shapely.buffer(grid_metric, 0.5))
    colors = [GRID_PALETTE[int(k)] for k in palette]
    buildings = _buildings(plan, codes, colors, tiles)

    types: list[str] = []
    gap_metric = gap_geoms = facility_metric = np.empty(0, dtype=object)
    if coverage is not None:
        for frame, col in (
            (coverage.facilities, "type"),
            (coverage.isochrones, "facility_type"),
            (coverage.gaps, "facility_type"),
        ):
            if frame is not None:
                types.extend(frame[col].astype(str).tolist())
        facility_metric = _metric(coverage.facilities, metric)
        if coverage.gaps is not None and len(coverage.gaps):
            gap_metric = _metric(coverage.gaps, metric)
            gap_geoms = display_geometries(
                coverage.gaps, metric=metric, tolerance_m=AREA_TOLERANCE_M, gcj02=tiles.gcj02
            )
    compare_grids = compare.grids if compare is not None else None
    compare_geoms = np.empty(0, dtype=object)
    if compare_grids is not None and len(compare_grids):
        compare_geoms = display_geometries(
            compare_grids,
            metric=metric,
            tolerance_m=GRID_TOLERANCE_M,
            groups=compare_grids["community_id"],
            gcj02=tiles.gcj02,
        )
    return Scene(
        labels=labels,
        band=band,
        tiles=tiles,
        plan=plan,
        metric=metric,
        grid_geoms=grid_geoms,
        grid_props=props,
        grid_codes=codes,
        grid_colors=colors,
        community_geoms=community_geoms,
        community_metric=_metric(plan.communities, metric),
        community_names=names,
        pages=pages,
        buildings=buildings,
        cov_labels=[f"{t} · {minutes_label(m, labels)}" for t, m in keys],
        cov_keys=keys,
        coverage=coverage,
        type_colors=type_colors(types),
        iso=_iso_unions(coverage, metric),
        gap_metric=gap_metric,
        gap_geoms=gap_geoms,
        facility_metric=facility_metric,
        sites=sites,
        site_metric=_metric(sites, metric),
        compare=compare_grids,
        compare_geoms=compare_geoms,
    )


def near(metric_geoms: Geoms, area: Any) -> npt.NDArray[np.intp]:
    """Positions of the metric geometries that intersect ``area`` (all when it is ``None``)."""
    if area is None:
        return np.arange(len(metric_geoms))
    return np.flatnonzero(shapely.intersects(metric_geoms, area))


def iso_display(
    scene: Scene, parts: Sequence[tuple[str, Any]], area: Any
) -> tuple[Geoms, list[str]]:
    """Dissolved walking areas of one minutes value, clipped to ``area``'s box, for drawing."""
    geoms, kept = [], []
    box = shapely.envelope(area) if area is not None else None
    for ftype, union in parts:
        geom = shapely.intersection(union, box) if box is not None else union
        if not geom.is_empty:
            geoms.append(geom)
            kept.append(ftype)
    if not geoms:
        return np.empty(0, dtype=object), []
    frame = gpd.GeoDataFrame(geometry=geoms, crs=scene.metric).to_crs(WGS84)
    return display_geometries(
        frame, metric=scene.metric, tolerance_m=0.0, gcj02=scene.tiles.gcj02
    ), kept
