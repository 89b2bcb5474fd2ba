"""Decision variables of the exact set-partition model, in one container.

The model chooses among candidate grids (connected sets of super-units, see
:mod:`gridder.partition.sets`): one Boolean per candidate. Contiguity is built
into the candidates, so no flow or cut variables are needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

__all__ = ["SetPartitionVariables"]


@dataclass
class SetPartitionVariables:
    """The CP-SAT model and its variables.

    Parameters
    ----------
    model
        The CP-SAT model the variables belong to.
    candidates
        Member tuples of the candidate grids.
    costs
        Integer cost of each candidate.
    choose
        One Boolean per candidate: the candidate is a grid of the plan.
    sets_of_unit
        Indices of the candidates that hold each unit.
    """

    model: cp_model.CpModel
    candidates: list[tuple[int, ...]]
    costs: list[int]
    choose: list[cp_model.IntVar] = field(default_factory=list)
    sets_of_unit: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def build(
        cls, candidates: Sequence[tuple[int, ...]], costs: Sequence[int]
    ) -> SetPartitionVariables:
        """Create the model with one Boolean per candidate."""
        model = cp_model.CpModel()
        v = cls(model=model, candidates=list(candidates), costs=[int(c) for c in costs])
        v.choose = [model.new_bool_var(f"grid{i}") for i in range(len(v.candidates))]
        for i, members in enumerate(v.candidates):
            for u in members:
                v.sets_of_unit.setdefault(u, []).append(i)
        return v
