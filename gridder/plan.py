"""A published plan in memory: which grid holds a point or a building, and the grids themselves.

:meth:`Plan.open` reads a plan GeoPackage (CONTRACT §3) once and answers every
question from memory: :meth:`Plan.locate` for one point (a few microseconds),
:meth:`Plan.locate_many` for millions (vectorised, see :mod:`gridder.locator`),
:meth:`Plan.building`, :meth:`Plan.grids` and :meth:`Plan.grid` as GeoJSON. A
plan never changes after it is opened, so the API can hand one object to many
requests at once and swap it for another atomically (:mod:`gridder.plan_store`).

Coordinates may be given in WGS84, CGCS2000 (EPSG:4490, treated as WGS84),
GCJ-02 (Amap, Tencent) or BD-09 (Baidu); they are converted with
:func:`gridder.io.crs.to_wgs84`.

Boundary rule: a point belongs to every grid whose polygon *covers* it (the
boundary included); on a boundary shared by several grids the grid with the
smallest ``grid_id`` (string order) wins. A point that no grid covers is
outside (``None``).

Identifiers (``grid_id``, ``community_id``, ``building_id``) are always returned
as strings, whatever type the file stores them with.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from gridder.errors import InputError, NotFoundError, Problem
from gridder.io.crs import crs_key, to_wgs84
from gridder.io.write import read_meta
from gridder.locator import OUTSIDE, GridLocator
from gridder.planfile import assignment_digest
from gridder.schema import WGS84

__all__ = ["Location", "Plan"]

log = logging.getLogger(__name__)

GRID_COLUMNS: Final = ("grid_id", "community_id")
ASSIGNMENT_COLUMNS: Final = ("building_id", "grid_id", "community_id")
_WGS84_NAMES: Final = frozenset({"wgs84", "epsg4326", "cgcs2000", "epsg4490"})


@dataclass(frozen=True, slots=True)
class Location:
    """The grid that holds a point.

    Parameters
    ----------
    grid_id
        The grid's code, ``{community_id}-{NNN}``.
    community_id
        The community the grid belongs to.
    """

    grid_id: str
    community_id: str


def jsonable(value: Any) -> Any:
    """Turn a numpy/pandas scalar into a plain JSON value (NaN and NaT become ``None``)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [str(c) for c in frame.columns]
    rows = zip(*(frame[c].tolist() for c in frame.columns), strict=True)
    return [{c: jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def _read_layer(path: Path, layer: str, *, geometry: bool = True) -> pd.DataFrame:
    try:
        return pyogrio.read_dataframe(path, layer=layer, read_geometry=geometry)
    except (DataSourceError, DataLayerError) as exc:
        raise InputError.single(str(path), f"layer {layer}", f"cannot be read: {exc}") from exc


def _workers_by_grid(workers: pd.DataFrame | None) -> dict[str, list[dict[str, Any]]]:
    """Group a ``workers`` layer by grid: ``grid_id`` (or ``grid_ids``, comma separated)."""
    if workers is None or workers.empty:
        return {}
    column = next((c for c in ("grid_id", "grid_ids") if c in workers.columns), None)
    if column is None:
        log.warning("workers layer has no grid_id/grid_ids column; ignored")
        return {}
    frame = workers.drop(columns=[c for c in ("geometry",) if c in workers.columns])
    out: dict[str, list[dict[str, Any]]] = {}
    for record in _records(frame):
        grids = str(record.get(column) or "").replace(";", ",").split(",")
        for grid in filter(None, (g.strip() for g in grids)):
            out.setdefault(grid, []).append(record)
    return out


class Plan:
    """One plan, loaded into memory, answering lookups.

    Build it with :meth:`Plan.open`. Everything is read once; the object is
    never modified afterwards and can be shared between threads.

    Parameters
    ----------
    grids
        The ``grids`` layer in WGS84 with at least ``grid_id`` and ``community_id``.
    assignments
        The ``assignments`` layer (points in WGS84) with at least
        ``building_id``, ``grid_id`` and ``community_id``.
    meta
        The ``plan_meta`` key/value table.
    path
        The file the plan came from, when any.
    workers
        The optional ``workers`` layer (issue 7).

    Examples
    --------
    >>> plan = Plan.open("plan.gpkg")  # doctest: +SKIP
    >>> plan.locate(118.78, 32.04, crs="gcj02")  # doctest: +SKIP
    Location(grid_id='C01-003', community_id='C01')
    """

    def __init__(
        self,
        *,
        grids: pd.DataFrame,
        assignments: pd.DataFrame,
        meta: Mapping[str, Any],
        path: str | os.PathLike[str] | None = None,
        workers: pd.DataFrame | None = None,
    ) -> None:
        source = str(path) if path is not None else "plan"
        self.path: Path | None = Path(path) if path is not None else None
        self.meta: dict[str, Any] = dict(meta)
        self.plan_id: str = str(
            self.meta.get("plan_id") or (self.path.stem if self.path else "plan")
        )
        self.created: str | None = (
            str(self.meta["created"]) if self.meta.get("created") is not None else None
        )
        self._check_columns(source, "grids", grids, GRID_COLUMNS)
        self._check_columns(source, "assignments", assignments, ASSIGNMENT_COLUMNS)
        grids = self._grids_in_wgs84(source, grids)
        self._index_grids(source, grids)
        self._index_assignments(source, assignments)
        self._pairs = pd.DataFrame(assignments[["building_id", "grid_id"]])
        self._workers = _workers_by_grid(workers)
        self._build_json()
        log.info("plan %s: %d grids, %d buildings", self.plan_id, len(self), len(self._b_row))

    @functools.cached_property
    def assignment_digest(self) -> str:
        """Which building is in which grid (coverage files record it: edits keep plan_id).

        Computed when first asked (the coverage check), not on every plan load.
        """
        return assignment_digest(self._pairs)

    # ------------------------------------------------------------------ loading
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Plan:
        """Read a plan GeoPackage into memory.

        Parameters
        ----------
        path
            A plan file written by :func:`gridder.io.write.write_plan`.

        Raises
        ------
        NotFoundError
            When the file does not exist.
        InputError
            When it is not a plan file (a layer or column is missing, ids repeat).
        """
        path = Path(path)
        if not path.is_file():
            msg = f"{path}: no such plan file"
            raise NotFoundError(msg)
        try:
            layers = {str(name) for name, _ in pyogrio.list_layers(path)}
        except DataSourceError as exc:
            raise InputError.single(str(path), "", f"not a GeoPackage: {exc}") from exc
        missing = [layer for layer in ("grids", "assignments", "plan_meta") if layer not in layers]
        if missing:
            raise InputError.single(
                str(path), "", f"not a plan file: missing layer(s) {', '.join(missing)}"
            )
        grids = _read_layer(path, "grids")
        assignments = _read_layer(path, "assignments")
        workers = _read_layer(path, "workers", geometry=False) if "workers" in layers else None
        try:
            meta = read_meta(path)
        except (DataLayerError, KeyError, ValueError) as exc:
            raise InputError.single(str(path), "layer plan_meta", f"unreadable: {exc}") from exc
        return cls(grids=grids, assignments=assignments, meta=meta, path=path, workers=workers)

    @staticmethod
    def _check_columns(
        source: str, layer: str, frame: pd.DataFrame, required: tuple[str, ...]
    ) -> None:
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise InputError.single(source, f"layer {layer}", f"missing column(s) {missing}")

    @staticmethod
    def _grids_in_wgs84(source: str, grids: pd.DataFrame) -> pd.DataFrame:
        geometry = getattr(grids, "geometry", None)
        if geometry is None:
            raise InputError.single(source, "layer grids", "has no geometry")
        crs = getattr(grids, "crs", None)
        if crs is not None and not crs.equals(WGS84):
            grids = grids.to_crs(WGS84)
        bad = shapely.is_missing(grids.geometry.values) | shapely.is_empty(grids.geometry.values)
        if bad.any():
            problems = [
                Problem(source, f"grid_id={g}", "grid has no geometry")
                for g in grids.loc[bad, "grid_id"]
            ]
            raise InputError(problems)
        return grids

    def _index_grids(self, source: str, grids: pd.DataFrame) -> None:
        grids = grids.assign(
            grid_id=grids["grid_id"].astype(str), community_id=grids["community_id"].astype(str)
        )
        dup = grids["grid_id"].duplicated(keep=False)
        if dup.any():
            ids = sorted(set(grids.loc[dup, "grid_id"]))
            raise InputError(Problem(source, f"grid_id={g}", "repeated in grids") for g in ids)
        # Grid order = grid_id order, so "lowest index" is "smallest grid_id" on boundaries.
        grids = grids.sort_values("grid_id", kind="stable").reset_index(drop=True)
        self.grid_ids: npt.NDArray[np.object_] = grids["grid_id"].to_numpy(dtype=object)
        self.community_ids: npt.NDArray[np.object_] = grids["community_id"].to_numpy(dtype=object)
        self._grid_row: dict[str, int] = {g: i for i, g in enumerate(self.grid_ids)}
        self._geoms: npt.NDArray[np.object_] = np.asarray(grids.geometry.values, dtype=object)
        self._locator = GridLocator(self._geoms)
        props = pd.DataFrame(grids.drop(columns=grids.geometry.name))
        self._grid_props = _records(props)
        self._by_community: dict[str, npt.NDArray[np.int64]] = {
            str(c): np.asarray(idx, dtype=np.int64)
            for c, idx in pd.Series(np.arange(len(grids)))
            .groupby(grids["community_id"].to_numpy())
            .groups.items()
        }

    def _index_assignments(self, source: str, assignments: pd.DataFrame) -> None:
        ids = assignments["building_id"].astype(str)
        dup = ids.duplicated(keep=False)
        if dup.any():
            shown = sorted(set(ids[dup]))
            raise InputError(
                Problem(source, f"building_id={b}", "repeated in assignments") for b in shown
            )
        frame = pd.DataFrame(assignments.drop(columns="geometry", errors="ignore"))
        frame = frame.assign(
            building_id=ids,
            grid_id=frame["grid_id"].astype(str),
            community_id=frame["community_id"].astype(str),
        )
        geometry = getattr(assignments, "geometry", None)
        if geometry is not None and len(frame):
            crs = getattr(assignments, "crs", None)
            pts = assignments.to_crs(WGS84).geometry if crs and not crs.equals(WGS84) else geometry
            pts = shapely.centroid(np.asarray(pts.values, dtype=object))
            frame = frame.assign(lon=shapely.get_x(pts), lat=shapely.get_y(pts))
        self._b_columns = [str(c) for c in frame.columns]
        self._b_values = [frame[c].tolist() for c in frame.columns]
        self._b_row: dict[str, int] = {b: i for i, b in enumerate(frame["building_id"])}

    def _build_json(self) -> None:
        plan = _dumps(self.plan_id)
        #: The plan id as a JSON string (bytes).
        self.plan_id_json: bytes = plan
        self._locate_json: list[bytes] = []
        self._batch_json: list[bytes] = []
        self._feature_json: list[bytes] = []
        # RFC 7946 §3.1.6: exterior rings counterclockwise, holes clockwise (GEOS gives
        # the grids' exteriors clockwise; d3-geo reads such a ring as the world minus it)
        geojson = shapely.to_geojson(shapely.orient_polygons(self._geoms, exterior_cw=False))
        stale = bool(self.meta.get("workers_stale"))
        for i, (grid, community) in enumerate(zip(self.grid_ids, self.community_ids, strict=True)):
            pair = b'{"grid_id":' + _dumps(grid) + b',"community_id":' + _dumps(community)
            self._batch_json.append(pair + b"}")
            self._locate_json.append(pair + b',"plan_id":' + plan + b"}")
            props = dict(self._grid_props[i])
            if self._workers:
                props["workers"] = self._workers.get(grid, [])
                # edited since the workers were assigned: their loads are the old ones
                props["workers_stale"] = stale
            self._feature_json.append(
                b'{"type":"Feature","id":'
                + _dumps(grid)
                + b',"geometry":'
                + str(geojson[i]).encode()
                + b',"properties":'
                + _dumps(props)
                + b"}"
            )
        # Row -1 (outside) picks the trailing null.
        self._batch_table = np.array([*self._batch_json, b"null"], dtype=object)

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self.grid_ids)

    def __repr__(self) -> str:
        return f"Plan(plan_id={self.plan_id!r}, grids={len(self)}, buildings={len(self._b_row)})"

    @property
    def has_workers(self) -> bool:
        """Whether the plan carries a ``workers`` layer."""
        return bool(self._workers)

    @property
    def n_buildings(self) -> int:
        """Number of buildings in ``assignments``."""
        return len(self._b_row)

    def locate_index(self, lon: float, lat: float, *, crs: str = "wgs84") -> int:
        """Row of the grid holding one point (see :attr:`grid_ids`), or -1 outside."""
        if crs_key(crs) not in _WGS84_NAMES:
            x, y = self._convert(lon, lat, crs)
            lon, lat = float(x[0]), float(y[0])
        return self._locator.locate(lon, lat)

    def locate(self, lon: float, lat: float, *, crs: str = "wgs84") -> Location | None:
        """Return the grid holding one point, or ``None`` when no grid covers it.

        Parameters
        ----------
        lon, lat
            The point.
        crs
            ``wgs84``, ``cgcs2000``, ``gcj02`` or ``bd09``.
        """
        i = self.locate_index(lon, lat, crs=crs)
        return None if i == OUTSIDE else Location(self.grid_ids[i], self.community_ids[i])

    def locate_indices(self, points: npt.ArrayLike, *, crs: str = "wgs84") -> npt.NDArray[np.int64]:
        """Rows of the grids holding many points (-1 outside), in input order.

        Parameters
        ----------
        points
            Array of shape ``(n, 2)``: longitude, latitude.
        crs
            ``wgs84``, ``cgcs2000``, ``gcj02`` or ``bd09``.
        """
        xy = np.asarray(points, dtype=np.float64)
        if xy.size == 0:
            return np.zeros(0, dtype=np.int64)
        if xy.ndim != 2 or xy.shape[1] != 2:
            msg = f"points must have shape (n, 2), got {xy.shape}"
            raise ValueError(msg)
        x, y = self._convert(xy[:, 0], xy[:, 1], crs)
        return self._locator.locate_many(x, y)

    def locate_many(self, points: npt.ArrayLike, *, crs: str = "wgs84") -> pd.DataFrame:
        """Return the grids holding many points, vectorised.

        Parameters
        ----------
        points
            Array of shape ``(n, 2)``: longitude, latitude.
        crs
            ``wgs84``, ``cgcs2000``, ``gcj02`` or ``bd09``.

        Returns
        -------
        pandas.DataFrame
            ``grid_id`` and ``community_id`` per point, in input order
            (``None`` where no grid covers the point).
        """
        rows = self.locate_indices(points, crs=crs)
        grid = np.array([*self.grid_ids, None], dtype=object)[rows]  # -1 picks the None
        community = np.array([*self.community_ids, None], dtype=object)[rows]
        return pd.DataFrame({"grid_id": grid, "community_id": community}, dtype=object)

    @staticmethod
    def _convert(
        lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        try:
            x, y = to_wgs84(np.atleast_1d(lon), np.atleast_1d(lat), crs)
        except ValueError as exc:
            raise InputError.single("crs", crs, str(exc)) from exc
        return x, y

    def building(self, building_id: str) -> dict[str, Any]:
        """Return one building's assignment: ``building_id``, ``grid_id``, ``households``, ….

        Raises
        ------
        NotFoundError
            When the plan has no such building.
        """
        row = self._b_row.get(str(building_id))
        if row is None:
            msg = f"building {building_id!r} is not in plan {self.plan_id}"
            raise NotFoundError(msg)
        return {c: jsonable(v[row]) for c, v in zip(self._b_columns, self._b_values, strict=True)}

    # ------------------------------------------------------------------ grids
    def community_ids_known(self) -> list[str]:
        """Return the communities that have grids, sorted."""
        return sorted(self._by_community)

    def _rows(self, community_id: str | None) -> npt.NDArray[np.int64]:
        if community_id is None:
            return np.arange(len(self), dtype=np.int64)
        rows = self._by_community.get(str(community_id))
        if rows is None:
            msg = f"community {community_id!r} has no grids in plan {self.plan_id}"
            raise NotFoundError(msg)
        return rows

    def grids_json(self, community_id: str | None = None) -> bytes:
        """Return the grids (of one community) as GeoJSON FeatureCollection bytes."""
        features = b",".join(self._feature_json[i] for i in self._rows(community_id))
        return b'{"type":"FeatureCollection","features":[' + features + b"]}"

    def grids(self, community_id: str | None = None) -> dict[str, Any]:
        """Return the grids (of one community) as a GeoJSON FeatureCollection.

        Every feature carries the grid's columns (``grid_id``, ``community_id``,
        ``households``, ``workload``, ``n_buildings``, ``area_m2``, …) and, when
        the plan has a ``workers`` layer, the list ``workers``.

        Raises
        ------
        NotFoundError
            When ``community_id`` has no grids in this plan.
        """
        result: dict[str, Any] = json.loads(self.grids_json(community_id))
        return result

    def grid_json(self, grid_id: str) -> bytes:
        """One grid as a GeoJSON Feature, UTF-8 bytes (see :meth:`grid`)."""
        row = self._grid_row.get(str(grid_id))
        if row is None:
            msg = f"grid {grid_id!r} is not in plan {self.plan_id}"
            raise NotFoundError(msg)
        return self._feature_json[row]

    def grid(self, grid_id: str) -> dict[str, Any]:
        """One grid as a GeoJSON Feature with its statistics and workers.

        Raises
        ------
        NotFoundError
            When the plan has no such grid.
        """
        result: dict[str, Any] = json.loads(self.grid_json(grid_id))
        return result

    # ------------------------------------------------------------------ JSON fast paths
    def location_json(self, row: int) -> bytes:
        """``{"grid_id", "community_id", "plan_id"}`` of grid ``row`` as JSON bytes."""
        return self._locate_json[row]

    def results_json(self, rows: npt.NDArray[np.int64]) -> bytes:
        """Return a JSON array of ``{"grid_id", "community_id"}`` or ``null`` (row -1) per row."""
        return b"[" + b",".join(self._batch_table[rows].tolist()) + b"]"
