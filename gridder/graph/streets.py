"""The walking network: which streets are walkable, the graph in metres, snapping onto it.

The walkable rule (which streets count) is :mod:`gridder.graph.walkable`.

Joining streets into a graph
----------------------------
* From an OpenStreetMap extract the frame carries ``u`` and ``v``, the OSM node ids of
  each segment's ends (pyrosm splits ways at shared nodes). Segments are joined **only**
  by these ids, so a bridge over a street, or a tunnel under it, is not joined to it.
* A plain line file (no ``u``/``v``) is *noded*: lines are split where they cross and
  an end lying within ``snap_tolerance_m`` (1 m) of another line is joined to it by a
  short connector. When ``layer``, ``bridge`` or ``tunnel`` columns exist, crossings and
  near-ends are joined only between lines on the same level (bridge → 1, tunnel → -1,
  else ``layer`` or 0); lines sharing an end point are always joined.

The graph is a symmetric CSR matrix of edge lengths in metres for
:mod:`scipy.sparse.csgraph`. Points are snapped onto the nearest edge of the largest
connected component, keeping the access leg (point → edge) and the position along the
edge, so that distances count both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from gridder.errors import GridderError, InputError
from gridder.graph.noding import line_levels, node_lines
from gridder.graph.walkable import WalkRules, walkable_mask

__all__ = [
    "Anchors",
    "WalkNetwork",
    "WalkRules",
    "walkable_mask",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
GeomArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class Anchors:
    """Points snapped onto the network: per point, its edge, position along it and access leg.

    Parameters
    ----------
    edge
        Index of the edge each point lies nearest to (``-1`` when not snapped).
    offset
        Metres along the edge from its first node ``edge_u`` to the snapped position.
    leg
        Straight-line metres from the point to the snapped position.
    """

    edge: IntArray
    offset: FloatArray
    leg: FloatArray

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def snapped(self) -> npt.NDArray[np.bool_]:
        """Whether each point was snapped (``edge >= 0``)."""
        return np.asarray(self.edge >= 0)

    def take(self, index: npt.ArrayLike) -> Anchors:
        """Return a subset of the anchors."""
        idx = np.asarray(index)
        return Anchors(self.edge[idx], self.offset[idx], self.leg[idx])


@dataclass
class WalkNetwork:
    """The walking network in a metric CRS: nodes, edges and a CSR graph in metres.

    Build it with :meth:`from_streets`. Edges are undirected; ``edge_u`` is the node at
    the start of the edge's geometry.

    Parameters
    ----------
    x, y
        Node coordinates (metres).
    edge_u, edge_v
        Node indices of each edge's ends.
    edge_length
        Edge lengths in metres (the geometry's length).
    edge_geometry
        Edge LineStrings, oriented from ``edge_u`` to ``edge_v``.
    edge_source
        Row position in the input streets frame each edge came from (``-1`` for connectors).
    crs
        The metric CRS of the coordinates.
    """

    x: FloatArray
    y: FloatArray
    edge_u: IntArray
    edge_v: IntArray
    edge_length: FloatArray
    edge_geometry: GeomArray
    edge_source: IntArray
    crs: Any
    graph: sparse.csr_matrix = field(init=False, repr=False)
    component: IntArray = field(init=False, repr=False)
    largest: int = field(init=False)
    _tree: shapely.STRtree | None = field(default=None, init=False, repr=False)
    _main_edges: IntArray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.edge_u) == 0:
            raise GridderError("the walking network is empty: no walkable street")
        self.graph = _csr(len(self.x), self.edge_u, self.edge_v, self.edge_length)
        _, labels = csgraph.connected_components(self.graph, directed=False)
        self.component = labels.astype(np.int64)
        sizes = np.bincount(self.component)
        self.largest = int(np.argmax(sizes))
        log.info(
            "walking network: %d nodes, %d edges, %d components (largest %d nodes)",
            self.n_nodes,
            self.n_edges,
            len(sizes),
            sizes[self.largest],
        )

    # ------------------------------------------------------------------ building
    @classmethod
    def from_streets(
        cls,
        streets: gpd.GeoDataFrame,
        *,
        rules: WalkRules | None = None,
        snap_tolerance_m: float = 1.0,
        source: str = "streets",
    ) -> WalkNetwork:
        """Build the walking network from a streets frame in a metric CRS.

        Parameters
        ----------
        streets
            LineStrings (MultiLineStrings are split into parts), with ``u``/``v`` OSM node
            ids when read from an OpenStreetMap extract.
        rules
            The walkable rule; default :class:`WalkRules`.
        snap_tolerance_m
            For unnoded line files: ends this close to another line are joined to it.
        source
            Name used in error messages.

        Raises
        ------
        InputError
            No CRS, a geographic CRS, or no walkable street.
        """
        if streets.crs is None or not streets.crs.is_projected:
            raise InputError.single(
                source, "", f"streets must be in a projected metric CRS (got {streets.crs})"
            )
        valid = streets.geometry.notna().to_numpy() & ~streets.geometry.is_empty.to_numpy()
        positions = np.flatnonzero(walkable_mask(streets, rules) & valid).astype(np.int64)
        frame = streets.iloc[positions]
        if len(frame) == 0:
            raise InputError.single(source, "", "no walkable street in the streets layer")
        has_ids = (
            {"u", "v"} <= set(frame.columns)
            and bool(frame["u"].notna().all())
            and bool(frame["v"].notna().all())
            and bool((frame.geometry.geom_type == "LineString").all())
        )
        if has_ids:
            return cls._from_node_ids(frame, positions, streets.crs)
        return cls._from_lines(frame, positions, streets.crs, snap_tolerance_m)

    @classmethod
    def _from_node_ids(cls, frame: gpd.GeoDataFrame, positions: IntArray, crs: Any) -> WalkNetwork:
        geoms = np.asarray(frame.geometry.values, dtype=object)
        ids, inv = np.unique(
            np.concatenate([frame["u"].to_numpy(), frame["v"].to_numpy()]), return_inverse=True
        )
        m = len(frame)
        u, v = inv[:m].astype(np.int64), inv[m:].astype(np.int64)
        start = shapely.get_coordinates(shapely.get_point(geoms, 0))
        stop = shapely.get_coordinates(shapely.get_point(geoms, -1))
        x = np.full(len(ids), np.nan)
        y = np.full(len(ids), np.nan)
        # node coordinates: the end of the first edge that names the node
        for nodes, pts in ((v, stop), (u, start)):
            x[nodes], y[nodes] = pts[:, 0], pts[:, 1]
        flip = np.hypot(start[:, 0] - x[u], start[:, 1] - y[u]) > np.hypot(
            start[:, 0] - x[v], start[:, 1] - y[v]
        )
        if flip.any():
            log.debug("%d edges oriented v->u; swapping their ends", int(flip.sum()))
            u, v = np.where(flip, v, u), np.where(flip, u, v)
        return cls(
            x=x,
            y=y,
            edge_u=u,
            edge_v=v,
            edge_length=np.asarray(shapely.length(geoms), dtype=float),
            edge_geometry=geoms,
            edge_source=positions,
            crs=crs,
        )

    @classmethod
    def _from_lines(
        cls, frame: gpd.GeoDataFrame, positions: IntArray, crs: Any, tolerance: float
    ) -> WalkNetwork:
        parts = frame.geometry.reset_index(drop=True).explode(index_parts=False)
        lines = np.asarray(parts.values, dtype=object)
        owner = positions[parts.index.to_numpy()]
        level = line_levels(frame)[parts.index.to_numpy()]
        keep = shapely.length(lines) > 0
        lines, owner, level = lines[keep], owner[keep], level[keep]
        pieces, piece_owner = node_lines(lines, owner, level, tolerance)
        start = shapely.get_coordinates(shapely.get_point(pieces, 0))
        stop = shapely.get_coordinates(shapely.get_point(pieces, -1))
        ends = np.vstack([start, stop])
        key = np.round(ends / 1e-3).astype(np.int64)
        _, first_id = np.unique(key, axis=0, return_inverse=True)
        first_id = first_id.ravel()
        # join coordinates a few millimetres apart that rounding split
        pairs = cKDTree(ends).query_pairs(5e-3, output_type="ndarray")
        if len(pairs):
            n0 = int(first_id.max()) + 1
            g = sparse.coo_matrix(
                (np.ones(len(pairs)), (first_id[pairs[:, 0]], first_id[pairs[:, 1]])),
                shape=(n0, n0),
            )
            _, merged = csgraph.connected_components(g, directed=False)
            first_id = merged[first_id]
        node_ids, node = np.unique(first_id, return_inverse=True)
        n_nodes = len(node_ids)
        x = np.zeros(n_nodes)
        y = np.zeros(n_nodes)
        x[node], y[node] = ends[:, 0], ends[:, 1]
        m = len(pieces)
        return cls(
            x=x,
            y=y,
            edge_u=node[:m].astype(np.int64),
            edge_v=node[m:].astype(np.int64),
            edge_length=np.asarray(shapely.length(pieces), dtype=float),
            edge_geometry=pieces,
            edge_source=piece_owner,
            crs=crs,
        )

    # ------------------------------------------------------------------ properties
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.x)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return len(self.edge_u)

    @property
    def main_edges(self) -> IntArray:
        """Indices of the edges in the largest connected component."""
        if self._main_edges is None:
            self._main_edges = np.flatnonzero(self.component[self.edge_u] == self.largest)
        return self._main_edges

    def components(self) -> pd.DataFrame:
        """Summarise the connected components, largest first.

        Returns
        -------
        pandas.DataFrame
            ``component``, ``n_nodes``, ``n_edges``, ``length_m``, ``largest``.
        """
        comp_of_edge = self.component[self.edge_u]
        n = int(self.component.max()) + 1
        return pd.DataFrame(
            {
                "component": np.arange(n),
                "n_nodes": np.bincount(self.component, minlength=n),
                "n_edges": np.bincount(comp_of_edge, minlength=n),
                "length_m": np.bincount(comp_of_edge, weights=self.edge_length, minlength=n),
                "largest": np.arange(n) == self.largest,
            }
        ).sort_values("n_nodes", ascending=False, kind="stable", ignore_index=True)

    def edges_frame(self) -> gpd.GeoDataFrame:
        """Return the edges: ``u``, ``v``, ``length_m``, ``component``, ``source``, geometry."""
        return gpd.GeoDataFrame(
            {
                "u": self.edge_u,
                "v": self.edge_v,
                "length_m": self.edge_length,
                "component": self.component[self.edge_u],
                "source": self.edge_source,
            },
            geometry=self.edge_geometry,
            crs=self.crs,
        )

    # ------------------------------------------------------------------ snapping
    def snap(
        self,
        points: Sequence[Any] | GeomArray | gpd.GeoSeries,
        *,
        max_distance_m: float | None = None,
    ) -> Anchors:
        """Snap points onto the nearest edge of the largest connected component.

        Parameters
        ----------
        points
            Point geometries in the network's CRS (polygons: their centroid is used).
        max_distance_m
            Points farther than this from the network are left unsnapped (``edge == -1``).

        Returns
        -------
        Anchors
            Edge, position along it (metres from ``edge_u``) and access leg length.
        """
        geoms = np.asarray(
            points.values if isinstance(points, gpd.GeoSeries) else points, dtype=object
        )
        geoms = _as_points(geoms)
        n = len(geoms)
        edge = np.full(n, -1, dtype=np.int64)
        offset = np.zeros(n)
        leg = np.full(n, np.inf)
        if n == 0:
            return Anchors(edge, offset, leg)
        if self._tree is None:
            self._tree = shapely.STRtree(self.edge_geometry[self.main_edges])
        (pi, ti), dist = self._tree.query_nearest(
            geoms, max_distance=max_distance_m, return_distance=True, all_matches=False
        )
        e = self.main_edges[ti]
        edge[pi] = e
        leg[pi] = dist
        offset[pi] = shapely.line_locate_point(self.edge_geometry[e], geoms[pi])
        return Anchors(edge, offset, leg)

    def nearest_components(
        self,
        points: GeomArray | gpd.GeoSeries,
        ids: Sequence[Any],
        *,
        legs: FloatArray | None = None,
    ) -> pd.DataFrame:
        """Points lying nearer to a smaller component than to the largest one.

        Parameters
        ----------
        points
            Point geometries (polygons: their centroid).
        ids
            An id per point.
        legs
            The points' distances to the largest component (``snap(points).leg``), when
            already known.

        Returns
        -------
        pandas.DataFrame
            ``id``, ``component``, ``distance_m`` — the points a smaller component is
            nearest to (they are still snapped onto the largest one).
        """
        geoms = _as_points(
            np.asarray(points.values if isinstance(points, gpd.GeoSeries) else points, dtype=object)
        )
        empty = pd.DataFrame({"id": [], "component": [], "distance_m": []})
        small = np.flatnonzero(self.component[self.edge_u] != self.largest)
        if len(small) == 0 or len(geoms) == 0:
            return empty
        if legs is None:
            legs = self.snap(geoms).leg
        tree = shapely.STRtree(self.edge_geometry[small])
        (pi, ti), dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
        off = dist < legs[pi]
        comp = self.component[self.edge_u[small[ti[off]]]]
        return pd.DataFrame(
            {
                "id": np.asarray(ids, dtype=object)[pi[off]],
                "component": comp,
                "distance_m": dist[off],
            }
        )

    def small_components(
        self,
        *,
        buildings: gpd.GeoDataFrame | None = None,
        facilities: gpd.GeoDataFrame | None = None,
        building_legs: FloatArray | None = None,
        facility_legs: FloatArray | None = None,
    ) -> pd.DataFrame:
        """List the smaller components, with the buildings and facilities nearest to them.

        Parameters
        ----------
        buildings, facilities
            Frames with ``building_id`` / ``facility_id``.
        building_legs, facility_legs
            Their snap legs onto the largest component, when already known.

        Returns
        -------
        pandas.DataFrame
            ``component``, ``n_nodes``, ``n_edges``, ``length_m``, ``building_ids``,
            ``facility_ids`` (lists), one row per smaller component.
        """
        comps = self.components()
        comps = comps[~comps["largest"]].drop(columns="largest").reset_index(drop=True)
        for name, frame, idcol, legs in (
            ("building_ids", buildings, "building_id", building_legs),
            ("facility_ids", facilities, "facility_id", facility_legs),
        ):
            lists: dict[Any, list[Any]] = {}
            if frame is not None and len(frame) and len(comps):
                near = self.nearest_components(frame.geometry, frame[idcol].to_numpy(), legs=legs)
                lists = near.groupby("component")["id"].agg(list).to_dict()
            comps[name] = [lists.get(int(c), []) for c in comps["component"]]
        return comps

    # ------------------------------------------------------------------ augmented graph
    def with_virtual_nodes(self, anchors: Anchors) -> sparse.csr_matrix:
        """Return the graph plus one node per snapped anchor, joined to its edge's two ends.

        Node ``n_nodes + k`` stands for anchor ``k``; its links weigh ``leg + offset`` (to
        ``edge_u``) and ``leg + length - offset`` (to ``edge_v``). Unsnapped anchors get an
        isolated node.
        """
        k = len(anchors)
        ok = np.flatnonzero(anchors.snapped)
        e = anchors.edge[ok]
        virt = self.n_nodes + ok
        a = anchors.leg[ok] + anchors.offset[ok]
        b = anchors.leg[ok] + np.maximum(self.edge_length[e] - anchors.offset[ok], 0.0)
        n = self.n_nodes + k
        extra = _csr(
            n,
            np.concatenate([virt, virt]),
            np.concatenate([self.edge_u[e], self.edge_v[e]]),
            np.concatenate([a, b]),
        )
        base = self.graph
        indptr = np.concatenate([base.indptr, np.full(k, base.indptr[-1], dtype=base.indptr.dtype)])
        grown = sparse.csr_matrix((base.data, base.indices, indptr), shape=(n, n))
        # every extra entry touches a virtual node, so the sum never merges two entries
        return (grown + extra).tocsr()


def _csr(n: int, u: IntArray, v: IntArray, w: FloatArray) -> sparse.csr_matrix:
    """Symmetric CSR of edge weights, keeping the shortest of parallel edges, no self-loops."""
    keep = u != v
    u, v, w = u[keep], v[keep], np.maximum(w[keep], 1e-9)
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    vals = np.concatenate([w, w])
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return sparse.csr_matrix((vals[first], (rows[first], cols[first])), shape=(n, n))


def _as_points(geoms: GeomArray) -> GeomArray:
    kinds = shapely.get_type_id(geoms)
    if (kinds != 0).any():
        geoms = geoms.copy()
        other = kinds != 0
        geoms[other] = shapely.centroid(geoms[other])
    return geoms
