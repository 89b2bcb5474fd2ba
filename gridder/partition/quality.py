"""Quality measures of a plan on arrays (CONTRACT §6).

In band, max deviation, household-weighted distance, single-compound share
and contiguity need only the instance and the labels. Polsby–Popper needs
grid polygons: pass per-grid ``grid_area`` and ``grid_perimeter`` from the
geometry side, or per-unit cell perimeters (``unit_perimeter``) so that each
grid's perimeter is computed as the sum of its cells' perimeters less twice
their shared edges (exact for a tessellation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gridder.partition.check import excluded_grids, grid_components
from gridder.partition.config import PartitionConfig
from gridder.partition.costs import M2_PER_HA, balance_value
from gridder.partition.instance import PartitionInstance

__all__ = ["PartitionQuality", "partition_quality", "polsby_popper_from_cells"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PartitionQuality:
    """Per-grid and summary quality of a plan.

    Parameters
    ----------
    labels
        Distinct grid labels (sorted); the arrays below align with them.
    value, households
        Balance value and households per grid.
    deviation
        ``|value − target| / target`` per grid.
    in_band
        Whether each grid's value lies within the band.
    excluded
        Grids left out of the band measures (one building above the maximum).
    contiguous
        Whether each grid is one connected piece of the adjacency graph.
    single_compound
        Whether each grid's buildings all carry one compound, or all none.
    weighted_distance
        Household-weighted mean distance to the grid's household-weighted centre (m).
    polsby_popper
        Per grid, NaN when no geometry was given.
    """

    labels: IntArray
    value: IntArray | FloatArray  # float for exact fractional workloads (``unit_value``)
    households: IntArray
    deviation: FloatArray
    in_band: npt.NDArray[np.bool_]
    excluded: npt.NDArray[np.bool_]
    contiguous: npt.NDArray[np.bool_]
    single_compound: npt.NDArray[np.bool_]
    weighted_distance: FloatArray
    polsby_popper: FloatArray
    mean_weighted_distance: float

    @property
    def n_grids(self) -> int:
        """Number of grids."""
        return len(self.labels)

    @property
    def n_counted(self) -> int:
        """Grids counted by the band measures."""
        return int((~self.excluded).sum())

    @property
    def n_in_band(self) -> int:
        """Counted grids within the band."""
        return int((self.in_band & ~self.excluded).sum())

    def summary(self) -> dict[str, Any]:
        """Summary measures (JSON-able)."""
        counted = ~self.excluded
        pp = self.polsby_popper[~np.isnan(self.polsby_popper)]
        return {
            "n_grids": self.n_grids,
            "n_counted": self.n_counted,
            # nothing counted (every grid a single building above the maximum): no share
            "in_band_share": self.n_in_band / self.n_counted if self.n_counted else None,
            "max_deviation": float(self.deviation[counted].max()) if counted.any() else None,
            "contiguity_share": float(self.contiguous.mean()) if self.n_grids else 1.0,
            "single_compound_share": float(self.single_compound.mean()) if self.n_grids else 1.0,
            # a household-weighted mean (CONTRACT §6): none without households
            "weighted_distance_m": (
                self.mean_weighted_distance if int(self.households.sum()) > 0 else None
            ),
            "mean_polsby_popper": float(pp.mean()) if len(pp) else None,
            "households_min": int(self.households.min()) if self.n_grids else 0,
            "households_max": int(self.households.max()) if self.n_grids else 0,
        }


def polsby_popper_from_cells(
    instance: PartitionInstance, labels: npt.ArrayLike, unit_perimeter: npt.ArrayLike
) -> tuple[IntArray, FloatArray]:
    """Polsby–Popper per grid from tessellation cells (areas, perimeters, shared edges).

    Returns the sorted grid labels and their Polsby–Popper scores.
    """
    lab = np.asarray(labels, dtype=np.int64)
    uniq, g = np.unique(lab, return_inverse=True)
    k = len(uniq)
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    same = g[e[:, 0]] == g[e[:, 1]] if len(e) else np.zeros(0, dtype=bool)
    area = np.bincount(g, weights=np.asarray(instance.area, dtype=np.float64), minlength=k)
    shared = np.bincount(g[e[same, 0]], weights=np.asarray(instance.edge_length)[same], minlength=k)
    perim = (
        np.bincount(g, weights=np.asarray(unit_perimeter, dtype=np.float64), minlength=k)
        - 2 * shared
    )
    return uniq.astype(np.int64), 4 * math.pi * area / np.maximum(perim, 1e-9) ** 2


def partition_quality(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    config: PartitionConfig,
    *,
    grid_area: npt.ArrayLike | None = None,
    grid_perimeter: npt.ArrayLike | None = None,
    unit_perimeter: npt.ArrayLike | None = None,
    unit_value: npt.ArrayLike | None = None,
) -> PartitionQuality:
    """Quality measures of ``labels``.

    Parameters
    ----------
    instance
        The community.
    labels
        Grid label per unit.
    config
        The band and target.
    grid_area, grid_perimeter
        Per grid (aligned with the sorted distinct labels), metres, from polygons.
    unit_perimeter
        Per unit cell perimeter (used when grid polygons are not given).
    unit_value
        The exact value per unit in place of ``instance.value`` (a workload with
        fractional weights, which the solver balances rounded per building): the
        band measures then use the exact grid totals, with the land term of
        ``config.area_weight`` unrounded — of ``grid_area`` when given (the
        polygons as drawn), else of the cells.
    """
    lab = np.asarray(labels, dtype=np.int64)
    uniq, g = np.unique(lab, return_inverse=True)
    k = len(uniq)
    value: npt.NDArray[np.int64] | npt.NDArray[np.float64]
    if unit_value is None:
        base = balance_value(instance, config).astype(np.float64)
        value = np.rint(np.bincount(g, weights=base, minlength=k)).astype(np.int64)
    else:  # exact: the unit values and the land-area term, neither rounded per building
        area = np.nan_to_num(np.asarray(instance.area, dtype=np.float64))
        base = np.asarray(unit_value, dtype=np.float64) + config.area_weight * area / M2_PER_HA
        if grid_area is not None and config.area_weight:
            # the land of each grid polygon as drawn (straightened), not of its cells
            land = config.area_weight * np.asarray(grid_area, dtype=np.float64) / M2_PER_HA
            own = np.bincount(g, weights=np.asarray(unit_value, dtype=np.float64), minlength=k)
            value = np.round(own + land, 6)
        else:
            value = np.round(np.bincount(g, weights=base, minlength=k), 6)
    hh_unit = np.asarray(instance.households, dtype=np.float64)
    hh = np.rint(np.bincount(g, weights=hh_unit, minlength=k)).astype(np.int64)
    skip = excluded_grids(instance, lab, config, value=None if unit_value is None else base)
    excluded = np.array([int(x) in skip for x in uniq.tolist()], dtype=bool)
    in_band = (value >= config.min) & (value <= config.max)
    deviation = np.abs(value - config.target) / config.target
    comps = grid_components(instance, lab)
    contiguous = np.array([comps.get(int(x), 1) == 1 for x in uniq.tolist()], dtype=bool)
    comp = np.asarray(instance.compound, dtype=np.int64)
    pairs = np.unique(np.stack([g, comp], axis=1), axis=0) if len(g) else np.empty((0, 2))
    single = np.bincount(pairs[:, 0].astype(np.int64), minlength=k) <= 1
    xy = np.asarray(instance.xy, dtype=np.float64).reshape(-1, 2)
    if len(xy):
        xy = xy - xy.mean(axis=0)
    wsum = np.bincount(g, weights=hh_unit, minlength=k)
    cnt = np.maximum(np.bincount(g, minlength=k), 1)
    pos = wsum > 0
    den = np.where(pos, wsum, 1.0)
    cx = np.where(
        pos,
        np.bincount(g, weights=hh_unit * xy[:, 0], minlength=k) / den,
        np.bincount(g, weights=xy[:, 0], minlength=k) / cnt,
    )
    cy = np.where(
        pos,
        np.bincount(g, weights=hh_unit * xy[:, 1], minlength=k) / den,
        np.bincount(g, weights=xy[:, 1], minlength=k) / cnt,
    )
    dist = np.hypot(xy[:, 0] - cx[g], xy[:, 1] - cy[g]) if len(xy) else np.empty(0)
    wd = np.bincount(g, weights=hh_unit * dist, minlength=k) / den
    total_hh = float(hh_unit.sum())
    mean_wd = float((hh_unit * dist).sum() / total_hh) if total_hh > 0 else 0.0
    if grid_area is not None and grid_perimeter is not None:
        a = np.asarray(grid_area, dtype=np.float64)
        p = np.asarray(grid_perimeter, dtype=np.float64)
        pp = 4 * math.pi * a / np.maximum(p, 1e-9) ** 2
    elif unit_perimeter is not None:
        _, pp = polsby_popper_from_cells(instance, lab, unit_perimeter)
    else:
        pp = np.full(k, np.nan)
    return PartitionQuality(
        labels=uniq.astype(np.int64),
        value=value,
        households=hh,
        deviation=deviation,
        in_band=in_band,
        excluded=excluded,
        contiguous=contiguous,
        single_compound=single,
        weighted_distance=wd,
        polsby_popper=pp,
        mean_weighted_distance=mean_wd,
    )
