"""One call for the whole coverage job: network, distances, summary, isochrones, gaps, compliance.

:func:`compute_coverage` is what ``gridder coverage`` runs. Every frame of the
:class:`CoverageResult` is in the inputs' metric CRS; the GeoPackage writer
(:func:`gridder.io.write.write_geopackage`) converts geometry layers to WGS84.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gridder.coverage.access import nearest_facility
from gridder.coverage.gaps import gaps as gap_frame
from gridder.coverage.isochrones import isochrones as isochrone_frame
from gridder.coverage.standard import Standard, compliance, load_standard, missing_by_scope
from gridder.coverage.summary import summarize
from gridder.errors import InputError, Problem
from gridder.graph.streets import WalkNetwork, WalkRules

__all__ = [
    "CoverageResult",
    "check_thresholds",
    "compute_coverage",
    "distinct_minutes",
    "thresholds_for",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[str, int, int], None]

#: Facilities off the walking network (farther than ``max_snap_m``) are left out with a
#: warning while they are at most this share of all; more is an input error.
MAX_OFF_NETWORK_SHARE = 0.25

#: A building farther than this (m) from the walking network's largest connected part is
#: reported: its straight walk to the network may cross a river or a wall.
LONG_LEG_M = 200.0

ACCESS_COLUMNS = (
    "building_id",
    "grid_id",
    "community_id",
    "facility_type",
    "category",
    "nearest_facility_id",
    "dist_m",
    "walk_min",
    "households",
)


@dataclass
class CoverageResult:
    """Everything ``gridder coverage`` writes (CONTRACT §4), in the inputs' metric CRS.

    Parameters
    ----------
    access
        One Point row per building × facility type.
    summary
        Households covered per scope, facility type and threshold.
    isochrones
        Polygons per facility and threshold (empty when not asked for).
    gaps
        Polygons of uncovered households per facility type and threshold.
    compliance
        Life-circle compliance (``None`` without a standard).
    components
        The network's smaller components, with the buildings/facilities nearest to them.
    distances
        Network metres, one column per facility type, indexed by ``building_id``.
    network
        The walking network (for siting and maps).
    meta
        Parameters, counts and timings (seconds per step); with a standard,
        ``missing``: for the whole area, the level (``"5"``, ``"10"``, ``"15"``) → the
        required categories missing there.
    """

    access: gpd.GeoDataFrame
    summary: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    compliance: pd.DataFrame | None
    components: pd.DataFrame
    distances: pd.DataFrame
    network: WalkNetwork
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def missing(self) -> pd.DataFrame | None:
        """Per scope (all, community, grid) and level, the required categories missing.

        :func:`gridder.coverage.standard.missing_by_scope` of :attr:`compliance`;
        ``None`` without a standard.
        """
        return None if self.compliance is None else missing_by_scope(self.compliance)


def thresholds_for(
    minutes: Sequence[float], speed_kmh: float, standard: Standard | None = None
) -> list[tuple[float, float]]:
    """Return the ``(minutes, distance_m)`` thresholds: the standard's levels, else minutes × speed.

    Examples
    --------
    >>> thresholds_for((5, 15), 4.5)
    [(5, 375.0), (15, 1125.0)]
    """
    if standard is not None:
        return [(lv.level, lv.distance_m) for lv in standard.levels]
    return [(m, float(m) * speed_kmh * 1000.0 / 60.0) for m in minutes]


def check_thresholds(minutes: Sequence[float], speed_kmh: float) -> None:
    """Check the walking thresholds and speed: finite numbers above zero.

    Raises
    ------
    InputError
        Naming ``--minutes`` or ``--speed-kmh`` and the value, every problem at once.

    Examples
    --------
    >>> check_thresholds([5, 15], 4.5)
    >>> check_thresholds([5], 0)
    Traceback (most recent call last):
    ...
    gridder.errors.InputError: --speed-kmh: 0: expected a walking speed above 0 km/h, finite
    """
    problems: list[Problem] = []
    if not _positive(speed_kmh):
        problems.append(
            Problem("--speed-kmh", f"{speed_kmh}", "expected a walking speed above 0 km/h, finite")
        )
    values = list(minutes)
    if not values:
        problems.append(Problem("--minutes", "", "expected at least one threshold in minutes"))
    for m in values:
        if not _positive(m):
            problems.append(
                Problem("--minutes", f"{m}", "expected a number of minutes above 0, finite")
            )
    if problems:
        raise InputError(problems)


def distinct_minutes(minutes: Sequence[float]) -> list[float]:
    """The thresholds sorted, each once; a repeated one is dropped with a warning.

    Examples
    --------
    >>> distinct_minutes([15, 5, 5.0])
    [5, 15]
    """
    values = list(minutes)
    unique: list[float] = []
    for m in sorted(values, key=float):  # stable: the first of equal values is kept
        if not unique or float(m) != float(unique[-1]):
            unique.append(m)
    if len(unique) < len(values):
        log.warning(
            "--minutes %s repeats a threshold: computing %s once each",
            ",".join(f"{m:g}" for m in values),
            ",".join(f"{m:g}" for m in unique),
        )
    return unique


def _positive(value: float) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return bool(np.isfinite(number) and number > 0)


def _check_inputs(
    streets: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame
) -> None:
    problems: list[Problem] = []
    for name, frame, cols in (
        ("streets", streets, ()),
        ("buildings", buildings, ("building_id", "households")),
        ("facilities", facilities, ("facility_id", "type")),
    ):
        if frame.crs is None or not frame.crs.is_projected:
            problems.append(Problem(name, "", f"expected a projected metric CRS, got {frame.crs}"))
        problems += [
            Problem(name, "", f"missing column {c!r}") for c in cols if c not in frame.columns
        ]
    if len(facilities) == 0:
        problems.append(Problem("facilities", "", "no facilities"))
    if not problems:
        crs = streets.crs
        for name, frame in (("buildings", buildings), ("facilities", facilities)):
            if not frame.crs.equals(crs):
                problems.append(Problem(name, "", f"CRS {frame.crs} differs from streets' {crs}"))
        no_type = facilities["type"].isna().to_numpy()
        problems += [
            Problem("facilities", f"facility_id={fid}", "no type")
            for fid in facilities["facility_id"].to_numpy()[no_type]
        ]
    if problems:
        raise InputError(problems)


def compute_coverage(
    streets: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    minutes: Sequence[float] = (5, 15),
    speed_kmh: float = 4.5,
    standard: Standard | str | None = None,
    isochrones: Literal["buffer", "hull", "none"] = "buffer",
    types: Sequence[str] | None = None,
    rules: WalkRules | None = None,
    network: WalkNetwork | None = None,
    max_snap_m: float | None = 500.0,
    buffer_m: float = 30.0,
    gap_link_m: float = 150.0,
    progress: Progress | None = None,
) -> CoverageResult:
    """Compute walking access from every building to every facility type.

    Parameters
    ----------
    streets
        Street lines (metric CRS); see :meth:`WalkNetwork.from_streets`.
    buildings
        Points with ``building_id``, ``households`` and optional ``grid_id``,
        ``community_id`` (a plan's ``assignments`` layer).
    facilities
        Points with ``facility_id`` and ``type`` (verbatim).
    minutes
        Thresholds in minutes of walking (sorted; a repeated one counts once).
    speed_kmh
        Walking speed.
    standard
        A life-circle catalogue (or its name, ``gb50180``): its levels' distances
        replace ``minutes`` and a compliance table is built. Without it the shipped
        ``gb50180`` catalogue still names each type's ``category`` in ``access``.
    isochrones
        ``buffer`` (buffered reachable streets), ``hull`` (convex preview) or ``none``.
        Each polygon also holds the access legs of the buildings that reach its
        facility, so that every building counted as covered lies inside its polygon.
    types
        Facility types to compute (default: every type present).
    rules
        The walkable rule.
    network
        A network already built from ``streets``.
    max_snap_m
        Facilities farther than this from the walking network are left out with a
        warning (``meta["facilities_off_network"]``) while they are few; when more than
        :data:`MAX_OFF_NETWORK_SHARE` of them are, or every facility of a requested
        type, it is an input error (the streets cover another area, or the
        coordinates are in another system).
    buffer_m
        Isochrone buffer half-width.
    gap_link_m
        Single-linkage distance of gap clusters.
    progress
        Called as ``progress(step, done, total)``.

    Returns
    -------
    CoverageResult
        All frames in the inputs' metric CRS.

    Raises
    ------
    InputError
        Bad input: minutes or speed not finite and above zero, missing columns, CRS
        mismatch, no facilities (of a requested type), facilities off the network, no
        walkable street.
    """
    check_thresholds(minutes, speed_kmh)
    minutes = distinct_minutes(minutes)
    _check_inputs(streets, buildings, facilities)
    std = load_standard(standard) if isinstance(standard, str) else standard
    thresholds = thresholds_for(minutes, speed_kmh, std)
    cutoff = max(d for _, d in thresholds)
    timings: dict[str, float] = {}

    def step(name: str, t0: float) -> float:
        t = time.perf_counter()
        timings[name] = round(t - t0, 4)
        if progress is not None:
            progress(name, 1, 1)
        return t

    t = time.perf_counter()
    net = network if network is not None else WalkNetwork.from_streets(streets, rules=rules)
    t = step("network", t)

    ftype = facilities["type"].astype(str).to_numpy()
    all_types = list(dict.fromkeys(ftype.tolist()))
    wanted = list(types) if types is not None else all_types
    missing = [x for x in wanted if x not in all_types]
    if missing:
        raise InputError(
            [
                Problem(
                    "facilities",
                    "",
                    f"no facility of type {m!r} (types present: {', '.join(all_types)})",
                )
                for m in missing
            ]
        )
    f_anchor = net.snap(facilities.geometry)
    fids = facilities["facility_id"].astype(str).to_numpy()
    off_network: dict[str, float] = {}
    if max_snap_m is not None:
        far = f_anchor.leg > max_snap_m
        lost = [x for x in wanted if np.isin(ftype, [x]).any() and far[ftype == x].all()]
        if far.any() and (lost or far.mean() > MAX_OFF_NETWORK_SHARE):
            # most of them, or every facility of a type: the streets cover another area,
            # or the facilities' coordinates are off (GCJ-02 read as WGS84 is ~500 m off)
            raise InputError(
                [
                    Problem(
                        "facilities",
                        f"facility_id={fid}",
                        f"lies {leg:,.0f} m from the walking network (more than "
                        f"{max_snap_m:,.0f} m): outside the streets' area, or in another "
                        "coordinate system (--crs gcj02 / bd09)?",
                    )
                    for fid, leg in zip(fids[far], f_anchor.leg[far], strict=True)
                ][:50]
            )
        if far.any():  # a few outside the streets' extract: left out, and said so
            off_network = {
                str(fid): round(float(leg), 1)
                for fid, leg in zip(fids[far], f_anchor.leg[far], strict=True)
            }
            log.warning(
                "%d of %d facilities lie more than %.0f m from the walking network and are "
                "left out (listed in coverage_meta.facilities_off_network): %s",
                int(far.sum()),
                len(far),
                max_snap_m,
                ", ".join(list(off_network)[:10]),
            )
            near = np.flatnonzero(~far)
            facilities = facilities.iloc[near].reset_index(drop=True)
            ftype, fids, f_anchor = ftype[near], fids[near], f_anchor.take(near)
    b_anchor = net.snap(buildings.geometry)
    far_b = b_anchor.leg > LONG_LEG_M
    if far_b.any():
        log.warning(
            "%d building(s) lie more than %.0f m (up to %.0f m) from the largest connected part "
            "of the walking network (across a river, or a district the streets do not join?); "
            "their distances include that straight walk: see the coverage file's components "
            "layer",
            int(far_b.sum()),
            LONG_LEG_M,
            float(b_anchor.leg.max()),
        )
    t = step("snap", t)

    graph = net.with_virtual_nodes(f_anchor)
    groups = [np.flatnonzero(ftype == x) for x in wanted]
    nearest = nearest_facility(net, f_anchor, b_anchor, cutoff_m=cutoff, groups=groups, graph=graph)
    dist = {x: r.dist for x, r in zip(wanted, nearest, strict=True)}
    t = step("distances", t)

    # the access layer's category comes from the catalogue even without --standard
    catalogue = std if std is not None else load_standard("gb50180")
    categories = {x: catalogue.category_of(x) for x in wanted}
    access = _access_frame(
        buildings, wanted, nearest=nearest, fids=fids, categories=categories, speed_kmh=speed_kmh
    )
    distances = pd.DataFrame(
        dist, index=pd.Index(buildings["building_id"].to_numpy(), name="building_id")
    )
    summary = summarize(buildings, dist, thresholds)
    comp = None
    if std is not None:
        cat_dist: dict[str, FloatArray] = {}
        for x, cat in categories.items():
            if cat is not None:
                d = np.where(np.isnan(dist[x]), np.inf, dist[x])
                cat_dist[cat] = np.minimum(cat_dist.get(cat, np.inf), d)
        comp = compliance(buildings, cat_dist, std)
    t = step("summary", t)

    if isochrones == "none":
        iso = gpd.GeoDataFrame(
            {"facility_id": [], "facility_type": [], "minutes": [], "distance_m": []},
            geometry=[],
            crs=net.crs,
        )
    else:
        keep = np.isin(ftype, wanted)
        sub = f_anchor.take(np.flatnonzero(keep))
        iso = isochrone_frame(
            net,
            sub,
            points=np.asarray(facilities.geometry.values, dtype=object)[keep],
            facility_ids=fids[keep].tolist(),
            facility_types=ftype[keep].tolist(),
            thresholds=thresholds,
            mode=isochrones,
            buffer_m=buffer_m,
            buildings=np.asarray(buildings.geometry.values, dtype=object),
            building_anchors=b_anchor,
            progress=progress,
        )
    t = step("isochrones", t)
    gp = gap_frame(buildings, dist, thresholds, link_m=gap_link_m)
    t = step("gaps", t)
    components = net.small_components(
        buildings=buildings,
        facilities=facilities,
        building_legs=b_anchor.leg,
        facility_legs=f_anchor.leg,
    )
    step("components", t)
    meta = {
        "thresholds": [{"minutes": m, "distance_m": d} for m, d in thresholds],
        "speed_kmh": speed_kmh,
        "standard": std.name if std is not None else None,
        "isochrones": isochrones,
        "network": {
            "nodes": net.n_nodes,
            "edges": net.n_edges,
            "components": int(net.component.max()) + 1,
        },
        "buildings_far_from_network": int(far_b.sum()),
        "facilities_off_network": off_network,
        "facility_types": wanted,
        "categories": categories,
        "timings_s": timings,
    }
    if comp is not None:
        whole = missing_by_scope(comp[comp["scope"] == "all"])
        meta["missing"] = {
            str(int(lv)): [x for x in names.split(", ") if x]
            for lv, names in zip(whole["level"], whole["missing_categories"], strict=True)
        }
    return CoverageResult(
        access=access,
        summary=summary,
        isochrones=iso,
        gaps=gp,
        compliance=comp,
        components=components,
        distances=distances,
        network=net,
        meta=meta,
    )


def _access_frame(
    buildings: gpd.GeoDataFrame,
    types: list[str],
    *,
    nearest: list[Any],
    fids: npt.NDArray[Any],
    categories: dict[str, str | None],
    speed_kmh: float,
) -> gpd.GeoDataFrame:
    n, k = len(buildings), len(types)

    def column(name: str) -> npt.NDArray[Any]:
        if name in buildings.columns:
            return np.tile(buildings[name].to_numpy(dtype=object), k)
        return np.full(n * k, None, dtype=object)

    dist = np.concatenate([r.dist for r in nearest]) if k else np.zeros(0)
    src = np.concatenate([r.source for r in nearest]) if k else np.zeros(0, dtype=np.int64)
    nearest_id = np.asarray(fids, dtype=object)[np.maximum(src, 0)]
    nearest_id[src < 0] = None
    hh = pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy()
    frame = pd.DataFrame(
        {
            "building_id": column("building_id"),
            "grid_id": column("grid_id"),
            "community_id": column("community_id"),
            "facility_type": np.repeat(np.asarray(types, dtype=object), n),
            "category": np.repeat(np.asarray([categories[x] for x in types], dtype=object), n),
            "nearest_facility_id": nearest_id,
            "dist_m": dist,
            "walk_min": dist / (speed_kmh * 1000.0 / 60.0),
            "households": np.tile(hh, k).astype(np.int64),
        }
    )
    points = np.asarray(buildings.geometry.values, dtype=object)
    if (shapely.get_type_id(points) != 0).any():
        points = shapely.centroid(points)
    geoms = np.tile(points, k)
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=buildings.crs)
