"""Network distances from every building to the nearest facility of each type.

Each facility becomes a virtual node joined to the two ends of the edge it is snapped
onto (weights: access leg + distance along the edge to that end). One multi-source
Dijkstra per facility type, in compiled code (:func:`scipy.sparse.csgraph.dijkstra` with
``min_only=True`` and ``limit=cutoff``), gives every node its distance to the nearest
facility and which facility that is. A building then reads the better of its edge's two
ends (plus its own access leg and its position along the edge); a building and a
facility on the same edge are compared directly along the edge, so the distance is exact.
Distances above the cutoff are NaN, never a huge number.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from gridder.graph.streets import Anchors, WalkNetwork

__all__ = ["NearestFacility", "nearest_facility", "pairwise_within"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class NearestFacility:
    """For each target: network metres to the nearest source and which source it is.

    Parameters
    ----------
    dist
        Network metres (access legs included); NaN when none within the cutoff.
    source
        Position of the nearest source in the sources given; -1 when none.
    """

    dist: FloatArray
    source: IntArray


@dataclass(frozen=True)
class _TargetEnds:
    """The snapped targets, read once: their edge's two end nodes and the metres to each."""

    index: IntArray
    u: IntArray
    v: IntArray
    to_u: FloatArray
    to_v: FloatArray

    @classmethod
    def of(cls, network: WalkNetwork, targets: Anchors) -> _TargetEnds:
        ok = np.flatnonzero(targets.snapped)
        e = targets.edge[ok]
        off = targets.offset[ok]
        leg = targets.leg[ok]
        return cls(
            index=ok,
            u=network.edge_u[e],
            v=network.edge_v[e],
            to_u=off + leg,
            to_v=np.maximum(network.edge_length[e] - off, 0.0) + leg,
        )


def _read_targets(
    ends: _TargetEnds,
    node_dist: FloatArray,
    node_source: npt.NDArray[np.integer[Any]],
    *,
    n_nodes: int,
    n_targets: int,
) -> tuple[FloatArray, IntArray]:
    """Distance and nearest source for each target from per-node results.

    Only targets on an edge with a reached end are read: a boolean gather first (small,
    cache-friendly), then the distances of those few.
    """
    dist = np.full(n_targets, np.inf)
    src = np.full(n_targets, -1, dtype=np.int64)
    reached = np.isfinite(node_dist[:n_nodes])
    hit = np.flatnonzero(reached[ends.u] | reached[ends.v])
    if len(hit) == 0:
        return dist, src
    u, v = ends.u[hit], ends.v[hit]
    du = node_dist[u] + ends.to_u[hit]
    dv = node_dist[v] + ends.to_v[hit]
    use_v = dv < du
    t = ends.index[hit]
    dist[t] = np.where(use_v, dv, du)
    src[t] = np.where(use_v, node_source[v], node_source[u]).astype(np.int64) - n_nodes
    return dist, src


def _same_edge(
    sources: Anchors, chosen: IntArray, targets: Anchors
) -> tuple[IntArray, FloatArray, IntArray]:
    """Target/source pairs sharing an edge: target index, direct distance, source index."""
    s_ok = chosen[sources.edge[chosen] >= 0]
    if len(s_ok) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0), empty
    fac = pd.DataFrame({"edge": sources.edge[s_ok], "s": s_ok})
    t_idx = np.flatnonzero(np.isin(targets.edge, fac["edge"].to_numpy()))
    tgt = pd.DataFrame({"edge": targets.edge[t_idx], "t": t_idx})
    pairs = tgt.merge(fac, on="edge")
    t = pairs["t"].to_numpy(dtype=np.int64)
    s = pairs["s"].to_numpy(dtype=np.int64)
    d = np.abs(targets.offset[t] - sources.offset[s]) + targets.leg[t] + sources.leg[s]
    return t, d, s


def _apply_same_edge(
    dist: FloatArray, src: IntArray, t: IntArray, d: FloatArray, s: IntArray
) -> None:
    """Replace a target's distance by a shorter direct one along its own edge (in place)."""
    better = d < dist[t]
    if not better.any():
        return
    # several facilities may share a target's edge: keep the nearest one
    order = np.lexsort((d[better], t[better]))
    tb, db, sb = t[better][order], d[better][order], s[better][order]
    first = np.ones(len(tb), dtype=bool)
    first[1:] = tb[1:] != tb[:-1]
    dist[tb[first]] = db[first]
    src[tb[first]] = sb[first]


def nearest_facility(
    network: WalkNetwork,
    sources: Anchors,
    targets: Anchors,
    *,
    cutoff_m: float,
    groups: Sequence[IntArray] | None = None,
    graph: sparse.csr_matrix | None = None,
) -> list[NearestFacility]:
    """Nearest source of each group for every target, by network distance.

    One multi-source Dijkstra per group on a graph built once for all groups; the
    targets' edge ends and the same-edge pairs are also prepared once.

    Parameters
    ----------
    network
        The walking network.
    sources
        Snapped facilities (all groups together).
    targets
        Snapped buildings.
    cutoff_m
        Search radius in network metres (access legs included).
    groups
        Positions into ``sources`` for each group (e.g. facility type); default one group
        of every source.
    graph
        ``network.with_virtual_nodes(sources)``, when already built.

    Returns
    -------
    list of NearestFacility
        One per group, aligned with ``targets``.
    """
    if graph is None:
        graph = network.with_virtual_nodes(sources)
    if groups is None:
        groups = [np.arange(len(sources), dtype=np.int64)]
    n, nt = network.n_nodes, len(targets)
    ends = _TargetEnds.of(network, targets)
    all_t, all_d, all_s = _same_edge(sources, np.flatnonzero(sources.snapped), targets)
    results = []
    for group in groups:
        chosen = np.asarray(group, dtype=np.int64)
        chosen = chosen[sources.snapped[chosen]]
        if len(chosen) == 0:
            results.append(NearestFacility(np.full(nt, np.nan), np.full(nt, -1, dtype=np.int64)))
            continue
        node_dist, _, node_src = csgraph.dijkstra(
            graph,
            directed=True,
            indices=n + chosen,
            min_only=True,
            return_predecessors=True,
            limit=cutoff_m,
        )
        dist, src = _read_targets(ends, node_dist, node_src, n_nodes=n, n_targets=nt)
        if len(all_t):
            mine = np.isin(all_s, chosen)
            _apply_same_edge(dist, src, all_t[mine], all_d[mine], all_s[mine])
        far = ~(dist <= cutoff_m)
        dist[far] = np.nan
        src[far] = -1
        results.append(NearestFacility(dist, src))
    return results


def pairwise_within(
    network: WalkNetwork,
    sources: Anchors,
    targets: Anchors,
    *,
    cutoff_m: float,
    chunk: int | None = None,
) -> sparse.csr_matrix:
    """Network distances from every source to every target within the cutoff.

    Runs single-source Dijkstra with a limit in chunks of ``chunk`` sources (default:
    as many as keep the dense block near 20 million distances), reading only the nodes
    at the ends of the targets' edges.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``len(targets) × len(sources)``; stored entries are distances ≤ ``cutoff_m``
        (a zero distance is stored as 1e-9 so that it stays an entry).
    """
    graph = network.with_virtual_nodes(sources)
    ok_t = np.flatnonzero(targets.snapped)
    e = targets.edge[ok_t]
    tu, tv = network.edge_u[e], network.edge_v[e]
    off_u = targets.offset[ok_t]
    off_v = np.maximum(network.edge_length[e] - off_u, 0.0)
    leg = targets.leg[ok_t]
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    ok_s = np.flatnonzero(sources.snapped)
    if chunk is None:
        chunk = int(max(1, min(256, 20_000_000 // max(graph.shape[0], 1))))
    for start in range(0, len(ok_s), chunk):
        block = ok_s[start : start + chunk]
        d = csgraph.dijkstra(graph, directed=True, indices=network.n_nodes + block, limit=cutoff_m)
        best = np.minimum(d[:, tu] + off_u, d[:, tv] + off_v) + leg
        bi, ti = np.nonzero(best <= cutoff_m)
        rows.append(ok_t[ti])
        cols.append(block[bi])
        vals.append(best[bi, ti])
    t, dd, s = _same_edge(sources, ok_s, targets)
    rows.append(t)
    cols.append(s)
    vals.append(dd)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.maximum(np.concatenate(vals), 1e-9)
    keep = v <= cutoff_m
    r, c, v = r[keep], c[keep], v[keep]
    # duplicates (same-edge pairs also found via the nodes): keep the minimum
    order = np.lexsort((v, c, r))
    r, c, v = r[order], c[order], v[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return sparse.csr_matrix((v[first], (r[first], c[first])), shape=(len(targets), len(sources)))
