"""The transfer repair: ejection chains of boundary units restore the band with few moves."""

from __future__ import annotations

import numpy as np

from gridder.partition import PartitionConfig, check_partition
from gridder.partition.localsearch import WorkingPlan, local_search
from gridder.partition.reduce import reduce_instance
from gridder.partition.transfer import transfer_repair

from .conftest import lattice

CFG = PartitionConfig(time_limit=1.0)


def _strip_plan(sizes: list[int], *, previous: bool) -> tuple[object, WorkingPlan, np.ndarray]:
    """A 2-row strip of 25-household units cut into consecutive grids of ``sizes`` units."""
    n = sum(sizes)
    inst = lattice(n // 2, 2, [25] * n, community_id="S")
    order = sorted(range(n), key=lambda u: (u % (n // 2), u // (n // 2)))  # column by column
    lab = np.empty(n, dtype=np.int64)
    start = 0
    for g, size in enumerate(sizes):
        lab[order[start : start + size]] = g
        start += size
    red = reduce_instance(inst, CFG, free=np.ones(n, dtype=bool))
    sup = [int(lab[m[0]]) for m in red.members]
    plan = WorkingPlan(red, CFG, sup, previous=sup if previous else None)
    return inst, plan, lab


def test_chain_through_a_full_grid_fixes_the_band() -> None:
    # A = 325 (over), B = 300 (full), C = 225 (room): A passes to B, B passes to C
    inst, plan, before = _strip_plan([13, 12, 9], previous=True)
    assert plan.out_of_band() == [0]
    local_search(plan, passes=5)
    assert plan.out_of_band() == [0]  # single moves cannot fix it (B is full)
    kept = transfer_repair(plan)
    assert kept >= 2 and plan.out_of_band() == []
    after = np.empty(inst.n, dtype=np.int64)
    for s, m in enumerate(plan.red.members):
        after[m] = plan.label[s]
    assert check_partition(inst, after, CFG).ok  # every grid still connected
    moved = int(inst.value[after != before].sum())
    assert moved <= 4 * 25  # a couple of buildings, not a redrawn neighbourhood


def test_transfer_leaves_a_plan_in_band_alone() -> None:
    _, plan, _ = _strip_plan([10, 12, 12], previous=True)
    cost = plan.total_cost()
    assert transfer_repair(plan) == 0
    assert plan.total_cost() == cost


def test_transfer_never_makes_the_plan_worse() -> None:
    # lumpy units: the flow cannot be realised with whole towers; the plan is kept as it was
    inst = lattice(3, 1, [290, 150, 150], community_id="T")
    red = reduce_instance(inst, CFG, free=np.ones(3, dtype=bool))
    plan = WorkingPlan(red, CFG, [0, 0, 1])
    cost = plan.total_cost()
    transfer_repair(plan)
    assert plan.total_cost() <= cost
