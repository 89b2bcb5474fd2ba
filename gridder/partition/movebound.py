"""How many households a re-plan must move for every grid to be in band.

A re-plan keeps a previous grid's code on at most one new grid, and a household
*moves* when its building's code changes (CONTRACT §6). Take a plan in which
every grid is in band (grids of a single building above ``max`` aside). Then
each previous grid ``g`` whose remaining buildings now hold a value ``V_g``:

- above ``max`` must lose buildings worth at least ``V_g − max``; the fewest
  households that can carry that value out (a covering knapsack over its own
  buildings, solved exactly) is ``L_g``;
- below ``min`` must either gain value ``min − V_g`` (less whatever new
  buildings bring; gained buildings of other grids move) or give up its code,
  which moves all its ``H_g`` households; ``T_g`` is the smaller of the two.

Every moved household leaves exactly one previous grid and enters at most
one, so the households moved ``M`` satisfy ``M ≥ Σ L_g`` and
``2M ≥ Σ L_g + Σ T_g``. The bound ignores contiguity and the chains of moves
a full grid passes on to its neighbours, so real re-plans move more: it tells a
planner which part of the moves the changed data forces on any plan.

Grids holding a locked building or a building above ``max`` are left out
(they add nothing to the bound), which keeps it valid for them too.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from gridder.partition.config import PartitionConfig
from gridder.partition.costs import balance_value
from gridder.partition.instance import PartitionInstance

__all__ = ["cheapest_cover", "moved_lower_bound"]

#: Above this excess the covering knapsack is bounded by its LP relaxation instead.
_DP_LIMIT = 200_000


def cheapest_cover(value: npt.ArrayLike, cost: npt.ArrayLike, need: int) -> float:
    """Least total cost of a subset of items whose value sums to at least ``need``.

    Parameters
    ----------
    value, cost
        Non-negative integer value and cost per item.
    need
        The value to cover.

    Returns
    -------
    float
        The least cost (exact by dynamic programming over value; for ``need``
        above ``_DP_LIMIT`` the LP relaxation's cost, still a lower bound);
        ``inf`` when all items together hold less than ``need``.
    """
    v = np.asarray(value, dtype=np.int64)
    c = np.asarray(cost, dtype=np.float64)
    if need <= 0:
        return 0.0
    if int(v.sum()) < need:
        return math.inf
    if need > _DP_LIMIT:
        useful = v > 0
        order = np.argsort(c[useful] / v[useful], kind="stable")
        vs, cs = v[useful][order], c[useful][order]
        before = np.concatenate([[0], np.cumsum(vs)[:-1]])
        take = np.clip(need - before, 0, vs)
        return float(np.sum(cs * take / vs))
    # best[x]: least cost of a subset worth at least x
    best = np.full(need + 1, math.inf)
    best[0] = 0.0
    for vi, ci in zip(v.tolist(), c.tolist(), strict=True):
        if vi <= 0:
            continue
        shifted = np.concatenate([np.zeros(min(vi, need + 1)), best[: max(0, need + 1 - vi)]])
        best = np.minimum(best, shifted + ci)
    return float(best[need])


def moved_lower_bound(instance: PartitionInstance, config: PartitionConfig) -> int | None:
    """Households any re-plan of ``instance`` must move for every grid to be in band.

    Parameters
    ----------
    instance
        The community now, with ``previous`` labels (``-1`` for new buildings)
        and ``locked`` labels.
    config
        The band (and the optional land-area term of the balance value).

    Returns
    -------
    int or None
        The bound (see the module docstring); ``None`` without previous labels.
    """
    prev = np.asarray(instance.previous, dtype=np.int64)
    if len(prev) != instance.n or not (prev >= 0).any():
        return None
    value = balance_value(instance, config)
    hh = np.asarray(instance.households, dtype=np.int64)
    locked = np.asarray(instance.locked, dtype=np.int64)
    held = locked >= 0 if len(locked) == instance.n else np.zeros(instance.n, dtype=bool)
    new_value = int(value[(prev < 0) & ~held].sum())
    # households per unit of value among buildings another grid could take in
    movable = (prev >= 0) & ~held & (value > 0)
    leave_total = 0.0
    touch_total = 0.0
    for g in np.unique(prev[prev >= 0]).tolist():
        mine = prev == g
        if held[mine].any() or (value[mine] > config.max).any():
            continue
        v_g = int(value[mine].sum())
        if v_g > config.max:
            leave_total += cheapest_cover(value[mine], hh[mine], v_g - config.max)
        elif v_g < config.min:
            gain = config.min - v_g - new_value
            others = movable & ~mine
            rate = float(np.min(hh[others] / value[others])) if others.any() else math.inf
            enter = 0.0 if gain <= 0 else rate * gain
            touch_total += min(float(hh[mine].sum()), enter)
    bound = max(leave_total, (leave_total + touch_total) / 2)
    return math.ceil(bound - 1e-9)
