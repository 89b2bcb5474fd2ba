"""Preparing validated layers for the pipeline (CONTRACT §1).

- Buildings given as footprints are reduced to a representative point inside
  the footprint; the footprint is kept (``footprint`` column) with its area.
- Buildings without ``households`` get an estimate by :class:`HouseholdRule`
  and are flagged ``households_estimated``.
- Buildings without ``community_id`` are attached to the community polygon
  that contains them; buildings inside none are listed in
  :attr:`Inputs.unassigned`, never dropped silently.
- Facilities given as polygons are reduced to their centroid.
- One local metric CRS (the UTM zone of the data) is chosen for every length
  and area.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
import yaml
from pyproj import CRS

from gridder.errors import InputError, Problem
from gridder.io.crs import local_metric_crs
from gridder.io.osm import parse_metres
from gridder.schema import NUMERIC_BUILDING_COLUMNS, WGS84

__all__ = [
    "HouseholdRule",
    "Inputs",
    "attach_communities",
    "compound_ids",
    "estimate_households",
    "prepare",
    "pull_into_communities",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HouseholdRule:
    """How households are estimated for buildings that carry none (CONTRACT §1).

    A building is residential if its ``building`` type is one of
    ``residential_types``, or if it is ``yes`` with a ``levels`` or ``height``
    value and no amenity/shop/office tag. Its levels are ``levels``, else
    ``height / storey_height_m``, else ``default_levels``; its households are
    ``max(min_households, round(footprint_m2 * levels / m2_per_household))``.
    Every other building has 0 households (it is still placed in a grid).
    """

    residential_types: tuple[str, ...] = (
        "apartments",
        "residential",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
    )
    yes_with_levels_is_residential: bool = True
    storey_height_m: float = 3.0
    default_levels: float = 4.0
    m2_per_household: float = 80.0
    min_households: int = 1

    @classmethod
    def from_file(cls, path: str | Path) -> HouseholdRule:
        """Read a rule from a YAML or JSON file whose keys are this class's fields.

        Raises
        ------
        InputError
            When the file is missing or does not parse, a key is unknown, or a
            value has the wrong type or is out of range (numbers must be
            positive; ``min_households`` may be 0).
        """
        source = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise InputError.single(source, "", "file not found") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError.single(source, "", f"cannot parse the rule: {first}") from exc
        if not isinstance(data, dict):
            raise InputError.single(source, "", "expected a mapping of rule keys to values")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError.single(
                source, "", f"unknown household rule keys: {', '.join(sorted(unknown))}"
            )
        problems: list[Problem] = []
        if "residential_types" in data:
            types = data["residential_types"]
            if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
                problems.append(Problem(source, "residential_types", "expected a list of names"))
            else:
                data["residential_types"] = tuple(types)
        if "yes_with_levels_is_residential" in data and not isinstance(
            data["yes_with_levels_is_residential"], bool
        ):
            problems.append(
                Problem(source, "yes_with_levels_is_residential", "expected true or false")
            )
        for key in ("storey_height_m", "default_levels", "m2_per_household", "min_households"):
            if key not in data:
                continue
            value = data[key]
            least = 0 if key == "min_households" else None
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value) and (value >= 0 if least == 0 else value > 0)
            if key == "min_households" and ok and value != int(value):
                ok = False
            if not ok:
                want = "a whole number >= 0" if key == "min_households" else "a number > 0"
                problems.append(Problem(source, key, f"expected {want}, got {value!r}"))
        if problems:
            raise InputError(problems)
        return cls(**data)


@dataclass
class Inputs:
    """Validated and prepared inputs, in WGS84, with the metric CRS chosen once.

    Attributes
    ----------
    communities
        ``community_id`` and the input's columns.
    buildings
        Points; ``building_id``, ``community_id`` (None when outside every
        community), ``households`` (int), ``households_estimated``, the
        optional numeric columns, ``compound_id``, ``footprint`` (shapely
        polygon or None) and ``footprint_m2``.
    streets, facilities, compounds
        The optional layers (``None`` when not given).
    metric_crs
        The local metric CRS for every length and area.
    unassigned
        Buildings inside no community: ``building_id``, ``lon``, ``lat``,
        ``households``, and the community nearest each (``nearest_community_id``,
        ``distance_m``), so that a report can say why it was left out.
    moved_in
        Buildings whose ``community_id`` names a community they lie just
        outside of (:func:`pull_into_communities`): ``building_id``,
        ``community_id``, ``distance_m``.
    sources
        Layer → the file it was read from, and the CRS found there.
    """

    communities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    metric_crs: CRS
    streets: gpd.GeoDataFrame | None = None
    facilities: gpd.GeoDataFrame | None = None
    compounds: gpd.GeoDataFrame | None = None
    unassigned: pd.DataFrame = field(default_factory=pd.DataFrame)
    moved_in: pd.DataFrame = field(default_factory=pd.DataFrame)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def metric(self, layer: str) -> gpd.GeoDataFrame:
        """One layer projected to the metric CRS."""
        frame = getattr(self, layer)
        if frame is None:
            msg = f"no {layer} layer was given"
            raise ValueError(msg)
        out = frame.to_crs(self.metric_crs)
        if layer == "buildings" and "footprint" in out.columns:
            fp = gpd.GeoSeries(frame["footprint"].to_numpy(), crs=WGS84).to_crs(self.metric_crs)
            out["footprint"] = fp.to_numpy()
        return out

    def unassigned_reasons(self) -> dict[str, str]:
        """Why each building inside no community was left out, by building id.

        Returns
        -------
        dict
            ``{building_id: "inside no community and without a community_id (nearest:
            C0001, 84.2 m away; 12 households)"}``.
        """
        u = self.unassigned
        if len(u) == 0:
            return {}
        return {
            str(r.building_id): (
                f"inside no community and without a community_id (nearest: "
                f"{r.nearest_community_id}, {r.distance_m:.1f} m away; {int(r.households)} "
                "households)"
            )
            for r in u.itertuples()
        }

    def report(self) -> dict[str, Any]:
        """Counts for the ``gridder check`` report."""
        b = self.buildings
        est = b["households_estimated"].to_numpy(bool)
        hh = b["households"].to_numpy(np.int64)
        per_community = (
            b[b["community_id"].notna()]
            .groupby("community_id")
            .agg(buildings=("building_id", "size"), households=("households", "sum"))
        )
        return {
            "metric_crs": f"EPSG:{self.metric_crs.to_epsg()}",
            "sources": self.sources,
            "communities": len(self.communities),
            "buildings": len(b),
            "buildings_with_households_given": int((~est).sum()),
            "buildings_with_households_estimated": int(est.sum()),
            "households_total": int(hh.sum()),
            "households_given": int(hh[~est].sum()),
            "households_estimated": int(hh[est].sum()),
            "buildings_outside_communities": len(self.unassigned),
            "buildings_moved_into_their_community": {
                str(r.building_id): round(float(r.distance_m), 1)
                for r in self.moved_in.itertuples()
            },
            "unassigned_buildings": self.unassigned["building_id"].astype(str).tolist()
            if len(self.unassigned)
            else [],
            "unassigned_reasons": self.unassigned_reasons(),
            "streets": 0 if self.streets is None else len(self.streets),
            "facilities": 0 if self.facilities is None else len(self.facilities),
            "facility_types": {}
            if self.facilities is None
            else {str(k): int(v) for k, v in self.facilities["type"].value_counts().items()},
            "compounds": 0 if self.compounds is None else len(self.compounds),
            "per_community": {
                str(cid): {"buildings": int(r.buildings), "households": int(r.households)}
                for cid, r in per_community.iterrows()
            },
        }


#: A building's point may lie this far (m) outside the community its ``community_id``
#: names and is moved in (:func:`pull_into_communities`); farther is an input error.
PULL_IN_TOLERANCE_M = 30.0
#: Least share of a footprint inside a community for a building whose point lies in no
#: community to belong to it (less: the building is reported as inside no community).
FOOTPRINT_SHARE_IN = 0.1
#: Within this distance (m) a point counts as inside (the plan's tolerance, CONTRACT §3).
PULL_IN_SLACK_M = 0.25


def _metric_crs_for(frame: gpd.GeoDataFrame) -> CRS:
    minx, miny, maxx, maxy = frame.total_bounds
    return local_metric_crs((minx + maxx) / 2.0, (miny + maxy) / 2.0)


def estimate_households(
    buildings: gpd.GeoDataFrame, footprint_m2: np.ndarray, rule: HouseholdRule
) -> tuple[np.ndarray, np.ndarray]:
    """Households given or estimated, and the estimated flag, per building.

    Parameters
    ----------
    buildings
        Validated buildings (``households`` may be missing or NaN).
    footprint_m2
        Footprint area of each building in m² (0 for point buildings).
    rule
        The estimation rule.

    Returns
    -------
    tuple of numpy.ndarray
        Integer households and a boolean ``households_estimated`` flag.
    """
    n = len(buildings)
    given = (
        buildings["households"].to_numpy(float)
        if "households" in buildings.columns
        else np.full(n, np.nan)
    )
    estimated = np.isnan(given)

    def col(name: str) -> pd.Series:
        if name in buildings.columns:
            return buildings[name]
        return pd.Series([None] * n, index=buildings.index, dtype=object)

    btype = col("building").astype(object).map(lambda v: str(v).strip().lower() if v else "")
    levels = pd.to_numeric(col("levels"), errors="coerce").to_numpy(float)
    # OSM's height tag, as exports of it hold it ("12", "12 m", "12,5"): read as the pbf reader does
    raw_height = col("height")
    height = parse_metres(raw_height).to_numpy(float)
    unread = raw_height.notna().to_numpy() & np.isnan(height)
    unread &= (raw_height.astype(str).str.strip() != "").to_numpy()
    if unread.any():
        first = int(np.flatnonzero(unread)[0])
        log.warning(
            "%d building(s) have a height that holds no number (building_id=%s: %r); "
            "their levels are not estimated from it",
            int(unread.sum()),
            buildings["building_id"].iloc[first],
            raw_height.iloc[first],
        )
    tagged = np.zeros(n, dtype=bool)
    for tag in ("amenity", "shop", "office"):
        values = col(tag)
        tagged |= values.notna().to_numpy() & (values.astype(str).str.strip() != "").to_numpy()
    has_size = ~np.isnan(levels) | ~np.isnan(height)
    residential = btype.isin(rule.residential_types).to_numpy().copy()
    if rule.yes_with_levels_is_residential:
        residential |= (btype == "yes").to_numpy() & has_size & ~tagged
    est_levels = np.where(
        ~np.isnan(levels),
        levels,
        np.where(~np.isnan(height), height / rule.storey_height_m, rule.default_levels),
    )
    est = np.where(
        residential,
        np.maximum(
            rule.min_households,
            np.round(footprint_m2 * est_levels / rule.m2_per_household),
        ),
        0.0,
    )
    households = np.where(estimated, est, given)
    return np.round(households).astype(np.int64), estimated


def attach_communities(
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    source: str = "buildings",
    metric: CRS | None = None,
) -> np.ndarray:
    """The community of each building: its own ``community_id`` or point-in-polygon.

    A point on the boundary of several communities goes to the smallest
    ``community_id`` among them (deterministic). With ``metric`` (a metric CRS),
    a building whose point lies in no community still gets one when its
    ``footprint`` overlaps one by :data:`FOOTPRINT_SHARE_IN` or more (the community
    holding most of it), or when its
    point lies within :data:`PULL_IN_SLACK_M` of one (a point on the outline,
    off by coordinate noise). Buildings inside none get None.

    Raises
    ------
    InputError
        When a building names a ``community_id`` that the communities layer lacks.
    """
    n = len(buildings)
    known = set(communities["community_id"].tolist())
    own = np.full(n, None, dtype=object)
    if "community_id" in buildings.columns:
        given = buildings["community_id"].to_numpy(object)
        present = ~pd.isna(given)
        own[present] = given[present]
    problems = [
        Problem(
            source,
            f"building_id={bid}",
            f"community_id {cid!r} is not in the communities layer",
        )
        for bid, cid in zip(buildings["building_id"], own, strict=True)
        if cid is not None and cid not in known
    ]
    if problems:
        raise InputError(problems[:50])
    result = own.copy()
    todo = np.flatnonzero(pd.isna(result).astype(bool))
    if len(todo):
        tree = shapely.STRtree(communities.geometry.to_numpy())
        pts = buildings.geometry.to_numpy()[todo]
        pairs = tree.query(pts, predicate="covered_by")
        ids = communities["community_id"].to_numpy(object)
        chosen: dict[int, str] = {}
        for p, c in zip(pairs[0], pairs[1], strict=True):
            cid = ids[c]
            if p not in chosen or cid < chosen[p]:
                chosen[int(p)] = cid
        for p, cid in chosen.items():
            result[todo[p]] = cid
    left = np.flatnonzero(pd.isna(result).astype(bool))
    if metric is not None and len(left):
        _attach_by_overlap(buildings, communities, metric, left, result)
    return result


def _warn_overlapping(communities: gpd.GeoDataFrame, metric: CRS) -> None:
    """Warn about communities that overlap: their grids overlap too.

    A building in the overlap goes to the smallest ``community_id`` (the rule
    of :func:`attach_communities`); each community is still tiled by its own
    grids.
    """
    geoms = communities.geometry.to_crs(metric).to_numpy()
    if len(geoms) < 2:
        return
    ids = communities["community_id"].astype(str).to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if not len(a):
        return
    shared = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    big = shared > np.maximum(
        1.0, 1e-3 * np.minimum(shapely.area(geoms[a]), shapely.area(geoms[b]))
    )
    for i, j, area in zip(a[big].tolist(), b[big].tolist(), shared[big].tolist(), strict=True):
        first = min(ids[i], ids[j])
        log.warning(
            "communities %s and %s overlap (%.0f m²): their grids overlap there, and a "
            "building there goes to %s",
            ids[i],
            ids[j],
            area,
            first,
        )


def _attach_by_overlap(
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    metric: CRS,
    left: np.ndarray,
    result: np.ndarray,
) -> None:
    """Communities (in place) of buildings whose point lies in none: by footprint, or by noise."""
    comm = communities.geometry.to_crs(metric).to_numpy()
    ids = communities["community_id"].to_numpy(object)
    tree = shapely.STRtree(comm)
    if "footprint" in buildings.columns:
        fps = buildings["footprint"].to_numpy(object)[left]
        has = np.array([f is not None and not shapely.is_missing(f) for f in fps], dtype=bool)
        if has.any():
            fp_m = gpd.GeoSeries(fps[has], crs=WGS84).to_crs(metric).to_numpy()
            fi, ci = tree.query(fp_m, predicate="intersects")
            area = shapely.area(shapely.intersection(fp_m[fi], comm[ci]))
            share = area / np.maximum(shapely.area(fp_m[fi]), 1e-9)
            best: dict[int, tuple[float, str]] = {}
            for f, c, a, sh in zip(fi.tolist(), ci.tolist(), area.tolist(), share, strict=True):
                key = (-a, str(ids[c]))
                if sh >= FOOTPRINT_SHARE_IN and (f not in best or key < best[f]):
                    best[f] = key
            for f, (_, cid) in best.items():
                result[left[np.flatnonzero(has)[f]]] = cid
    left = left[pd.isna(result[left]).astype(bool)]
    if len(left):
        pts = buildings.geometry.to_crs(metric).to_numpy()[left]
        pi, ci = tree.query(pts, predicate="dwithin", distance=PULL_IN_SLACK_M)
        for p, c in sorted(
            zip(pi.tolist(), ci.tolist(), strict=True), key=lambda t: str(ids[t[1]])
        ):
            if pd.isna(result[left[p]]):
                result[left[p]] = ids[c]


def _nearest_communities(
    points: npt.NDArray[np.object_], communities: gpd.GeoDataFrame, metric: CRS
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.float64]]:
    """The community nearest each point (WGS84), and the distance in metres."""
    if len(points) == 0:
        return np.array([], dtype=object), np.array([], dtype=float)
    pts = gpd.GeoSeries(points, crs=WGS84).to_crs(metric).to_numpy()
    polys = communities.to_crs(metric).geometry.to_numpy()
    tree = shapely.STRtree(polys)
    (i, j), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    ids = np.empty(len(pts), dtype=object)
    metres = np.empty(len(pts), dtype=float)
    ids[i] = communities["community_id"].to_numpy(object)[j]
    metres[i] = dist
    return ids, metres


def pull_into_communities(
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    metric: CRS,
    *,
    source: str = "buildings",
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Move the points of buildings lying just outside the community they name into it.

    A building's ``community_id`` is trusted, but its grid lies inside that
    community, and a plan keeps every building within 0.5 m of its grid
    (CONTRACT §3). A point up to :data:`PULL_IN_TOLERANCE_M` outside (a
    roughly drawn community, a geocoded entrance) is moved to the nearest
    point 1 m inside; a footprint that overlaps the community takes a point on
    the overlap. The moves are returned (and logged, and reported by
    ``gridder check`` and in ``plan_meta``).

    Raises
    ------
    InputError
        For buildings farther outside the community they name: the record
        contradicts itself (fix the location or the ``community_id``, or leave
        the ``community_id`` empty to place the building by location).
    """
    cids = buildings["community_id"].to_numpy(object)
    has = ~pd.isna(cids)
    empty = pd.DataFrame({"building_id": [], "community_id": [], "distance_m": []})
    if not has.any():
        return buildings, empty
    comm_m = communities.to_crs(metric)
    geom_of = dict(zip(comm_m["community_id"], comm_m.geometry, strict=True))
    idx = np.flatnonzero(has)
    polys = np.array([geom_of[c] for c in cids[idx]], dtype=object)
    pts = buildings.geometry.to_crs(metric).to_numpy()[idx]
    dist = shapely.distance(pts, polys)
    away = dist > PULL_IN_SLACK_M
    if not away.any():
        return buildings, empty
    idx, polys, pts, dist = idx[away], polys[away], pts[away], dist[away]
    far = dist > PULL_IN_TOLERANCE_M
    if "footprint" in buildings.columns:
        fps = gpd.GeoSeries(buildings["footprint"].to_numpy()[idx], crs=WGS84)
        fps_m = fps.to_crs(metric).to_numpy()
        overlaps = np.array(
            [f is not None and shapely.intersects(f, p) for f, p in zip(fps_m, polys, strict=True)]
        )
        far &= ~overlaps
    else:
        fps_m, overlaps = np.full(len(idx), None, dtype=object), np.zeros(len(idx), dtype=bool)
    if far.any():
        rows = buildings["_row"].to_numpy()[idx] if "_row" in buildings.columns else None
        raise InputError(
            [
                Problem(
                    source,
                    f"building_id={buildings['building_id'].iloc[i]}"
                    + ("" if rows is None else f" (row {rows[k]})"),
                    f"its community_id {cids[i]!r} names a community it lies {dist[k]:.1f} m "
                    f"outside of (more than {PULL_IN_TOLERANCE_M:.0f} m): fix its location or "
                    "community_id, or leave community_id empty to place it by location",
                )
                for k, i in enumerate(idx.tolist())
                if far[k]
            ][:50]
        )
    moved = pts.copy()
    for k in range(len(idx)):
        poly = polys[k]
        if overlaps[k]:
            moved[k] = shapely.point_on_surface(shapely.intersection(fps_m[k], poly))
            continue
        inner = shapely.buffer(poly, -1.0)
        target = poly if shapely.is_empty(inner) else inner
        moved[k] = shapely.Point(shapely.shortest_line(target, pts[k]).coords[0])
    out = buildings.copy()
    geoms = out.geometry.to_numpy().copy()
    geoms[idx] = gpd.GeoSeries(moved, crs=metric).to_crs(WGS84).to_numpy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=WGS84))
    log.warning(
        "%d building(s) lie outside the community they belong to (by community_id, or by "
        "the footprint overlapping it; up to %.1f m); "
        "their points were moved inside it",
        len(idx),
        float(dist.max()),
    )
    report = pd.DataFrame(
        {
            "building_id": buildings["building_id"].to_numpy()[idx],
            "community_id": cids[idx],
            "distance_m": dist,
        }
    )
    return out, report


def _compound_name(value: Any) -> str | None:
    """A compound id as text, ``None`` for missing or blank ids."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def compound_ids(
    buildings: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame | None
) -> list[str | None]:
    """Each building's compound: its own ``compound_id``, else the compound polygon holding it.

    A building inside several compound polygons takes the first of them in
    the layer's order; both layers must share a CRS.
    """
    n = len(buildings)
    ids: list[str | None] = [None] * n
    if "compound_id" in buildings.columns:
        ids = [_compound_name(v) for v in buildings["compound_id"].to_numpy(dtype=object)]
    if compounds is not None and len(compounds) and "compound_id" in compounds.columns:
        missing = np.array([k for k, v in enumerate(ids) if v is None], dtype=np.int64)
        if len(missing):
            pts = np.asarray(buildings.geometry.values, dtype=object)[missing]
            polys = np.asarray(compounds.geometry.values, dtype=object)
            pi, ci = shapely.STRtree(polys).query(pts, predicate="within")
            order = np.lexsort((ci, pi))
            pi, ci = pi[order], ci[order]
            first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
            cid = [_compound_name(v) for v in compounds["compound_id"].to_numpy(dtype=object)]
            for k, c in zip(missing[pi[first]], ci[first], strict=True):
                ids[k] = cid[c]
    return ids


def prepare(
    communities: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    compounds: gpd.GeoDataFrame | None = None,
    rule: HouseholdRule | None = None,
    sources: Mapping[str, Mapping[str, Any]] | None = None,
    buildings_source: str = "buildings",
) -> Inputs:
    """Prepare validated layers (all WGS84) into :class:`Inputs`.

    Parameters
    ----------
    communities, buildings
        Validated layers.
    streets, facilities, compounds
        Optional validated layers.
    rule
        Household estimation rule (default :class:`HouseholdRule`).
    sources
        Per layer, the file and CRS found (for the report).
    buildings_source
        The buildings file name, for messages.

    Returns
    -------
    Inputs
    """
    rule = rule or HouseholdRule()
    metric = _metric_crs_for(communities)
    _warn_overlapping(communities, metric)
    b = buildings.copy()
    geoms = b.geometry.to_numpy()
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])
    metric_geoms = b.geometry.to_crs(metric).to_numpy()
    footprint_m2 = np.where(polygonal, shapely.area(metric_geoms), 0.0)
    points = geoms.copy()
    points[polygonal] = shapely.point_on_surface(geoms[polygonal])
    b["footprint"] = np.where(polygonal, geoms, None)
    b["footprint_m2"] = footprint_m2
    b = b.set_geometry(gpd.GeoSeries(points, index=b.index, crs=WGS84))
    hh, est = estimate_households(b, footprint_m2, rule)
    b["households"] = hh
    b["households_estimated"] = est
    for col in NUMERIC_BUILDING_COLUMNS:
        if col not in b.columns:
            b[col] = np.nan
    # a building without its own compound_id takes the compound polygon holding it, so
    # that the plan's assignments (and the single-compound measure) carry it too
    b["compound_id"] = compound_ids(b, compounds)
    b["community_id"] = attach_communities(b, communities, source=buildings_source, metric=metric)
    b, pulled = pull_into_communities(b, communities, metric, source=buildings_source)
    outside = b["community_id"].isna().to_numpy()
    nearest_id, nearest_m = _nearest_communities(
        b.geometry.to_numpy()[outside], communities, metric
    )
    unassigned = pd.DataFrame(
        {
            "building_id": b.loc[outside, "building_id"].to_numpy(),
            "lon": b.geometry.x.to_numpy()[outside],
            "lat": b.geometry.y.to_numpy()[outside],
            "households": b.loc[outside, "households"].to_numpy(),
            "nearest_community_id": nearest_id,
            "distance_m": nearest_m,
        }
    )
    if len(unassigned):
        log.warning(
            "%d buildings (%d households) lie inside no community; they are listed in the report",
            len(unassigned),
            int(unassigned["households"].sum()),
        )
    if facilities is not None:
        facilities = facilities.copy()
        fgeoms = facilities.geometry.to_numpy()
        not_point = shapely.get_type_id(fgeoms) != 0
        if not_point.any():
            fixed = fgeoms.copy()
            fixed[not_point] = shapely.centroid(
                facilities.geometry.to_crs(metric).to_numpy()[not_point]
            )
            fixed_wgs = gpd.GeoSeries(fixed, crs=metric).to_crs(WGS84).to_numpy()
            fgeoms = np.where(not_point, fixed_wgs, fgeoms)
            facilities = facilities.set_geometry(
                gpd.GeoSeries(fgeoms, index=facilities.index, crs=WGS84)
            )
    drop = [c for c in ("_row",) if c in b.columns]
    return Inputs(
        communities=communities.drop(columns=[c for c in ("_row",) if c in communities]),
        buildings=b.drop(columns=drop),
        metric_crs=metric,
        streets=streets,
        facilities=facilities,
        compounds=compounds,
        unassigned=unassigned,
        moved_in=pulled,
        sources={k: dict(v) for k, v in (sources or {}).items()},
    )
