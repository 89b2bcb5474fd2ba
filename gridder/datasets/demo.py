"""The embedded demo: communities and inputs derived from the Helsinki extract.

OpenStreetMap has no community (社区) boundaries, so the demo derives them,
deterministically, from the same file (rules in ``demo_rules.yaml``):

1. the blocks enclosed by the extract's major roads and its frame (shapely
   ``polygonize`` of the noded road lines and the frame's outline);
2. households per block by the CONTRACT §1 rule;
3. blocks merged with a neighbour, smallest first, until each community holds
   at least ``community_min_households`` (never passing
   ``community_max_households`` while another neighbour allows it);
4. communities numbered north→south, west→east: ``HEL-01``, ``HEL-02``, ...

The result is also committed as ``data/boundaries/helsinki_demo_communities.geojson``
(a test checks that the two agree).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import yaml

from gridder.datasets import get_path, helsinki_pbf
from gridder.io.crs import local_metric_crs
from gridder.io.read import InputSpec, read_layer
from gridder.prepare import HouseholdRule, estimate_households
from gridder.schema import WGS84
from gridder.validate import validate_layer

__all__ = ["DemoLayers", "demo_layers", "derive_communities", "load_rules"]

log = logging.getLogger(__name__)


def load_rules() -> dict[str, Any]:
    """The demo's derivation rules (package data ``demo_rules.yaml``)."""
    rules: dict[str, Any] = yaml.safe_load(get_path("demo_rules.yaml").read_text("utf-8"))
    return rules


@dataclass(frozen=True)
class DemoLayers:
    """The demo's inputs, in WGS84, as a planner would give them."""

    communities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame


def _frame_of(*frames: gpd.GeoDataFrame) -> shapely.Polygon:
    bounds = np.array([f.total_bounds for f in frames])
    return shapely.box(
        bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()
    )


def derive_communities(
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    households: np.ndarray,
    *,
    rules: dict[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    """Derive community polygons from major roads, the extract's frame and households.

    Parameters
    ----------
    streets
        Street lines (WGS84) with ``highway``.
    buildings
        Buildings (WGS84), points or footprints.
    households
        Households of each building.
    rules
        Derivation rules (default: :func:`load_rules`).

    Returns
    -------
    geopandas.GeoDataFrame
        ``community_id``, ``name``, ``households`` (by the rule), WGS84 polygons
        that tile the extract's frame.
    """
    rules = rules or load_rules()
    frame = _frame_of(streets, buildings)
    metric = local_metric_crs(*np.asarray(frame.centroid.coords[0]))
    to_m = gpd.GeoSeries([frame], crs=WGS84).to_crs(metric)
    frame_m = to_m.iloc[0]
    roads = streets[streets["highway"].isin(rules["community_roads"])].to_crs(metric)
    lines = [*roads.geometry.to_numpy(), frame_m.exterior]
    noded = shapely.union_all(shapely.intersection(np.array(lines, dtype=object), frame_m))
    cells = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    cells = cells[shapely.area(cells) > 1.0]
    points = shapely.point_on_surface(buildings.to_crs(metric).geometry.to_numpy())
    tree = shapely.STRtree(cells)
    pt_idx, cell_idx = tree.query(points, predicate="within")
    cell_hh = np.zeros(len(cells), dtype=np.int64)
    np.add.at(cell_hh, cell_idx, households[pt_idx])
    groups = _merge_cells(cells, cell_hh, rules)
    polys = [shapely.union_all(cells[list(g)]) for g in groups]
    totals = [int(cell_hh[list(g)].sum()) for g in groups]
    # number north→south, then west→east, by representative point
    reps = shapely.point_on_surface(np.array(polys, dtype=object))
    order = np.lexsort((shapely.get_x(reps), -np.round(shapely.get_y(reps), -2)))
    prefix = rules["community_id_prefix"]
    out = gpd.GeoDataFrame(
        {
            "community_id": [f"{prefix}-{k + 1:02d}" for k in range(len(order))],
            "name": [f"Helsinki demo community {k + 1}" for k in range(len(order))],
            "households": [totals[i] for i in order],
        },
        geometry=[shapely.normalize(polys[i]) for i in order],
        crs=metric,
    ).to_crs(WGS84)
    out["geometry"] = shapely.set_precision(out.geometry.to_numpy(), 1e-7)
    log.info("derived %d demo communities: %s households", len(out), out["households"].tolist())
    return out


def _merge_cells(cells: np.ndarray, hh: np.ndarray, rules: dict[str, Any]) -> list[set[int]]:
    """Greedily merge adjacent cells until each group reaches the minimum households."""
    lo, hi = int(rules["community_min_households"]), int(rules["community_max_households"])
    min_shared = float(rules["min_shared_boundary_m"])
    tree = shapely.STRtree(cells)
    a, b = tree.query(cells, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(cells[a], cells[b]))
    neighbours: dict[int, dict[int, float]] = {i: {} for i in range(len(cells))}
    for i, j, s in zip(a.tolist(), b.tolist(), shared.tolist(), strict=True):
        if s >= min_shared:
            neighbours[i][j] = neighbours[i].get(j, 0.0) + s
            neighbours[j][i] = neighbours[j].get(i, 0.0) + s
    group_of = list(range(len(cells)))
    members: dict[int, set[int]] = {i: {i} for i in range(len(cells))}
    total = {i: int(hh[i]) for i in range(len(cells))}

    def group_neighbours(g: int) -> dict[int, float]:
        out: dict[int, float] = {}
        for c in members[g]:
            for n, s in neighbours[c].items():
                h = group_of[n]
                if h != g:
                    out[h] = out.get(h, 0.0) + s
        return out

    while len(members) > 1:
        small = [g for g in members if total[g] < lo]
        if not small:
            break
        g = min(small, key=lambda k: (total[k], k))
        cand = group_neighbours(g)
        if not cand:
            break
        fitting = [h for h in cand if total[g] + total[h] <= hi]
        pool = fitting or list(cand)
        # prefer the smallest partner that fits; zero-household blocks join the longest border
        if total[g] == 0:
            h = max(pool, key=lambda k: (cand[k], -k))
        else:
            h = min(pool, key=lambda k: (total[k], -cand[k], k))
        for c in members[g]:
            group_of[c] = h
        members[h] |= members.pop(g)
        total[h] += total.pop(g)
    return [members[g] for g in sorted(members)]


def _demo_facilities(pbf: str, types: list[str]) -> gpd.GeoDataFrame:
    raw = read_layer(InputSpec(pbf, "facilities"))
    facilities = validate_layer(raw, "facilities", source=pbf, fix_geometry=True)
    keep = facilities["type"].isin(types)
    return facilities.loc[keep].drop(columns=["_row"]).reset_index(drop=True)


def demo_layers(*, rules: dict[str, Any] | None = None) -> DemoLayers:
    """Derive the demo's four input layers from the bundled Helsinki extract."""
    rules = rules or load_rules()
    pbf = str(helsinki_pbf())
    streets = read_layer(InputSpec(pbf, "streets")).drop(columns=["_row"])
    raw = read_layer(InputSpec(pbf, "buildings"))
    buildings = validate_layer(raw, "buildings", source=pbf, fix_geometry=True).drop(
        columns=["_row"]
    )
    metric = local_metric_crs(*np.asarray(_frame_of(buildings).centroid.coords[0]))
    area = shapely.area(buildings.to_crs(metric).geometry.to_numpy())
    households, _ = estimate_households(buildings, area, HouseholdRule())
    communities = derive_communities(streets, buildings, households, rules=rules)
    facilities = _demo_facilities(pbf, list(rules["facility_types"]))
    # the demo's buildings carry no households: gridder estimates them, as for a planner
    buildings = buildings.reset_index(drop=True)
    return DemoLayers(
        communities=communities,
        buildings=gpd.GeoDataFrame(buildings, geometry="geometry", crs=WGS84),
        streets=streets,
        facilities=facilities,
    )
