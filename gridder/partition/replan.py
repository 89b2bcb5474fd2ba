"""Minimal-change re-planning and local rebalancing.

:func:`replan` starts from the labels of a previous plan (``previous``;
new buildings ``-1``): labels are kept where the grid is still connected,
new buildings join a neighbouring grid, grids grown too big are split (the
part holding most of the old value keeps the label), and the local search and
neighbourhood repair restore the band while every household moved away from
its previous grid costs ``weights.moved``. Locked units keep their grid. When
that brings no grid into band and the previous plan is still valid on the new
data, the previous plan is kept as it is (:meth:`GridPartitioner.keep_start`).
Units holding no value stay with a valued unit of their previous grid; a plan
left above the band's lower bound is also re-planned without that rule, and the
one with fewer grids out of band (then fewer households moved) is kept.

:func:`rebalance` does the same around a few grids only (a hand edit).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from gridder.errors import InputError
from gridder.partition.config import PartitionConfig
from gridder.partition.instance import PartitionInstance
from gridder.partition.solver import GridPartitioner, PartitionResult

__all__ = ["moved_share", "rebalance", "replan"]


def _start(instance: PartitionInstance, previous: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    lab = previous.copy()
    locked = np.asarray(instance.locked, dtype=np.int64)
    if len(locked) == instance.n:
        lab[locked >= 0] = locked[locked >= 0]
    return lab


def replan(
    instance: PartitionInstance,
    config: PartitionConfig | None = None,
    *,
    previous: npt.ArrayLike | None = None,
    seed: int | None = None,
) -> PartitionResult:
    """Re-plan a community from a previous plan, moving as little value as possible.

    Parameters
    ----------
    instance
        The community now (buildings added or removed, values changed).
    config
        Band, weights (``weights.moved`` prices a moved household) and limits.
    previous
        Previous grid label per unit, ``-1`` for new units (default:
        ``instance.previous``).
    seed
        Overrides the per-community seed.

    Returns
    -------
    PartitionResult
        The new plan; labels of grids that persist are the previous labels.
    """
    prev = np.asarray(instance.previous if previous is None else previous, dtype=np.int64)
    if len(prev) != instance.n:
        raise InputError.single(
            f"community {instance.community_id}",
            "previous",
            f"has {len(prev)} labels for {instance.n} units",
        )
    solver = GridPartitioner(instance, config, seed=seed)
    start = _start(instance, prev)
    result = solver.improve(start, previous=prev)
    if result.out_of_band > result.lower_bound.min_out_of_band:
        # units holding no value may also move with another grid's valued unit: other
        # super-units, another search (more households may move, for fewer grids out)
        loose = GridPartitioner(instance, config, seed=seed)
        loose.group_start = False
        other = loose.improve(start, previous=prev)
        if (other.out_of_band, moved_share(instance, other.labels, prev)) < (
            result.out_of_band,
            moved_share(instance, result.labels, prev),
        ):
            result = other
    return solver.keep_start(start, result)


def rebalance(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    grids: Iterable[int],
    config: PartitionConfig | None = None,
    *,
    seed: int | None = None,
) -> PartitionResult:
    """Rebalance the neighbourhood of some grids of a plan, leaving the rest alone.

    Parameters
    ----------
    instance
        The community.
    labels
        The current labels (e.g. after a hand edit).
    grids
        Labels of the grids to rebalance (with their neighbours).
    config
        Band and weights.
    seed
        Overrides the per-community seed.
    """
    lab = np.asarray(labels, dtype=np.int64)
    solver = GridPartitioner(instance, config, seed=seed)
    return solver.improve(_start(instance, lab), previous=lab, focus=list(grids))


def moved_share(
    instance: PartitionInstance, labels: npt.ArrayLike, previous: npt.ArrayLike
) -> float:
    """Households of units present in both plans whose grid changed, over theirs (CONTRACT §6)."""
    lab = np.asarray(labels, dtype=np.int64)
    prev = np.asarray(previous, dtype=np.int64)
    hh = np.asarray(instance.households, dtype=np.float64)
    both = prev >= 0
    total = float(hh[both].sum())
    return float(hh[both & (lab != prev)].sum() / total) if total > 0 else 0.0
