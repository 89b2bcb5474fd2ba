"""The partition problem of one community as plain arrays (what the optimizer sees).

Geometry work happens in :meth:`PartitionInstance.from_frames` (via
:mod:`gridder.graph.adjacency`); the optimizer only sees integer arrays and an
adjacency list, as DESIGN.md asks (spopt's ``from_geodataframe`` →
``from_cost_matrix`` split).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridder.errors import GridderError

if TYPE_CHECKING:
    import geopandas as gpd
    from shapely.geometry.base import BaseGeometry

    from gridder.graph.adjacency import Tessellation

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

    @classmethod
    def from_frames(
        cls,
        community_id: str,
        community_geom: BaseGeometry,
        buildings: gpd.GeoDataFrame,
        value: npt.ArrayLike,
        streets: gpd.GeoDataFrame | None,
        *,
        barriers: gpd.GeoDataFrame | None = None,
        compounds: gpd.GeoDataFrame | None = None,
        locked_polygons: gpd.GeoSeries | gpd.GeoDataFrame | None = None,
        locked_labels: npt.ArrayLike | pd.Series | Mapping[str, int] | None = None,
        previous_labels: npt.ArrayLike | pd.Series | Mapping[str, int] | None = None,
    ) -> tuple[PartitionInstance, Tessellation]:
        """Build a community's instance from its geometry (tessellation and adjacency).

        Parameters
        ----------
        community_id
            The community's id.
        community_geom
            The community (Multi)Polygon in the buildings' metric CRS.
        buildings
            The community's buildings (metric CRS): Point geometry,
            ``building_id``, ``households``, optionally ``compound_id``.
        value
            Integer balance value of each building (households or scaled
            workload), in the rows' order.
        streets
            Street LineStrings with ``highway``; may be empty or ``None``.
        barriers
            Extra hard barriers (rivers, railways), lines or polygons.
        compounds
            Compound polygons with ``compound_id``.
        locked_polygons
            Polygons of locked grids: cells follow their outlines, so that the
            grid polygon of a locked grid's buildings is exactly its polygon.
        locked_labels
            Locked grid label per building (``-1`` free): an array in the rows'
            order, or a Series/mapping keyed by ``building_id`` (missing → free).
        previous_labels
            Grid label per building in a previous plan (``-1`` new), same forms.

        Returns
        -------
        tuple
            The instance and the :class:`~gridder.graph.adjacency.Tessellation`
            that :func:`gridder.polygons.grid_polygons` needs.
        """
        from gridder.graph.adjacency import build_tessellation

        n = len(buildings)
        val = np.asarray(value)
        if val.shape != (n,):
            msg = f"community {community_id}: {len(val)} values for {n} buildings"
            raise GridderError(msg)
        if not np.issubdtype(val.dtype, np.integer):
            if not np.all(np.isfinite(val)) or not np.allclose(val, np.round(val)):
                msg = f"community {community_id}: balance values must be integers"
                raise GridderError(msg)
            val = np.round(val)
        if (val < 0).any():
            msg = f"community {community_id}: balance values must be non-negative"
            raise GridderError(msg)
        tess = build_tessellation(
            community_id,
            community_geom,
            buildings,
            streets,
            barriers=barriers,
            compounds=compounds,
            locked_polygons=locked_polygons,
        )
        if "households" in buildings.columns:
            hh = pd.to_numeric(buildings["households"], errors="coerce").fillna(0)
            households = np.round(hh.to_numpy(dtype=np.float64)).astype(np.int64)
        else:
            households = np.zeros(n, dtype=np.int64)
        adj = tess.adjacency
        instance = cls(
            community_id=community_id,
            unit_ids=tess.building_ids,
            value=val.astype(np.int64),
            households=households,
            xy=tess.points.astype(np.float64),
            edges=adj.edges,
            edge_length=adj.length,
            edge_hard=adj.hard,
            edge_soft=adj.soft,
            edge_street=adj.street,
            compound=tess.compound,
            area=tess.area,
            locked=_labels(locked_labels, buildings, "locked_labels"),
            previous=_labels(previous_labels, buildings, "previous_labels"),
        )
        return instance, tess


def _labels(labels: Any, buildings: gpd.GeoDataFrame, what: str) -> IntArray:
    """Integer labels per building row (``-1`` where none) from an array or a keyed map."""
    n = len(buildings)
    if labels is None:
        return np.full(n, -1, dtype=np.int64)
    if isinstance(labels, pd.Series) and labels.index.equals(buildings.index):
        values = labels.to_numpy()
    elif isinstance(labels, pd.Series | Mapping):
        keyed = pd.Series(labels) if isinstance(labels, Mapping) else labels.copy()
        keyed.index = keyed.index.astype(str)
        values = keyed.reindex(buildings["building_id"].astype(str)).to_numpy()
    else:
        values = np.asarray(labels)
    if len(values) != n:
        msg = f"{what}: {len(values)} labels for {n} buildings"
        raise GridderError(msg)
    out = pd.to_numeric(pd.Series(values), errors="coerce").fillna(-1)
    return np.asarray(out.to_numpy(), dtype=np.int64)
