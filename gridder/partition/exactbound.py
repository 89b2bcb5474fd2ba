"""An exact lower bound on out-of-band grids for small, sparse communities.

The band's other bounds (:mod:`~gridder.partition.lowerbound`,
:mod:`~gridder.partition.packing`) treat a patch of buildings without
households as joining every household building around it at once, so that
two grids may both pass through it. Where a few household buildings stand
among many empty ones (a campus, offices and shops around two towers) that
relaxation is loose: on Nanjing's NJ-NE (9 household buildings among 246) it
says 0 grids out of band where no plan has fewer than 2.

This model is exact for the plans the other bounds compare with (grids of at
most ``cap``): the slot model (:mod:`~gridder.partition.slots`) on the
buildings themselves, where empty buildings may stay in no slot (a
relaxation: a real plan puts them somewhere, which only restricts it).
CP-SAT minimises the number of out-of-band slots; its proven objective
bound is the lower bound, so a time limit never makes it wrong. Locked
grids and buildings above the maximum are left out (the caller counts
them). Only small models are built (:data:`MAX_VALUED` household buildings,
:data:`MAX_NODES` units after empty leaves are pruned); otherwise no bound
is returned.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from gridder.partition.cpsat import deterministic_solver
from gridder.partition.slots import prune_empty_leaves, slot_model

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
    alive = prune_empty_leaves(n, e, val, free)
    valued = [int(u) for u in np.flatnonzero(alive & (val > 0))]
    nodes = [int(u) for u in np.flatnonzero(alive)]
    if not valued:
        return 0
    if len(valued) > MAX_VALUED or len(nodes) > MAX_NODES:
        return None
    arcs = [(a, b) for a, b in e.tolist() if alive[a] and alive[b]]
    sm = slot_model(nodes, arcs, val, low=low, high=high, cap=cap)
    m, out = sm.model, sm.out
    m.minimize(sum(out))
    solver = deterministic_solver(workers=1, seed=seed, time_limit=time_limit)
    status = solver.solve(m)
    if status == cp_model.INFEASIBLE:
        return None  # no plan with grids of at most cap: the bound does not apply
    return max(0, math.ceil(float(solver.best_objective_bound) - 1e-6))
