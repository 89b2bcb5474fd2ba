"""Solver-independent checks of a plan's guarantees (CONTRACT §3).

Public like ``geopandas.testing``.

:func:`plan_violations` lists every broken guarantee of a plan; the pipeline
runs it before writing a plan, and the tests use :func:`assert_plan_valid`.
Everything is recomputed from the plan's own layers in a metric CRS — nothing
is taken from the solver.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridder.io.crs import local_metric_crs

__all__ = ["PlanViolation", "assert_plan_valid", "plan_violations"]

#: A building may lie this far (m) outside its grid polygon (CONTRACT §3).
BUILDING_TOLERANCE_M = 0.5
#: Gaps and overlaps must each stay under this share of a community's area.
AREA_TOLERANCE = 0.005


@dataclass(frozen=True)
class PlanViolation:
    """One broken guarantee: which rule, which object, what was found."""

    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}: {self.detail}"


def _metric(frames: Iterable[gpd.GeoDataFrame]) -> list[gpd.GeoDataFrame]:
    frames = list(frames)
    minx, miny, maxx, maxy = frames[0].to_crs(4326).total_bounds
    crs = local_metric_crs((minx + maxx) / 2, (miny + maxy) / 2)
    return [f.to_crs(crs) for f in frames]


def plan_violations(
    *,
    grids: gpd.GeoDataFrame,
    assignments: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    building_ids: Iterable[str] | None = None,
) -> list[PlanViolation]:
    """Every broken guarantee of a plan.

    Parameters
    ----------
    grids
        ``grid_id``, ``community_id``, polygons.
    assignments
        ``building_id``, ``grid_id``, ``community_id``, points.
    communities
        ``community_id``, polygons.
    building_ids
        The input buildings that lie inside a community; each must appear once.

    Returns
    -------
    list of PlanViolation
        Empty when the plan keeps every guarantee.
    """
    out: list[PlanViolation] = []
    grids_m, assign_m, comm_m = _metric([grids, assignments, communities])
    # every building once
    counts = assign_m["building_id"].value_counts()
    for bid in counts[counts > 1].index[:50]:
        out.append(PlanViolation("assigned once", f"building {bid}", f"{counts[bid]} times"))
    if building_ids is not None:
        missing = set(map(str, building_ids)) - set(assign_m["building_id"].astype(str))
        for bid in sorted(missing)[:50]:
            out.append(PlanViolation("assigned once", f"building {bid}", "not assigned"))
    if not grids_m["grid_id"].is_unique:
        out.append(PlanViolation("grid ids", "grids", "grid_id values are not unique"))
    # each building inside its own grid
    geom_of = dict(zip(grids_m["grid_id"], grids_m.geometry, strict=True))
    unknown = ~assign_m["grid_id"].isin(geom_of)
    for bid in assign_m.loc[unknown, "building_id"].head(50):
        out.append(PlanViolation("building in grid", f"building {bid}", "unknown grid_id"))
    known = assign_m[~unknown]
    polys = np.array([geom_of[g] for g in known["grid_id"]], dtype=object)
    dist = shapely.distance(known.geometry.to_numpy(), polys) if len(known) else np.array([])
    for i in np.flatnonzero(dist > BUILDING_TOLERANCE_M)[:50]:
        out.append(
            PlanViolation(
                "building in grid",
                f"building {known['building_id'].iloc[i]}",
                f"{dist[i]:.2f} m outside grid {known['grid_id'].iloc[i]}",
            )
        )
    # grid and community agree
    comm_of_grid = dict(zip(grids_m["grid_id"], grids_m["community_id"], strict=True))
    bad = known["community_id"].to_numpy() != np.array([comm_of_grid[g] for g in known["grid_id"]])
    for bid in known.loc[bad, "building_id"].head(50):
        out.append(PlanViolation("community", f"building {bid}", "grid of another community"))
    # tiling and connectedness, per community
    for cid, comm_geom in zip(comm_m["community_id"], comm_m.geometry, strict=True):
        mine = grids_m[grids_m["community_id"] == cid]
        if len(mine) == 0:
            out.append(PlanViolation("tiling", f"community {cid}", "no grids"))
            continue
        area = comm_geom.area
        parts = mine.geometry.to_numpy()
        union = shapely.union_all(parts)
        gap = shapely.difference(comm_geom, union).area
        overlap = float(shapely.area(parts).sum() - union.area)
        outside = shapely.difference(union, comm_geom).area
        if gap > AREA_TOLERANCE * area:
            out.append(PlanViolation("tiling", f"community {cid}", f"gap of {gap / area:.2%}"))
        if overlap > AREA_TOLERANCE * area:
            out.append(
                PlanViolation("tiling", f"community {cid}", f"overlap of {overlap / area:.2%}")
            )
        if outside > AREA_TOLERANCE * area:
            out.append(
                PlanViolation("tiling", f"community {cid}", f"{outside / area:.2%} outside it")
            )
        community_parts = len(shapely.get_parts(comm_geom))
        for gid, geom in zip(mine["grid_id"], parts, strict=True):
            n_parts = len(shapely.get_parts(geom))
            if n_parts > 1 and community_parts == 1:
                out.append(PlanViolation("connected", f"grid {gid}", f"{n_parts} pieces"))
            if not shapely.is_valid(geom):
                out.append(PlanViolation("valid", f"grid {gid}", shapely.is_valid_reason(geom)))
    return out


def assert_plan_valid(
    grids: gpd.GeoDataFrame,
    assignments: gpd.GeoDataFrame | pd.DataFrame,
    communities: gpd.GeoDataFrame,
    *,
    building_ids: Iterable[str] | None = None,
) -> None:
    """Raise ``AssertionError`` listing every broken guarantee of a plan."""
    violations = plan_violations(
        grids=grids, assignments=assignments, communities=communities, building_ids=building_ids
    )
    if violations:
        lines = "\n".join(f"  - {v}" for v in violations[:50])
        msg = f"{len(violations)} plan guarantee(s) broken:\n{lines}"
        raise AssertionError(msg)
