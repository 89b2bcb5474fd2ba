"""A lower bound on out-of-band grids for plans that respect major streets.

*Zones* are the connected parts of the free units (not locked, not above the
maximum) once hard-barrier edges (major streets, rivers, rail) are cut. A plan
whose grids cross no hard barrier partitions each zone on its own, so the sum
over zones of each zone's minimum number of out-of-band grids bounds every such
plan from below. (:func:`gridder.partition.band_lower_bound` stays the bound for
plans that may cross barriers; the solver crosses one only when a zone is too
small or its total admits no in-band split.)

Per zone, an exact model over the units holding value: two of them are
neighbours when adjacent, or joined through units holding no value (any grid
holding both holds such a path, so every connected grid of the zone is a
connected set of this graph — a relaxation, hence a valid bound). Every
connected set with a total in the band is listed; CP-SAT picks disjoint ones,
and the units left over need at least one out-of-band grid per connected
component, counted by *roots* with a single-commodity flow (each leftover unit
consumes one unit of flow, only roots supply it, flow runs between leftover
neighbours). The minimum number of roots is the zone's minimum.

A zone is *proven* when the model is solved to optimality (or the plan itself
shows the minimum, or the zone is too small for any in-band grid); otherwise
(too many sets to list, or the deterministic time ran out) it *falls back* to
the larger of CP-SAT's proven bound and the cheap bound (one grid if the zone's
total admits no in-band split). Deterministic: one worker, fixed seed,
deterministic time limits, zones in order of their first unit.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from gridder.partition.config import PartitionConfig
from gridder.partition.costs import balance_value
from gridder.partition.cpsat import deterministic_solver
from gridder.partition.instance import PartitionInstance
from gridder.partition.reduce import components, splittable
from gridder.partition.sets import (
    SetBudgetExceededError,
    enumerate_connected_sets,
    valued_adjacency,
)

__all__ = ["ZoneBound", "out_of_band_above_proven", "zone_labels", "zone_lower_bound"]

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ZoneBound:
    """The zone-level bound of one community.

    Parameters
    ----------
    min_out_of_band
        Lower bound on the out-of-band grids of any plan whose grids cross no
        hard barrier (sum over zones).
    zones
        Number of zones (holding value).
    proven
        Zones whose minimum is known exactly.
    fallback
        Zones bounded by CP-SAT's bound or the cheap bound only.
    per_zone
        The bound of each zone, in zone order.
    proven_zones
        Whether each zone's bound is its exact minimum, in zone order.
    deterministic_time
        CP-SAT deterministic time spent.
    """

    min_out_of_band: int
    zones: int
    proven: int
    fallback: int
    per_zone: tuple[int, ...] = ()
    deterministic_time: float = 0.0
    proven_zones: tuple[bool, ...] = ()

    def to_meta(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "min_out_of_band": self.min_out_of_band,
            "zones": self.zones,
            "zones_proven": self.proven,
            "zones_fallback": self.fallback,
            "deterministic_time": round(self.deterministic_time, 3),
        }


def zone_lower_bound(
    instance: PartitionInstance,
    config: PartitionConfig,
    *,
    labels: npt.ArrayLike | None = None,
    region: npt.ArrayLike | None = None,
    seed: int = 0,
    set_budget: int = 20_000,
    zone_time: float = 2.0,
    total_time: float = 5.0,
) -> ZoneBound:
    """Exact per-zone minimum numbers of out-of-band grids, within a budget (see module).

    Parameters
    ----------
    instance
        The community.
    config
        The band.
    labels
        A plan (grid label per unit): a zone whose grids all lie inside it and
        are in band is settled at 0 without a model.
    region
        Per unit, a region label (``-1``: not free): zones of one region are
        merged across the hard barriers between them (as the solver merges
        zones too small, or with a total no in-band grids can split), so the
        bound holds for plans that cross no *other* hard barrier. Default:
        every hard barrier is respected.
    seed
        CP-SAT's random seed.
    set_budget
        Largest number of in-band sets listed per zone.
    zone_time, total_time
        CP-SAT deterministic time per zone and for the community.
    """
    n = instance.n
    value = balance_value(instance, config)
    zone, zone_ids, ke = _zones(instance, config, value, region)
    lab = None if labels is None else np.asarray(labels, dtype=np.int64)
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for a, b in ke.tolist():
        nbrs[a].append(b)
        nbrs[b].append(a)
    left = total_time
    spent = 0.0
    per_zone: list[int] = []
    exact_zone: list[bool] = []
    for z in zone_ids:
        units = np.flatnonzero(zone == z)
        total = float(value[units].sum())
        if total < config.min:
            per_zone.append(1)
            exact_zone.append(True)
            continue
        cheap = 0 if splittable(total, config) else 1
        if lab is not None and _plan_out(units, lab, value, config) == cheap:
            per_zone.append(cheap)  # the plan meets the cheap bound inside the zone
            exact_zone.append(True)
            continue
        t = min(zone_time, left)
        res = (
            None
            if t <= 0
            else _zone_model(
                units,
                nbrs,
                value=value,
                config=config,
                set_budget=set_budget,
                time_limit=t,
                seed=seed,
            )
        )
        if res is None:
            per_zone.append(cheap)
            exact_zone.append(False)
            continue
        bound, exact, dt = res
        left -= dt
        spent += dt
        per_zone.append(max(bound, cheap))
        exact_zone.append(exact)
    out = ZoneBound(
        min_out_of_band=int(sum(per_zone)),
        zones=len(zone_ids),
        proven=sum(exact_zone),
        fallback=len(exact_zone) - sum(exact_zone),
        per_zone=tuple(per_zone),
        deterministic_time=spent,
        proven_zones=tuple(exact_zone),
    )
    logger.debug("%s: zone bound %s", instance.community_id, out.to_meta())
    return out


def out_of_band_above_proven(
    instance: PartitionInstance,
    config: PartitionConfig,
    labels: npt.ArrayLike,
    bound: ZoneBound,
    *,
    region: npt.ArrayLike | None = None,
) -> int:
    """Grids of a plan out of band beyond the exact minimum of their zone.

    Counted only in zones whose bound is proven (``bound.proven_zones``) and
    whose grids stay inside the zone; ``bound`` and ``region`` as in
    :func:`zone_lower_bound`. A positive count says the plan could do better
    there, relative to the zone model (a relaxation: the bound need not be
    reachable).
    """
    value = balance_value(instance, config)
    zone, zone_ids, _ = _zones(instance, config, value, region)
    if len(zone_ids) != len(bound.proven_zones):
        return 0
    lab = np.asarray(labels, dtype=np.int64)
    above = 0
    for z, need, exact in zip(zone_ids, bound.per_zone, bound.proven_zones, strict=True):
        if exact:
            out = _plan_out(np.flatnonzero(zone == z), lab, value, config)
            above += max(0, out - need)
    return above


def _zones(
    instance: PartitionInstance,
    config: PartitionConfig,
    value: IntArray,
    region: npt.ArrayLike | None,
) -> tuple[IntArray, list[int], IntArray]:
    """Zone of each unit (``-1``: not free), zones holding value in order, and the kept edges."""
    n = instance.n
    free = _free(instance, value, config)
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    hard = np.asarray(instance.edge_hard, dtype=bool)
    keep = ~hard & free[e[:, 0]] & free[e[:, 1]] if len(e) else np.zeros(0, dtype=bool)
    _, zone = components(n, e[keep])
    if region is not None and len(e):
        reg = np.asarray(region, dtype=np.int64)
        same = (reg[e[:, 0]] == reg[e[:, 1]]) & (reg[e[:, 0]] >= 0)
        keep = same & free[e[:, 0]] & free[e[:, 1]] & (~hard | (zone[e[:, 0]] != zone[e[:, 1]]))
        _, zone = components(n, e[keep])
    zone = np.where(free, zone, -1)
    return zone, _zone_order(zone, free & (value > 0)), e[keep]


def _free(
    instance: PartitionInstance, value: IntArray, config: PartitionConfig
) -> npt.NDArray[np.bool_]:
    """Units a plan may group: not locked, not above the maximum."""
    locked = np.asarray(instance.locked, dtype=np.int64)
    if len(locked) != instance.n:
        locked = np.full(instance.n, -1, dtype=np.int64)
    return (locked < 0) & (value <= config.max)


def _zone_order(zone: IntArray, valued: npt.NDArray[np.bool_]) -> list[int]:
    """Zones holding value, in order of their first unit (the order of ``per_zone``)."""
    return sorted(
        {int(z) for z in zone[valued].tolist()}, key=lambda z: int(np.flatnonzero(zone == z)[0])
    )


def zone_labels(instance: PartitionInstance, config: PartitionConfig) -> tuple[IntArray, list[int]]:
    """Zone of each unit (``-1``: not free) and the zones in ``ZoneBound.per_zone`` order."""
    zone, order, _ = _zones(instance, config, balance_value(instance, config), None)
    return zone, order


def _plan_out(units: IntArray, lab: IntArray, value: IntArray, config: PartitionConfig) -> int:
    """Out-of-band grids of the plan in the zone, or -1 when its grids leave the zone."""
    grids = np.unique(lab[units])
    inside = np.zeros(len(lab), dtype=bool)
    inside[units] = True
    if (np.isin(lab, grids) & ~inside & (value > 0)).any():
        return -1
    totals = np.bincount(np.searchsorted(grids, lab[units]), weights=value[units])
    return int(((totals < config.min) | (totals > config.max)).sum())


def _zone_model(
    units: IntArray,
    nbrs: list[list[int]],
    *,
    value: IntArray,
    config: PartitionConfig,
    set_budget: int,
    time_limit: float,
    seed: int,
) -> tuple[int, bool, float] | None:
    """The zone's exact model: (bound, proven optimal, deterministic time), or ``None``."""
    valued = [int(u) for u in units.tolist() if value[u] > 0]
    adj = valued_adjacency(units, nbrs, value)
    try:
        sets = enumerate_connected_sets(
            valued, adj, value, high=config.max, max_size=len(valued), budget=set_budget
        )
    except SetBudgetExceededError:
        return None
    sets = [s for s in sets if config.min <= int(value[list(s)].sum()) <= config.max]
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"s{i}") for i in range(len(sets))]
    cover: dict[int, list[int]] = {u: [] for u in valued}
    for i, s in enumerate(sets):
        for u in s:
            cover[u].append(i)
    big = len(valued)
    rest = {}
    root = {}
    for u in valued:
        r = model.new_bool_var(f"r{u}")
        model.add(sum(x[i] for i in cover[u]) + r == 1)
        rest[u] = r
        root[u] = model.new_bool_var(f"z{u}")
        model.add_implication(root[u], r)
    inflow: dict[int, list[Any]] = {u: [] for u in valued}
    outflow: dict[int, list[Any]] = {u: [] for u in valued}
    for a in valued:
        for b in adj[a]:
            f = model.new_int_var(0, big, f"f{a}_{b}")
            model.add(f <= big * rest[a])
            model.add(f <= big * rest[b])
            outflow[a].append(f)
            inflow[b].append(f)
    for u in valued:
        model.add(sum(inflow[u]) - sum(outflow[u]) >= rest[u] - big * root[u])
    objective = sum(root.values())
    if not splittable(float(value[valued].sum()), config):
        model.add(objective >= 1)
    model.minimize(objective)
    solver = deterministic_solver(workers=1, seed=seed, time_limit=time_limit)
    status = solver.solve(model)
    dt = float(solver.deterministic_time)
    if status == cp_model.OPTIMAL:
        return round(solver.objective_value), True, dt
    bound = max(0, math.ceil(solver.best_objective_bound - 1e-6))
    return bound, False, dt
