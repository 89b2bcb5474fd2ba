"""A solver-independent checker of partition labels.

It trusts nothing the solver says: from the instance and the labels alone it
verifies that every unit is assigned exactly once, that every grid is
connected on the adjacency graph, that locked units kept their grid and that
locked grids hold nothing else; and it recomputes the band statistics and the
objective. :meth:`CheckReport.raise_if_invalid` raises one error listing every
violation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gridder.errors import SolverError
from gridder.partition.config import PartitionConfig
from gridder.partition.costs import balance_value, grid_stats, plan_objective
from gridder.partition.instance import PartitionInstance

__all__ = [
    "CheckReport",
    "PartitionCheckError",
    "assert_partition_valid",
    "check_partition",
    "grid_components",
]

IntArray = npt.NDArray[np.int64]


class PartitionCheckError(SolverError):
    """A plan breaks a guarantee (unassigned units, a split grid, a moved locked unit)."""


def grid_components(instance: PartitionInstance, labels: npt.ArrayLike) -> dict[int, int]:
    """Number of connected pieces of each grid on the adjacency graph (all edges)."""
    lab = np.asarray(labels, dtype=np.int64)
    n = len(lab)
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    same = lab[e[:, 0]] == lab[e[:, 1]] if len(e) else np.zeros(0, dtype=bool)
    es = e[same]
    a = coo_matrix((np.ones(len(es)), (es[:, 0], es[:, 1])), shape=(n, n))
    _, comp = connected_components(a, directed=False)
    first = np.unique(comp, return_index=True)[1]
    labs, counts = np.unique(lab[first], return_counts=True)
    return {int(g): int(c) for g, c in zip(labs.tolist(), counts.tolist(), strict=True)}


@dataclass(frozen=True)
class CheckReport:
    """What the checker found.

    Parameters
    ----------
    community_id
        The community.
    n_grids
        Number of grids.
    unassigned
        Indices of units without a grid (label ``< 0``).
    disconnected
        Labels of grids in several pieces, with their piece counts.
    locked_changed
        Indices of locked units whose label differs from the locked one.
    locked_intruders
        Indices of free units carrying a locked grid's label.
    in_band_share
        Share of counted grids within the band.
    straddling_hard
        Labels of grids with a hard-barrier edge inside.
    objective
        The objective recomputed from the labels.
    violations
        Every broken guarantee, in words.
    """

    community_id: str
    n_grids: int
    unassigned: IntArray
    disconnected: dict[int, int]
    locked_changed: IntArray
    locked_intruders: IntArray
    in_band_share: float
    straddling_hard: list[int]
    objective: float
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every guarantee holds."""
        return not self.violations

    def raise_if_invalid(self) -> None:
        """Raise :class:`PartitionCheckError` listing every violation."""
        if self.violations:
            head = f"community {self.community_id}: the plan breaks {len(self.violations)} rule(s)"
            raise PartitionCheckError("\n  - ".join([head, *self.violations]))


def excluded_grids(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    config: PartitionConfig,
    *,
    valued: bool = False,
    value: npt.ArrayLike | None = None,
) -> set[int]:
    """Grids left out of the band measures: a single building above the maximum (CONTRACT §6).

    With ``valued``, also a grid whose one value-carrying building lies above
    the maximum beside buildings holding none (a tower that kept land its
    neighbours could not take, :mod:`~gridder.partition.isolate`): the solver
    compares its plans so, as no move can bring such a grid into band.
    ``value`` (per unit, in the band's units) replaces the instance's balance
    values: a workload's exact values, say.
    """
    lab = np.asarray(labels, dtype=np.int64)
    value = balance_value(instance, config) if value is None else np.asarray(value, np.float64)
    pos = value > 0 if valued else np.ones(len(lab), dtype=bool)
    labs, counts = np.unique(lab[pos], return_counts=True)
    single = {int(g) for g, c in zip(labs.tolist(), counts.tolist(), strict=True) if c == 1}
    big = {int(g) for g in lab[pos & (value > config.max)].tolist()}
    return single & big


def fitting_compound_parts(
    compound: npt.ArrayLike, value: npt.ArrayLike, edges: npt.ArrayLike, config: PartitionConfig
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Connected parts of one compound over ``edges`` and which units lie in one within the band.

    Returns the part of each unit and, per unit, whether it belongs to a compound
    (``compound >= 0``) part whose total ``value`` lies in ``[min, max]``: the
    parts ``--keep-compounds`` keeps whole.
    """
    comp = np.asarray(compound, dtype=np.int64)
    n = len(comp)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    same = (comp[e[:, 0]] == comp[e[:, 1]]) & (comp[e[:, 0]] >= 0)
    graph = coo_matrix((np.ones(int(same.sum())), (e[same, 0], e[same, 1])), shape=(n, n))
    _, part = connected_components(graph, directed=False)
    part = np.asarray(part, dtype=np.int64)
    tot = np.bincount(
        part, weights=np.asarray(value, dtype=np.float64), minlength=part.max(initial=-1) + 1
    )
    fits = np.array([config.in_band(float(t)) for t in tot], dtype=bool)
    return part, (comp >= 0) & fits[part] if n else np.zeros(0, dtype=bool)


def split_compounds(
    instance: PartitionInstance, labels: npt.ArrayLike, config: PartitionConfig
) -> list[int]:
    """Compounds that ``--keep-compounds`` keeps whole and the labels split.

    A compound's part counts when its buildings are connected without crossing
    a hard barrier and its balance value lies in the band; it must lie in one
    grid. Returns the compound indices (empty when every such part is whole).
    """
    lab = np.asarray(labels, dtype=np.int64)
    comp = np.asarray(instance.compound, dtype=np.int64)
    part = kept_part_ids(instance, config)
    out = {
        int(comp[part == p][0])
        for p in np.unique(part[part >= 0]).tolist()
        if len(np.unique(lab[part == p])) > 1
    }
    return sorted(out)


def kept_part_ids(instance: PartitionInstance, config: PartitionConfig) -> IntArray:
    """Per unit, the compound part ``--keep-compounds`` keeps whole (``-1``: none).

    A part is a compound's buildings connected without crossing a hard
    barrier; it is kept whole when its balance value lies in the band.
    """
    comp = np.asarray(instance.compound, dtype=np.int64)
    none = np.full(instance.n, -1, dtype=np.int64)
    if len(comp) != instance.n or not (comp >= 0).any():
        return none
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    soft = ~np.asarray(instance.edge_hard, dtype=bool)
    part, kept = fitting_compound_parts(comp, balance_value(instance, config), e[soft], config)
    return np.where(kept, part, none)


def check_partition(
    instance: PartitionInstance,
    labels: npt.ArrayLike,
    config: PartitionConfig,
    *,
    previous: npt.ArrayLike | None = None,
) -> CheckReport:
    """Check labels against the instance (see the module docstring)."""
    lab = np.asarray(labels, dtype=np.int64)
    n = instance.n
    violations: list[str] = []
    ids = np.asarray(instance.unit_ids, dtype=object)
    if len(lab) != n:
        violations.append(f"{len(lab)} labels for {n} units")
        return CheckReport(
            instance.community_id,
            0,
            np.empty(0, np.int64),
            {},
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            0.0,
            [],
            float("nan"),
            violations,
        )
    unassigned = np.flatnonzero(lab < 0)
    if len(unassigned):
        violations.append(
            f"{len(unassigned)} unit(s) in no grid: "
            + ", ".join(map(str, ids[unassigned[:20]].tolist()))
        )
    safe = np.where(lab < 0, -1 - np.arange(n), lab)
    comps = grid_components(instance, safe)
    disconnected = {g: c for g, c in comps.items() if c > 1 and g >= 0}
    for g, c in sorted(disconnected.items()):
        violations.append(f"grid {g} is in {c} disconnected pieces")
    locked = np.asarray(instance.locked, dtype=np.int64)
    changed = np.empty(0, dtype=np.int64)
    intruders = np.empty(0, dtype=np.int64)
    if len(locked) == n and (locked >= 0).any():
        changed = np.flatnonzero((locked >= 0) & (lab != locked))
        if len(changed):
            violations.append(
                f"{len(changed)} locked unit(s) left their grid: "
                + ", ".join(map(str, ids[changed[:20]].tolist()))
            )
        locked_labels = np.unique(locked[locked >= 0])
        intruders = np.flatnonzero((locked < 0) & np.isin(lab, locked_labels))
        value = np.asarray(instance.value)  # the area term alone does not make an intruder
        intruders = intruders[value[intruders] > 0]
        if len(intruders):
            violations.append(
                f"{len(intruders)} free unit(s) holding value joined a locked grid: "
                + ", ".join(map(str, ids[intruders[:20]].tolist()))
            )
    stats = grid_stats(instance, safe, config)
    skip = excluded_grids(instance, safe, config)
    counted = [i for i, g in enumerate(stats.labels.tolist()) if g not in skip]
    in_band = sum(config.in_band(float(stats.value[i])) for i in counted)
    share = in_band / len(counted) if counted else 1.0
    straddling = [int(g) for g, h in zip(stats.labels, stats.hard_inside, strict=True) if h > 0]
    return CheckReport(
        community_id=instance.community_id,
        n_grids=len(stats.labels),
        unassigned=unassigned,
        disconnected=disconnected,
        locked_changed=changed,
        locked_intruders=intruders,
        in_band_share=float(share),
        straddling_hard=straddling,
        objective=plan_objective(instance, safe, config, previous=previous),
        violations=violations,
    )


def assert_partition_valid(
    instance: PartitionInstance, labels: npt.ArrayLike, config: PartitionConfig | None = None
) -> CheckReport:
    """Check labels and raise :class:`PartitionCheckError` on any violation."""
    report = check_partition(instance, labels, config or PartitionConfig())
    report.raise_if_invalid()
    return report
