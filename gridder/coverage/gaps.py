"""Gap polygons: clusters of households beyond a walking threshold.

A gap is the area within about ``link_m / 2`` of uncovered households, less the area
nearer to a covered building than to any other building:

1. uncovered buildings with households are rasterised on cells of ``link_m / 4`` and
   dilated by a disk of ``link_m / 2`` (fast at city scale, where a union of one disk
   per building is not), so that buildings about ``link_m`` apart or closer share a gap;
2. the raster's outline is smoothed — simplified (the cell staircase goes) and rounded
   by Chaikin corner cutting;
3. the Voronoi cells of the covered buildings near it are cut out, so a gap never
   contains a covered building and its edge runs half-way between covered and
   uncovered buildings;
4. an uncovered building left outside by the smoothing gets a small disk (at most half
   way to the nearest covered building).

The parts of the result are the gaps. Every uncovered building with households lies in
a gap and no covered building lies in (or on) any: :func:`gap_polygons` checks this
with an STRtree before returning and carves out any covered building that would still
touch a gap.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy import ndimage
from scipy.spatial import cKDTree

from gridder.errors import GridderError

__all__ = ["building_cells", "gap_polygons", "gaps"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GeomArray = npt.NDArray[np.object_]

#: Chaikin corner-cutting passes applied to the simplified raster outline.
SMOOTHING_PASSES = 2
#: Douglas–Peucker tolerance of the raster outline, in cells.
SIMPLIFY = 0.7


def building_cells(xy: FloatArray) -> GeomArray | None:
    """Voronoi cell of each building (buildings at the same point share one).

    Returns
    -------
    numpy.ndarray or None
        One Polygon per row of ``xy``, or ``None`` when there are fewer than two distinct
        points (no diagram).
    """
    uniq, inverse = np.unique(np.asarray(xy, dtype=float), axis=0, return_inverse=True)
    if len(uniq) < 2:
        return None
    points = shapely.multipoints(uniq)
    # extend well beyond the points, so that every gap lies inside the diagram
    frame = shapely.buffer(shapely.envelope(points), 10_000.0, quad_segs=1)
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=frame, ordered=True))
    if len(cells) != len(uniq):
        log.warning("Voronoi diagram of %d points gave %d cells: not used", len(uniq), len(cells))
        return None
    out: GeomArray = np.asarray(cells, dtype=object)[inverse.ravel()]
    return out


def _chaikin(parts: GeomArray, passes: int) -> GeomArray:
    """Round polygons by Chaikin corner cutting (every ring, vectorised)."""
    if len(parts) == 0 or passes <= 0:
        return parts
    rings, owner = shapely.get_rings(parts, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    closing = np.r_[ring[1:] != ring[:-1], True]  # each ring's repeated first point
    c, r = coords[~closing], ring[~closing]
    for _ in range(passes):
        first = np.r_[True, r[1:] != r[:-1]]
        last = np.r_[r[1:] != r[:-1], True]
        nxt = np.arange(1, len(c) + 1)
        nxt[last] = np.flatnonzero(first)
        n = c[nxt]
        c = np.stack([0.75 * c + 0.25 * n, 0.25 * c + 0.75 * n], axis=1).reshape(-1, 2)
        r = np.repeat(r, 2)
    smooth = shapely.polygons(shapely.linearrings(c, indices=r), indices=owner)
    bad = ~shapely.is_valid(smooth)
    if bad.any():
        smooth[bad] = shapely.make_valid(smooth[bad])
    out: GeomArray = np.asarray(smooth, dtype=object)
    return out


def _polygonal(geom: Any) -> GeomArray:
    """The Polygon parts of a geometry (dropping lines and points of collections)."""
    parts = shapely.get_parts(geom)
    parts = shapely.get_parts(parts)  # collections inside collections
    kinds = shapely.get_type_id(parts)
    poly = parts[kinds == 3]
    multi = parts[kinds == 6]
    if len(multi):
        poly = np.concatenate([poly, shapely.get_parts(multi)])
    out: GeomArray = np.asarray(poly[~shapely.is_empty(poly)], dtype=object)
    return out


def gap_polygons(
    xy: FloatArray,
    households: FloatArray,
    covered: npt.NDArray[np.bool_],
    *,
    link_m: float = 150.0,
    cell_m: float | None = None,
    points: GeomArray | None = None,
    cells: GeomArray | None = None,
    tree: shapely.STRtree | None = None,
    smooth: bool = True,
) -> tuple[GeomArray, FloatArray, npt.NDArray[np.int64]]:
    """Build the gap polygons of one coverage mask.

    Parameters
    ----------
    xy
        Building coordinates (metres), ``n × 2``.
    households
        Households per building.
    covered
        Whether each building is covered.
    link_m
        Buildings of one gap are linked within about this distance.
    cell_m
        Raster cell size (default ``link_m / 4``).
    points
        ``shapely.points(xy)``, when already built.
    cells
        :func:`building_cells` of ``xy``, when already built.
    tree
        ``shapely.STRtree(points)``, when already built.
    smooth
        Smooth the raster outline (``False``: the raw cell staircase).

    Returns
    -------
    tuple
        Polygons, households of each, buildings in each.
    """
    hh = np.nan_to_num(np.asarray(households, dtype=float))
    pts = shapely.points(xy) if points is None else points
    unc = np.flatnonzero(~covered & (hh > 0))
    empty = (np.zeros(0, dtype=object), np.zeros(0), np.zeros(0, dtype=np.int64))
    if len(unc) == 0:
        return empty
    cov = np.flatnonzero(covered)
    cell = cell_m or link_m / 4.0
    reach = max(1, int(np.ceil(link_m / 2.0 / cell)))
    origin = xy[unc].min(axis=0) - (reach + 1) * cell
    ucell = np.floor((xy[unc] - origin) / cell).astype(np.int64)
    shape = tuple(ucell.max(axis=0) + reach + 2)
    u_mask = np.zeros(shape, dtype=bool)
    u_mask[ucell[:, 0], ucell[:, 1]] = True
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disk = xx * xx + yy * yy <= reach * reach
    near = ndimage.binary_dilation(u_mask, structure=disk)
    area = shapely.union_all(_raster_polygons(near, origin, cell))
    if smooth:
        area = shapely.simplify(area, SIMPLIFY * cell)
        area = shapely.union_all(_chaikin(_polygonal(area), SMOOTHING_PASSES))
    if len(cov):
        area = _cut_covered(area, xy, unc, cov, cells=cells, pts=pts, reach_m=link_m + 2 * cell)
    if tree is None:
        tree = shapely.STRtree(pts)
    is_unc = np.zeros(len(xy), dtype=bool)
    is_unc[unc] = True
    parts = _polygonal(area)
    # a tree over the points, queried with the (prepared) polygons: fast for big polygons
    pi, bi = tree.query(parts, predicate="intersects")
    missing = unc[~np.isin(unc, bi[is_unc[bi]])]
    if len(missing):  # left out by the smoothing
        parts = _polygonal(_add_dots(area, xy, missing, cov, pts=pts, radius=cell / 2.0))
        pi, bi = tree.query(parts, predicate="intersects")
    if covered[bi].any():  # the guarantee, whatever the geometry did
        parts = _carve(parts, pts[np.unique(bi[covered[bi]])])
        pi, bi = tree.query(parts, predicate="intersects")
    mine = is_unc[bi]
    pi, bi = pi[mine], bi[mine]
    first = np.unique(bi, return_index=True)[1]  # a building on a shared edge counts once
    bi, pi = bi[first], pi[first]
    part_hh = np.bincount(pi, weights=hh[bi], minlength=len(parts))
    part_n = np.bincount(pi, minlength=len(parts))
    keep = part_n > 0
    return parts[keep], part_hh[keep].astype(np.float64), part_n[keep].astype(np.int64)


def _cut_covered(
    area: Any,
    xy: FloatArray,
    unc: IntArray,
    cov: IntArray,
    *,
    cells: GeomArray | None,
    pts: GeomArray,
    reach_m: float,
) -> Any:
    """Remove the Voronoi cells of the covered buildings that can reach the area."""
    d, _ = cKDTree(xy[unc]).query(xy[cov], distance_upper_bound=reach_m)
    close = cov[np.isfinite(d)]
    if len(close) == 0:
        return area
    if cells is None:
        cells = building_cells(xy)
    if cells is None:  # fewer than two distinct points: the carving below does it
        return area
    # buildings at one point share a cell: unique cells only, for a valid coverage
    _, first = np.unique(shapely.get_coordinates(pts[close]), axis=0, return_index=True)
    holes = shapely.coverage_union_all(cells[close[np.sort(first)]])
    return shapely.difference(area, holes)


def _add_dots(
    area: Any, xy: FloatArray, out: IntArray, cov: IntArray, *, pts: GeomArray, radius: float
) -> Any:
    """Give each uncovered building left outside a disk, at most half-way to a covered one."""
    r = np.full(len(out), radius)
    if len(cov):
        near, _ = cKDTree(xy[cov]).query(xy[out])
        r = np.minimum(r, 0.45 * near)
    ok = r > 0
    if (~ok).any():
        log.warning(
            "%d uncovered buildings share their point with a covered one: left out of the gaps",
            int((~ok).sum()),
        )
    if not ok.any():
        return area
    dots = shapely.buffer(pts[out[ok]], r[ok], quad_segs=4)
    return shapely.union_all(np.concatenate([[area], dots]))


def _raster_polygons(mask: npt.NDArray[np.bool_], origin: FloatArray, cell: float) -> GeomArray:
    """Rectangles of the runs of set cells along the first axis, in metres."""
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1]), dtype=np.int8)
    padded[1:-1] = mask
    step = np.diff(padded, axis=0)
    # nonzero on the transpose walks row y by row y, so run starts and ends pair up
    row, x_start = np.nonzero(step.T == 1)
    _, x_end = np.nonzero(step.T == -1)
    # every coordinate from one formula, so that neighbouring rows share their edge to the
    # last bit (``y0 + cell`` would leave hairline cracks that smoothing widens)
    x0 = origin[0] + x_start * cell
    x1 = origin[0] + x_end * cell
    y0 = origin[1] + row * cell
    y1 = origin[1] + (row + 1) * cell
    return np.asarray(shapely.box(x0, y0, x1, y1), dtype=object)


def _carve(parts: GeomArray, covered: GeomArray) -> GeomArray:
    """Remove any covered building that still touches a gap (the guarantee), then verify."""
    if len(covered) == 0 or len(parts) == 0:
        return parts
    tree = shapely.STRtree(covered)
    gi, ci = tree.query(parts, predicate="intersects")
    if len(ci):
        log.debug("carving %d covered buildings out of gaps", len(ci))
        for k in np.unique(gi):
            dots = shapely.buffer(covered[ci[gi == k]], 1e-3)
            parts[k] = shapely.difference(parts[k], shapely.union_all(dots))
        parts = shapely.get_parts(parts)
        if len(tree.query(parts, predicate="intersects")[0]):
            raise GridderError("internal error: a gap polygon contains a covered building")
    return parts


def gaps(
    buildings: gpd.GeoDataFrame,
    distances: Mapping[str, FloatArray],
    thresholds: Sequence[tuple[float, float]],
    *,
    link_m: float = 150.0,
) -> gpd.GeoDataFrame:
    """Build gap polygons for every facility type and threshold.

    Parameters
    ----------
    buildings
        Points (metric CRS) with ``households``.
    distances
        Facility type → network metres per building (NaN when unreachable).
    thresholds
        ``(minutes, distance_m)`` pairs.
    link_m
        Uncovered buildings about this far apart or closer share a gap.

    Returns
    -------
    geopandas.GeoDataFrame
        ``facility_type``, ``minutes``, ``distance_m``, ``households``, ``n_buildings``,
        Polygon geometry, in the buildings' CRS.
    """
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    pts = shapely.centroid(geoms)
    xy = shapely.get_coordinates(pts)
    hh = pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy(float)
    rows: list[tuple[Any, Any, float, float, int]] = []
    out_geoms: list[Any] = []
    cells: GeomArray | None = None
    tree = shapely.STRtree(pts)
    for ftype, d in distances.items():
        for minutes, dist_m in thresholds:
            covered = np.asarray(d <= dist_m)
            if cells is None and covered.any() and (~covered & (hh > 0)).any():
                cells = building_cells(xy)  # once: the same buildings for every mask
            polys, phh, pn = gap_polygons(
                xy, hh, covered, link_m=link_m, points=pts, cells=cells, tree=tree
            )
            out_geoms.extend(polys.tolist())
            rows.extend(
                (ftype, minutes, float(dist_m), float(h), int(n))
                for h, n in zip(phh, pn, strict=True)
            )
    cols = ["facility_type", "minutes", "distance_m", "households", "n_buildings"]
    frame = gpd.GeoDataFrame(
        {c: [r[i] for r in rows] for i, c in enumerate(cols)},
        geometry=np.asarray(out_geoms, dtype=object) if out_geoms else [],
        crs=buildings.crs,
    )
    frame["households"] = frame["households"].round().astype(np.int64)
    return frame
