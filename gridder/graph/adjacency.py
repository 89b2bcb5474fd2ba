"""Adjacency of a community's buildings, from a street-cut tessellation (issue 3, part 1).

Two buildings are adjacent when their cells share more than
:data:`MIN_SHARED_LENGTH` of boundary (corner contacts do not count: grids
joined at a corner fall apart as polygons). Each edge carries

- ``length``: the shared boundary, metres;
- ``hard``: the two buildings lie on different sides of the hard barriers — a
  major street (``gridder.schema.MAJOR_HIGHWAYS``), a street flagged ``barrier``
  or a given barrier (river, railway): their blocks fall in different pieces of
  the community cut by those lines only — or the straight line between them
  crosses one (a dead-end barrier that cuts no block);
- ``soft``: the two buildings lie in different compounds (小区), or one in a
  compound and one not;
- ``street``: at least half of the shared boundary lies within
  :data:`STREET_TOLERANCE` of any street line.

The graph keeps every edge, hard ones included; :attr:`Tessellation.components`
and :attr:`Tessellation.components_soft` say how it falls apart with and without
them (the optimizer decides what to do).

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box, LineString, Point
>>> b = gpd.GeoDataFrame({"building_id": ["a", "b", "c"]},
...     geometry=[Point(10, 10), Point(30, 10), Point(70, 10)], crs=32650)
>>> s = gpd.GeoDataFrame({"highway": ["primary"]},
...     geometry=[LineString([(50, -5), (50, 25)])], crs=32650)
>>> t = build_tessellation("C1", box(0, 0, 100, 20), b, s)
>>> t.adjacency.edges.tolist(), t.adjacency.hard.tolist()
([[0, 1], [1, 2]], [False, True])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from shapely.geometry.base import BaseGeometry

from gridder.errors import GridderError
from gridder.graph.tessellation import FaceTessellation, tessellate
from gridder.prepare import compound_ids
from gridder.schema import MAJOR_HIGHWAYS

__all__ = [
    "MIN_SHARED_LENGTH",
    "STREET_TOLERANCE",
    "Adjacency",
    "Tessellation",
    "build_tessellation",
    "building_points",
    "cell_adjacency",
    "components",
    "hard_sides",
    "to_lines",
]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
GeomArray = npt.NDArray[np.object_]

#: Cells sharing less boundary than this (metres) are not adjacent.
MIN_SHARED_LENGTH: Final = 0.5
#: A shared boundary within this distance (metres) of a street line follows it.
STREET_TOLERANCE: Final = 5.0
_ON_LINE: Final = 0.05  # a noded segment this close (metres) to a line lies on it
#: A hard line running this far (metres) through a footprint puts the building across it.
ACROSS_MIN_M: Final = 1.0


@dataclass(frozen=True)
class Adjacency:
    """Edges between building cells and what they cross.

    Parameters
    ----------
    edges
        ``(m, 2)`` building index pairs ``i < j``, sorted.
    length
        Shared boundary length of each edge, metres.
    hard
        Whether the edge crosses a hard barrier.
    soft
        Whether the edge crosses a compound edge.
    street
        Whether the shared boundary follows a street line.
    """

    edges: IntArray
    length: FloatArray
    hard: BoolArray
    soft: BoolArray
    street: BoolArray

    @property
    def m(self) -> int:
        """Number of edges."""
        return len(self.edges)


def components(n: int, edges: IntArray) -> IntArray:
    """Label the connected component (0, 1, ...) of each of ``n`` nodes under ``edges``."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    graph = coo_array((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


#: Most parts of one community's adjacency that :func:`bridge_parts` joins.
MAX_BRIDGED_PARTS: Final = 64
#: Shared length given to a bridge between parts (metres): a short, cheap boundary.
BRIDGE_LENGTH: Final = 1.0


def bridge_parts(
    faces: FaceTessellation,
    adjacency: Adjacency,
    *,
    hard_lines: GeomArray,
    community_id: str = "",
) -> Adjacency:
    """Join the parts of a community whose cells share no boundary (islands, exclaves).

    A community drawn in several parts (CONTRACT §3 lets a grid be a
    MultiPolygon there) would otherwise make each part with households a grid
    of its own, out of band when small. The parts are joined by a minimum
    spanning tree (scipy's) of *bridges*: per pair of parts, an edge between the
    buildings owning the two nearest cells; a bridge is a compound-like (soft)
    edge of :data:`BRIDGE_LENGTH`, hard when the straight line between the two
    cells crosses a hard barrier.
    """
    n = faces.n
    comp = components(n, adjacency.edges)
    k = int(comp.max()) + 1 if n else 0
    if k <= 1:
        return adjacency
    if k > MAX_BRIDGED_PARTS:
        logger.info("community %s: %d parts, too many to bridge", community_id, k)
        return adjacency
    face_comp = comp[faces.face_owner]
    idx = [np.flatnonzero(face_comp == c) for c in range(k)]
    trees = [shapely.STRtree(faces.faces[i]) for i in idx]
    gap = np.zeros((k, k))
    nearest: dict[tuple[int, int], tuple[int, int]] = {}
    for a in range(k):
        for b in range(a + 1, k):
            (ia, ib), dist = trees[b].query_nearest(faces.faces[idx[a]], return_distance=True)
            j = int(np.argmin(dist))
            gap[a, b] = float(dist[j]) + 1e-6  # parts touching at a point: still an edge
            nearest[a, b] = (int(idx[a][ia[j]]), int(idx[b][ib[j]]))
    tree = minimum_spanning_tree(gap).tocoo()
    bridges: list[tuple[int, int, bool]] = []
    hard_union = shapely.union_all(hard_lines) if len(hard_lines) else None
    for a, b in sorted(zip(tree.row.tolist(), tree.col.tolist(), strict=True)):
        fa, fb = nearest[min(a, b), max(a, b)]
        link = shapely.shortest_line(faces.faces[fa], faces.faces[fb])
        crosses = hard_union is not None and bool(shapely.intersects(link, hard_union))
        i, j = sorted((int(faces.face_owner[fa]), int(faces.face_owner[fb])))
        bridges.append((i, j, crosses))
    logger.info("community %s: %d part(s) joined by %d bridge(s)", community_id, k, len(bridges))
    new = np.array([(i, j) for i, j, _ in bridges], dtype=np.int64).reshape(-1, 2)
    edges = np.concatenate([adjacency.edges.reshape(-1, 2), new])
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    nb = len(bridges)
    return Adjacency(
        edges=edges[order],
        length=np.concatenate([adjacency.length, np.full(nb, BRIDGE_LENGTH)])[order],
        hard=np.concatenate([adjacency.hard, np.array([h for *_, h in bridges], dtype=bool)])[
            order
        ],
        soft=np.concatenate([adjacency.soft, np.ones(nb, dtype=bool)])[order],
        street=np.concatenate([adjacency.street, np.zeros(nb, dtype=bool)])[order],
    )


def to_lines(geoms: Any) -> GeomArray:
    """Linework of geometries: lines as they are, polygons as their outlines.

    Parameters
    ----------
    geoms
        A GeoSeries, GeoDataFrame or array of shapely geometries (``None`` allowed).

    Returns
    -------
    numpy.ndarray
        Single-part LineStrings.
    """
    if geoms is None:
        return np.empty(0, dtype=object)
    if isinstance(geoms, gpd.GeoDataFrame):
        geoms = geoms.geometry
    arr = np.asarray(geoms, dtype=object).ravel()
    arr = arr[~(shapely.is_missing(arr) | shapely.is_empty(arr))]
    if len(arr) == 0:
        return np.empty(0, dtype=object)
    polygonal = np.isin(shapely.get_type_id(arr), [3, 6])
    arr = np.where(polygonal, shapely.boundary(arr), arr)
    parts = shapely.get_parts(shapely.get_parts(arr))
    parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]
    return np.asarray(parts, dtype=object)


def _near(points: GeomArray, lines: GeomArray, distance: float) -> BoolArray:
    """Whether each point lies within ``distance`` of any line."""
    hit = np.zeros(len(points), dtype=bool)
    if len(lines) and len(points):
        idx, _ = shapely.STRtree(lines).query(points, predicate="dwithin", distance=distance)
        hit[idx] = True
    return hit


def cell_adjacency(
    faces: FaceTessellation,
    *,
    streets: GeomArray,
    hard_lines: GeomArray,
    compound: IntArray,
    min_shared: float = MIN_SHARED_LENGTH,
    street_tolerance: float = STREET_TOLERANCE,
) -> Adjacency:
    """Aggregate the shared face segments of a tessellation into building edges.

    Parameters
    ----------
    faces
        The tessellation.
    streets
        All street lines (any class).
    hard_lines
        Lines of hard barriers (major streets, rivers, railways).
    compound
        Compound index of each building, ``-1`` for none.
    min_shared
        Minimum shared boundary of an edge, metres.
    street_tolerance
        Distance within which a boundary follows a street, metres.

    Returns
    -------
    Adjacency
        The edges, sorted by ``(i, j)``.
    """
    n = faces.n
    own = faces.seg_owners
    inner = (own[:, 0] >= 0) & (own[:, 1] >= 0) & (own[:, 0] != own[:, 1])
    lo = np.minimum(own[inner, 0], own[inner, 1])
    hi = np.maximum(own[inner, 0], own[inner, 1])
    seg_len = faces.seg_length[inner]
    c = faces.seg_coords[inner]
    mid = shapely.points((c[:, :2] + c[:, 2:]) / 2.0)
    on_street = _near(mid, streets, street_tolerance)
    key, inv = np.unique(lo * n + hi, return_inverse=True)
    total = np.bincount(inv, weights=seg_len)
    street_len = np.bincount(inv, weights=seg_len * on_street, minlength=len(key))
    keep = total >= min_shared
    edges = np.column_stack([key // n, key % n])[keep].astype(np.int64)
    total, street_len = total[keep], street_len[keep]
    hard = np.zeros(len(edges), dtype=bool)
    if len(hard_lines) and len(edges):
        side = hard_sides(faces, hard_lines)
        hard = side[edges[:, 0]] != side[edges[:, 1]]
        g = faces.generators
        links = shapely.linestrings(np.stack([g[edges[:, 0]], g[edges[:, 1]]], axis=1))
        idx, _ = shapely.STRtree(hard_lines).query(links, predicate="crosses")
        hard[idx] = True
    soft = compound[edges[:, 0]] != compound[edges[:, 1]]
    return Adjacency(
        edges=edges,
        length=np.asarray(total, dtype=np.float64),
        hard=np.asarray(hard, dtype=bool),
        soft=np.asarray(soft, dtype=bool),
        street=np.asarray(street_len >= 0.5 * total, dtype=bool),
    )


def hard_sides(faces: FaceTessellation, hard_lines: GeomArray) -> IntArray:
    """Side of the hard barriers each building lies on.

    Blocks are cut by every cutter, hard lines included; two blocks are on the
    same side when a chain of blocks joins them across boundaries that are not
    hard lines. A building's side is that of its block.

    Parameters
    ----------
    faces
        The tessellation.
    hard_lines
        Lines of hard barriers.

    Returns
    -------
    numpy.ndarray
        Side index of each building.
    """
    sf = faces.seg_faces
    inner = np.flatnonzero(sf[:, 1] >= 0)
    ba, bb = faces.face_block[sf[inner, 0]], faces.face_block[sf[inner, 1]]
    across = ba != bb
    c = faces.seg_coords[inner[across]]
    mid = shapely.points((c[:, :2] + c[:, 2:]) / 2.0)
    open_ = ~_near(mid, hard_lines, _ON_LINE)
    side = components(faces.n_blocks, np.column_stack([ba[across][open_], bb[across][open_]]))
    return side[faces.gen_block]


@dataclass(frozen=True)
class Tessellation:
    """A community's building cells, their adjacency and what the polygon step needs.

    Parameters
    ----------
    community_id
        The community.
    crs
        The (metric) CRS of every geometry here.
    index
        The buildings' index; :attr:`cells` is indexed by it.
    building_ids
        ``building_id`` of each building.
    points
        The buildings' points as given, ``(n, 2)``, metres.
    faces
        The face-level tessellation (faces, owners, shared segments).
    adjacency
        The building edges.
    compound
        Compound index of each building, ``-1`` for none.
    compound_ids
        ``compound_id`` of each compound index.
    compound_outlines
        Outlines of the given compound polygons, clipped to the community.
    streets
        All street lines, clipped to the community's surroundings.
    hard_lines
        Lines of the hard barriers (major streets, rivers, railways): drawn grid
        boundaries never move across them.
    across_barriers
        Buildings whose footprint a hard barrier line runs through (more than
        :data:`ACROSS_MIN_M`): the land under a footprint stays with its
        building, so its cell — and its grid — reaches across the barrier.
    """

    community_id: str
    crs: Any
    index: pd.Index
    building_ids: npt.NDArray[np.object_]
    points: FloatArray
    faces: FaceTessellation
    adjacency: Adjacency
    compound: IntArray
    compound_ids: tuple[str, ...]
    compound_outlines: GeomArray
    streets: GeomArray
    hard_lines: GeomArray = field(default_factory=lambda: np.empty(0, dtype=object))
    across_barriers: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def n(self) -> int:
        """Number of buildings."""
        return len(self.points)

    @property
    def community(self) -> BaseGeometry:
        """The community polygon (snapped to the tessellation's 1 mm grid)."""
        return self.faces.community

    @cached_property
    def cells(self) -> gpd.GeoSeries:
        """Each building's cell, indexed like the buildings."""
        _, geoms = self.faces.dissolve(np.arange(self.n))
        return gpd.GeoSeries(geoms, index=self.index, crs=self.crs, name="cell")

    @property
    def area(self) -> FloatArray:
        """Cell area of each building, m²."""
        return self.faces.cell_area

    @cached_property
    def components(self) -> IntArray:
        """Connected component of each building over all edges."""
        return components(self.n, self.adjacency.edges)

    @cached_property
    def components_soft(self) -> IntArray:
        """Connected component of each building once hard edges are cut."""
        adj = self.adjacency
        return components(self.n, adj.edges[~adj.hard])

    def compound_edges(self) -> GeomArray:
        """Compound edges: cell boundaries between compounds, plus given compound outlines.

        Returns
        -------
        numpy.ndarray
            LineStrings (metric CRS) where a compound meets another compound or
            land outside compounds, inside the community.
        """
        own = self.faces.seg_owners
        inner = (own[:, 0] >= 0) & (own[:, 1] >= 0)
        ca = np.where(inner, self.compound[np.maximum(own[:, 0], 0)], -1)
        cb = np.where(inner, self.compound[np.maximum(own[:, 1], 0)], -1)
        sel = inner & (ca != cb)
        c = self.faces.seg_coords[sel]
        segs = shapely.linestrings(np.stack([c[:, :2], c[:, 2:]], axis=1))
        return np.concatenate([np.asarray(segs, dtype=object), self.compound_outlines])


def _across(footprints: GeomArray | None, hard_lines: GeomArray) -> IntArray:
    """Buildings whose footprint a hard line runs through for more than :data:`ACROSS_MIN_M`."""
    if footprints is None or not len(hard_lines):
        return np.empty(0, dtype=np.int64)
    fp = np.asarray(footprints, dtype=object).copy()
    fp[~np.isin(shapely.get_type_id(fp), [3, 6])] = None  # polygons only (missing: type -1)
    lines = np.asarray(hard_lines, dtype=object)
    b, h = shapely.STRtree(lines).query(fp, predicate="intersects")
    if not len(b):
        return np.empty(0, dtype=np.int64)
    inside = shapely.length(shapely.intersection(lines[h], shapely.make_valid(fp[b])))
    length = np.zeros(len(fp))
    np.add.at(length, b, inside)
    return np.flatnonzero(length > ACROSS_MIN_M).astype(np.int64)


def _compound_codes(
    buildings: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame | None
) -> tuple[IntArray, tuple[str, ...]]:
    """Integer compound index per building (``-1``: none), from ids or polygons."""
    ids = compound_ids(buildings, compounds)
    names = sorted({v for v in ids if v is not None})
    lookup = {name: k for k, name in enumerate(names)}
    codes = np.array([-1 if v is None else lookup[v] for v in ids], dtype=np.int64)
    return codes, tuple(names)


def _street_lines(streets: gpd.GeoDataFrame | None) -> tuple[GeomArray, GeomArray]:
    """All street lines, and those that are hard barriers (major class or ``barrier``)."""
    if streets is None or len(streets) == 0:
        empty = np.empty(0, dtype=object)
        return empty, empty
    major = np.zeros(len(streets), dtype=bool)
    if "highway" in streets.columns:
        major |= streets["highway"].isin(MAJOR_HIGHWAYS).to_numpy()
    if "barrier" in streets.columns:
        major |= streets["barrier"].fillna(False).astype(bool).to_numpy()
    geoms = np.asarray(streets.geometry.values, dtype=object)
    return to_lines(geoms), to_lines(geoms[major])


def _check_metric(frame: Any, what: str) -> None:
    crs = getattr(frame, "crs", None)
    if crs is not None and crs.is_geographic:
        msg = f"{what} must be in a metric CRS (got {crs.to_string()}); project first"
        raise GridderError(msg)


def building_points(buildings: gpd.GeoDataFrame) -> FloatArray:
    """The points the tessellation places buildings at: snapped to the centimetre.

    Positions below a centimetre carry no meaning (GCJ-02 round trips and
    re-exports move points by nanometres) but decide near-ties of the
    tessellation, and whether a point on a locked grid's outline lies in it:
    whoever asks which buildings a polygon holds asks with these points.
    """
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    if len(geoms) and (shapely.get_type_id(geoms) != 0).any():
        geoms = shapely.point_on_surface(geoms)
    out: FloatArray = np.round(shapely.get_coordinates(geoms), 2)
    return out


def build_tessellation(
    community_id: str,
    community_geom: BaseGeometry,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    *,
    barriers: gpd.GeoDataFrame | None = None,
    compounds: gpd.GeoDataFrame | None = None,
    locked_polygons: Any = None,
    min_shared: float = MIN_SHARED_LENGTH,
) -> Tessellation:
    """Tessellate one community around its buildings and build their adjacency.

    The community is cut into blocks by every street line, barrier and compound
    outline; inside each block each building gets the land nearest to it
    (Voronoi). The cells tile the community exactly.

    Parameters
    ----------
    community_id
        The community's id.
    community_geom
        The community (Multi)Polygon, in the buildings' metric CRS.
    buildings
        The community's buildings: Point geometry (a point inside the
        footprint), ``building_id``, optionally ``compound_id`` and
        ``footprint`` (a Polygon column, ``None`` where unknown: the land under
        a footprint then stays with its building).
    streets
        Street LineStrings with ``highway`` (and optionally ``barrier``); may be
        empty or ``None``.
    barriers
        Extra hard barriers (rivers, railways), lines or polygons.
    compounds
        Compound polygons with ``compound_id``; their outlines cut cells, and
        buildings without a ``compound_id`` take the compound they lie in.
    locked_polygons
        Polygons of locked grids (GeoSeries/GeoDataFrame/array, metric CRS):
        cells follow their outlines exactly, so that the union of the cells of
        the buildings inside one is that polygon (within the community).
    min_shared
        Minimum shared boundary of an edge, metres.

    Returns
    -------
    Tessellation
        Cells, adjacency, compounds and components.
    """
    for frame, what in (
        (buildings, "buildings"),
        (streets, "streets"),
        (barriers, "barriers"),
        (compounds, "compounds"),
    ):
        _check_metric(frame, what)
    points = building_points(buildings)
    if len(points) != len(buildings):
        msg = f"community {community_id}: every building needs one non-empty point"
        raise GridderError(msg)
    street_lines, major_lines = _street_lines(streets)
    barrier_lines = to_lines(barriers)
    compound_lines = to_lines(compounds)
    hard_lines = np.concatenate([major_lines, barrier_lines])
    cutters = np.concatenate([street_lines, barrier_lines, compound_lines])
    zones = None
    if locked_polygons is not None:
        _check_metric(locked_polygons, "locked_polygons")
        geoms_locked = getattr(locked_polygons, "geometry", locked_polygons)
        zones = np.asarray(geoms_locked, dtype=object).ravel()
    footprints = None
    if "footprint" in buildings.columns:
        footprints = np.array(
            [g if isinstance(g, shapely.Geometry) else None for g in buildings["footprint"]],
            dtype=object,
        )
    faces = tessellate(
        community_geom,
        points,
        cutters=cutters,
        zones=zones,
        footprints=footprints,
        open_lines=np.concatenate([street_lines, barrier_lines]),
    )
    compound, compound_ids = _compound_codes(buildings, compounds)
    adjacency = cell_adjacency(
        faces,
        streets=street_lines,
        hard_lines=hard_lines,
        compound=compound,
        min_shared=min_shared,
    )
    adjacency = bridge_parts(faces, adjacency, hard_lines=hard_lines, community_id=community_id)
    if len(compound_lines):
        clipped = shapely.intersection(compound_lines, faces.community)
        compound_lines = to_lines(clipped)
    tess = Tessellation(
        community_id=community_id,
        crs=buildings.crs,
        index=buildings.index,
        building_ids=buildings["building_id"].astype(str).to_numpy(dtype=object),
        points=points,
        faces=faces,
        adjacency=adjacency,
        compound=compound,
        compound_ids=compound_ids,
        compound_outlines=compound_lines,
        streets=street_lines,
        hard_lines=hard_lines,
        across_barriers=_across(footprints, hard_lines),
    )
    n_comp = int(tess.components.max()) + 1 if tess.n else 0
    n_soft = int(tess.components_soft.max()) + 1 if tess.n else 0
    if n_comp > 1 or n_soft > 1:
        logger.info(
            "community %s: adjacency has %d component(s), %d once hard barriers are cut",
            community_id,
            n_comp,
            n_soft,
        )
    return tess
