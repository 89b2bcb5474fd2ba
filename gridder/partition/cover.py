"""The exact cover of a lumpy community by connected sets of buildings.

A community of towers holds a few dozen household buildings of 50–400
households each, and which towers can share a grid decides how many grids end
up out of band. The solver's reduction glues each building without
households to a household building near it (:mod:`~gridder.partition.reduce`)
before any grid is chosen, and so fixes which towers an empty clubhouse or
shop can join; on the generated city's seed 5 every plan it reached left 5
grids out of band in a community where 4 are the fewest.

This model lists every connected set of the community's buildings whose value
is at most ``cap`` (buildings without households only where the set needs them
to be connected: a *corridor* of at most :data:`MAX_CORRIDOR` of them) and
picks an exact cover of the household buildings with CP-SAT: first the fewest
sets out of band, then, with that number fixed, the least cost of the solver's
own grid cost (:func:`~gridder.partition.costs.grid_cost`: compactness,
compounds, boundaries). Empty buildings left out join a neighbouring grid.

When no set was cut short (every connected set of at most ``cap`` listed), the
first model is exact for plans whose grids hold at most ``cap``, and CP-SAT's
proven bound is a lower bound on their grids out of band (:attr:`CoverOutcome.bound`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from gridder.partition.config import PartitionConfig
from gridder.partition.costs import edge_cut_cost, grid_cost
from gridder.partition.cpsat import deterministic_solver
from gridder.partition.instance import PartitionInstance
from gridder.partition.sets import adjacency_lists

__all__ = ["MAX_CORRIDOR", "MAX_SETS", "CoverOutcome", "cover_plan"]

IntArray = npt.NDArray[np.int64]

#: Most buildings without households one listed set may use as a corridor.
MAX_CORRIDOR = 2
#: Most connected sets listed; a larger community gets no model.
MAX_SETS = 20_000
#: Sets looked at (listed or not) per set of the budget.
STEPS_PER_SET = 3


class _TooManySetsError(Exception):
    """More connected sets than the budget."""


@dataclass(frozen=True)
class CoverOutcome:
    """A plan chosen by the exact cover, and what the model proved.

    Parameters
    ----------
    labels
        Grid label per unit: the chosen sets, each unit above the maximum alone,
        and every empty unit joined to a neighbouring grid.
    out_of_band
        Chosen sets out of band.
    bound
        CP-SAT's proven lower bound on the sets out of band of any exact cover
        by the listed sets.
    complete
        Whether every connected set of value at most ``cap`` was listed, so that
        ``bound`` holds for every plan with grids of at most ``cap`` over the
        model's links.
    deterministic_time
        CP-SAT deterministic time used by both models.
    """

    labels: IntArray
    out_of_band: int
    bound: int
    complete: bool
    deterministic_time: float


def cover_plan(
    instance: PartitionInstance,
    value: IntArray,
    free: npt.NDArray[np.bool_],
    *,
    link: npt.NDArray[np.bool_],
    config: PartitionConfig,
    cap: int,
    seed: int,
    time_limit: float,
    cost_time: float | None = None,
    budget: int = MAX_SETS,
    beat: int | None = None,
) -> CoverOutcome | None:
    """The exact cover's plan of one community, or ``None`` when it lists too many sets.

    Parameters
    ----------
    instance
        The community (links, positions, compounds, barriers).
    value
        Balance value per unit.
    free
        Units the model places (not locked, not above the maximum).
    link
        Edges a grid may use to be connected (e.g. every edge not on a barrier).
    config
        Band and weights.
    cap
        Largest value of a listed set.
    seed
        CP-SAT seed.
    time_limit
        Deterministic time of the first model (fewest sets out of band).
    cost_time
        Deterministic time of the second (least cost); default ``time_limit``;
        ``0`` skips it.
    budget
        Most sets listed.
    beat
        Out-of-band sets of the plan to beat: when the first model finds no
        fewer, the second is skipped (its plan would not be kept).
    """
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    n = len(value)
    link = np.asarray(link, dtype=bool)
    adj = adjacency_lists(n, e[link], free)
    val = [int(x) for x in np.asarray(value).tolist()]
    try:
        sets, complete = _connected_sets(
            np.flatnonzero(free).tolist(), adj, val, cap=cap, budget=budget
        )
    except _TooManySetsError:
        return None
    if not sets:
        return None
    out = [0 if config.in_band(sum(val[i] for i in s)) else 1 for s in sets]
    cost = _set_costs(sets, val, instance, config)

    model = cp_model.CpModel()
    x = [model.new_bool_var(f"s{j}") for j in range(len(sets))]
    cover: dict[int, list[cp_model.IntVar]] = {}
    for j, s in enumerate(sets):
        for i in s:
            cover.setdefault(i, []).append(x[j])
    for i in np.flatnonzero(free).tolist():
        if val[i] > 0:
            model.add_exactly_one(cover[i])
        elif i in cover:
            model.add_at_most_one(cover[i])
    n_out = sum(x[j] for j in range(len(sets)) if out[j])
    model.minimize(n_out)
    solver = deterministic_solver(workers=1, seed=seed, time_limit=time_limit, probing=False)
    status = solver.solve(model)
    spent = solver.deterministic_time
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    best = round(solver.objective_value)
    bound = math.ceil(solver.best_objective_bound - 1e-6)
    chosen = [j for j in range(len(sets)) if solver.boolean_value(x[j])]
    second = time_limit if cost_time is None else cost_time
    if beat is not None and best >= beat:
        second = 0.0
    if second > 0:
        model.add(n_out <= best)
        model.minimize(sum(c * x[j] for j, c in enumerate(cost)))
        first = set(chosen)
        for j in range(len(sets)):
            model.add_hint(x[j], j in first)
        solver = deterministic_solver(workers=1, seed=seed, time_limit=second, probing=False)
        status = solver.solve(model)
        spent += solver.deterministic_time
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            chosen = [j for j in range(len(sets)) if solver.boolean_value(x[j])]
    labels = _labels(n, [sets[j] for j in chosen], free, e, link)
    return CoverOutcome(
        labels=labels,
        out_of_band=sum(out[j] for j in chosen),
        bound=bound,
        complete=complete,
        deterministic_time=spent,
    )


def _connected_sets(
    units: Sequence[int],
    adj: list[list[int]],
    val: list[int],
    *,
    cap: int,
    budget: int,
    corridor: int = MAX_CORRIDOR,
) -> tuple[list[tuple[int, ...]], bool]:
    """Connected sets holding value, of value at most ``cap``, empty units only as corridors.

    Each connected set is generated once (from its lowest unit, extending by
    neighbours of higher rank); sets over ``cap`` or with more than
    :data:`MAX_CORRIDOR` empty units are not extended (values are non-negative,
    so no set within both limits is missed). A set keeps an empty unit only
    when the set without it falls apart. Returns the sets and whether none was
    cut short by the corridor limit. The search stops (:class:`_TooManySetsError`)
    beyond ``budget`` sets or ``STEPS_PER_SET × budget`` sets looked at.
    """
    order = sorted(units)
    rank = {u: i for i, u in enumerate(order)}
    # sets as bit masks over the units' ranks, for the corridor test
    nb = [sum(1 << r for r in {rank[w] for w in adj[u]}) for u in order]  # repeats once
    hollow = sum(1 << i for i, u in enumerate(order) if val[u] == 0)  # the empty units
    found: list[tuple[int, ...]] = []
    complete = True
    steps = 0

    def grow(members: list[int], mask: int, ext: list[int], near: set[int], total: int) -> None:
        nonlocal complete, steps
        steps += 1
        if steps > STEPS_PER_SET * budget:
            raise _TooManySetsError
        if total > 0 and _corridors_needed(mask, mask & hollow, nb):
            found.append(tuple(sorted(members)))
            if len(found) > budget:
                raise _TooManySetsError
        ext = list(ext)
        root = members[0]
        n_empty = (mask & hollow).bit_count()
        while ext:
            w = ext.pop()
            total_w = total + val[w]
            if total_w > cap:
                continue
            if n_empty + (val[w] == 0) > corridor:
                complete = False
                continue
            new_ext = list(ext)
            new_near = set(near)
            for u in adj[w]:
                if rank[u] > rank[root] and u not in near:
                    new_ext.append(u)
                    new_near.add(u)
            grow([*members, w], mask | 1 << rank[w], new_ext, new_near, total_w)

    for v in order:
        if val[v] > cap:
            continue
        grow([v], 1 << rank[v], [u for u in adj[v] if rank[u] > rank[v]], {v, *adj[v]}, val[v])
    return found, complete


def _corridors_needed(mask: int, empty: int, nb: list[int]) -> bool:
    """Whether every empty member is needed: without it the set is not connected.

    ``mask`` is the set as bits over the units' ranks, ``empty`` its empty
    members (bits) and ``nb`` each rank's neighbours as bits.
    """
    while empty:
        low = empty & -empty
        empty ^= low
        rest = mask & ~low
        if (nb[low.bit_length() - 1] & rest).bit_count() <= 1:
            return False  # a leaf of the (connected) set: the rest stays connected
        seen = frontier = rest & -rest
        while frontier:
            reach = 0
            while frontier:
                bit = frontier & -frontier
                reach |= nb[bit.bit_length() - 1]
                frontier ^= bit
            frontier = reach & rest & ~seen
            seen |= frontier
        if seen == rest:
            return False
    return True


def _set_costs(
    sets: list[tuple[int, ...]],
    val: list[int],
    instance: PartitionInstance,
    config: PartitionConfig,
) -> list[int]:
    """Each set's grid cost (:func:`~gridder.partition.costs.grid_cost`), in whole units."""
    n = len(val)
    edges = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    cut_cost = edge_cut_cost(instance, config)
    hard_edge = np.asarray(instance.edge_hard, dtype=bool)
    inc: list[list[tuple[int, float, bool]]] = [[] for _ in range(n)]
    for (a, b), c, h in zip(edges.tolist(), cut_cost.tolist(), hard_edge.tolist(), strict=True):
        inc[a].append((b, c, h))
        inc[b].append((a, c, h))
    pts = np.asarray(instance.xy, dtype=float).reshape(-1, 2).tolist()
    comp = np.asarray(instance.compound, dtype=np.int64).tolist()
    costs: list[int] = []
    for s in sets:
        inset = set(s)
        tot = sx = sy = sxx = cut = 0.0
        hard = 0
        for i in s:
            v = float(val[i])
            x, y = pts[i]
            tot += v
            sx += v * x
            sy += v * y
            sxx += v * (x * x + y * y)
            for j, c, h in inc[i]:
                if j in inset:
                    hard += int(h and j > i)
                else:
                    cut += c
        inertia = max(0.0, sxx - (sx * sx + sy * sy) / tot) if tot > 0 else 0.0
        classes = len({comp[i] for i in s})
        costs.append(round(grid_cost(tot, inertia, classes, cut, hard, config=config)))
    return costs


def _labels(
    n: int,
    chosen: list[tuple[int, ...]],
    free: npt.NDArray[np.bool_],
    edges: IntArray,
    link: npt.NDArray[np.bool_],
) -> IntArray:
    """Labels of the chosen sets; empty units left out joined; other units alone.

    An empty unit in no chosen set joins the grid of the nearest chosen set
    (breadth-first, by unit order) over the model's links among the model's
    units first, then over any of their edges; units outside the model (above
    the maximum, locked) each get a label of their own, and an empty unit that
    reaches no chosen set joins the nearest of them.
    """
    lab = np.full(n, -1, dtype=np.int64)
    for g, s in enumerate(chosen):
        lab[list(s)] = g
    inside = np.asarray(free, dtype=bool)
    both = inside[edges[:, 0]] & inside[edges[:, 1]] if len(edges) else np.zeros(0, dtype=bool)
    _spread(lab, n, edges[both & link])
    _spread(lab, n, edges[both])
    nxt = len(chosen)
    for i in np.flatnonzero(~inside).tolist():
        lab[i] = nxt
        nxt += 1
    _spread(lab, n, edges)
    for i in np.flatnonzero(lab < 0).tolist():  # no path to any grid: a grid of its own
        lab[i] = nxt
        nxt += 1
    return lab


def _spread(lab: IntArray, n: int, edges: IntArray) -> None:
    """Give unlabelled units the label of the nearest labelled unit over ``edges`` (in place)."""
    adj = adjacency_lists(n, edges, np.ones(n, dtype=bool))
    queue = deque(int(i) for i in np.flatnonzero(lab >= 0).tolist())
    while queue:
        a = queue.popleft()
        for b in adj[a]:
            if lab[b] < 0:
                lab[b] = lab[a]
                queue.append(b)
