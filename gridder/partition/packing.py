"""A packing lower bound on out-of-band grids: how the large buildings can be grouped.

The forced-building bound (:mod:`gridder.partition.lowerbound`) looks at one
building at a time. In a tower compound the towers also compete for the same
few small neighbours: three towers of 152, 162 and 68 households that can each
reach the band only with the one 138-household tower between them cannot all
be in band. This bound sees that.

Split the free buildings into *large* ones (value above ``filler``, half the
band's width by default) and *fillers* (the rest, zero-household buildings
included). Every grid of a plan has a *footprint*, the large buildings it
holds. A footprint ``F`` of a grid of value ``≤ cap`` is connected in the graph
where two large buildings are linked when a path of fillers joins them with
``v(a) + v(b) + fillers ≤ cap``, and

``v(F) + max_a min_{b ∈ F∖a} d(a, b) ≤ value(grid)``,

where ``d`` is the least filler value on a filler-only path between two large
buildings (the grid holds such a path from each of its large buildings to the
nearest other one). An in-band grid's footprint also satisfies that bound
with ``max``, and ``v(F)`` plus the fillers reachable from ``F`` through
fillers reaches ``min``; the grid holds at least ``max(min − v(F), conn)`` of
filler value, from the filler areas next to ``F``, and distinct grids hold
distinct fillers, so the in-band footprints drawing on a set of filler areas
need together no more than those areas hold. A grid that holds fillers also
holds a filler *next to* its footprint (the last filler on its path to a large
building), so footprints that need fillers — in-band ones short of the
minimum, and any whose large buildings touch only through fillers — take
distinct *entry* fillers: a tower cluster whose only way out to a low-rise
area is one household-less cell can feed one grid from that area, not five.
In an in-band grid of more than one building, moreover, each large building
with no large neighbour in its footprint touches the grid through an entry
filler of *its own* (in-band grids hold free units only): on Nanjing's NJ-NE
a 140 and a 189 next to each other leave their corner only through one empty
cell, so at most one of them reaches the band, although the footprints
{140, 62} and {189, 68} have other entries between them.
The least number of footprints
that fail the in-band conditions, over all exact covers of the large
buildings by footprints that respect these filler budgets, is therefore a
lower bound on the out-of-band grids of any plan whose grids hold at most
``cap`` (what out-of-band grids draw from the fillers is not counted, which
only relaxes the problem). It is an exact cover solved by CP-SAT,
whose proven objective bound is used, so a time limit never makes the bound
wrong; when the footprints are too many to list the bound is not computed.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from gridder.partition.cpsat import deterministic_solver
from gridder.partition.sets import SetBudgetExceededError, enumerate_connected_sets

__all__ = ["PackingBound", "packing_lower_bound"]

logger = logging.getLogger(__name__)

#: Footprints with more entry fillers than this get no entry constraint (relaxed).
_ENTRY_LIMIT = 8
#: A lone large building's own entry cells are counted only when it has at most this
#: many: it is scarce entries that two towers compete for (NJ-NE: one cell), and each
#: counted building adds variables to every footprint holding it (the generated city of
#: 1M households solved 13% slower with the general limit).
_OWN_ENTRY_LIMIT = 2

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PackingBound:
    """Result of :func:`packing_lower_bound`.

    Parameters
    ----------
    min_out_of_band
        Lower bound on out-of-band grids holding large buildings.
    complete
        Whether every group of large buildings was bounded (otherwise the
        groups whose footprints were too many count 0).
    proven
        Whether every exact cover was solved to optimality (otherwise CP-SAT's
        proven bound was used).
    n_large
        Number of large buildings.
    """

    min_out_of_band: int
    complete: bool
    proven: bool
    n_large: int


def _filler_distances(
    large: list[int],
    adj: list[list[int]],
    is_large: npt.NDArray[np.bool_],
    val: list[int],
    cap: int,
) -> dict[tuple[int, int], int]:
    """``d(a, b)``: least filler value on a filler-only path, for pairs within ``cap``."""
    out: dict[tuple[int, int], int] = {}
    for a in large:
        budget = cap - val[a]
        dist: dict[int, int] = {}
        heap: list[tuple[int, int]] = []
        for w in adj[a]:
            if is_large[w]:
                if a < w and val[a] + val[w] <= cap:
                    out[(a, w)] = 0
            elif val[w] <= budget and val[w] < dist.get(w, budget + 1):
                dist[w] = val[w]
                heapq.heappush(heap, (val[w], w))
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist.get(u, budget + 1):
                continue
            for w in adj[u]:
                if is_large[w]:
                    if w != a and d + val[a] + val[w] <= cap:
                        key = (min(a, w), max(a, w))
                        if d < out.get(key, cap + 1):
                            out[key] = d
                    continue
                nd = d + val[w]
                if nd <= budget and nd < dist.get(w, budget + 1):
                    dist[w] = nd
                    heapq.heappush(heap, (nd, w))
    return out


def _filler_reach(
    n: int,
    adj: list[list[int]],
    is_large: npt.NDArray[np.bool_],
    free: npt.NDArray[np.bool_],
    val: list[int],
) -> tuple[IntArray, list[int]]:
    """Component of each filler in the filler-only graph, and each component's value."""
    comp = np.full(n, -1, dtype=np.int64)
    totals: list[int] = []
    for s in range(n):
        if not free[s] or is_large[s] or comp[s] >= 0:
            continue
        c = len(totals)
        comp[s] = c
        stack = [s]
        tot = 0
        while stack:
            u = stack.pop()
            tot += val[u]
            for w in adj[u]:
                if free[w] and not is_large[w] and comp[w] < 0:
                    comp[w] = c
                    stack.append(w)
        totals.append(tot)
    return comp, totals


def packing_lower_bound(
    n: int,
    adj: list[list[int]],
    value: Sequence[int],
    free: npt.NDArray[np.bool_],
    *,
    low: int,
    high: int,
    cap: int,
    filler: int | None = None,
    budget: int = 10_000,
    time_limit: float = 1.0,
    seed: int = 0,
) -> PackingBound:
    """Lower bound on out-of-band grids from the ways large buildings can share grids.

    Parameters
    ----------
    n
        Number of units.
    adj
        Neighbours of each unit (only free units are followed).
    value
        Balance value per unit.
    free
        Units a plan may group (not locked, not above the maximum).
    low, high
        The band.
    cap
        Largest grid value assumed.
    filler
        Units of value at most this are fillers (default half the band's width).
    budget
        Largest number of footprints listed per group of large buildings.
    time_limit
        CP-SAT deterministic time per group.
    seed
        CP-SAT seed.
    """
    val = [int(v) for v in value]
    filler = (high - low) // 2 if filler is None else filler
    is_large = np.zeros(n, dtype=bool)
    for u in range(n):
        is_large[u] = bool(free[u]) and val[u] > filler
    large = np.flatnonzero(is_large).tolist()
    if not large:
        return PackingBound(0, True, True, 0)
    d = _filler_distances(large, adj, is_large, val, cap)
    comp, totals = _filler_reach(n, adj, is_large, free, val)
    reach: dict[int, set[int]] = {a: {int(comp[w]) for w in adj[a] if comp[w] >= 0} for a in large}
    entries = {a: frozenset(w for w in adj[a] if comp[w] >= 0) for a in large}
    direct = {a: frozenset(w for w in adj[a] if is_large[w]) for a in large}
    links: dict[int, list[int]] = {a: [] for a in large}
    for a, b in d:
        links[a].append(b)
        links[b].append(a)
    # groups: connected parts of the link graph, bounded separately
    seen: set[int] = set()
    total_lb = 0
    complete = proven = True
    for s in large:
        if s in seen:
            continue
        group = [s]
        seen.add(s)
        stack = [s]
        while stack:
            a = stack.pop()
            for b in links[a]:
                if b not in seen:
                    seen.add(b)
                    group.append(b)
                    stack.append(b)
        lb, exact = _bound_group(
            sorted(group),
            links,
            d,
            val,
            reach=reach,
            entries=entries,
            direct=direct,
            totals=totals,
            low=low,
            high=high,
            cap=cap,
            budget=budget,
            time_limit=time_limit,
            seed=seed,
        )
        if lb is None:
            complete = False
            continue
        total_lb += lb
        proven &= exact
    return PackingBound(total_lb, complete, proven, len(large))


def _directly_connected(members: Sequence[int], direct: dict[int, frozenset[int]]) -> bool:
    """Whether large buildings form a connected set through their own adjacency alone."""
    inside = set(members)
    seen = {members[0]}
    stack = [members[0]]
    while stack:
        a = stack.pop()
        for b in direct[a] & inside:
            if b not in seen:
                seen.add(b)
                stack.append(b)
    return len(seen) == len(inside)


def _bound_group(
    group: list[int],
    links: dict[int, list[int]],
    d: dict[tuple[int, int], int],
    val: list[int],
    *,
    reach: dict[int, set[int]],
    entries: dict[int, frozenset[int]],
    direct: dict[int, frozenset[int]],
    totals: list[int],
    low: int,
    high: int,
    cap: int,
    budget: int,
    time_limit: float,
    seed: int,
) -> tuple[int | None, bool]:
    """Least out-of-band footprints covering one group, or ``None`` when too many to list."""
    if len(group) == 1:
        a = group[0]
        ok = val[a] <= high and val[a] + sum(totals[c] for c in reach[a]) >= low
        return (0 if ok else 1), True
    try:
        sets = enumerate_connected_sets(
            group, links, val, high=cap, max_size=len(group), budget=budget
        )
    except SetBudgetExceededError:
        logger.debug("packing bound: more than %d footprints in a group of %d", budget, len(group))
        return None, False
    costs: list[int] = []
    kept: list[tuple[int, ...]] = []
    need: list[int] = []
    reach_of: list[frozenset[int]] = []
    for fp in sets:
        v = sum(val[a] for a in fp)
        conn = 0
        if len(fp) > 1:
            conn = max(
                min(d.get((min(a, b), max(a, b)), cap + 1) for b in fp if b != a) for a in fp
            )
        if v + conn > cap and len(fp) > 1:
            continue
        near = frozenset().union(*(reach[a] for a in fp))
        fill = sum(totals[c] for c in near)
        in_band = v + conn <= high and v + fill >= low
        kept.append(fp)
        costs.append(0 if in_band else 1)
        need.append(max(0, low - v, conn) if in_band else 0)
        reach_of.append(near)
    if not any(costs):
        return 0, True
    # a footprint that may be in band may also be out of band (then it needs no filler)
    for i in [i for i in range(len(kept)) if costs[i] == 0]:
        kept.append(kept[i])
        costs.append(1)
        need.append(0)
        reach_of.append(reach_of[i])
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"f{i}") for i in range(len(kept))]
    holds: dict[int, list[int]] = {}
    for i, fp in enumerate(kept):
        for a in fp:
            holds.setdefault(a, []).append(i)
    for a in group:
        model.add_exactly_one(x[i] for i in holds[a])
    # in-band grids use disjoint fillers: those drawing only on some filler areas need no
    # more than these areas hold
    users = [i for i in range(len(kept)) if need[i] > 0]
    for area in sorted({reach_of[i] for i in users}, key=sorted):
        inside = [i for i in users if reach_of[i] <= area]
        held = sum(totals[c] for c in area)
        if sum(need[i] for i in inside) > held:
            model.add(
                cp_model.LinearExpr.weighted_sum([x[i] for i in inside], [need[i] for i in inside])
                <= held
            )
    # ... and distinct entry fillers, as does every grid whose large buildings are joined
    # through fillers (a relaxation: footprints with many entries are left free)
    takers: dict[int, list[cp_model.IntVar]] = {}
    for i, fp in enumerate(kept):
        whole = not (need[i] <= 0 and _directly_connected(fp, direct))
        # in an in-band grid (free units only) that is more than one building, a large
        # building with no large neighbour in the footprint touches the rest of its grid
        # through one of its own entry fillers: two towers whose only way out is one
        # household-less cell cannot both reach the band through it
        alone = []
        if costs[i] == 0 and (len(fp) > 1 or need[i] > 0):
            alone = [a for a in fp if not direct[a] & set(fp)]
        own = [entries[a] for a in alone if len(entries[a]) <= _OWN_ENTRY_LIMIT]
        gate = frozenset().union(*(entries[a] for a in fp))
        if not own and (not whole or len(gate) > _ENTRY_LIMIT):
            continue
        used = frozenset().union(*own) | (gate if whole and len(gate) <= _ENTRY_LIMIT else set())
        z = {w: model.new_bool_var(f"e{i}_{w}") for w in sorted(used)}
        for w, zw in z.items():
            takers.setdefault(w, []).append(zw)
        if not own:
            # one entry filler of the footprint's, taken exactly when it is chosen
            model.add(sum(z.values()) == x[i])
            continue
        for zw in z.values():
            model.add_implication(zw, x[i])
        if whole and len(gate) <= _ENTRY_LIMIT:
            model.add(sum(z[w] for w in sorted(gate)) >= x[i])
        for ent in own:
            model.add(sum(z[w] for w in sorted(ent)) >= x[i])
    for zs in takers.values():
        if len(zs) > 1:
            model.add_at_most_one(zs)
    model.minimize(cp_model.LinearExpr.weighted_sum(x, costs))
    solver = deterministic_solver(workers=1, seed=seed, time_limit=time_limit, probing=False)
    status = solver.solve(model)
    if status == cp_model.OPTIMAL:
        return round(solver.objective_value), True
    if status in (cp_model.FEASIBLE, cp_model.UNKNOWN):  # the proven bound is still valid
        return max(0, math.ceil(solver.best_objective_bound - 1e-6)), False
    return None, False
