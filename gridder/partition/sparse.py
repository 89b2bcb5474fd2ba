"""Grids of a sparse community: a few household buildings among many empty ones.

On a campus, an office district or a new development, a handful of household
buildings stand among many buildings without households. There the grids
are corridors of empty buildings joining household buildings, and which
household buildings can share a grid depends on where the other grids'
corridors run. The solver's reduction glues each empty building to a
household building near it (:mod:`~gridder.partition.reduce`) before any
grid is chosen, and so fixes the corridors first: on Nanjing's NJ-NE (13
household buildings among 246) every plan it reached left 3 grids out of
band where 2 are enough.

This model chooses the grids and their corridors at once, on a coarse graph:
each household building is a node, and the empty buildings are grouped into
*patches* of neighbouring buildings on one side of every major street (so
that a model of about :data:`TARGET_NODES` nodes stays solvable in a second
or two). The slot model (:mod:`~gridder.partition.slots`) minimises the
grids out of band first and the links across major streets, rivers or rail
inside grids second. Patches left in no grid then join a neighbouring grid
(across no barrier where one is at hand). Patches only restrict the plans,
so the result is a plan, not a bound; the solver keeps it only when it
leaves fewer grids out of band than its own plan (:meth:`GridPartitioner.solve
<gridder.partition.solver.GridPartitioner.solve>`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from gridder.partition.cpsat import deterministic_solver
from gridder.partition.instance import PartitionInstance
from gridder.partition.reduce import nearest_sources
from gridder.partition.sets import adjacency_lists
from gridder.partition.slots import prune_empty_leaves, slot_model

__all__ = ["MAX_VALUED", "TARGET_NODES", "SparsePlan", "is_sparse", "sparse_plan"]

#: Most free household buildings the model takes.
MAX_VALUED = 16
#: Nodes of the coarse graph the patches aim at.
TARGET_NODES = 30
#: Cost of a grid out of band, against 1 per barrier link inside a grid.
_OUT_WEIGHT = 10_000

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SparsePlan:
    """What the sparse model found.

    Attributes
    ----------
    labels
        Grid label per unit (``-1`` for units that are not free).
    out_of_band
        Out-of-band slots in the model's solution.
    crossings
        Links across a barrier inside a slot (between coarse nodes).
    status
        CP-SAT status name.
    deterministic_time
        CP-SAT deterministic time.
    patch_size
        Most empty buildings per patch.
    """

    labels: IntArray
    out_of_band: int
    crossings: int
    status: str
    deterministic_time: float
    patch_size: int


def is_sparse(value: npt.ArrayLike, free: npt.NDArray[np.bool_]) -> bool:
    """Whether the free units are a few household buildings among more empty ones."""
    val = np.asarray(value, dtype=np.int64)
    valued = int((free & (val > 0)).sum())
    empty = int((free & (val == 0)).sum())
    return 2 <= valued <= MAX_VALUED and empty >= 2 * valued


def sparse_plan(
    instance: PartitionInstance,
    value: npt.ArrayLike,
    free: npt.NDArray[np.bool_],
    *,
    low: int,
    high: int,
    cap: int,
    seed: int = 0,
    time_limit: float = 2.0,
    at_least: int = 0,
) -> SparsePlan | None:
    """Grids of the free units by the slot model on a coarse graph.

    Parameters
    ----------
    instance
        The community (its ``edge_hard`` are the barriers counted as crossings).
    value
        Balance value per unit.
    free
        Units that may be grouped (neither locked nor above the maximum).
    low, high
        The band.
    cap
        Largest grid value allowed.
    seed
        CP-SAT seed.
    time_limit
        Deterministic time: up to three quarters for the grids out of band,
        the rest (at least a quarter) for the barriers.
    at_least
        A proven lower bound on the grids out of band of any plan of the free
        units with grids of at most ``cap`` (the band's lower bound): every
        plan of the model is such a plan, so the model stops as soon as it
        reaches it.

    Returns
    -------
    SparsePlan or None
        ``None`` when the community is not sparse (:func:`is_sparse`), the
        model found no solution, or a free unit is linked to no grid.
    """
    val = np.asarray(value, dtype=np.int64)
    free = np.asarray(free, dtype=bool)
    if not is_sparse(val, free):
        return None
    n = instance.n
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    hard = np.asarray(instance.edge_hard, dtype=bool)
    inside = free[e[:, 0]] & free[e[:, 1]] if len(e) else np.zeros(0, dtype=bool)
    e, hard = e[inside], hard[inside]
    alive = prune_empty_leaves(n, e, val, free)
    valued = np.flatnonzero(alive & (val > 0))
    empties = int((alive & (val == 0)).sum())
    size = max(1, math.ceil(empties / max(1, TARGET_NODES - len(valued))))
    node = _coarse_nodes(n, e, hard=hard, value=val, alive=alive, size=size)
    n_nodes = int(node.max()) + 1
    node_value = np.zeros(n_nodes, dtype=np.int64)
    np.add.at(node_value, node[alive], val[alive])
    links: dict[tuple[int, int], bool] = {}  # coarse link -> every unit link under it is hard
    for (a, b), h in zip(e.tolist(), hard.tolist(), strict=True):
        na, nb = int(node[a]), int(node[b])
        if na < 0 or nb < 0 or na == nb:
            continue
        key = (min(na, nb), max(na, nb))
        links[key] = links.get(key, True) and bool(h)
    sm = slot_model(list(range(n_nodes)), list(links), node_value, low=low, high=high, cap=cap)
    m = sm.model
    crossing: list[cp_model.IntVar] = []
    for (a, b), h in links.items():
        if not h:
            continue
        for s in range(len(sm.owners)):
            if (a, s) in sm.x and (b, s) in sm.x:
                c = m.new_bool_var("")
                m.add(c >= sm.x[a, s] + sm.x[b, s] - 1)
                crossing.append(c)
    # the band first, then the barriers (a joint objective was measured slower to reach
    # the band's optimum)
    if at_least > 0:  # valid for every plan: lets CP-SAT stop once a plan reaches it
        m.add(sum(sm.out) >= at_least)
    m.minimize(sum(sm.out))
    solver = deterministic_solver(workers=1, seed=seed, time_limit=time_limit * 3 / 4)
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    used = float(solver.deterministic_time)
    best_out = round(solver.objective_value)
    for var in sm.x.values():
        m.add_hint(var, solver.boolean_value(var))
    m.add(sum(sm.out) <= best_out)
    m.minimize(sum(crossing))
    rest = max(time_limit / 4, time_limit - used)
    again = deterministic_solver(workers=1, seed=seed, time_limit=rest)
    got = again.solve(m)
    if got in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        solver, status = again, got
    used += float(again.deterministic_time)
    slot = sm.slot_of(solver, range(n_nodes))
    labels = np.full(n, -1, dtype=np.int64)
    for u in np.flatnonzero(alive).tolist():
        labels[u] = slot.get(int(node[u]), -1)
    labels = _attach(n, e, hard, labels, free)
    if (labels[free] < 0).any():
        return None  # a free unit no grid reaches (no link at all): not a plan
    return SparsePlan(
        labels=labels,
        out_of_band=sum(int(solver.boolean_value(b)) for b in sm.out),
        crossings=sum(int(solver.boolean_value(c)) for c in crossing),
        status=solver.status_name(status),
        deterministic_time=used,
        patch_size=size,
    )


def _coarse_nodes(
    n: int,
    edges: IntArray,
    *,
    hard: npt.NDArray[np.bool_],
    value: IntArray,
    alive: npt.NDArray[np.bool_],
    size: int,
) -> IntArray:
    """Coarse node per unit: household units alone, empty ones in patches of at most ``size``.

    Patches grow breadth-first from the lowest unit index not yet taken, along
    links that cross no barrier. ``-1`` for units not alive.
    """
    soft_nbrs = adjacency_lists(n, edges[~hard], alive)
    node = np.full(n, -1, dtype=np.int64)
    nxt = 0
    for u in np.flatnonzero(alive & (value > 0)).tolist():
        node[u] = nxt
        nxt += 1
    for u in np.flatnonzero(alive & (value == 0)).tolist():
        if node[u] >= 0:
            continue
        node[u] = nxt
        count, queue = 1, deque([u])
        while queue and count < size:
            w = queue.popleft()
            for y in sorted(soft_nbrs[w]):
                if count < size and value[y] == 0 and node[y] < 0:
                    node[y] = nxt
                    count += 1
                    queue.append(y)
        nxt += 1
    return node


def _attach(
    n: int,
    edges: IntArray,
    hard: npt.NDArray[np.bool_],
    labels: IntArray,
    free: npt.NDArray[np.bool_],
) -> IntArray:
    """Free units in no grid join the nearest grid, across no barrier while one is at hand."""
    out = labels.copy()
    for links in (edges[~hard], edges):
        sources = np.flatnonzero(out >= 0)
        near = nearest_sources(n, links, np.ones(len(links)), sources, free | (out >= 0))
        reach = (out < 0) & (near >= 0)
        out[reach] = out[near[reach]]
    return out
