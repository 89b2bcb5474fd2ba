"""Exact set partition of a group of super-units with CP-SAT.

Candidates are the connected sets of :mod:`gridder.partition.sets`; the model
(:mod:`~gridder.partition.variables`, :mod:`~gridder.partition.constraints`)
picks an exact cover of least cost. Used for whole lumpy pieces and for the
neighbourhood repair of out-of-band grids (large-neighbourhood search).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from gridder.partition.config import PartitionConfig
from gridder.partition.constraints import (
    CoverEachUnitOnce,
    GridCount,
    LendingCap,
    MinimiseCost,
    Rule,
    apply_all,
)
from gridder.partition.cpsat import deterministic_solver
from gridder.partition.reduce import Reduced
from gridder.partition.sets import SetBudgetExceededError, enumerate_connected_sets, set_cost
from gridder.partition.variables import SetPartitionVariables

__all__ = ["SetPartitionOutcome", "solve_block_partition", "solve_set_partition"]

logger = logging.getLogger(__name__)

#: Models over at most this many blocks list candidates up to ``max + band``.
_WIDE_BLOCKS = 40


@dataclass(frozen=True)
class SetPartitionOutcome:
    """Result of one exact set-partition model.

    Parameters
    ----------
    grids
        The chosen grids as tuples of super-unit ids.
    status
        CP-SAT status name (``OPTIMAL`` or ``FEASIBLE``).
    objective, bound
        Objective value and CP-SAT's lower bound.
    limit_hit
        Whether a time limit stopped the search before optimality.
    complete
        Whether every connected candidate was listed (otherwise the optimum is
        over the listed candidates only).
    deterministic_time
        CP-SAT deterministic time used.
    """

    grids: list[tuple[int, ...]]
    status: str
    objective: float
    bound: float
    limit_hit: bool
    complete: bool
    deterministic_time: float


def solve_set_partition(
    red: Reduced,
    units: Sequence[int],
    config: PartitionConfig,
    *,
    seed: int,
    time_limit: float,
    current: Sequence[tuple[int, ...]] = (),
    grid_count: tuple[int, int] | None = None,
    budget: int | None = None,
    previous: Sequence[int] | None = None,
    optional: Sequence[int] = (),
    lend: Sequence[tuple[Sequence[int], int]] = (),
) -> SetPartitionOutcome | None:
    """Best exact cover of ``units`` by connected candidate grids.

    Parameters
    ----------
    red
        The reduced community.
    units
        Super-units to partition.
    config
        Band, weights and limits.
    seed
        CP-SAT random seed.
    time_limit
        CP-SAT deterministic time limit.
    current
        Grids of a current solution over ``units``: always candidates, and
        used as the solver's hint, so the answer is never worse.
    grid_count
        Optional bounds on the number of grids.
    budget
        Largest number of enumerated candidates (default ``config.max_sets``).
    previous
        Previous label per super-unit (re-planning: moved value is priced).
    optional
        Neighbouring super-units the grids may borrow (each at most once);
        every candidate holds at least one of ``units``.
    lend
        Groups of ``optional`` super-units with the largest value the chosen
        grids may take from each group.

    Returns
    -------
    SetPartitionOutcome or None
        ``None`` when the candidates are too many to list and no current
        solution is given, or when CP-SAT finds no solution.
    """
    return solve_block_partition(
        red,
        [[u] for u in [*units, *optional]],
        config,
        seed=seed,
        time_limit=time_limit,
        current=current,
        grid_count=grid_count,
        budget=budget,
        previous=previous,
        optional=optional,
        lend=lend,
    )


def solve_block_partition(
    red: Reduced,
    blocks: Sequence[Sequence[int]],
    config: PartitionConfig,
    *,
    seed: int,
    time_limit: float,
    current: Sequence[tuple[int, ...]] = (),
    grid_count: tuple[int, int] | None = None,
    budget: int | None = None,
    previous: Sequence[int] | None = None,
    optional: Sequence[int] = (),
    lend: Sequence[tuple[Sequence[int], int]] = (),
) -> SetPartitionOutcome | None:
    """Best exact cover of the union of ``blocks`` by connected unions of blocks.

    A block is a connected group of super-units that stays together (the
    core of a neighbouring grid in a boundary repair); single super-units are
    blocks of one. Other parameters as in :func:`solve_set_partition`;
    ``current`` grids must be unions of blocks; a block is optional when all
    its super-units are.
    """
    opt = set(optional)
    opt_block = [bool(members) and all(u in opt for u in members) for members in blocks]
    budget = config.max_sets if budget is None else budget
    where = {u: b for b, members in enumerate(blocks) for u in members}
    adjacency: dict[int, list[int]] = {}
    for b, members in enumerate(blocks):
        nb = {where[j] for u in members for j in red.links(u) if j in where} - {b}
        adjacency[b] = sorted(nb)
    bvalue = [int(sum(int(red.value[u]) for u in members)) for members in blocks]
    # Small (tower) models also list grids up to max + band, so that two neighbours
    # that cannot reach the band apart (198 and 156) may share one grid; larger
    # models stop at max + band/2 (their candidates multiply with the cap).
    band = config.max - config.min
    high = config.max + (band if len(blocks) <= _WIDE_BLOCKS else band // 2)
    complete = True
    try:
        bsets = enumerate_connected_sets(
            list(range(len(blocks))),
            adjacency,
            bvalue,
            high=high,
            max_size=config.max_set_size,
            budget=budget,
        )
    except SetBudgetExceededError:
        return None
    cands = [
        tuple(sorted(u for b in bs for u in blocks[b]))
        for bs in bsets
        if not all(opt_block[b] for b in bs)
    ]
    known = set(cands)
    for g in current:
        t = tuple(sorted(g))
        if t not in known:
            cands.append(t)
            known.add(t)
    costs = [round(set_cost(red, c, config, previous=previous)) for c in cands]
    v = SetPartitionVariables.build(cands, costs)
    rules: list[Rule] = [CoverEachUnitOnce(frozenset(opt)), MinimiseCost()]
    for group, cap in lend:
        rules.append(LendingCap(tuple((int(u), int(red.value[u])) for u in group), int(cap)))
    if grid_count is not None:
        rules.append(GridCount(*grid_count))
    apply_all(v, rules)
    if current:
        index = {c: i for i, c in enumerate(cands)}
        chosen = {index[tuple(sorted(g))] for g in current}
        for i, x in enumerate(v.choose):
            v.model.add_hint(x, i in chosen)
    # Presolve of a large exact cover costs far more wall time than its
    # deterministic time shows (a 25,900-candidate Helsinki model: 6-21 s and no
    # solution with presolve, proven optimal in 0.3 s without); the LP
    # relaxation of a set partition is tight enough on its own.
    solver = deterministic_solver(
        workers=config.workers, seed=seed, time_limit=time_limit, probing=False, presolve=False
    )
    status = solver.solve(v.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        logger.info("set partition over %d blocks: %s", len(blocks), solver.status_name(status))
        return None
    grids = [cands[i] for i, x in enumerate(v.choose) if solver.boolean_value(x)]
    return SetPartitionOutcome(
        grids=grids,
        status=solver.status_name(status),
        objective=float(solver.objective_value),
        bound=float(solver.best_objective_bound),
        limit_hit=status != cp_model.OPTIMAL,
        complete=complete,
        deterministic_time=float(solver.deterministic_time),
    )
