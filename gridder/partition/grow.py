"""Contiguous balanced regions by weighted graph-Voronoi growth.

For smooth areas (many small buildings) a grid holds dozens of units and
enumeration is out of reach. Here ``k`` seeds grow over the adjacency graph
by shortest paths from a common source whose edge to each seed carries an
additive weight; every unit joins the seed that reaches it first. Each
region is a subtree of one shortest-path tree, so **every region is
connected** by construction. The weights are then tuned (heavier regions get
a larger weight and shrink) until the values balance, and seeds move to
their region's centre now and then (a Lloyd step) for compactness.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from gridder.partition.config import PartitionConfig
from gridder.partition.costs import out_of_band
from gridder.partition.reduce import Reduced

__all__ = ["grow_regions"]

IntArray = npt.NDArray[np.int64]


def _seeds(
    xy: npt.NDArray[np.float64], w: npt.NDArray[np.float64], k: int, rng: np.random.Generator
) -> IntArray:
    """``k`` distinct unit indices near the centres of a weighted k-means."""
    n = len(xy)
    p = w + 1e-3
    first = int(rng.choice(n, p=p / p.sum()))
    centres = [xy[first]]
    d2 = ((xy - xy[first]) ** 2).sum(1)
    for _ in range(1, k):
        q = p * d2
        idx = int(rng.choice(n, p=q / q.sum())) if q.sum() > 0 else int(rng.integers(n))
        centres.append(xy[idx])
        d2 = np.minimum(d2, ((xy - xy[idx]) ** 2).sum(1))
    c = np.array(centres)
    for _ in range(8):
        lab = ((xy[:, None, :] - c[None, :, :]) ** 2).sum(2).argmin(1)
        for j in range(k):
            m = lab == j
            if m.any():
                c[j] = (xy[m] * p[m, None]).sum(0) / p[m].sum()
    used: set[int] = set()
    out = []
    for j in range(k):
        order = np.argsort(((xy - c[j]) ** 2).sum(1), kind="stable")
        pick = next(int(i) for i in order if int(i) not in used)
        used.add(pick)
        out.append(pick)
    return np.array(out, dtype=np.int64)


def grow_regions(
    red: Reduced,
    units: Sequence[int],
    k: int,
    config: PartitionConfig,
    *,
    seed: int,
    iterations: int = 40,
) -> list[list[int]]:
    """Split connected ``units`` into ``k`` connected regions of balanced value.

    Parameters
    ----------
    red
        The reduced community.
    units
        Super-units, connected through contiguity links.
    k
        Number of regions (at most the number of units).
    config
        Band and target.
    seed
        Seed of the initial seeds.
    iterations
        Rounds of weight tuning.

    Returns
    -------
    list of list of int
        ``k`` non-empty regions (super-unit ids); fewer when a region emptied.
    """
    ids = np.asarray(sorted(units), dtype=np.int64)
    n = len(ids)
    k = max(1, min(k, n))
    if k == 1:
        return [ids.tolist()]
    pos = {int(u): i for i, u in enumerate(ids.tolist())}
    xy = red.xy[ids]
    val = red.value[ids].astype(np.float64)
    src, dst, wt = [], [], []
    for i, u in enumerate(ids.tolist()):
        for j, _, _, link in red.neighbours[u]:
            if link and j in pos and j > u:
                d = float(np.hypot(*(red.xy[u] - red.xy[j]))) + 0.5
                if red.compound[u] != red.compound[j]:
                    d *= 3.0
                src.append(i)
                dst.append(pos[j])
                wt.append(d)
    e_src = np.array(src + dst + [n] * k, dtype=np.int64)
    e_dst = np.array(dst + src + [0] * k, dtype=np.int64)
    base_w = np.array(wt + wt, dtype=np.float64)
    typical = float(np.median(wt)) if wt else 1.0
    radius = typical * max(1.0, np.sqrt(n / k))
    rng = np.random.default_rng(seed)
    seeds = _seeds(xy, val, k, rng)
    offset = np.zeros(k)
    ideal = val.sum() / k
    best: tuple[tuple[int, float, float], IntArray] | None = None
    for it in range(iterations):
        e_dst[len(base_w) :] = seeds
        w = np.r_[base_w, 1.0 + offset - offset.min()]
        g = coo_matrix((w, (e_src, e_dst)), shape=(n + 1, n + 1)).tocsr()
        _, pred = dijkstra(g, indices=n, return_predecessors=True)
        p = np.asarray(pred, dtype=np.int64)[:n].copy()
        p[seeds] = seeds
        unreached = p < 0
        p[unreached] = np.flatnonzero(unreached)
        for _ in range(64):
            q = p[p]
            if np.array_equal(q, p):
                break
            p = q
        seed_label = np.full(n, -1, dtype=np.int64)
        seed_label[seeds] = np.arange(k)
        lab = seed_label[p]
        if (lab < 0).any():  # unreachable units (should not happen): nearest seed
            bad = np.flatnonzero(lab < 0)
            lab[bad] = ((xy[bad, None, :] - xy[seeds][None]) ** 2).sum(2).argmin(1)
        load = np.bincount(lab, weights=val, minlength=k)
        outs = [out_of_band(x, config) for x in load.tolist()]
        dev = float(np.abs(load - ideal).sum())
        score = (sum(o > 0 for o in outs), float(sum(outs)), dev)
        if best is None or score < best[0]:
            best = (score, lab.copy())
        if score[0] == 0 and it >= iterations // 2:
            break
        step = 0.6 * radius * (1.0 - it / (iterations + 1))
        offset += step * (load - ideal) / max(ideal, 1.0)
        empty = load == 0
        offset[empty] = offset.min() - radius
        if it % 6 == 5:  # Lloyd step: move seeds towards their region's centre
            for j in range(k):
                m = np.flatnonzero(lab == j)
                if len(m) == 0:
                    continue
                wj = val[m] + 1e-3
                c = (xy[m] * wj[:, None]).sum(0) / wj.sum()
                cand = m[np.argmin(((xy[m] - c) ** 2).sum(1))]
                if cand not in set(seeds.tolist()) - {int(seeds[j])}:
                    seeds[j] = cand
    assert best is not None
    lab = best[1]
    return [ids[lab == j].tolist() for j in range(k) if (lab == j).any()]
