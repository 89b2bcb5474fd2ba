"""Isochrone polygons: the area within a walking distance of each facility.

``buffer`` (the default) is the union of the buffers of the street segments reachable
within the distance — edges reached from both ends in full, partial edges cut at the
exact remaining distance, the facility's own edge around its snapped position and its
access leg. ``hull`` is a quick preview: the convex hull of the reached nodes and cut
points.

Buildings' own walks count too. A building's distance includes its access leg (the
straight walk from the building to its street), so a building set back farther than the
buffer would count as reached yet lie outside the polygon (up to 165 m outside on the
Nanjing extract). Given the buildings and their snaps, each polygon therefore also takes
in, buffered like the streets, the access legs of the buildings that reach its facility
within the distance and stand farther than 90% of the buffer from their street (nearer
ones are inside the street buffer already, whatever the buffer's rounding): every
building counted as reached lies inside its facility's polygon. This costs about 10% on
a dense OSM network, twice the time where only main streets are mapped.

Speed: a dense OpenStreetMap network has edges of a few metres, so one 15-minute
isochrone is the union of thousands of overlapping buffers, and a union of that many
polygons is what costs. :class:`IsochroneBuilder` therefore keeps a quadtree of the
network's edges (blocks of ``block_m`` metres, keyed by the Morton code of each edge's
midpoint, so that every block is a contiguous run of edges). A block whose edges are all
reached in full contributes one cached polygon — the union of its edges' buffers, built
once from its four children and shared by every facility and threshold that reaches it —
and only the edges of partly reached blocks and the cut pieces are buffered one by one.
The result is the same union (every cached polygon is a union of buffers of edges that
are reached in full), in a fraction of the time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from gridder.graph.noding import line_substrings
from gridder.graph.streets import Anchors, WalkNetwork

__all__ = ["IsochroneBuilder", "isochrones"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GeomArray = npt.NDArray[np.object_]
Progress = Callable[[str, int, int], None]


def _spread_bits(v: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Spread the low 31 bits of each value to the even bit positions (for Morton codes)."""
    v = v & np.uint64(0x7FFFFFFF)
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


class _EdgeQuadtree:
    """Edges of the largest component in quadtree blocks, by Morton code of their midpoint.

    Block ``k`` of level ``L`` holds the edges whose code shifted right by ``2 L`` is
    ``k``: a contiguous run of :attr:`edges` (sorted by code).
    """

    def __init__(self, network: WalkNetwork, block_m: float) -> None:
        edges = network.main_edges
        # any point of an edge would do; the middle of its two end nodes is cheap
        mid = np.column_stack(
            [
                (network.x[network.edge_u[edges]] + network.x[network.edge_v[edges]]) / 2.0,
                (network.y[network.edge_u[edges]] + network.y[network.edge_v[edges]]) / 2.0,
            ]
        )
        cell = np.floor((mid - mid.min(axis=0)) / block_m).astype(np.uint64)
        code = _spread_bits(cell[:, 0]) | (_spread_bits(cell[:, 1]) << np.uint64(1))
        order = np.argsort(code, kind="stable")
        self.edges: IntArray = edges[order].astype(np.int64)
        self.codes = code[order]
        span = int(cell.max()) + 1 if len(cell) else 1
        self.levels = max(1, int(np.ceil(np.log2(span))) + 1)
        self.code_of = np.full(network.n_edges, np.iinfo(np.uint64).max, dtype=np.uint64)
        self.code_of[self.edges] = self.codes

    def span(self, level: int, keys: npt.NDArray[np.uint64]) -> tuple[IntArray, IntArray]:
        """Start and stop positions (in :attr:`edges`) of the blocks ``keys`` of ``level``."""
        shift = np.uint64(2 * level)
        lo = np.searchsorted(self.codes, keys << shift, side="left")
        hi = np.searchsorted(self.codes, (keys + np.uint64(1)) << shift, side="left")
        return lo.astype(np.int64), hi.astype(np.int64)


class _Legs:
    """Buildings set back from their street: their snaps, and their access legs as lines.

    Only the snapped buildings whose access leg exceeds ``min_leg`` are kept: the others
    lie inside the buffer of the street piece that reaches them.
    """

    def __init__(
        self, network: WalkNetwork, anchors: Anchors, points: GeomArray, *, min_leg: float
    ) -> None:
        keep = np.flatnonzero(anchors.snapped & (anchors.leg > min_leg))
        e = anchors.edge[keep]
        self.edge: IntArray = e
        self.offset: FloatArray = anchors.offset[keep]
        self.leg: FloatArray = anchors.leg[keep]
        self.u: IntArray = network.edge_u[e]
        self.v: IntArray = network.edge_v[e]
        self.to_u: FloatArray = self.offset + self.leg
        self.to_v: FloatArray = np.maximum(network.edge_length[e] - self.offset, 0.0) + self.leg
        pts = np.asarray(points, dtype=object)[keep]
        if len(pts) and (shapely.get_type_id(pts) != 0).any():
            pts = shapely.centroid(pts)
        snapped = shapely.line_interpolate_point(network.edge_geometry[e], self.offset)
        self.lines: GeomArray = np.asarray(
            shapely.linestrings(
                np.stack([shapely.get_coordinates(pts), shapely.get_coordinates(snapped)], axis=1)
            )
            if len(pts)
            else np.zeros(0, dtype=object),
            dtype=object,
        )

    def dist(self, node_dist: FloatArray, anchor: Anchors) -> FloatArray:
        """Network metres from one facility (its node distances and snap) to each building."""
        d = np.minimum(node_dist[self.u] + self.to_u, node_dist[self.v] + self.to_v)
        e = int(anchor.edge[0])
        same = self.edge == e
        if e >= 0 and same.any():
            direct = np.abs(self.offset[same] - anchor.offset[0]) + self.leg[same] + anchor.leg[0]
            d[same] = np.minimum(d[same], direct)
        return np.asarray(d, dtype=np.float64)


class IsochroneBuilder:
    """Builds isochrones on one network, caching edge buffers and quadtree block unions.

    Parameters
    ----------
    network
        The walking network.
    buffer_m
        Half-width of the buffered street polygons, metres.
    quad_segs
        Segments per quarter circle of the buffers (2 keeps polygons light).
    block_m
        Side of the smallest quadtree block (default: half the buffer, at least 5 m).
    """

    def __init__(
        self,
        network: WalkNetwork,
        *,
        buffer_m: float = 30.0,
        quad_segs: int = 2,
        block_m: float | None = None,
    ):
        self.network = network
        self.buffer_m = buffer_m
        self.quad_segs = quad_segs
        self.block_m = block_m if block_m is not None else max(buffer_m / 2.0, 5.0)
        m = network.n_edges
        eid = np.arange(m)
        self._incidence = sparse.csr_matrix(
            (
                np.ones(2 * m),
                (np.concatenate([network.edge_u, network.edge_v]), np.concatenate([eid, eid])),
            ),
            shape=(network.n_nodes, m),
        )
        self._edge_buffer: GeomArray = np.full(m, None, dtype=object)
        self._tree: _EdgeQuadtree | None = None
        self._blocks: dict[tuple[int, int], Any] = {}
        self._asked: dict[tuple[int, int], int] = {}

    def _buffers(self, edges: IntArray) -> GeomArray:
        todo = edges[self._edge_buffer[edges] == None]  # noqa: E711  (object array)
        if len(todo):
            self._edge_buffer[todo] = shapely.buffer(
                self.network.edge_geometry[todo], self.buffer_m, quad_segs=self.quad_segs
            )
        return self._edge_buffer[edges]

    @property
    def quadtree(self) -> _EdgeQuadtree:
        """The edges' quadtree (built on first use)."""
        if self._tree is None:
            self._tree = _EdgeQuadtree(self.network, self.block_m)
        return self._tree

    def _block(self, level: int, key: int) -> Any:
        """Union of the buffers of every edge in one block (cached)."""
        found = self._blocks.get((level, key))
        if found is not None:
            return found
        tree = self.quadtree
        k = np.asarray([key], dtype=np.uint64)
        if level == 0:
            lo, hi = tree.span(0, k)
            geom = shapely.union_all(self._buffers(tree.edges[lo[0] : hi[0]]))
        else:
            kids = (k[0] << np.uint64(2)) + np.arange(4, dtype=np.uint64)
            lo, hi = tree.span(level - 1, kids)
            geom = shapely.union_all(
                [
                    self._block(level - 1, int(c))
                    for c, a, b in zip(kids, lo, hi, strict=True)
                    if b > a
                ]
            )
        self._blocks[(level, key)] = geom
        return geom

    def _full_blocks(self, full: IntArray) -> tuple[list[Any], IntArray]:
        """Cached polygons of the largest blocks reached in full, and the edges left over.

        A block is built (and cached) the second time it is asked for: a union of its
        buffers that no other isochrone reuses would cost more than buffering its edges
        loose.
        """
        tree = self.quadtree
        codes = tree.code_of[full]
        in_tree = np.flatnonzero(codes != np.iinfo(np.uint64).max)
        best = np.full(len(full), -1, dtype=np.int64)
        for level in range(tree.levels):
            keys, inverse, counts = np.unique(
                codes[in_tree] >> np.uint64(2 * level), return_inverse=True, return_counts=True
            )
            lo, hi = tree.span(level, keys)
            whole = (hi - lo) == counts
            if not whole.any():
                break  # a block is whole only if its children are: no larger one is
            best[in_tree[whole[inverse]]] = level
        parts: list[Any] = []
        loose = best < 0
        for level in range(tree.levels):
            at = np.flatnonzero(best == level)
            if len(at) == 0:
                continue
            keys, inverse = np.unique(codes[at] >> np.uint64(2 * level), return_inverse=True)
            use = np.zeros(len(keys), dtype=bool)
            for i, key in enumerate(keys.tolist()):
                seen = self._asked.get((level, key), 0) + 1
                self._asked[(level, key)] = seen
                if seen >= 2 or (level, key) in self._blocks:
                    parts.append(self._block(level, key))
                    use[i] = True
            loose[at[~use[inverse]]] = True
        return parts, full[loose]

    def reach(
        self, node_dist: FloatArray, limit: float
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """Edges reached within ``limit``: full edges, and partial pieces (edge, start, end)."""
        net = self.network
        nodes = np.flatnonzero(node_dist[: net.n_nodes] <= limit)
        if len(nodes) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0), np.zeros(0)
        edges = np.unique(self._incidence[nodes].indices).astype(np.int64)
        length = net.edge_length[edges]
        ru = np.maximum(limit - node_dist[net.edge_u[edges]], -1.0)
        rv = np.maximum(limit - node_dist[net.edge_v[edges]], -1.0)
        full = ru + rv >= length
        part = ~full
        pe = edges[part]
        from_u = ru[part] > 0
        from_v = rv[part] > 0
        piece_edge = np.concatenate([pe[from_u], pe[from_v]])
        start = np.concatenate([np.zeros(int(from_u.sum())), (length[part] - rv[part])[from_v]])
        end = np.concatenate([ru[part][from_u], length[part][from_v]])
        return edges[full], piece_edge, start, end

    def polygon(
        self,
        node_dist: FloatArray,
        limit: float,
        *,
        anchor: Anchors,
        point: Any,
        mode: Literal["buffer", "hull"] = "buffer",
        legs: GeomArray | None = None,
    ) -> Any:
        """Build the isochrone of one facility from its node distances.

        Parameters
        ----------
        node_dist
            Network metres from the facility to every node.
        limit
            The walking distance.
        anchor
            The facility's snap (one element).
        point
            The facility's point.
        mode
            ``buffer`` or ``hull``.
        legs
            Access legs (building → street lines) of buildings reached within ``limit``,
            taken into the polygon (buffered, or as hull points).
        """
        net = self.network
        full, pe, ps, pend = self.reach(node_dist, limit)
        e, off, leg = int(anchor.edge[0]), float(anchor.offset[0]), float(anchor.leg[0])
        rest = limit - leg
        if rest > 0 and e >= 0:
            pe = np.append(pe, e)
            ps = np.append(ps, off - rest)
            pend = np.append(pend, off + rest)
        pieces = line_substrings(net.edge_geometry, pe, ps, pend)
        pieces = pieces[pieces != None]  # noqa: E711
        extra: list[Any] = []
        if e >= 0 and leg > 0:
            snapped = shapely.line_interpolate_point(net.edge_geometry[e], off)
            leg_line = shapely.LineString([point, snapped])
            extra.append(leg_line if rest >= 0 else shapely.line_interpolate_point(leg_line, limit))
        if legs is not None and len(legs):
            extra.extend(legs.tolist())
        if mode == "hull":
            nodes = np.flatnonzero(node_dist[: net.n_nodes] <= limit)
            coords = np.vstack(
                [
                    np.column_stack([net.x[nodes], net.y[nodes]]),
                    shapely.get_coordinates(pieces),
                    shapely.get_coordinates(np.asarray([point, *extra], dtype=object)),
                ]
            )
            geom = shapely.convex_hull(shapely.multipoints(coords))
            if geom.geom_type != "Polygon":
                geom = shapely.buffer(geom, self.buffer_m, quad_segs=self.quad_segs)
            return geom
        blocks, loose = self._full_blocks(full)
        parts = [np.asarray(blocks, dtype=object), self._buffers(loose)]
        lines = np.concatenate([pieces, np.asarray(extra, dtype=object)]) if extra else pieces
        if len(lines):
            parts.append(shapely.buffer(lines, self.buffer_m, quad_segs=self.quad_segs))
        polys = np.concatenate(parts)
        if len(polys) == 0:
            return shapely.buffer(point, self.buffer_m, quad_segs=self.quad_segs)
        return shapely.union_all(polys)


def isochrones(
    network: WalkNetwork,
    anchors: Anchors,
    *,
    points: GeomArray,
    facility_ids: Sequence[Any],
    facility_types: Sequence[Any],
    thresholds: Sequence[tuple[float, float]],
    mode: Literal["buffer", "hull"] = "buffer",
    buffer_m: float = 30.0,
    quad_segs: int = 2,
    graph: sparse.csr_matrix | None = None,
    buildings: GeomArray | None = None,
    building_anchors: Anchors | None = None,
    progress: Progress | None = None,
) -> gpd.GeoDataFrame:
    """Build isochrone polygons per facility and threshold.

    Parameters
    ----------
    network
        The walking network.
    anchors
        The facilities' snaps.
    points
        The facilities' points (network CRS).
    facility_ids, facility_types
        Per facility.
    thresholds
        ``(minutes, distance_m)`` pairs.
    mode
        ``buffer`` (buffered reachable streets) or ``hull`` (convex-hull preview).
    buffer_m
        Buffer half-width in metres.
    quad_segs
        Buffer resolution.
    graph
        ``network.with_virtual_nodes(anchors)``, when already built.
    buildings, building_anchors
        The buildings (points, or polygons: their centroid) and their snaps: each
        polygon then also holds every building that reaches its facility within the
        distance, however far the building stands from its street.
    progress
        Called as ``progress("isochrones", done, total)``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``facility_id``, ``facility_type``, ``minutes``, ``distance_m``, geometry, in the
        network's CRS. Facilities not snapped get no polygon.
    """
    if graph is None:
        graph = network.with_virtual_nodes(anchors)
    builder = IsochroneBuilder(network, buffer_m=buffer_m, quad_segs=quad_segs)
    walks = (
        _Legs(network, building_anchors, buildings, min_leg=0.9 * buffer_m)
        if buildings is not None and building_anchors is not None
        else None
    )
    limit = max(d for _, d in thresholds)
    rows: list[tuple[Any, Any, float, float]] = []
    geoms: list[Any] = []
    snapped = np.flatnonzero(anchors.snapped)
    for done, kk in enumerate(snapped):
        k = int(kk)
        node_dist = csgraph.dijkstra(graph, directed=True, indices=network.n_nodes + k, limit=limit)
        anchor = anchors.take([k])
        walked = walks.dist(node_dist, anchor) if walks is not None else np.zeros(0)
        for minutes, dist_m in thresholds:
            # a hair of slack: the access layer's distances come from another Dijkstra
            legs = walks.lines[walked <= dist_m + 1e-6] if walks is not None else None
            geoms.append(
                builder.polygon(
                    node_dist, dist_m, anchor=anchor, point=points[k], mode=mode, legs=legs
                )
            )
            rows.append((facility_ids[k], facility_types[k], minutes, float(dist_m)))
        if progress is not None:
            progress("isochrones", done + 1, len(snapped))
    cols = ["facility_id", "facility_type", "minutes", "distance_m"]
    return gpd.GeoDataFrame(
        {c: [r[i] for r in rows] for i, c in enumerate(cols)},
        geometry=np.asarray(geoms, dtype=object) if geoms else [],
        crs=network.crs,
    )
