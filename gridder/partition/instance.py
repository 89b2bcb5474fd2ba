"""The partition problem of one community as plain arrays (what the optimizer sees).

Geometry work happens in :meth:`PartitionInstance.from_frames` (via
:mod:`gridder.graph.adjacency`); the optimizer only sees integer arrays and an
adjacency list, as DESIGN.md asks (spopt's ``from_geodataframe`` →
``from_cost_matrix`` split).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["PartitionInstance"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PartitionInstance:
    """One community's units (buildings) and their adjacency.

    Parameters
    ----------
    community_id
        The community these units belong to.
    unit_ids
        ``building_id`` of each unit, length ``n``.
    value
        Integer balance value of each unit (households, or the scaled
        workload), length ``n``.
    households
        Integer households of each unit, length ``n``.
    xy
        Unit coordinates in metres (local metric CRS), shape ``(n, 2)``.
    edges
        Adjacency as an ``(m, 2)`` array of unit index pairs ``i < j``.
    edge_length
        Shared tessellation boundary length of each edge, metres, length ``m``.
    edge_hard
        Whether the edge crosses a hard barrier (major street, river, rail), length ``m``.
    edge_soft
        Whether the edge crosses a soft barrier (a compound edge), length ``m``.
    edge_street
        Whether the shared boundary of the edge lies along any street line (so a
        grid boundary there follows a street, which planners want), length ``m``.
    compound
        Integer compound index of each unit, ``-1`` for none, length ``n``.
    area
        Tessellation cell area of each unit, m², length ``n``.
    locked
        Locked grid label of each unit, ``-1`` for free, length ``n``.
    previous
        Grid label of each unit in a previous plan, ``-1`` for new units, length ``n``.
    """

    community_id: str
    unit_ids: npt.NDArray[np.object_]
    value: IntArray
    households: IntArray
    xy: FloatArray
    edges: IntArray
    edge_length: FloatArray
    edge_hard: npt.NDArray[np.bool_]
    edge_soft: npt.NDArray[np.bool_]
    edge_street: npt.NDArray[np.bool_]
    compound: IntArray
    area: FloatArray
    locked: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    previous: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.value)
