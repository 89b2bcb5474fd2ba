"""Isochrone polygons: the area within a walking distance of each facility.

``buffer`` (the default) buffers the street segments reachable within the distance —
edges reached from both ends in full, partial edges cut at the exact remaining distance,
the facility's own edge around its snapped position and its access leg — with one
vectorised :func:`shapely.buffer` call and one :func:`shapely.union_all` per polygon.
Full-edge buffers are cached and shared between facilities. ``hull`` is a quick preview:
the convex hull of the reached nodes and cut points.
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


class IsochroneBuilder:
    """Builds isochrones on one network, caching edge incidence and edge buffers.

    Parameters
    ----------
    network
        The walking network.
    buffer_m
        Half-width of the buffered street polygons, metres.
    quad_segs
        Segments per quarter circle of the buffers (2 keeps polygons light).
    """

    def __init__(self, network: WalkNetwork, *, buffer_m: float = 30.0, quad_segs: int = 2):
        self.network = network
        self.buffer_m = buffer_m
        self.quad_segs = quad_segs
        m = network.n_edges
        eid = np.arange(m)
        self._incidence = sparse.csr_matrix(
            (np.ones(2 * m), (np.concatenate([network.edge_u, network.edge_v]),
                              np.concatenate([eid, eid]))),
            shape=(network.n_nodes, m),
        )
        self._edge_buffer: GeomArray = np.full(m, None, dtype=object)

    def _buffers(self, edges: IntArray) -> GeomArray:
        todo = edges[self._edge_buffer[edges] == None]  # noqa: E711  (object array)
        if len(todo):
            self._edge_buffer[todo] = shapely.buffer(
                self.network.edge_geometry[todo], self.buffer_m, quad_segs=self.quad_segs
            )
        return self._edge_buffer[edges]

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
            extra.append(
                leg_line if rest >= 0 else shapely.line_interpolate_point(leg_line, limit)
            )
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
        parts = [self._buffers(full)]
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
    limit = max(d for _, d in thresholds)
    rows: list[tuple[Any, Any, float, float]] = []
    geoms: list[Any] = []
    snapped = np.flatnonzero(anchors.snapped)
    for done, kk in enumerate(snapped):
        k = int(kk)
        node_dist = csgraph.dijkstra(
            graph, directed=True, indices=network.n_nodes + k, limit=limit
        )
        for minutes, dist_m in thresholds:
            geoms.append(
                builder.polygon(
                    node_dist, dist_m, anchor=anchors.take([k]), point=points[k], mode=mode
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
