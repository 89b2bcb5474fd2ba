"""Lumpy pieces that draw on neighbouring low-rise areas (reservoirs).

A tower compound is a packing problem: a 198-household tower needs a partner
of at most 102 households, and the compound may not have one left. Low-rise
areas next to it can lend value, but listing every connected set of towers
*and* small low-rise buildings explodes (a gateway cell next to every tower
and a low-rise area of 3–24-household buildings behind it give millions of
sets). Here the low-rise area is a *reservoir* instead: a candidate grid of
towers below the band may carry a *draw* — the value it will take from a
reservoir next to it — priced as if the grid were that much larger. The exact
model (:mod:`~gridder.partition.constraints`: :class:`DrawCap`,
:class:`DistinctEntries`) keeps the draws within what each area can lend and
gives each drawing grid its own entry unit; :func:`realise_draw` then grows
each such grid from its entry into the area, nearest units first, until the
draw is met. Used when the exact borrowing model has too many sets to list.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from gridder.partition.config import PartitionConfig
from gridder.partition.constraints import (
    CoverEachUnitOnce,
    DistinctEntries,
    DrawCap,
    MinimiseCost,
    Rule,
    apply_all,
)
from gridder.partition.costs import grid_cost
from gridder.partition.cpsat import deterministic_solver
from gridder.partition.reduce import Reduced
from gridder.partition.setpartition import SetPartitionOutcome
from gridder.partition.sets import SetBudgetExceededError, enumerate_connected_sets, set_cost
from gridder.partition.variables import SetPartitionVariables

__all__ = ["Draw", "Reservoir", "ReservoirOutcome", "realise_draw", "solve_with_reservoirs"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reservoir:
    """A low-rise area a lumpy piece may draw on.

    Parameters
    ----------
    key
        Identifies the area (its piece).
    units
        Its super-units still free to take.
    cap
        Largest value it can lend and keep its own grids in band.
    """

    key: int
    units: frozenset[int]
    cap: int


@dataclass(frozen=True)
class Draw:
    """What one grid takes from a reservoir: through which unit, and how much."""

    key: int
    entry: int
    amount: int


@dataclass(frozen=True)
class ReservoirOutcome:
    """The exact model's grids over the lumpy units, with each grid's draw (or ``None``)."""

    outcome: SetPartitionOutcome
    draws: list[Draw | None]


def _balance_cost(value: float, config: PartitionConfig) -> float:
    """The value-dependent terms of a grid's cost."""
    return grid_cost(value, 0.0, 1, 0.0, 0, config=config)


def solve_with_reservoirs(
    red: Reduced,
    units: Sequence[int],
    config: PartitionConfig,
    reservoirs: Sequence[Reservoir],
    *,
    seed: int,
    time_limit: float,
    current: Sequence[tuple[int, ...]] = (),
    budget: int | None = None,
) -> ReservoirOutcome | None:
    """Best exact cover of ``units`` whose grids below the band may draw on reservoirs.

    Parameters
    ----------
    red
        The reduced community.
    units
        Super-units to partition (a lumpy piece).
    config
        Band, weights and limits.
    reservoirs
        Low-rise areas next to ``units``.
    seed, time_limit
        CP-SAT seed and deterministic time limit.
    current
        A current exact cover of ``units`` (candidates and hint: never worse).
    budget
        Largest number of enumerated candidates (default ``config.max_sets``).

    Returns
    -------
    ReservoirOutcome or None
        ``None`` when the candidates are too many; when CP-SAT finds nothing, an
        outcome without grids that says the time it spent.
    """
    inside = set(units)
    adjacency = {u: [j for j in red.links(u) if j in inside] for u in inside}
    high = config.grid_cap
    try:
        sets = enumerate_connected_sets(
            sorted(inside),
            adjacency,
            red.value,
            high=high,
            max_size=config.max_set_size,
            budget=config.max_sets if budget is None else budget,
        )
    except SetBudgetExceededError:
        return None
    base_sets = list(dict.fromkeys([*sets, *(tuple(sorted(g)) for g in current)]))
    cands: list[tuple[int, ...]] = []
    costs: list[float] = []
    draws: list[Draw | None] = []
    gates: list[tuple[int, ...]] = []
    w = config.weights
    for c in base_sets:
        base = set_cost(red, c, config)
        cands.append(c)
        costs.append(base)
        draws.append(None)
        gates.append(())
        v = int(sum(int(red.value[u]) for u in c))
        need = config.min - v
        if need <= 0:
            continue
        near = {j for u in c for j in red.links(u)} - inside
        for r in reservoirs:
            gate = tuple(sorted(near & r.units))
            amount = min(r.cap, max(need, config.target - v))
            if not gate or amount < need:
                continue
            extra = _balance_cost(v + amount, config) - _balance_cost(v, config)
            cands.append(c)
            costs.append(base + extra + w.mixed_compound)
            draws.append(Draw(r.key, -1, amount))
            gates.append(gate)
    v_ = SetPartitionVariables.build(cands, [round(c) for c in costs])
    entries = DistinctEntries(
        tuple((i, g) for i, (d, g) in enumerate(zip(draws, gates, strict=True)) if d is not None)
    )
    rules: list[Rule] = [CoverEachUnitOnce(), MinimiseCost(), entries]
    for r in reservoirs:
        mine = tuple((i, d.amount) for i, d in enumerate(draws) if d is not None and d.key == r.key)
        if mine:
            rules.append(DrawCap(mine, r.cap))
    apply_all(v_, rules)
    hint = {tuple(sorted(g)) for g in current}
    for i, x in enumerate(v_.choose):
        v_.model.add_hint(x, draws[i] is None and cands[i] in hint)
    solver = deterministic_solver(
        workers=config.workers, seed=seed, time_limit=time_limit, probing=False
    )
    status = solver.solve(v_.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        logger.info("reservoir model over %d units: %s", len(inside), solver.status_name(status))
        # no plan, but the time was spent: the caller charges it to the community's budget
        failed = SetPartitionOutcome(
            grids=[],
            status=solver.status_name(status),
            objective=math.inf,
            bound=-math.inf,
            limit_hit=True,
            complete=False,
            deterministic_time=solver.deterministic_time,
        )
        return ReservoirOutcome(outcome=failed, draws=[])
    grids: list[tuple[int, ...]] = []
    chosen: list[Draw | None] = []
    for i, x in enumerate(v_.choose):
        if not solver.boolean_value(x):
            continue
        grids.append(cands[i])
        d = draws[i]
        if d is not None:
            gate = dict(entries.entries)[i]
            entry = next(
                u for u, z in zip(gate, entries.chosen[i], strict=True) if solver.boolean_value(z)
            )
            d = Draw(d.key, entry, d.amount)
        chosen.append(d)
    out = SetPartitionOutcome(
        grids=grids,
        status=solver.status_name(status),
        objective=float(solver.objective_value),
        bound=float(solver.best_objective_bound),
        limit_hit=status != cp_model.OPTIMAL,
        complete=True,
        deterministic_time=float(solver.deterministic_time),
    )
    return ReservoirOutcome(out, chosen)


def realise_draw(
    red: Reduced, members: Sequence[int], draw: Draw, available: set[int], config: PartitionConfig
) -> list[int]:
    """Units of the reservoir a grid takes: grown from the entry, nearest to the grid first.

    Stops once the grid's value reaches its own value plus the draw; never
    takes a unit that would lift it above the maximum; takes only
    ``available`` units (which it removes from the set).
    """
    value = red.value
    have = int(sum(int(value[u]) for u in members))
    goal = have + draw.amount
    wsum = max(have, 1)
    cx = float(sum(float(value[u]) * red.xy[u, 0] for u in members)) / wsum
    cy = float(sum(float(value[u]) * red.xy[u, 1] for u in members)) / wsum

    def dist(u: int) -> float:
        return float((red.xy[u, 0] - cx) ** 2 + (red.xy[u, 1] - cy) ** 2)

    picked: list[int] = []
    if draw.entry not in available:
        return picked
    heap = [(dist(draw.entry), draw.entry)]
    seen = {draw.entry}
    total = have
    while heap and total < goal:
        _, u = heapq.heappop(heap)
        if total + int(value[u]) > config.max:
            continue
        picked.append(u)
        available.discard(u)
        total += int(value[u])
        for j in red.links(u):
            if j in available and j not in seen:
                seen.add(j)
                heapq.heappush(heap, (dist(j), j))
    return picked
