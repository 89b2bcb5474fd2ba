"""An exact lower bound on out-of-band grids for small, sparse communities.

The band's other bounds (:mod:`~gridder.partition.lowerbound`,
:mod:`~gridder.partition.packing`) treat a patch of buildings without
households as joining every household building around it at once, so that
two grids may both pass through it. Where a few household buildings stand
among many empty ones (a campus, offices and shops around two towers) that
relaxation is loose: on Nanjing's NJ-NE (9 household buildings among 246) it
says 0 grids out of band where no plan has fewer than 2.

This model is exact for the plans the other bounds compare with (grids of at
most ``cap``). It places every free household building in one *slot* (a
grid), owned by its largest building (slots are indexed by decreasing value,
which breaks the symmetry); empty buildings may join at most one slot and may
stay in none (a relaxation: a real plan puts them somewhere, which only
restricts it). A slot is connected through its own buildings
(single-commodity flow from its owner) and holds at most ``cap``; it is out of
band unless its total lies in ``[min, max]``. CP-SAT minimises the number of
out-of-band slots; its proven objective bound is the lower bound, so a time
limit never makes it wrong. Locked grids and buildings above the maximum are
left out (the caller counts them). Only small models are built
(:data:`MAX_VALUED` household buildings, :data:`MAX_NODES` units after empty
leaves are pruned); otherwise no bound is returned.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from gridder.partition.cpsat import deterministic_solver

__all__ = ["MAX_NODES", "MAX_VALUED", "exact_lower_bound"]

#: Largest number of free household buildings for which the model is built.
MAX_VALUED = 12
#: Largest number of units (after pruning empty leaves) for which the model is built.
MAX_NODES = 400

IntArray = npt.NDArray[np.int64]


def exact_lower_bound(
    n: int,
    edges: IntArray,
    value: npt.ArrayLike,
    free: npt.NDArray[np.bool_],
    *,
    low: int,
    high: int,
    cap: int,
    time_limit: float = 5.0,
    seed: int = 0,
) -> int | None:
    """The least number of out-of-band grids, proven by CP-SAT within ``time_limit``.

    Parameters
    ----------
    n
        Number of units.
    edges
        Adjacency pairs (every edge: the bound also holds for plans crossing barriers).
    value
        Balance value per unit.
    free
        Units that may be grouped (neither locked nor above the maximum).
    low, high
        The band.
    cap
        Largest grid value considered.
    time_limit
        Deterministic time.
    seed
        CP-SAT seed.

    Returns
    -------
    int or None
        A valid lower bound (0 when nothing could be proven), or ``None`` when the
        community is too large for the model.
    """
    val = np.asarray(value, dtype=np.int64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    e = e[free[e[:, 0]] & free[e[:, 1]]] if len(e) else e
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for a, b in e.tolist():
        nbrs[a].add(b)
        nbrs[b].add(a)
    alive = np.asarray(free, dtype=bool).copy()
    # empty units with one live neighbour at most connect nothing: prune them, repeatedly
    stack: list[int] = np.flatnonzero(alive & (val == 0)).tolist()
    while stack:
        u = stack.pop()
        if not alive[u] or val[u] != 0:
            continue
        live = [w for w in nbrs[u] if alive[w]]
        if len(live) <= 1:
            alive[u] = False
            stack.extend(w for w in live if val[w] == 0)
    valued = [int(u) for u in np.flatnonzero(alive & (val > 0))]
    nodes = [int(u) for u in np.flatnonzero(alive)]
    if not valued:
        return 0
    if len(valued) > MAX_VALUED or len(nodes) > MAX_NODES:
        return None
    valued.sort(key=lambda u: (-int(val[u]), u))
    rank = {u: i for i, u in enumerate(valued)}
    slots = len(valued)
    m = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for u in nodes:
        allowed = range(rank[u] + 1) if u in rank else range(slots)
        for s in allowed:
            x[u, s] = m.new_bool_var("")
        if u in rank:
            m.add_exactly_one(x[u, s] for s in allowed)
        else:
            m.add_at_most_one(x[u, s] for s in allowed)
    for u in valued:  # a slot exists only with its owner, its largest building
        for s in range(rank[u]):
            m.add_implication(x[u, s], x[valued[s], s])
    arcs = [(a, b) for a, b in e.tolist() if alive[a] and alive[b]]
    arcs += [(b, a) for a, b in arcs]
    size = len(nodes)
    for s in range(slots):
        root = valued[s]
        inflow: dict[int, list[cp_model.IntVar]] = {u: [] for u in nodes}
        outflow: dict[int, list[cp_model.IntVar]] = {u: [] for u in nodes}
        for a, b in arcs:
            if b == root or (a, s) not in x or (b, s) not in x:
                continue
            f = m.new_int_var(0, size, "")
            m.add(f == 0).only_enforce_if(x[a, s].Not())
            m.add(f == 0).only_enforce_if(x[b, s].Not())
            outflow[a].append(f)
            inflow[b].append(f)
        for u in nodes:
            if u != root and (u, s) in x:
                m.add(sum(inflow[u]) - sum(outflow[u]) == x[u, s])
    out = []
    for s in range(slots):
        total = sum(int(val[u]) * x[u, s] for u in valued if (u, s) in x)
        used = x[valued[s], s]
        inside = m.new_bool_var("")
        m.add_implication(inside, used)
        m.add(total <= cap)
        m.add(total >= low).only_enforce_if(inside)
        m.add(total <= high).only_enforce_if(inside)
        bad = m.new_bool_var("")
        m.add(bad >= used - inside)
        out.append(bad)
    m.minimize(sum(out))
    solver = deterministic_solver(workers=1, seed=seed, time_limit=time_limit)
    status = solver.solve(m)
    if status == cp_model.INFEASIBLE:
        return None  # no plan with grids of at most cap: the bound does not apply
    return max(0, math.ceil(float(solver.best_objective_bound) - 1e-6))
