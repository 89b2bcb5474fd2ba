"""The rules of the exact set-partition model, one class per rule.

Each rule adds its constraints to a :class:`SetPartitionVariables` container
with :meth:`apply`; :class:`MinimiseCost` sets the objective.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ortools.sat.python import cp_model

from gridder.partition.variables import SetPartitionVariables

__all__ = [
    "CoverEachUnitOnce",
    "DistinctEntries",
    "DrawCap",
    "ForbidCandidates",
    "GridCount",
    "KeepCandidates",
    "LendingCap",
    "MinimiseCost",
    "Rule",
    "apply_all",
]


class Rule(Protocol):
    """A rule of the model: adds its constraints (or objective) to the container."""

    def apply(self, v: SetPartitionVariables) -> None:
        """Add the rule to the model."""


@dataclass(frozen=True)
class CoverEachUnitOnce:
    """Every unit lies in exactly one chosen grid (the plan is a partition).

    ``optional`` units (borrowable neighbours of the units being partitioned)
    lie in at most one chosen grid.
    """

    optional: frozenset[int] = frozenset()

    def apply(self, v: SetPartitionVariables) -> None:
        """Add one exactly-one (or at-most-one) constraint per unit."""
        for u, sets in sorted(v.sets_of_unit.items()):
            if u in self.optional:
                v.model.add_at_most_one(v.choose[i] for i in sets)
            else:
                v.model.add_exactly_one(v.choose[i] for i in sets)


@dataclass(frozen=True)
class LendingCap:
    """The chosen grids take at most ``cap`` value from a group of optional units.

    A smooth area that lends buildings to a lumpy one must keep enough value
    for its own grids to stay in the band.
    """

    value: tuple[tuple[int, int], ...]
    cap: int

    def apply(self, v: SetPartitionVariables) -> None:
        """Bound the value of the group's units taken by the chosen grids."""
        of = dict(self.value)
        terms = []
        weights = []
        for i, members in enumerate(v.candidates):
            w = sum(of.get(u, 0) for u in members)
            if w:
                terms.append(v.choose[i])
                weights.append(w)
        if terms:
            v.model.add(cp_model.LinearExpr.weighted_sum(terms, weights) <= self.cap)


@dataclass(frozen=True)
class DrawCap:
    """Chosen candidates draw at most ``cap`` value from one reservoir.

    A candidate may carry a *draw*: value it will take from a neighbouring
    low-rise area (a reservoir) once the model is solved
    (:mod:`gridder.partition.reservoir`); the area must keep enough for its
    own grids.
    """

    draws: tuple[tuple[int, int], ...]
    cap: int

    def apply(self, v: SetPartitionVariables) -> None:
        """Bound the sum of the chosen candidates' draws."""
        if sum(amount for _, amount in self.draws) > self.cap:
            v.model.add(
                cp_model.LinearExpr.weighted_sum(
                    [v.choose[i] for i, _ in self.draws], [a for _, a in self.draws]
                )
                <= self.cap
            )


@dataclass
class DistinctEntries:
    """Chosen candidates that draw from a reservoir enter it through distinct units.

    A grid grows into a low-rise area from a unit of that area next to it;
    two grids cannot start from the same unit. ``entries`` pairs a candidate
    with the units it may enter through.
    """

    entries: tuple[tuple[int, tuple[int, ...]], ...]
    #: The entry variables of each candidate, in ``entries`` order (filled by :meth:`apply`).
    chosen: dict[int, list[cp_model.IntVar]] = field(default_factory=dict)

    def apply(self, v: SetPartitionVariables) -> None:
        """One entry per chosen drawing candidate, each entry used at most once."""
        takers: dict[int, list[cp_model.IntVar]] = {}
        for i, gate in self.entries:
            z = [v.model.new_bool_var(f"enter{i}_{u}") for u in gate]
            self.chosen[i] = z
            v.model.add(cp_model.LinearExpr.sum(z) == v.choose[i])
            for u, zu in zip(gate, z, strict=True):
                takers.setdefault(u, []).append(zu)
        for zs in takers.values():
            if len(zs) > 1:
                v.model.add_at_most_one(zs)


@dataclass(frozen=True)
class GridCount:
    """The number of chosen grids lies within ``[low, high]``."""

    low: int
    high: int

    def apply(self, v: SetPartitionVariables) -> None:
        """Bound the sum of the choice variables."""
        total = cp_model.LinearExpr.sum(v.choose)
        v.model.add(total >= self.low)
        v.model.add(total <= self.high)


@dataclass(frozen=True)
class KeepCandidates:
    """Given candidates (locked or frozen grids) are part of the plan."""

    indices: tuple[int, ...]

    def apply(self, v: SetPartitionVariables) -> None:
        """Fix their choice variables to true."""
        for i in self.indices:
            v.model.add(v.choose[i] == 1)


@dataclass(frozen=True)
class ForbidCandidates:
    """Given candidates (e.g. ones splitting a compound that must stay whole) are not used."""

    indices: tuple[int, ...]

    def apply(self, v: SetPartitionVariables) -> None:
        """Fix their choice variables to false."""
        for i in self.indices:
            v.model.add(v.choose[i] == 0)


@dataclass(frozen=True)
class MinimiseCost:
    """Minimise the total cost of the chosen grids (band first, then shape)."""

    def apply(self, v: SetPartitionVariables) -> None:
        """Set the objective."""
        v.model.minimize(cp_model.LinearExpr.weighted_sum(v.choose, v.costs))


def apply_all(v: SetPartitionVariables, rules: Iterable[Rule]) -> None:
    """Apply every rule in order."""
    for rule in rules:
        rule.apply(v)
