"""The cost of a grid and of a plan: one definition shared by every algorithm.

The exact set partition, the local search and the checker all price a grid with
:func:`grid_cost`, so that an improvement found by one is an improvement for the
others and the objective reported in a result can be recomputed from the labels
alone (:func:`plan_objective`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridder.partition.config import PartitionConfig
from gridder.partition.instance import PartitionInstance

__all__ = [
    "GridStats",
    "balance_value",
    "edge_cut_cost",
    "grid_cost",
    "grid_stats",
    "moved_value",
    "out_of_band",
    "out_of_band_grids",
    "plan_objective",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Squared distances are counted in units of (10 m)².
INERTIA_SCALE = 100.0


#: Square metres per hectare (the unit of ``PartitionConfig.area_weight``).
M2_PER_HA = 10_000.0


def balance_value(instance: PartitionInstance, config: PartitionConfig) -> IntArray:
    """Integer balance value per unit: the instance's value plus the optional land-area term.

    With ``config.area_weight`` = 0 this is ``instance.value``; otherwise each
    unit adds ``area_weight × cell area / 10,000 m²``, rounded.
    """
    value = np.asarray(instance.value, dtype=np.int64)
    if config.area_weight <= 0 or len(value) == 0:
        return value
    area = np.asarray(instance.area, dtype=np.float64)
    extra = np.rint(config.area_weight * np.nan_to_num(area) / M2_PER_HA).astype(np.int64)
    out: IntArray = value + np.maximum(extra, 0)
    return out


def out_of_band(value: float, config: PartitionConfig) -> float:
    """Amount of value outside ``[min, max]`` (0 inside the band)."""
    return max(0.0, config.min - value) + max(0.0, value - config.max)


def out_of_band_grids(
    labels: npt.ArrayLike, value: npt.ArrayLike, config: PartitionConfig
) -> list[int]:
    """Labels of the grids whose total value lies outside the band, in label order."""
    grids, inv = np.unique(np.asarray(labels, dtype=np.int64), return_inverse=True)
    totals = np.bincount(inv, weights=np.asarray(value, dtype=np.float64), minlength=len(grids))
    return [
        int(g)
        for g, t in zip(grids.tolist(), totals.tolist(), strict=True)
        if not config.in_band(t)
    ]


def grid_cost(
    value: float,
    inertia: float,
    n_classes: int,
    cut: float,
    hard_inside: int,
    *,
    config: PartitionConfig,
) -> float:
    """Cost of one grid from its sufficient statistics.

    Parameters
    ----------
    value
        Total balance value of the grid.
    inertia
        Σ value·distance² to the grid's value-weighted centre, m² (unscaled).
    n_classes
        Number of compound classes among its units ("no compound" is a class).
    cut
        Weighted boundary cost (Σ of :func:`edge_cut_cost` over its cut edges).
    hard_inside
        Number of hard-barrier edges with both ends in the grid.
    config
        Band and weights.
    """
    w = config.weights
    out = out_of_band(value, config)
    return (
        (w.out_of_band if out > 0 else 0)
        + w.out_household * out
        + w.deviation * abs(value - config.target)
        + w.inertia * inertia / INERTIA_SCALE
        + w.mixed_compound * max(0, n_classes - 1)
        + cut
        + w.hard_inside * hard_inside
    )


def edge_cut_cost(instance: PartitionInstance, config: PartitionConfig) -> FloatArray:
    """Cost of a grid boundary along each edge (for one side of it).

    Boundaries along hard barriers are free, along streets and compound edges
    cheap, and between buildings of one block full price per metre.
    """
    w = config.weights
    factor = np.full(len(instance.edges), 1.0)
    factor[np.asarray(instance.edge_street, dtype=bool)] = w.street_cut_factor
    factor[np.asarray(instance.edge_soft, dtype=bool)] = np.minimum(
        factor[np.asarray(instance.edge_soft, dtype=bool)], w.soft_cut_factor
    )
    factor[np.asarray(instance.edge_hard, dtype=bool)] = 0.0
    out: FloatArray = np.asarray(instance.edge_length, dtype=np.float64) * factor * w.cut
    return out


@dataclass(frozen=True)
class GridStats:
    """Per-grid statistics of a plan, aligned with :attr:`labels`.

    Parameters
    ----------
    labels
        The distinct grid labels, sorted.
    value
        Balance value per grid.
    households
        Households per grid.
    n_units
        Units (buildings) per grid.
    inertia
        Σ value·distance² to the grid's value-weighted centre (m²).
    n_classes
        Compound classes per grid.
    cut
        Weighted boundary cost per grid.
    hard_inside
        Hard-barrier edges inside each grid.
    cx, cy
        Value-weighted centre per grid (unit mean where the value is 0).
    """

    labels: IntArray
    value: IntArray
    households: IntArray
    n_units: IntArray
    inertia: FloatArray
    n_classes: IntArray
    cut: FloatArray
    hard_inside: IntArray
    cx: FloatArray
    cy: FloatArray


def grid_stats(
    instance: PartitionInstance, labels: npt.ArrayLike, config: PartitionConfig
) -> GridStats:
    """Per-grid statistics of ``labels`` (one grid label per unit)."""
    lab = np.asarray(labels, dtype=np.int64)
    uniq, g = np.unique(lab, return_inverse=True)
    k = len(uniq)
    v = balance_value(instance, config).astype(np.float64)
    xy = np.asarray(instance.xy, dtype=np.float64).reshape(-1, 2)
    val = np.bincount(g, weights=v, minlength=k)
    cnt = np.bincount(g, minlength=k)
    sx = np.bincount(g, weights=v * xy[:, 0], minlength=k)
    sy = np.bincount(g, weights=v * xy[:, 1], minlength=k)
    mx = np.bincount(g, weights=xy[:, 0], minlength=k) / np.maximum(cnt, 1)
    my = np.bincount(g, weights=xy[:, 1], minlength=k) / np.maximum(cnt, 1)
    pos = val > 0
    cx = np.where(pos, sx / np.where(pos, val, 1.0), mx)
    cy = np.where(pos, sy / np.where(pos, val, 1.0), my)
    d2 = (xy[:, 0] - cx[g]) ** 2 + (xy[:, 1] - cy[g]) ** 2
    inertia = np.bincount(g, weights=v * d2, minlength=k)
    comp = np.asarray(instance.compound, dtype=np.int64)
    pairs = np.unique(np.stack([g, comp], axis=1), axis=0) if len(g) else np.empty((0, 2))
    n_classes = np.bincount(pairs[:, 0].astype(np.int64), minlength=k)
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    cost = edge_cut_cost(instance, config)
    ga, gb = g[e[:, 0]], g[e[:, 1]]
    diff = ga != gb
    cut = np.bincount(ga[diff], weights=cost[diff], minlength=k) + np.bincount(
        gb[diff], weights=cost[diff], minlength=k
    )
    hard = np.asarray(instance.edge_hard, dtype=bool) & ~diff
    hard_inside = np.bincount(ga[hard], minlength=k)
    hh = np.bincount(g, weights=np.asarray(instance.households, dtype=np.float64), minlength=k)
    return GridStats(
        labels=uniq.astype(np.int64),
        value=np.rint(val).astype(np.int64),
        households=np.rint(hh).astype(np.int64),
        n_units=cnt.astype(np.int64),
        inertia=inertia.astype(np.float64),
        n_classes=n_classes.astype(np.int64),
        cut=cut.astype(np.float64),
        hard_inside=hard_inside.astype(np.int64),
        cx=cx,
        cy=cy,
    )


def moved_value(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    previous: npt.ArrayLike,
    config: PartitionConfig | None = None,
) -> int:
    """Balance value of the units whose label differs from a previous one (≥ 0)."""
    lab = np.asarray(labels, dtype=np.int64)
    prev = np.asarray(previous, dtype=np.int64)
    if len(prev) != len(lab):
        return 0
    moved = (prev >= 0) & (lab != prev)
    value = (
        np.asarray(instance.value, dtype=np.int64)
        if config is None
        else balance_value(instance, config)
    )
    return int(value[moved].sum())


def plan_objective(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    config: PartitionConfig,
    *,
    previous: npt.ArrayLike | None = None,
) -> float:
    """The objective of a plan, recomputed from its labels alone.

    Parameters
    ----------
    instance
        The community.
    labels
        Grid label of each unit.
    config
        Band and weights.
    previous
        Labels of a previous plan (re-planning adds the moved-value term).
    """
    s = grid_stats(instance, labels, config)
    total = sum(
        grid_cost(
            float(s.value[i]),
            float(s.inertia[i]),
            int(s.n_classes[i]),
            float(s.cut[i]),
            int(s.hard_inside[i]),
            config=config,
        )
        for i in range(len(s.labels))
    )
    if previous is not None:
        total += config.weights.moved * moved_value(instance, labels, previous, config)
    return float(total)
