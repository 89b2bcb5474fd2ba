"""Each rule of the set-partition model on a toy model."""

from __future__ import annotations

from ortools.sat.python import cp_model

from gridder.partition.constraints import (
    CoverEachUnitOnce,
    ForbidCandidates,
    GridCount,
    KeepCandidates,
    MinimiseCost,
    apply_all,
)
from gridder.partition.variables import SetPartitionVariables

# units 0..2; candidates: singletons, pairs, the triple
CANDS = [(0,), (1,), (2,), (0, 1), (1, 2), (0, 1, 2)]
COSTS = [5, 5, 5, 4, 4, 20]


def solve(rules: list) -> tuple[int, list[tuple[int, ...]]]:
    v = SetPartitionVariables.build(CANDS, COSTS)
    apply_all(v, rules)
    s = cp_model.CpSolver()
    s.parameters.num_workers = 1
    s.parameters.max_time_in_seconds = 2.0
    st = s.solve(v.model)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return st, []
    return st, [c for c, x in zip(v.candidates, v.choose, strict=True) if s.boolean_value(x)]


def covered_once(chosen: list[tuple[int, ...]]) -> bool:
    units = sorted(u for c in chosen for u in c)
    return units == [0, 1, 2]


def test_cover_each_unit_once() -> None:
    st, chosen = solve([CoverEachUnitOnce()])
    assert st == cp_model.OPTIMAL
    assert covered_once(chosen)


def test_minimise_cost_picks_cheapest_cover() -> None:
    _, chosen = solve([CoverEachUnitOnce(), MinimiseCost()])
    # covers: 3 singletons 15; pair + singleton 9; triple 20
    assert covered_once(chosen)
    assert sum(COSTS[CANDS.index(c)] for c in chosen) == 9


def test_grid_count_bounds() -> None:
    _, chosen = solve([CoverEachUnitOnce(), MinimiseCost(), GridCount(1, 1)])
    assert chosen == [(0, 1, 2)]
    _, chosen = solve([CoverEachUnitOnce(), MinimiseCost(), GridCount(3, 3)])
    assert sorted(chosen) == [(0,), (1,), (2,)]


def test_keep_candidates() -> None:
    _, chosen = solve([CoverEachUnitOnce(), MinimiseCost(), KeepCandidates((CANDS.index((1,)),))])
    assert (1,) in chosen and covered_once(chosen)


def test_forbid_candidates() -> None:
    forbid = ForbidCandidates((CANDS.index((0, 1)), CANDS.index((1, 2))))
    _, chosen = solve([CoverEachUnitOnce(), MinimiseCost(), forbid])
    assert (0, 1) not in chosen and (1, 2) not in chosen and covered_once(chosen)


def test_infeasible_rules_are_reported() -> None:
    st, chosen = solve([CoverEachUnitOnce(), GridCount(4, 5)])
    assert st == cp_model.INFEASIBLE and chosen == []
