"""Voronoi generators for a community's buildings, and the community polygon they live in.

The tessellation needs a valid community polygon on its snapping grid and one
generator per building that lies inside it and apart from every other: points
outside the community (or in a hole) are moved just inside it, and coincident
points are spread deterministically over a few centimetres, so that every
building gets a cell of its own.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from gridder.errors import GridderError

__all__ = [
    "DUPLICATE_TOLERANCE",
    "GRID_SIZE",
    "POINT_PRECISION",
    "clean_community",
    "onto_community",
    "place_generators",
    "points_in",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Snap-rounding precision of the tessellation, metres.
GRID_SIZE: Final = 1e-3
#: Building points closer than this (metres) are treated as coincident.
DUPLICATE_TOLERANCE: Final = 0.05
#: Building points are placed to the centimetre: a point this near (metres) a locked
#: grid's outline lies in it, whichever side noise put it on.
POINT_PRECISION: Final = 0.01
#: Coincident building points are spread on a circle of this radius (metres).
JITTER_RADIUS: Final = 0.1
#: How far inside the community a building point outside it is moved (metres).
SNAP_INSET: Final = 0.25


def clean_community(geom: BaseGeometry, *, name: str = "community") -> BaseGeometry:
    """Make a community geometry a valid (Multi)Polygon on the snapping grid.

    Parameters
    ----------
    geom
        The community's polygon, metric CRS.
    name
        The community's id, for error messages.

    Returns
    -------
    shapely.geometry.base.BaseGeometry
        A valid Polygon or MultiPolygon.
    """
    if geom is None or shapely.is_empty(geom):
        msg = f"community {name}: empty geometry"
        raise GridderError(msg)
    g = shapely.make_valid(geom)
    parts = shapely.get_parts(g)
    polys = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    if len(polys) == 0:
        msg = f"community {name}: geometry has no area"
        raise GridderError(msg)
    g = shapely.set_precision(shapely.union_all(polys), GRID_SIZE)
    if shapely.is_empty(g) or shapely.area(g) <= 0:
        msg = f"community {name}: geometry has no area"
        raise GridderError(msg)
    return g


def _snap_inside(xy: FloatArray, community: BaseGeometry) -> BoolArray:
    """Move points lying outside the community just inside it (in place)."""
    shapely.prepare(community)
    pts = shapely.points(xy)
    outside = ~shapely.covered_by(pts, community)
    if outside.any():
        near = _nearest_point(pts[outside], community)
        lens = shapely.intersection(shapely.buffer(near, SNAP_INSET), community)
        xy[outside] = shapely.get_coordinates(shapely.point_on_surface(lens))
    return np.asarray(outside, dtype=bool)


def _separate_duplicates(
    xy: FloatArray, community: BaseGeometry, *, tolerance: float, radius: float
) -> int:
    """Spread points closer than ``tolerance`` around their centre, inside the community.

    Each group goes on a circle of ``radius``; a group whose circle leaves the
    community goes instead on a line from its centre towards a point inside.
    Works in place; returns how many points moved.
    """
    pairs = cKDTree(xy).query_pairs(tolerance, output_type="ndarray")
    if len(pairs) == 0:
        return 0
    n = len(xy)
    graph = coo_array((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    moved = np.flatnonzero(sizes[comp] > 1)
    order = moved[np.lexsort((moved, comp[moved]))]
    grp = comp[order]
    first = np.r_[True, grp[1:] != grp[:-1]]
    rank = np.arange(len(order)) - np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    sums = np.column_stack(
        [np.bincount(comp, weights=xy[:, 0]), np.bincount(comp, weights=xy[:, 1])]
    )
    centre = np.asarray(sums, dtype=np.float64) / sizes[:, None]
    angle = 2.0 * np.pi * rank / sizes[grp] + np.pi / 4.0
    spread = centre[grp] + radius * np.column_stack([np.cos(angle), np.sin(angle)])
    out = ~shapely.covered_by(shapely.points(spread), community)
    if out.any():
        groups = np.unique(grp[out])
        reach = np.maximum(2.0, 2.0 * tolerance * sizes[groups])
        lens = shapely.intersection(
            shapely.buffer(shapely.points(centre[groups]), reach), community
        )
        inner = shapely.get_coordinates(shapely.point_on_surface(lens))
        target = np.full_like(centre, np.nan)
        target[groups] = inner
        on_line = np.isin(grp, groups)
        g, r = grp[on_line], rank[on_line]
        frac = (r + 1.0) / (sizes[g] + 1.0)
        spread[on_line] = centre[g] + frac[:, None] * (target[g] - centre[g])
    xy[order] = spread
    return len(order)


def _place_on_lattice(xy: FloatArray, community: BaseGeometry, *, tolerance: float) -> None:
    """Last resort for clusters of coincident points: free lattice sites inside (in place).

    Each remaining cluster takes the sites of a square lattice (spacing
    ``2 * tolerance``) inside the community and away from every other point,
    nearest to the cluster's centre first. Only pathological inputs (many points
    far outside the community snapped onto one spot) get here.
    """
    pairs = cKDTree(xy).query_pairs(tolerance, output_type="ndarray")
    n = len(xy)
    graph = coo_array((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    step = 2.0 * tolerance
    for group in np.flatnonzero(sizes > 1):
        members = np.flatnonzero(comp == group)
        others = np.flatnonzero(comp != group)
        centre = xy[members].mean(axis=0)
        reach = step * (np.sqrt(len(members)) + 2.0)
        for _ in range(6):
            k = np.arange(-np.ceil(reach / step), np.ceil(reach / step) + 1) * step
            gx, gy = np.meshgrid(centre[0] + k, centre[1] + k)
            sites = np.column_stack([gx.ravel(), gy.ravel()])
            ok = shapely.covered_by(shapely.points(sites), community)
            if len(others):
                dist, _ = cKDTree(xy[others]).query(sites)
                ok &= dist > tolerance
            sites = sites[ok]
            if len(sites) >= len(members):
                near = np.argsort(np.hypot(*(sites - centre).T), kind="stable")
                xy[members] = sites[near[: len(members)]]
                break
            reach *= 2.0


def place_generators(xy: npt.ArrayLike, community: BaseGeometry) -> tuple[FloatArray, BoolArray]:
    """Voronoi generators for building points: inside the community, pairwise distinct.

    Points outside the community (or in a hole) are moved to a point inside it
    next to the nearest boundary point; coincident points (closer than
    :data:`DUPLICATE_TOLERANCE`) are spread deterministically on a small circle.

    Parameters
    ----------
    xy
        Building points, shape ``(n, 2)``, metres.
    community
        The cleaned community polygon.

    Returns
    -------
    tuple
        Generators ``(n, 2)`` and a mask of the points that were outside.
    """
    gen = np.array(xy, dtype=np.float64, copy=True).reshape(-1, 2)
    snapped = _snap_inside(gen, community)
    for attempt in range(3):
        radius = JITTER_RADIUS * (2**attempt)
        if _separate_duplicates(gen, community, tolerance=DUPLICATE_TOLERANCE, radius=radius) == 0:
            break
        snapped |= _snap_inside(gen, community)
    else:
        _place_on_lattice(gen, community, tolerance=DUPLICATE_TOLERANCE)
    if len(cKDTree(gen).query_pairs(10 * GRID_SIZE)):
        msg = "could not separate coincident building points"
        raise GridderError(msg)
    if snapped.any():
        dist = np.hypot(*(gen[snapped] - np.asarray(xy, dtype=np.float64)[snapped]).T)
        # points on the outline (coordinate noise) move by centimetres: not worth a warning
        logger.log(
            logging.WARNING if float(dist.max()) > 0.5 else logging.INFO,
            "%d building points lay outside the community (up to %.1f m) and were moved in",
            int(snapped.sum()),
            float(dist.max()),
        )
    return gen, snapped


def onto_community(points: npt.ArrayLike, community: BaseGeometry) -> npt.NDArray[np.object_]:
    """Building points, those outside ``community`` at its nearest point (its outline).

    Where a building's land begins: the points locked grids are asked about
    (:func:`points_in`). A building point a few centimetres outside its
    community lies on the edge of the grid whose cell it has, not outside it.
    """
    pts = np.asarray(points)
    if pts.dtype != object:
        pts = shapely.points(pts.reshape(-1, 2))
    if not len(pts):
        return pts
    shapely.prepare(community)
    outside = ~shapely.covered_by(pts, community)
    if outside.any():
        pts = pts.copy()
        pts[outside] = _nearest_point(pts[outside], community)
    return pts


def _nearest_point(pts: npt.NDArray[np.object_], community: BaseGeometry) -> npt.NDArray[Any]:
    """The point of ``community`` nearest to each of ``pts``."""
    return np.asarray(shapely.get_point(shapely.shortest_line(pts, community), 1))


def points_in(points: npt.ArrayLike, polygon: BaseGeometry) -> npt.NDArray[np.bool_]:
    """Whether each point lies in ``polygon`` or within :data:`POINT_PRECISION` of its outline.

    A building on a locked grid's edge lies in it. The one rule by which a
    locked grid holds buildings: the planning step that locks them and the
    tessellation that keeps their cells inside agree (both ask with the
    points :func:`onto_community` gives).
    """
    pts = np.asarray(points)
    if pts.dtype != object:
        pts = shapely.points(pts.reshape(-1, 2))
    out: npt.NDArray[np.bool_] = shapely.dwithin(pts, polygon, POINT_PRECISION)
    return out
