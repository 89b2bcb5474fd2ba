"""Grid polygons from an assignment of buildings to grids, their codes, their boundaries.

- :func:`grid_polygons` dissolves the building cells of a
  :class:`~gridder.graph.adjacency.Tessellation` by grid label. The cells form
  an exact polygonal coverage of the community, so the grids tile it with no
  gap and no overlap; a grid whose buildings are contiguous on the adjacency
  graph is one polygon (a MultiPolygon only where the community itself is in
  parts). Each boundary between two grids that zig-zags between buildings is
  then straightened on its own (Douglas–Peucker, ends held), as far as no
  building point or footprint changes grid and no edge crosses another; the
  community outline and locked grids' edges stay as they are.
- :func:`boundary_on_street_share` measures CONTRACT §6 "boundary on streets".
- :func:`assign_grid_codes` numbers grids ``{community_id}-NNN`` in reading
  order (rows north→south, west→east within a row) and keeps the codes of grids
  that persist from a previous plan.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gridder.graph.adjacency import Tessellation, to_lines
from gridder.graph.tessellation import dissolve_groups
from gridder.io.crs import local_metric_crs

__all__ = [
    "BOUNDARY_TOLERANCE",
    "assign_grid_codes",
    "boundary_on_street_lengths",
    "boundary_on_street_share",
    "grid_order",
    "grid_polygons",
]

logger = logging.getLogger(__name__)

GeomArray = npt.NDArray[np.object_]

#: Distance (metres) within which a grid boundary counts as following a street (CONTRACT §6).
BOUNDARY_TOLERANCE: Final = 15.0
#: Default smoothing tolerance of internal grid boundaries: how far (metres) a
#: straightened boundary may lie from the cell boundaries it replaces.
SMOOTH_TOLERANCE: Final = 12.0
#: Below this tolerance (metres) boundaries are left as the cells draw them.
MIN_SMOOTH_TOLERANCE: Final = 1.0
#: Share of the land under a footprint that smoothing may give to another grid.
FOOTPRINT_SLACK: Final = 0.02
#: How far (metres) a building may lie from its grid polygon (CONTRACT §3).
INSIDE_TOLERANCE: Final = 0.5


def _labels_for(tess: Tessellation, labels: Any) -> npt.NDArray[Any]:
    """Labels in the tessellation's row order, from an array or a Series."""
    if isinstance(labels, pd.Series):
        if labels.index.equals(tess.index):
            values = labels.to_numpy()
        else:
            keyed = labels.copy()
            keyed.index = keyed.index.astype(str)
            values = keyed.reindex(tess.building_ids.astype(str)).to_numpy()
    else:
        values = np.asarray(labels)
    if len(values) != tess.n:
        msg = f"expected {tess.n} labels, got {len(values)}"
        raise ValueError(msg)
    if pd.isna(values).any():
        msg = "every building needs a grid label"
        raise ValueError(msg)
    return np.asarray(values)


def _buildings_inside(
    geoms: GeomArray, label_index: npt.NDArray[np.int64], points: GeomArray
) -> bool:
    return bool(np.all(shapely.dwithin(points, geoms[label_index], INSIDE_TOLERANCE)))


def _footprints_kept(geoms: GeomArray, faces: GeomArray, grid: npt.NDArray[np.int64]) -> bool:
    """Whether each face under a footprint still lies (almost) in its building's grid."""
    if len(faces) == 0:
        return True
    lost = shapely.area(shapely.difference(faces, geoms[grid]))
    return bool(np.all(lost <= FOOTPRINT_SLACK * shapely.area(faces) + 0.5))


def _grid_edges(
    geoms: GeomArray, fixed: npt.NDArray[np.bool_]
) -> tuple[GeomArray, npt.NDArray[np.bool_]]:
    """The coverage's edges (chains between junctions) and which of them may move.

    An edge may move when it lies between two grids, neither of them fixed; the
    community outline and the edges of fixed grids stay.
    """
    chains = np.asarray(
        shapely.get_parts(shapely.line_merge(shapely.union_all(shapely.boundary(geoms)))),
        dtype=object,
    )
    mid = shapely.line_interpolate_point(chains, 0.5, normalized=True)
    ci, gi = shapely.STRtree(geoms).query(mid, predicate="dwithin", distance=1e-6)
    sides = np.bincount(ci, minlength=len(chains))
    on_fixed = np.zeros(len(chains), dtype=bool)
    on_fixed[ci[fixed[gi]]] = True
    return chains, (sides == 2) & ~on_fixed


def _pin_to_footprints(
    chains: GeomArray, movable: npt.NDArray[np.bool_], footprints: GeomArray
) -> tuple[GeomArray, npt.NDArray[np.bool_]]:
    """Cut the movable edges at every vertex on a footprint.

    The parts that run along buildings then stay, and the parts across open
    land can straighten.
    """
    if len(footprints) == 0:
        return chains, movable
    coords, idx = shapely.get_coordinates(chains[movable], return_index=True)
    pinned = np.zeros(len(coords), dtype=bool)
    vi, _ = shapely.STRtree(footprints).query(
        shapely.points(coords), predicate="dwithin", distance=0.01
    )
    pinned[vi] = True
    first = np.r_[True, idx[1:] != idx[:-1]]
    last = np.r_[idx[1:] != idx[:-1], True]
    pinned |= first | last
    cuts = np.flatnonzero(pinned)
    a, b = cuts[:-1], cuts[1:]
    within = idx[a] == idx[b]  # consecutive pins of one edge bound a part
    parts = [
        shapely.linestrings(coords[i : j + 1]) for i, j in zip(a[within], b[within], strict=True)
    ]
    out = np.concatenate([chains[~movable], np.asarray(parts, dtype=object)])
    flag = np.r_[np.zeros(int((~movable).sum()), dtype=bool), np.ones(len(parts), dtype=bool)]
    return out, flag


def _swept(old: GeomArray, new: GeomArray) -> GeomArray:
    """The land between each edge and its simplified version (what changes grid)."""
    out = np.full(len(old), shapely.Polygon(), dtype=object)
    for i, (o, n) in enumerate(zip(old, new, strict=True)):
        if shapely.equals_exact(o, n, 0.0):
            continue
        ring = np.concatenate([shapely.get_coordinates(o), shapely.get_coordinates(n)[::-1]])
        if len(ring) >= 4:
            out[i] = shapely.make_valid(shapely.Polygon(ring))
    return out


def _bad_edges(
    old: GeomArray,
    new: GeomArray,
    points: GeomArray,
    footprints: GeomArray,
    hard: GeomArray | None = None,
) -> npt.NDArray[np.bool_]:
    """Simplified edges that move a building or footprint, cross an edge, or sweep a barrier.

    A barrier is a ``hard`` line (a river, a major street) the swept land's
    interior meets: the boundary would move over it.
    """
    bad = np.zeros(len(new), dtype=bool)
    swept = _swept(old, new)
    changed = np.flatnonzero(~shapely.is_empty(swept))
    if len(changed) == 0:
        return bad
    sw = swept[changed]
    if hard is not None and len(hard):
        # the swept land, shrunk by 0.1 m (a boundary drawn along the line stays clear
        # of it, snapping aside), still meets the line: the boundary moved over it
        core = shapely.buffer(sw, -0.1)
        si, _ = shapely.STRtree(hard).query(core, predicate="intersects")
        bad[changed[si]] = True
    si, _ = shapely.STRtree(points).query(sw, predicate="intersects")
    bad[changed[si]] = True
    if len(footprints):
        si, fi = shapely.STRtree(footprints).query(sw, predicate="intersects")
        cut = shapely.area(shapely.intersection(sw[si], footprints[fi])) > 0.05
        bad[changed[si[cut]]] = True
    # a moved edge may meet the others only at its own end points
    ends = shapely.multipoints(
        np.stack([shapely.get_point(new, 0), shapely.get_point(new, -1)], axis=1)
    )
    ai, bj = shapely.STRtree(new).query(new[changed], predicate="intersects")
    ai = changed[ai]
    other = ai != bj
    ai, bj = ai[other], bj[other]
    if len(ai):
        meet = shapely.intersection(new[ai], new[bj])
        extra = shapely.difference(meet, shapely.union(ends[ai], ends[bj]))
        crossing = ~shapely.is_empty(extra)
        bad[ai[crossing]] = True
        bad[bj[crossing]] = True
    return bad


def _smooth(
    geoms: GeomArray,
    label_index: npt.NDArray[np.int64],
    points: GeomArray,
    tolerance: float,
    *,
    fixed: npt.NDArray[np.bool_],
    footprint_faces: tuple[GeomArray, npt.NDArray[np.int64]],
    hard: GeomArray | None = None,
) -> GeomArray:
    """Straighten the internal boundaries between grids, edge by edge.

    Each edge between two grids (a chain of cell boundaries from one junction
    to the next) is simplified by Douglas–Peucker within ``tolerance`` metres,
    its end points held. An edge whose simplification would move a building
    point or a footprint into the other grid, cross another edge, or sweep over a
    ``hard`` barrier line (the boundary would leave the river or road), tries half
    the tolerance, down to :data:`MIN_SMOOTH_TOLERANCE`, then stays as it was.
    Edges of ``fixed`` grids (locked grids) and the community outline never
    move. The grids are then rebuilt from the edges and checked once more; on
    any failure the unsmoothed polygons are returned.
    """
    if (~fixed).sum() < 2:
        return geoms
    chains, movable = _grid_edges(geoms, fixed)
    if not movable.any():
        return geoms
    faces, face_grid = footprint_faces
    chains, movable = _pin_to_footprints(chains, movable, faces)
    tol = np.where(movable, tolerance, 0.0)
    new = chains
    for _ in range(12):
        new = np.asarray(shapely.simplify(chains, tol, preserve_topology=True), dtype=object)
        bad = _bad_edges(chains, new, points, faces, hard)
        if not bad.any():
            break
        tol[bad] = np.where(tol[bad] / 2.0 >= MIN_SMOOTH_TOLERANCE, tol[bad] / 2.0, 0.0)
    else:
        return geoms
    pieces = np.asarray(shapely.get_parts(shapely.polygonize(new)), dtype=object)
    if len(pieces) == 0:
        return geoms
    pi, gi = shapely.STRtree(geoms).query(pieces, predicate="intersects")
    overlap = shapely.area(shapely.intersection(pieces[pi], geoms[gi]))
    order = np.lexsort((-overlap, pi))
    first = np.r_[True, pi[order][1:] != pi[order][:-1]]
    owner = np.full(len(pieces), -1, dtype=np.int64)
    inside = overlap[order][first] > 0.5 * shapely.area(pieces[pi[order][first]])
    owner[pi[order][first][inside]] = gi[order][first][inside]
    pieces, owner = pieces[owner >= 0], owner[owner >= 0]  # holes of the community go
    simple = dissolve_groups(pieces, owner, len(geoms))
    area = shapely.area(geoms)
    ok = (
        abs(float(shapely.area(pieces).sum() - area.sum())) <= 1e-6 * float(area.sum()) + 1.0
        and np.all(shapely.is_valid(simple))
        and np.array_equal(shapely.get_num_geometries(simple), shapely.get_num_geometries(geoms))
        and np.all(shapely.area(simple) > 0.5 * area)
        and _buildings_inside(simple, label_index, points)
        and _footprints_kept(simple, faces, face_grid)
        and all(shapely.equals(simple[g], geoms[g]) for g in np.flatnonzero(fixed))
    )
    if not ok:
        logger.info("internal boundaries left unsmoothed: the smoothed grids failed a check")
        return geoms
    return np.asarray(simple, dtype=object)


def grid_polygons(
    tessellation: Tessellation,
    labels: npt.ArrayLike | pd.Series,
    *,
    smooth: float = SMOOTH_TOLERANCE,
    fixed: Iterable[Hashable] = (),
) -> gpd.GeoDataFrame:
    """Grid polygons tiling the community, one row per grid label.

    Parameters
    ----------
    tessellation
        The community's tessellation (from ``PartitionInstance.from_frames``).
    labels
        Grid label of each building: an array in the buildings' row order, or a
        Series indexed like the buildings (or by ``building_id``).
    smooth
        Tolerance (metres) of the topology-preserving simplification of internal
        boundaries; ``0`` keeps the cell boundaries as they are. Halved until
        every building stays inside its grid and no footprint is cut (below
        1 m, dropped).
    fixed
        Labels of grids whose polygons must stay exactly the union of their
        cells (locked grids): smoothing leaves their edges alone.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by label (``label``), with ``n_buildings``, ``area_m2``,
        ``n_parts`` and the polygon, in the tessellation's metric CRS.

    Examples
    --------
    >>> import geopandas as gpd, numpy as np
    >>> from shapely import box, Point
    >>> from gridder.graph import build_tessellation
    >>> b = gpd.GeoDataFrame({"building_id": list("abcd")},
    ...     geometry=[Point(x, 5) for x in (5, 15, 25, 35)], crs=32650)
    >>> t = build_tessellation("C1", box(0, 0, 40, 10), b, None)
    >>> grid_polygons(t, np.array([0, 0, 1, 1]))["area_m2"].round(1).tolist()
    [200.0, 200.0]
    """
    lab = _labels_for(tessellation, labels)
    uniq, label_index = np.unique(lab, return_inverse=True)
    _, geoms = tessellation.faces.dissolve(label_index)
    geoms = np.asarray(geoms, dtype=object)
    faces = tessellation.faces
    xy = np.where(faces.snapped[:, None], faces.generators, tessellation.points)
    points = shapely.points(xy)
    if smooth > 0 and len(geoms) > 1:
        keep = set(fixed)
        is_fixed = np.array([u in keep for u in uniq.tolist()], dtype=bool)
        under = (
            faces.under_footprint
            if faces.under_footprint is not None
            else np.zeros(len(faces.faces), dtype=bool)
        )
        fp_faces = (faces.faces[under], label_index[faces.face_owner[under]])
        hard = np.asarray(tessellation.hard_lines, dtype=object)
        geoms = _smooth(
            geoms,
            label_index,
            points,
            smooth,
            fixed=is_fixed,
            footprint_faces=fp_faces,
            hard=shapely.intersection(hard, tessellation.community) if len(hard) else None,
        )
    n_parts = shapely.get_num_geometries(geoms)
    community_parts = shapely.get_num_geometries(tessellation.community)
    if (n_parts > community_parts).any():
        logger.warning(
            "community %s: %d grid(s) are not one connected polygon (labels not contiguous)",
            tessellation.community_id,
            int((n_parts > community_parts).sum()),
        )
    frame = gpd.GeoDataFrame(
        {
            "n_buildings": np.bincount(label_index, minlength=len(uniq)),
            "area_m2": shapely.area(geoms),
            "n_parts": n_parts,
        },
        geometry=geoms,
        crs=tessellation.crs,
        index=pd.Index(uniq, name="label"),
    )
    return frame


def _as_metric(
    grids: Any, community_geom: BaseGeometry, streets: Any, compound_edges: Any
) -> tuple[GeomArray, BaseGeometry, GeomArray]:
    """Grids, community and lines as arrays in one metric CRS."""
    crs = getattr(grids, "crs", None)
    g = grids.geometry if isinstance(grids, gpd.GeoDataFrame) else grids
    g_arr = np.asarray(g, dtype=object)
    lines = [to_lines(streets), to_lines(compound_edges)]
    if crs is not None and crs.is_geographic:
        gs = gpd.GeoSeries(g_arr, crs=crs)
        lon, lat = shapely.get_coordinates(shapely.centroid(shapely.union_all(g_arr)))[0]
        metric = local_metric_crs(float(lon), float(lat))
        g_arr = np.asarray(gs.to_crs(metric).values, dtype=object)
        community_geom = gpd.GeoSeries([community_geom], crs=crs).to_crs(metric).iloc[0]
        projected = []
        for raw, ln in ((streets, lines[0]), (compound_edges, lines[1])):
            src = getattr(raw, "crs", None) or crs
            projected.append(np.asarray(gpd.GeoSeries(ln, crs=src).to_crs(metric).values))
        lines = projected
    return g_arr, community_geom, np.concatenate(lines).astype(object)


def boundary_on_street_lengths(
    grids: gpd.GeoDataFrame | gpd.GeoSeries | GeomArray,
    community_geom: BaseGeometry,
    streets: Any,
    compound_edges: Any = None,
    *,
    tol: float = BOUNDARY_TOLERANCE,
    step: float = 1.0,
) -> tuple[float, float]:
    """Measure internal grid boundary near a street or compound edge, and in all.

    Parameters
    ----------
    grids
        The grid polygons of one community.
    community_geom
        The community polygon (its outline is not internal boundary).
    streets
        Street lines (GeoDataFrame, GeoSeries or array); may be empty.
    compound_edges
        Compound edge lines (e.g. ``Tessellation.compound_edges()``), or ``None``.
    tol
        Distance within which a boundary follows a line, metres.
    step
        Resolution of the measurement, metres.

    Returns
    -------
    tuple of float
        ``(near_m, total_m)``; add them over communities for a district share.
    """
    g, community, lines = _as_metric(grids, community_geom, streets, compound_edges)
    if len(g) < 2:
        return 0.0, 0.0
    shared = shapely.union_all(shapely.boundary(g))
    outline = shapely.buffer(shapely.boundary(community), 0.05)
    internal = shapely.difference(shared, outline)
    pieces = shapely.get_parts(shapely.segmentize(internal, step))
    coords, idx = shapely.get_coordinates(pieces, return_index=True)
    same = idx[1:] == idx[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    seg_len = np.hypot(*(b - a).T)
    total = float(seg_len.sum())
    if total == 0.0 or len(lines) == 0:
        return 0.0, total
    mid = shapely.points((a + b) / 2.0)
    hit = np.zeros(len(mid), dtype=bool)
    hit[shapely.STRtree(lines).query(mid, predicate="dwithin", distance=tol)[0]] = True
    return float(seg_len[hit].sum()), total


def boundary_on_street_share(
    grids: gpd.GeoDataFrame | gpd.GeoSeries | GeomArray,
    community_geom: BaseGeometry,
    streets: Any,
    compound_edges: Any = None,
    tol: float = BOUNDARY_TOLERANCE,
) -> float:
    """Share of internal grid boundary within ``tol`` of a street line or compound edge.

    CONTRACT §6: the community's outline is left out. ``nan`` when the
    community has one grid (no internal boundary).

    Parameters
    ----------
    grids
        The grid polygons of one community (metric CRS, or projected when geographic).
    community_geom
        The community polygon, in the grids' CRS.
    streets
        Street lines; may be empty.
    compound_edges
        Compound edge lines, or ``None``.
    tol
        Distance, metres.

    Returns
    -------
    float
        A share in ``[0, 1]``, or ``nan``.
    """
    near, total = boundary_on_street_lengths(
        grids, community_geom, streets, compound_edges, tol=tol
    )
    return near / total if total > 0 else float("nan")


def grid_order(
    geoms: GeomArray | gpd.GeoSeries, *, row_height: float | None = None
) -> npt.NDArray[np.int64]:
    """Order grids for reading: rows north→south, then west→east within a row.

    Each grid is placed by its representative point (``point_on_surface``).
    Rows are bands of height ``row_height`` (default: the median of
    ``sqrt(area)`` over the grids, i.e. a typical grid's size) counted down
    from the northernmost point; within a row grids go by increasing x, ties by
    decreasing y. The order is a pure function of the geometries.

    Parameters
    ----------
    geoms
        Grid polygons in a metric (or any projected, north-up) CRS.
    row_height
        Height of a row, metres.

    Returns
    -------
    numpy.ndarray
        Positions of the grids in reading order (an argsort).
    """
    arr = np.asarray(geoms, dtype=object)
    if len(arr) == 0:
        return np.empty(0, dtype=np.int64)
    xy = shapely.get_coordinates(shapely.point_on_surface(arr))
    h = row_height if row_height else float(np.median(np.sqrt(shapely.area(arr))))
    h = h if h > 0 else 1.0
    row = np.floor((xy[:, 1].max() - xy[:, 1]) / h)
    return np.lexsort((np.arange(len(arr)), -xy[:, 1], xy[:, 0], row)).astype(np.int64)


def _jaccard_polygons(new: GeomArray, old: GeomArray) -> tuple[Any, Any, Any]:
    ni, oi = shapely.STRtree(old).query(new, predicate="intersects")
    inter = shapely.area(shapely.intersection(new[ni], old[oi]))
    union = shapely.area(new[ni]) + shapely.area(old[oi]) - inter
    return ni, oi, np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def assign_grid_codes(
    community_id: str,
    grids: gpd.GeoDataFrame | gpd.GeoSeries,
    previous: gpd.GeoDataFrame | pd.Series | None = None,
    *,
    members: pd.Series | None = None,
    min_jaccard: float = 0.5,
    fill_gaps: bool = False,
    known: Mapping[Hashable, str] | None = None,
    retired: Iterable[str] = (),
) -> dict[Hashable, str]:
    """Grid codes ``{community_id}-NNN``: reading order, kept across re-plans.

    Without ``previous``, grids are numbered 001, 002, ... in :func:`grid_order`
    (rows north→south, west→east within a row). With ``previous``, each new grid
    that persists keeps its old code: pairs of (new, old) grids are matched
    greedily by decreasing Jaccard overlap, one-to-one, while the overlap is at
    least ``min_jaccard``. The other grids get numbers above the highest
    number the community used before, in reading order (a retired code is
    never given to another area).

    Parameters
    ----------
    community_id
        The community's id (the code prefix).
    grids
        The new grid polygons, indexed by label (metric CRS).
    previous
        Either the old grids (GeoDataFrame with ``grid_id`` and polygons, same
        CRS: overlap of areas) or the old assignment (Series ``building_id`` →
        ``grid_id``: overlap of member buildings; needs ``members``).
    members
        The new assignment, Series ``building_id`` → label (with a Series
        ``previous``).
    min_jaccard
        Minimum overlap for a grid to keep its code.
    fill_gaps
        Number the other grids with the lowest numbers not kept (001, 002, ...
        around the kept codes) rather than above the highest: for a first plan
        whose only "previous" grids are locked ones, where no code was retired.
    known
        Labels whose code is already known (a re-plan's grids that kept their
        previous grid's label: the solver's own record of what persists, and
        locked grids' own codes); they and their codes take no part in the
        overlap matching.
    retired
        Every code the community used before, including grids that hold none
        of today's buildings (all demolished, or gone to another community):
        new numbers start above all of them.

    Returns
    -------
    dict
        Label → code.
    """
    geoms = np.asarray(
        grids.geometry if isinstance(grids, gpd.GeoDataFrame) else grids, dtype=object
    )
    labels = list(grids.index)
    order = grid_order(geoms)
    codes: dict[Hashable, str] = {k: v for k, v in (known or {}).items() if k in set(labels)}
    pattern = re.compile(rf"^{re.escape(str(community_id))}-(\d+)$")
    used_before = [str(c) for c in retired]
    if previous is not None and len(previous):
        if isinstance(previous, gpd.GeoDataFrame):
            # a polygon given without a code (null) matches no code
            old_codes = np.array(
                [c if isinstance(c, str) else "" for c in previous["grid_id"]], dtype=object
            )
            ni, oi, jac = _jaccard_polygons(geoms, np.asarray(previous.geometry, dtype=object))
        else:
            if members is None:
                msg = "a previous assignment needs the new assignment (members)"
                raise ValueError(msg)
            ni, oi, jac, old_codes = _jaccard_members(labels, members, previous)
        used_before += [str(c) for c in old_codes]
        rank = np.lexsort((ni, old_codes[oi] if len(oi) else oi, -jac))
        used_new: set[int] = {i for i, lab in enumerate(labels) if lab in codes}
        used_old: set[int] = {i for i, c in enumerate(old_codes) if c in set(codes.values())}
        for k in rank:
            if jac[k] < min_jaccard:
                break
            a, b = int(ni[k]), int(oi[k])
            if a in used_new or b in used_old or not pattern.match(old_codes[b]):
                continue
            used_new.add(a)
            used_old.add(b)
            codes[labels[a]] = old_codes[b]
    numbers = [int(m.group(1)) for c in used_before if (m := pattern.match(c))]
    next_number = 1 if fill_gaps else max(numbers, default=0) + 1
    taken = set(codes.values())
    for pos in order:
        if labels[pos] not in codes:
            while f"{community_id}-{next_number:03d}" in taken:
                next_number += 1
            codes[labels[pos]] = f"{community_id}-{next_number:03d}"
            next_number += 1
    return codes


def _jaccard_members(
    labels: list[Hashable], members: pd.Series, previous: pd.Series
) -> tuple[Any, Any, Any, Any]:
    """Member-building Jaccard overlap of new labels and old grid ids."""
    new = pd.Series(members.to_numpy(), index=members.index.astype(str))
    old = pd.Series(previous.astype(str).to_numpy(), index=previous.index.astype(str))
    old_codes = np.array(sorted(set(old)), dtype=object)
    pos_new = {lab: k for k, lab in enumerate(labels)}
    pos_old = {c: k for k, c in enumerate(old_codes)}
    both = pd.DataFrame({"new": new}).join(pd.DataFrame({"old": old}), how="inner")
    both = both[both["new"].isin(pos_new)]
    if both.empty:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0), old_codes
    inter = both.groupby(["new", "old"]).size()
    size_new = new.value_counts()
    size_old = old.value_counts()
    nn = inter.index.get_level_values(0)
    oo = inter.index.get_level_values(1)
    union = size_new.reindex(nn).to_numpy() + size_old.reindex(oo).to_numpy() - inter.to_numpy()
    ni = np.array([pos_new[v] for v in nn], dtype=np.int64)
    oi = np.array([pos_old[v] for v in oo], dtype=np.int64)
    return ni, oi, inter.to_numpy() / union, old_codes
