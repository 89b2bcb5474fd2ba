"""What the data force: buildings no in-band grid can hold, and a bound on out-of-band grids.

A building is *forced* out of the band when no connected set of free
buildings containing it has a total within ``[min, max]`` (the 198-household
tower whose only neighbours hold 132 and 312). Every grid holding a forced
building is out of band. Two forced buildings can share one grid only if a
connected set of total at most ``cap`` holds both, which needs a path between
them whose value is at most ``cap``; forced buildings that pairwise cannot
share are therefore in distinct out-of-band grids. A greedy independent set
of them is a lower bound on the number of out-of-band grids of any plan whose
grids hold at most ``cap``.

``cap`` defaults to the maximum plus the band's width (400 households for a
200–300 band, 60% above the target): a larger grid is not a plan a planner
would take, and merging out-of-band neighbours into one such grid lowers the
out-of-band *count* only by making a worse plan. The solver compares its plan
with plans whose grids are no larger than its own largest (:func:`plan_cap`),
so when its plan holds a larger grid the bound assumes that larger cap.

Adjacency here uses every edge, hard barriers included, so the bound also
holds for plans that cross barriers.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gridder.partition.check import excluded_grids
from gridder.partition.config import PartitionConfig
from gridder.partition.costs import balance_value
from gridder.partition.exactbound import exact_lower_bound
from gridder.partition.instance import PartitionInstance
from gridder.partition.packing import packing_lower_bound
from gridder.partition.reduce import splittable
from gridder.partition.sets import adjacency_lists, valued_adjacency

__all__ = ["BandLowerBound", "band_lower_bound", "plan_cap"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BandLowerBound:
    """The band's lower bound for one community.

    Parameters
    ----------
    forced_units
        Indices of units (value > 0) that lie in no connected in-band set.
    undecided_units
        Units whose search ran out of budget (not counted as forced).
    over_max_units
        Units whose value alone is above the maximum (a grid of their own,
        left out of the in-band measure).
    locked_out_of_band
        Locked grids whose value is outside the band.
    min_out_of_band
        Lower bound on the number of out-of-band grids (locked ones included):
        the largest of the forced-building, packing and exact bounds, and 1
        where empty land touches no free household building
        (:func:`_trapped_land`).
    cap
        Grid size assumed by the bound.
    forced_out_of_band
        The forced-building bound alone (pairwise separated forced buildings).
    packing_out_of_band
        The packing bound (:mod:`gridder.partition.packing`), ``-1`` when not
        computed (the forced bound already matched the plan, or the large
        buildings' footprints were too many to list).
    exact_out_of_band
        The exact bound of a small, sparse community
        (:mod:`gridder.partition.exactbound`), ``-1`` when not computed.
    """

    forced_units: IntArray
    undecided_units: IntArray
    over_max_units: IntArray
    locked_out_of_band: int
    min_out_of_band: int
    cap: int
    forced_out_of_band: int = -1
    packing_out_of_band: int = -1
    exact_out_of_band: int = -1

    def ceiling(self, n_grids: int) -> float:
        """Largest in-band share a plan with ``n_grids`` counted grids can reach."""
        if n_grids <= 0:
            return 1.0
        return max(0.0, 1.0 - self.min_out_of_band / n_grids)


def _search(
    b: int, adj: list[list[int]], val: list[int], *, lo: int, hi: int, budget: int
) -> tuple[list[int] | None, bool]:
    """A connected in-band set holding ``b`` (greedy, then exhaustive within budget).

    Returns the set or ``None``, and whether the search was exhaustive.
    """
    # greedy: add the largest neighbour that still fits
    members = [b]
    inset = {b}
    total = val[b]
    while total < lo:
        best, best_v = -1, -1
        for u in members:
            for w in adj[u]:
                if w not in inset and total + val[w] <= hi and val[w] > best_v:
                    best, best_v = w, val[w]
        if best < 0:
            break
        members.append(best)
        inset.add(best)
        total += best_v
    if lo <= total <= hi:
        return members, True
    # exhaustive: every connected set holding b with total <= hi (ESU rooted at b)
    count = 0
    found: list[int] | None = None

    def extend(mem: list[int], ext: list[int], near: set[int], tot: int) -> bool:
        nonlocal count, found
        count += 1
        if lo <= tot <= hi:
            found = list(mem)
            return True
        if count > budget:
            return True
        ext = list(ext)
        while ext:
            w = ext.pop()
            tw = tot + val[w]
            if tw > hi:
                continue
            new_ext = list(ext)
            new_near = set(near)
            for u in adj[w]:
                if u not in near:
                    new_ext.append(u)
                    new_near.add(u)
            if extend([*mem, w], new_ext, new_near, tw):
                return True
        return False

    extend([b], list(adj[b]), {b, *adj[b]}, val[b])
    if found is not None:
        return found, True
    return None, count <= budget


def plan_cap(instance: PartitionInstance, labels: npt.ArrayLike, config: PartitionConfig) -> int:
    """The grid size a bound compared with this plan assumes.

    The maximum plus the band's width, or the plan's largest grid when that is
    larger (grids left out of the band measures — one building above the
    maximum, :func:`~gridder.partition.check.excluded_grids` — not counted).
    """
    cap = config.grid_cap
    lab = np.asarray(labels, dtype=np.int64)
    if not len(lab):
        return cap
    grids, inv = np.unique(lab, return_inverse=True)
    total = np.bincount(inv, weights=balance_value(instance, config))
    skip = excluded_grids(instance, lab, config, valued=True)
    counted = [t for g, t in zip(grids.tolist(), total.tolist(), strict=True) if g not in skip]
    return max([cap, *(int(np.ceil(t)) for t in counted)])


def _trapped_land(n: int, edges: IntArray, value: IntArray, free: npt.NDArray[np.bool_]) -> bool:
    """Whether some free buildings without households touch no free building holding some.

    Linked (over every edge, through each other) only to buildings above the
    maximum or locked ones, they end in a grid holding no free household: a
    tower's grid that is then more than a single building, or a grid of their
    own holding nothing — out of band either way (CONTRACT §6 leaves out only
    single buildings above the maximum). The land a tower encloses, or a
    community of such towers only (Nanjing's NJ-SW: 178 empty buildings
    around one 1,423-household block).
    """
    empty = free & (value <= 0)
    if not empty.any() or n == 0:
        return False
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    inner = e[empty[e[:, 0]] & empty[e[:, 1]]]
    graph = coo_matrix((np.ones(len(inner)), (inner[:, 0], inner[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    # components of empty land with a free valued neighbour are not trapped
    reach = np.zeros(n, dtype=bool)
    for a, b in ((e[:, 0], e[:, 1]), (e[:, 1], e[:, 0])):
        hit = empty[a] & free[b] & (value[b] > 0)
        reach[comp[a[hit]]] = True
    ids = np.unique(comp[empty])
    # an isolated empty unit with no link at all belongs to a grid of its own, out of band
    return bool((~reach[ids]).any())


def band_lower_bound(
    instance: PartitionInstance,
    config: PartitionConfig,
    *,
    budget: int = 5000,
    cap: int | None = None,
    packing: bool = True,
    stop_at: int | None = None,
    seed: int = 0,
    exact_time: float = 0.0,
    exact_known: dict[int, int] | None = None,
) -> BandLowerBound:
    """Forced buildings and a lower bound on the number of out-of-band grids.

    Parameters
    ----------
    instance
        The community.
    config
        The band.
    budget
        Largest number of sets searched per building before giving up (a
        building whose search gives up is not counted: the bound stays valid).
    cap
        Largest grid value assumed (default ``config.max`` plus the band's width).
    packing
        Also compute the packing bound (:func:`~gridder.partition.packing.packing_lower_bound`).
    stop_at
        Skip the packing bound when the forced bound reaches this (e.g. the
        plan's own number of out-of-band grids: the bound is then tight).
    seed
        CP-SAT seed of the packing bound.
    exact_time
        Deterministic time for the exact bound of a small, sparse community
        (:func:`~gridder.partition.exactbound.exact_lower_bound`), tried when the
        other bounds stay below ``stop_at``; 0 skips it.
    exact_known
        The exact bounds already found for this community, by ``cap`` (``-1``:
        none), read and filled here: the model runs once per cap, and a bound
        proven for larger grids holds for plans of smaller ones too.
    """
    n = instance.n
    cap = config.grid_cap if cap is None else cap
    val_arr = balance_value(instance, config)
    locked = np.asarray(instance.locked, dtype=np.int64)
    if len(locked) != n:
        locked = np.full(n, -1, dtype=np.int64)
    over = (val_arr > config.max) & (locked < 0)
    free = (locked < 0) & ~over
    edges = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    adj = adjacency_lists(n, edges, free)
    # in-band sets are searched over the valued units (value-less ones only join
    # them): exact, and no budget spent on sets that differ in value-less units
    vadj: list[list[int]] = [[] for _ in range(n)]
    for u, near in valued_adjacency(np.flatnonzero(free), adj, val_arr).items():
        vadj[u] = near
    val = val_arr.tolist()
    good = np.zeros(n, dtype=bool)
    forced: list[int] = []
    undecided: list[int] = []
    for b in np.flatnonzero(free & (val_arr > 0)).tolist():
        if good[b]:
            continue
        found, exhaustive = _search(b, vadj, val, lo=config.min, hi=config.max, budget=budget)
        if found is not None:
            good[found] = True
        elif exhaustive:
            forced.append(b)
        else:
            undecided.append(b)
    # greedy independent set among forced units: pairs that cannot share a grid
    picked = 0
    blocked: set[int] = set()
    forced_set = set(forced)
    for a in forced:
        if a in blocked:
            continue
        picked += 1
        dist = {a: val[a]}
        heap = [(val[a], a)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist.get(u, cap + 1):
                continue
            if u in forced_set:
                blocked.add(u)
            for w in adj[u]:
                nd = d + val[w]
                if nd <= cap and nd < dist.get(w, cap + 1):
                    dist[w] = nd
                    heapq.heappush(heap, (nd, w))
    # the free households' total must be split into grids of their own (a free building
    # holding value may join no locked grid, and one joining a building above the maximum
    # makes a counted grid out of band): a total no in-band grids can split (0; 320 with
    # a 200-300 band) forces one grid out of band, whatever the graph
    free_total = float(val_arr[free].sum())
    if free_total > 0:
        split_out = int(not splittable(free_total, config))
    else:  # nothing but empty buildings: their one grid holds nothing
        split_out = int(n > 0 and bool(free.all()) and not config.in_band(0.0))
    trapped = int(_trapped_land(n, edges, val_arr, free))
    locked_out = 0
    if (locked >= 0).any():
        labs, inv = np.unique(locked[locked >= 0], return_inverse=True)
        tot = np.bincount(inv, weights=val_arr[locked >= 0], minlength=len(labs))
        # a locked grid of one building above the maximum is left out of the measures too
        units = np.bincount(inv, minlength=len(labs))
        left_out = (units == 1) & (tot > config.max)
        locked_out = int(sum(not config.in_band(t) for t in tot[~left_out].tolist()))
    pack = -1
    if packing and (stop_at is None or max(picked, split_out) + locked_out < stop_at):
        pb = packing_lower_bound(
            n, adj, val, free, low=config.min, high=config.max, cap=cap, seed=seed
        )
        if pb.complete:
            pack = pb.min_out_of_band
    exact = -1
    if (
        exact_time > 0
        and stop_at is not None
        and max(picked, pack, split_out) + locked_out < stop_at
    ):
        # the plan is above these bounds: on a small sparse community the exact model
        # can tell whether the plan or the bounds are loose
        known = {} if exact_known is None else exact_known
        if cap not in known:
            got = exact_lower_bound(
                n,
                edges,
                val_arr,
                free,
                low=config.min,
                high=config.max,
                cap=cap,
                time_limit=exact_time,
                seed=seed,
            )
            known[cap] = -1 if got is None else got
        exact = max(b for c, b in known.items() if c >= cap)
    return BandLowerBound(
        forced_units=np.array(forced, dtype=np.int64),
        undecided_units=np.array(undecided, dtype=np.int64),
        over_max_units=np.flatnonzero(over).astype(np.int64),
        locked_out_of_band=locked_out,
        min_out_of_band=max(picked, pack, exact, split_out, trapped) + locked_out,
        cap=cap,
        forced_out_of_band=picked + locked_out,
        packing_out_of_band=pack + locked_out if pack >= 0 else -1,
        exact_out_of_band=exact + locked_out if exact >= 0 else -1,
    )
