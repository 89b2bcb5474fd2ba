"""The partition job: prepared inputs → a plan (CONTRACT §3).

For every community (independently, in parallel through an executor):

1. its buildings, the streets and barriers around it, compounds, locked grids
   and the previous plan's labels are cut out, in the metric CRS;
2. :meth:`PartitionInstance.from_frames` tessellates the community and builds
   the adjacency (:mod:`gridder.graph.adjacency`);
3. the optimizer labels the buildings (:mod:`gridder.partition`; a re-plan
   when a previous plan is given);
4. :func:`gridder.polygons.grid_polygons` draws grid polygons that tile the
   community, and :func:`gridder.polygons.assign_grid_codes` numbers them
   ``{community_id}-NNN`` (west→east, north→south; persisting grids keep their code).

Then the plan's guarantees are verified by the solver-independent checker
(:func:`gridder.testing.plan_violations`) before anything is written.
"""

from __future__ import annotations

import logging
import math
import platform
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridder import __version__
from gridder.errors import InputError, Problem, SolverError
from gridder.graph.adjacency import Tessellation, building_points, components
from gridder.graph.generators import onto_community, points_in
from gridder.io.crs import local_metric_crs
from gridder.partition import PartitionConfig
from gridder.partition.check import grid_components
from gridder.partition.config import workload_scale
from gridder.partition.executor import solve_one
from gridder.partition.instance import PartitionInstance
from gridder.partition.movebound import moved_lower_bound
from gridder.partition.quality import PartitionQuality, partition_quality
from gridder.partition.solver import PartitionResult
from gridder.polygons import assign_grid_codes, boundary_on_street_lengths, grid_polygons
from gridder.prepare import Inputs
from gridder.schema import WGS84
from gridder.testing import plan_violations
from gridder.validate import polygonal_part

__all__ = [
    "CommunityPlan",
    "PlanFrames",
    "PreviousPlan",
    "check_weights",
    "partition_inputs",
    "read_locked",
    "workload",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: Columns that may carry workload (CONTRACT §1 optional building columns).
WORKLOAD_COLUMNS = ("households", "population", "floating_population", "elderly", "special_care")
#: Streets this far (m) around a community still cut its tessellation.
STREET_MARGIN_M = 30.0


@dataclass(frozen=True)
class PreviousPlan:
    """What a re-plan keeps from an earlier plan.

    Attributes
    ----------
    assignment
        ``building_id`` → ``grid_id`` of the earlier plan.
    grids
        The earlier grid polygons (``grid_id``, ``community_id``), WGS84.
    plan_id
        The earlier plan's id.
    """

    assignment: pd.Series
    grids: gpd.GeoDataFrame
    plan_id: str | None = None
    locked_grids: tuple[str, ...] = ()
    #: Codes its community used in earlier plans and no longer (``plan_meta.retired_grids``).
    retired: tuple[str, ...] = ()

    def used_codes(self, community_id: str) -> list[str]:
        """Every code ``community_id`` has used: this plan's grids and the retired ones."""
        grids = self.grids[self.grids["community_id"].astype(str) == str(community_id)]
        prefix = f"{community_id}-"
        return [*grids["grid_id"].astype(str), *(c for c in self.retired if c.startswith(prefix))]

    @classmethod
    def open(cls, path: str | Path) -> PreviousPlan:
        """Read the assignment and grids of a plan GeoPackage."""
        import pyogrio

        from gridder.io.write import read_meta

        source = str(path)
        if not Path(path).exists():
            raise InputError.single(source, "", "previous plan not found")
        try:
            assign = pyogrio.read_dataframe(path, layer="assignments", read_geometry=False)
            grids = pyogrio.read_dataframe(path, layer="grids")
            meta = read_meta(path)
        except Exception as exc:  # any unreadable plan is bad input
            raise InputError.single(source, "", f"not a gridder plan: {exc}") from exc
        problems: list[Problem] = []
        for col in ("building_id", "grid_id"):
            if col not in assign.columns:
                problems.append(Problem(source, "assignments", f"missing column {col!r}"))
        if problems:
            raise InputError(problems)
        blank = assign["grid_id"].isna() | (assign["grid_id"].astype(str).str.strip() == "")
        for row in np.flatnonzero(blank.to_numpy())[:20].tolist():
            bid = assign["building_id"].iloc[row]
            problems.append(
                Problem(source, f"assignments row {row + 1}", f"building {bid}: no grid_id")
            )
        dup = assign["building_id"].astype(str).duplicated(keep=False)
        for bid in sorted(set(assign.loc[dup, "building_id"].astype(str)))[:20]:
            problems.append(
                Problem(source, f"building_id={bid}", "assigned more than once in the plan")
            )
        known = set(grids["grid_id"].astype(str)) if "grid_id" in grids.columns else set()
        stray = sorted(set(assign.loc[~blank, "grid_id"].astype(str)) - known)
        for gid in stray[:20]:
            problems.append(
                Problem(
                    source,
                    f"grid_id={gid}",
                    "buildings are assigned to a grid not in its grids layer",
                )
            )
        if problems:
            raise InputError(problems)
        series = pd.Series(
            assign["grid_id"].astype(str).to_numpy(),
            index=assign["building_id"].astype(str).to_numpy(),
        )
        locked = tuple(str(g) for g in meta.get("locked_grids") or ())
        retired = tuple(str(g) for g in meta.get("retired_grids") or ())
        return cls(series, grids.to_crs(WGS84), meta.get("plan_id"), locked, retired)


def _grid_id_list(path: Path) -> list[str] | None:
    """Grid ids listed in a text/CSV file (None when the file holds geometries)."""
    if path.suffix.lower() not in {".txt", ".csv"} or not path.exists():
        return None
    text = path.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0].lower() if text.strip() else ""
    if any(h in first for h in ("wkt", "lon", "经度")):
        return None
    ids = [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]
    return [i for i in ids if i.lower() != "grid_id"]


def read_locked(
    path: str | None,
    previous: PreviousPlan | None,
    *,
    grid_ids: Sequence[str] | None = None,
    crs: str | None = None,
) -> gpd.GeoDataFrame | None:
    """The grids to keep exactly in a run (``--locked``), WGS84.

    Parameters
    ----------
    path
        A polygon file of grids (with ``grid_id`` to keep their codes; a plan
        GeoPackage's ``grids`` layer is used when no layer is named), or a
        text/CSV file listing grid ids of ``previous``.
    previous
        The earlier plan of a re-plan; its hand-locked grids
        (``plan_meta.locked_grids``, set by ``gridder edit --lock``) are
        locked too.
    grid_ids
        Grid ids of ``previous`` to lock, given directly (the API's
        ``locked_grids``; instead of ``path``).
    crs
        ``--crs``: the CRS of a polygon file that embeds none (as for every input).

    Raises
    ------
    InputError
        For unknown grid ids, ids without a previous plan, or non-polygons.
    """
    from gridder.io.read import InputSpec, read_layer

    frames: list[gpd.GeoDataFrame] = []
    if grid_ids is not None:
        frames.append(previous_grids(grid_ids, previous, "locked_grids"))
    if path is not None:
        file, layer = InputSpec(path, "locked").file_and_layer
        ids = _grid_id_list(file)
        if ids is not None:
            frames.append(previous_grids(ids, previous, path))
        else:
            if file.suffix.lower() == ".gpkg" and layer is None and file.exists():
                import pyogrio

                if "grids" in {str(n) for n in pyogrio.list_layers(file)[:, 0]}:
                    path = f"{path}:grids"
            frame = read_layer(InputSpec(path, "locked", crs=crs))
            bad = ~frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
            if bad.any():
                row = int(frame.loc[bad, "_row"].iloc[0])
                raise InputError.single(path, f"row {row}", "a locked grid must be a polygon")
            geoms = frame.geometry.to_numpy()
            invalid = ~shapely.is_valid(geoms)
            if invalid.any():  # a lock is kept exactly: it is never repaired behind one's back
                raise InputError(
                    Problem(
                        path,
                        f"row {int(row)}",
                        f"invalid polygon ({reason}); a locked grid is kept exactly as drawn: "
                        "fix it",
                    )
                    for row, reason in zip(
                        frame.loc[invalid, "_row"],
                        shapely.is_valid_reason(geoms[invalid]),
                        strict=True,
                    )
                )
            frames.append(_codes_or_none(frame.drop(columns=["_row"])))
    if previous is not None and previous.locked_grids:
        taken = set().union(
            *(set(f.get("grid_id", pd.Series(dtype=str)).astype(str)) for f in frames)
        )
        hand = previous.grids["grid_id"].astype(str).isin(previous.locked_grids)
        frames.append(previous.grids[hand & ~previous.grids["grid_id"].astype(str).isin(taken)])
    frames = [f for f in frames if len(f)]
    if not frames:
        return None
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=WGS84)
    _check_locked(out, str(path) if path is not None else "locked_grids")
    return out


def previous_grids(
    ids: Sequence[str], previous: PreviousPlan | None, source: str
) -> gpd.GeoDataFrame:
    """The grids of ``previous`` with these ids (grid ids given to lock), WGS84.

    Raises
    ------
    InputError
        Naming ``source`` when there is no previous plan, an id repeats or is
        not a grid of ``previous``.
    """
    if previous is None:
        raise InputError.single(source, "", "grid ids to lock need a previous plan (--previous)")
    twice = sorted({g for g in ids if ids.count(g) > 1})
    if twice:
        raise InputError(
            [Problem(source, f"grid_id={g}", "the grid is locked twice") for g in twice]
        )
    known = set(previous.grids["grid_id"].astype(str))
    unknown = sorted(set(ids) - known)
    if unknown:
        raise InputError.single(
            source, ", ".join(unknown[:10]), "grid ids not in the previous plan"
        )
    return previous.grids[previous.grids["grid_id"].astype(str).isin(list(ids))]


#: Locked grids may overlap each other, or reach out of their community, by this
#: share of their area (drawing slack); more is an input error.
LOCKED_SLACK = 0.02
#: Area (m²) by which a locked grid's land may differ from its polygon (snapping to
#: the 1 mm grid), or more: :data:`LOCK_EDGE_TOLERANCE_M` times its outline's length.
LOCK_AREA_TOLERANCE_M2 = 0.5
#: Width (m) of the band along a locked grid's outline that snapping may shift.
LOCK_EDGE_TOLERANCE_M = 0.002
#: A grid code, ``{community_id}-NNN``.
_GRID_CODE = re.compile(r"(.+)-\d{3,}")


def _codes_or_none(locked: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``grid_id`` as text, ``None`` where a row gives none (empty, null); dropped if none does."""
    if "grid_id" not in locked.columns:
        return locked
    codes = _lock_codes(locked)
    if all(c is None for c in codes):
        return locked.drop(columns=["grid_id"])
    return locked.assign(grid_id=pd.Series(codes, index=locked.index, dtype=object))


def _lock_codes(locked: gpd.GeoDataFrame) -> list[str | None]:
    """The code given with each locked grid (``grid_id``), ``None`` where none is."""
    if "grid_id" not in locked.columns:
        return [None] * len(locked)
    return [None if pd.isna(g) or not str(g).strip() else str(g) for g in locked["grid_id"]]


def _locked_names(locked: gpd.GeoDataFrame) -> list[str]:
    codes = _lock_codes(locked)
    return [f"polygon {k + 1}" if c is None else f"grid_id={c}" for k, c in enumerate(codes)]


def _locked_communities(locked: gpd.GeoDataFrame) -> list[str | None]:
    """The community of each locked grid where known: its ``community_id``, else its code's."""
    if "community_id" in locked.columns:
        return [None if pd.isna(c) else str(c) for c in locked["community_id"]]
    if "grid_id" in locked.columns:
        codes = (_GRID_CODE.fullmatch(str(g)) for g in locked["grid_id"])
        return [None if m is None else m.group(1) for m in codes]
    return [None] * len(locked)


def _check_locked(locked: gpd.GeoDataFrame, source: str) -> None:
    """Refuse locked grids that repeat a code or overlap each other (they cannot both be kept).

    Grids of two different communities may overlap where the communities do
    (a building belongs to one community, so each keeps its own).
    """
    names = _locked_names(locked)
    community = _locked_communities(locked)
    problems: list[Problem] = []
    if "grid_id" in locked.columns:
        ids = pd.Series([c for c in _lock_codes(locked) if c is not None], dtype=object)
        for gid in sorted(set(ids[ids.duplicated()])):
            problems.append(Problem(source, f"grid_id={gid}", "the grid is locked twice"))
    minx, miny, maxx, maxy = locked.total_bounds
    metric = locked.to_crs(local_metric_crs((minx + maxx) / 2, (miny + maxy) / 2))
    geoms = shapely.make_valid(metric.geometry.to_numpy())
    area = shapely.area(geoms)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a >= b or (None not in (community[a], community[b]) and community[a] != community[b]):
            continue
        shared = shapely.area(shapely.intersection(geoms[a], geoms[b]))
        if shared > LOCKED_SLACK * min(area[a], area[b]):
            problems.append(
                Problem(
                    source,
                    f"{names[a]} and {names[b]}",
                    f"locked grids overlap ({shared:.0f} m²); a building can be kept in one only",
                )
            )
    if problems:
        raise InputError(problems[:50])


@dataclass(frozen=True)
class CommunityTask:
    """Everything one community's partition needs (picklable, metric CRS)."""

    community_id: str
    geometry: shapely.Geometry
    buildings: gpd.GeoDataFrame
    value: np.ndarray
    streets: gpd.GeoDataFrame | None
    barriers: gpd.GeoDataFrame | None
    compounds: gpd.GeoDataFrame | None
    locked: gpd.GeoDataFrame | None
    previous_assignment: pd.Series | None
    previous_grids: gpd.GeoDataFrame | None
    config: PartitionConfig
    #: The exact (unrounded) balanced value per building, when it differs from
    #: ``value`` (workloads with fractional weights): grids report and measure it.
    exact_value: np.ndarray | None = None
    #: The options the solver works with, when ``value`` is scaled (``value_scale``):
    #: the band scaled alike. Default ``config``.
    solve_config: PartitionConfig | None = None
    #: Every code the community used in earlier plans (new grids are numbered above).
    used_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommunityPlan:
    """One community's grids and assignment (metric CRS) and how they were found."""

    community_id: str
    grids: gpd.GeoDataFrame
    assignment: pd.DataFrame
    meta: dict[str, Any]
    boundary_near_m: float
    boundary_total_m: float


@dataclass
class PlanFrames:
    """A whole plan, ready to write (all frames WGS84)."""

    grids: gpd.GeoDataFrame
    assignments: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    streets: gpd.GeoDataFrame | None = None

    def write(self, path: str | Path) -> Path:
        """Write the plan GeoPackage atomically (CONTRACT §3).

        The streets the grids were cut by are kept as a ``streets`` layer, so
        that hand edits (``gridder edit``) respect the same barriers.
        """
        from gridder.io.write import write_plan

        extra = {"streets": self.streets} if self.streets is not None else None
        return write_plan(
            path,
            grids=self.grids,
            assignments=self.assignments,
            communities=self.communities,
            meta=self.meta,
            extra_layers=extra,
        )


def check_weights(weights: Mapping[str, float], source: str = "--weights") -> dict[str, float]:
    """Workload weights as given, checked: finite, >= 0, one above 0, each column once.

    Raises
    ------
    InputError
        Naming ``source`` and the weight at fault (the CLI's ``--weights``,
        the API's ``params.weights``).
    """
    seen: set[str] = set()
    out: dict[str, float] = {}
    for name, weight in weights.items():
        key = str(name).strip()
        if not key:
            raise InputError.single(source, f"={weight}", "a weight needs a column name")
        if key.lower() in seen:
            raise InputError.single(source, key, f"{key!r} is weighted twice (any case)")
        seen.add(key.lower())
        try:
            value = float(weight)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise InputError.single(
                source, f"{key}={weight}", "a weight must be a finite number >= 0"
            )
        out[key] = value
    if not any(w > 0 for w in out.values()):
        raise InputError.single(source, "", "at least one weight must be above 0")
    return out


def workload(
    buildings: pd.DataFrame, weights: Mapping[str, float], *, source: str = "buildings"
) -> np.ndarray:
    """Weighted sum of building columns (missing values count 0).

    A weight names a workload column (:data:`WORKLOAD_COLUMNS`) or any other
    building column, in any case (``PatrolPts`` or ``patrolpts``).

    Raises
    ------
    InputError
        When a weight names no column of the buildings, or a column holds a
        value that is not a number, negative or above
        :data:`~gridder.validate.MAX_COUNT` (naming ``source`` and the buildings).
    """
    from gridder.validate import MAX_COUNT, count_text

    lower = {str(c).lower(): str(c) for c in buildings.columns}
    ids = buildings["building_id"].astype(str).to_numpy() if "building_id" in buildings else None
    total = np.zeros(len(buildings), dtype=np.float64)
    problems: list[Problem] = []
    for name, weight in weights.items():
        column = name if name in buildings.columns else lower.get(name.lower())
        if column is None and name not in WORKLOAD_COLUMNS:
            numeric = [
                str(c)
                for c in buildings.columns
                if c not in WORKLOAD_COLUMNS
                and not str(c).startswith("_")
                and pd.api.types.is_numeric_dtype(buildings[c])
                and not pd.api.types.is_bool_dtype(buildings[c])
            ]
            known = ", ".join([*WORKLOAD_COLUMNS, *numeric[:10]])
            raise InputError.single("--weights", name, f"no such building column; use {known}")
        raw = None if column is None else buildings[column]
        col = None if raw is None else pd.to_numeric(raw, errors="coerce")
        if col is not None and raw is not None:
            given = raw.notna() & (raw.astype(str).str.strip() != "")
            wrong = ((col < 0) | (col.abs() > MAX_COUNT)).fillna(False)
            for i in np.flatnonzero((given & col.isna()) | wrong)[:20].tolist():
                where = f"building_id={ids[i]}" if ids is not None else f"row {i + 1}"
                why = (
                    f"{name} is not a number: {raw.iloc[i]!r}"
                    if pd.isna(col.iloc[i])
                    else f"{name} = {count_text(col.iloc[i])}: a count must be 0-{MAX_COUNT:,}"
                )
                problems.append(Problem(source, where, why))
        values = np.zeros(len(buildings)) if col is None else col.fillna(0).to_numpy(float)
        blank = len(buildings) if col is None else int(col.isna().sum())
        if blank and weight and not problems:
            log.warning(
                "--weights %s=%g: %d of %d buildings have no %s; counted as 0",
                name,
                weight,
                blank,
                len(buildings),
                name,
            )
        total += weight * values
    if problems:
        raise InputError(problems)
    return total


def _clip(frame: gpd.GeoDataFrame | None, geom: shapely.Geometry) -> gpd.GeoDataFrame | None:
    if frame is None or len(frame) == 0:
        return None
    area = shapely.buffer(shapely.envelope(geom), STREET_MARGIN_M)
    idx = frame.sindex.query(area, predicate="intersects")
    return frame.iloc[np.sort(idx)].copy() if len(idx) else None


def _plan_community(task: CommunityTask) -> CommunityPlan:
    """Partition one community (runs in a worker process)."""
    config = task.config
    b = task.buildings
    cid = task.community_id
    if len(b) == 0:
        parts = shapely.get_parts(task.geometry)  # a one-part MultiPolygon is a Polygon
        grids = gpd.GeoDataFrame(
            {"label": [0], "n_buildings": [0], "area_m2": [task.geometry.area]},
            geometry=[parts[0] if len(parts) == 1 else task.geometry],
            crs=b.crs,
        ).set_index("label")
        # its one grid holds no household: out of band, and nothing could change that
        # the keys of every other community (PartitionResult.to_meta), for systems reading them
        bound: dict[str, float] = {"min_out_of_band": 1, "zones": 1, "zones_proven": 1}
        bound |= {"zones_fallback": 0, "deterministic_time": 0.0}
        meta = {
            "community_id": cid,
            "n_grids": 1,
            "k_target": 1,
            "status": "TRIVIAL",
            "objective": 0.0,
            "bound": 0.0,
            "bound_kind": "band_lower_bound",
            "gap": 0.0,
            "limit_hit": False,
            "solve_time_s": 0.0,
            "deterministic_time": 0.0,
            "seed": config.community_seed(cid),
            "attempts": 1,
            "attempt_kept": 0,
            "out_of_band": 1,
            "lower_bound_out_of_band": 1,
            "lower_bound_forced": 1,
            "lower_bound_packing": -1,
            "lower_bound_exact": -1,
            "lower_bound_cap": config.grid_cap,
            "out_of_band_above_lower_bound": 0,
            "in_band_ceiling": 0.0,
            "lower_bound_respecting_barriers": {**bound, "with_band_bound": 1},
            "lower_bound_within_solver_regions": bound,
            "out_of_band_above_proven_zone_bound": 0,
            "lower_bound_loose": [],
            "over_max_unit_ids": [],
            "forced_unit_ids": [],
            "hard_barrier_merges": 0,
            "quality": {
                "n_grids": 1,
                "n_counted": 1,
                "in_band_share": 0.0,
                "max_deviation": 1.0,
                "contiguity_share": 1.0,
                "single_compound_share": 1.0,
                "weighted_distance_m": None,
                "mean_polsby_popper": float(
                    4 * np.pi * task.geometry.area / max(task.geometry.length, 1e-9) ** 2
                ),
                "households_min": 0,
                "households_max": 0,
            },
            "notes": ["no buildings: one grid of the whole community, holding no household"],
            "components": len(shapely.get_parts(task.geometry)),
            "buildings_across_barriers": [],
            "moved_lower_bound": 0 if task.previous_assignment is not None else None,
        }
        return _finish(task, grids, np.empty(0, dtype=np.int64), meta, None, None, 0.0, 0.0)
    previous_labels = None
    number: dict[str, int] = {}
    if task.previous_assignment is not None:
        number = {code: k for k, code in enumerate(_previous_codes(task))}
        mapped = task.previous_assignment.map(number)
        previous_labels = mapped.reindex(b["building_id"].astype(str)).fillna(-1).astype(int)
        previous_labels.index = b.index
    locked_labels = None
    locked_polys = None
    lock_codes: dict[int, str] = {}
    lock_labels: list[int] = []  # per locked polygon
    if task.locked is not None and len(task.locked):
        locked_polys = task.locked
        pts = onto_community(building_points(b), task.geometry)  # as the tessellation asks
        lab = np.full(len(b), -1, dtype=np.int64)
        before = None if previous_labels is None else previous_labels.to_numpy()
        codes = _lock_codes(task.locked)
        for k, poly in enumerate(task.locked.geometry.to_numpy()):
            inside = points_in(pts, poly) & (lab < 0)
            # the label of the previous grid whose land it keeps (else a fresh one): the
            # re-plan then starts from a plan whose labels agree; its code is the lock's
            label = _lock_label(None if before is None else before[inside], lab, len(number) + k)
            lab[inside] = label
            lock_labels.append(label)
            if codes[k] is not None:
                lock_codes[label] = str(codes[k])
        locked_labels = lab
    instance, tess = PartitionInstance.from_frames(
        cid,
        task.geometry,
        b,
        task.value,
        task.streets,
        barriers=task.barriers,
        compounds=task.compounds,
        locked_polygons=locked_polys,
        locked_labels=locked_labels,
        previous_labels=previous_labels,
    )
    if locked_labels is not None and locked_polys is not None:
        _check_locks_kept(locked_polys, lock_labels, tess, instance, locked_labels)
    solver_config = task.solve_config or config
    result = solve_one(instance, solver_config)  # the solver derives the community's seed
    fixed = () if locked_labels is None else np.unique(locked_labels[locked_labels >= 0]).tolist()
    polys = grid_polygons(tess, result.labels, fixed=fixed)
    near, total = boundary_on_street_lengths(
        polys, task.geometry, task.streets, tess.compound_edges()
    )
    meta = result.to_meta()
    meta["components"] = len(np.unique(tess.components))
    across = [str(b) for b in tess.building_ids[tess.across_barriers]]
    meta["buildings_across_barriers"] = across
    meta["moved_lower_bound"] = moved_lower_bound(instance, solver_config)
    if solver_config.value_scale != 1:  # the cap in the band's own units
        meta["lower_bound_cap"] = result.lower_bound.cap / solver_config.value_scale
    notes = list(result.notes)
    if across:
        shown = ", ".join(across[:5]) + (" …" if len(across) > 5 else "")
        notes.append(
            f"{len(across)} building(s) stand across a major street/river/rail line ({shown}): "
            "the land under a building stays with it, so its grid reaches across the line"
        )
    meta["notes"] = notes
    return _finish(
        task, polys, result.labels, meta, result, instance, near, total, lock_codes=lock_codes
    )


def _note_exact_band(
    meta: dict[str, Any], quality: PartitionQuality, result: PartitionResult, task: CommunityTask
) -> None:
    """Record the grids out of band by their exact value; a note where the solver's differ.

    The solver balances each building's workload rounded (after scaling by
    ``value_scale``) and, with ``--area-weight``, each cell's land term rounded
    on the cells before the grid boundaries are straightened; the grids report
    the exact sums (``quality``).
    """
    out_exact = quality.n_counted - quality.n_in_band
    meta["out_of_band_exact"] = out_exact
    if out_exact == result.out_of_band:
        return
    why = []
    if task.exact_value is not None:
        scale = (task.solve_config or task.config).value_scale
        why.append(f"each building's workload rounded to 1/{scale} of a unit")
    if task.config.area_weight:
        why.append(
            "each building's cell land rounded, before the grid boundaries were straightened "
            "(the grids report their polygons' land)"
        )
    meta["notes"] = [
        *meta.get("notes", []),
        f"{out_exact} grid(s) out of band by their exact value, {result.out_of_band} by the "
        f"values the solver balances ({'; '.join(why)})",
    ]


def _check_locks_kept(
    locked: gpd.GeoDataFrame,
    lock_labels: Sequence[int],
    tess: Tessellation,
    instance: PartitionInstance,
    labels: np.ndarray,
) -> None:
    """Refuse locked grids the cells cannot keep exactly (exit 2, naming them).

    Each locked grid's land is the union of its buildings' cells, which follow
    its outline; it differs from the polygon given where land next to it
    touches no other grid (the buildings of a grid between locked ones all
    demolished: the lock would grow over it), or where a part of it holds none
    of its buildings and touches none of its land (cut off by a major street).
    A locked grid must also be one connected piece. ``lock_labels`` gives the
    label of each locked polygon, ``labels`` the locked label of each building.
    """
    names = _locked_names(locked)
    polys = locked.geometry.to_numpy()
    uniq, cells = tess.faces.dissolve(np.where(labels >= 0, labels, -1))
    pieces = grid_components(instance, np.where(labels >= 0, labels, -1 - np.arange(len(labels))))
    crs = tess.crs
    # two locks may overlap a little (LOCKED_SLACK): land of one that the other holds
    # is neither grown nor lost
    all_locks = shapely.intersection(shapely.union_all(polys), tess.community)
    all_cells = shapely.union_all(cells[uniq >= 0])
    problems: list[Problem] = []
    for k, (poly, lab) in enumerate(zip(polys, lock_labels, strict=True)):
        at = int(np.searchsorted(uniq, lab))
        if at >= len(uniq) or uniq[at] != lab:
            continue  # holds no building (refused before, when all of them are gone)
        mine = cells[at]
        lock = shapely.intersection(poly, tess.community)
        tol = max(LOCK_AREA_TOLERANCE_M2, LOCK_EDGE_TOLERANCE_M * float(shapely.length(lock)))
        grown = shapely.difference(mine, all_locks)
        lost = shapely.difference(lock, all_cells)
        if pieces.get(lab, 1) > 1:
            problems.append(
                Problem(
                    "--locked",
                    names[k],
                    f"the locked grid's buildings lie in {pieces[lab]} pieces that do not "
                    "touch through its land (a polygon in parts, or joined by a neck too "
                    "narrow to pass): a grid is one connected piece; lock each part on its own",
                )
            )
        elif shapely.area(grown) > tol:
            problems.append(
                Problem(
                    "--locked",
                    names[k],
                    f"cannot be kept exactly: {shapely.area(grown):.0f} m² of land beside it "
                    f"(around {_lon_lat(grown, crs)}) touches no grid that is "
                    "not locked, and would join it; lock fewer grids there, or draw the "
                    "locked polygon over that land",
                )
            )
        elif shapely.area(lost) > tol:
            problems.append(
                Problem(
                    "--locked",
                    names[k],
                    f"cannot be kept exactly: {shapely.area(lost):.0f} m² of it (around "
                    f"{_lon_lat(lost, crs)}) holds none of its buildings and "
                    "touches none of its land (cut off by a major street or river?); "
                    "leave that part out of the locked polygon",
                )
            )
    problems += _trapped_by_locks(names, lock_labels, instance, labels)
    if problems:
        raise InputError(problems[:50])


def _trapped_by_locks(
    names: Sequence[str],
    lock_labels: Sequence[int],
    instance: PartitionInstance,
    labels: np.ndarray,
) -> list[Problem]:
    """Buildings without households whose only neighbours are locked (in a lock's hole, say).

    No grid can be drawn of them, and a locked grid takes no building: the
    locks cannot all be kept. (Free buildings holding households there form a
    grid of their own.)
    """
    free = labels < 0
    e = np.asarray(instance.edges, dtype=np.int64).reshape(-1, 2)
    if not free.any() or not len(e):
        return []
    comp = components(len(labels), e[free[e[:, 0]] & free[e[:, 1]]])
    value = np.asarray(instance.value, dtype=np.int64)
    lock_of = {int(lab): k for k, lab in enumerate(lock_labels)}
    problems = []
    for c in np.unique(comp[free]).tolist():
        members = np.flatnonzero(free & (comp == c))
        if value[members].sum() > 0:
            continue
        inside = np.zeros(len(labels), dtype=bool)
        inside[members] = True
        touching = e[inside[e[:, 0]] ^ inside[e[:, 1]]].ravel()
        around = labels[touching[~inside[touching]]]
        if len(around) and (around >= 0).all():
            ids = ", ".join(str(u) for u in instance.unit_ids[members][:5])
            locks = sorted({names[lock_of[int(g)]] for g in around if int(g) in lock_of})
            problems.append(
                Problem(
                    "--locked",
                    " and ".join(locks) or "locked grids",
                    f"building(s) {ids} hold no households and touch only locked grids (in a "
                    "hole of one, or between them): no grid can hold them and a locked grid "
                    "takes none; lock fewer grids there, or draw the locked polygon over them",
                )
            )
    return problems


def _lon_lat(geom: shapely.Geometry, crs: Any) -> str:
    """A point of ``geom`` as ``lon, lat`` (WGS84, 5 decimals)."""
    pt = gpd.GeoSeries([shapely.point_on_surface(geom)], crs=crs).to_crs(WGS84).iloc[0]
    return f"{pt.x:.5f}, {pt.y:.5f}"


def _lock_label(before: np.ndarray | None, labels: np.ndarray, fresh: int) -> int:
    """A locked grid's label: the previous grid most of its buildings were in, else ``fresh``.

    ``before`` holds the previous labels of its buildings (``-1``: new); a
    label another locked grid already took is not taken twice.
    """
    if before is not None:
        prev = before[(before >= 0) & ~np.isin(before, labels[labels >= 0])]
        if len(prev):
            values, counts = np.unique(prev, return_counts=True)
            return int(values[np.argmax(counts)])
    return fresh


def _previous_codes(task: CommunityTask) -> list[str]:
    """The previous plan's grid codes of a community in label order (label k: the k-th)."""
    prev = task.previous_assignment
    return [] if prev is None else sorted(set(prev.astype(str)))


def _persisting_codes(
    task: CommunityTask, labels: np.ndarray, instance: PartitionInstance | None
) -> dict[Any, str]:
    """Codes of a re-plan's grids that kept the label of a previous grid they share buildings with.

    The re-plan labels grids by the previous grids' codes (sorted, numbered
    from 0) and keeps a label only for the grid that continues the previous one
    (most of its value; or the best household match of a plan drawn afresh),
    so the code follows the label rather than an overlap threshold.
    """
    if (
        task.previous_assignment is None
        or instance is None
        or len(instance.previous) != len(labels)
    ):
        return {}
    prev_codes = _previous_codes(task)
    prev = np.asarray(instance.previous, dtype=np.int64)
    lab = np.asarray(labels, dtype=np.int64)
    shared = (lab == prev) & (prev >= 0) & (prev < len(prev_codes))
    return {int(g): prev_codes[int(g)] for g in np.unique(lab[shared]).tolist()}


def _finish(  # noqa: PLR0917 - private, called twice with everything it needs
    task: CommunityTask,
    polys: gpd.GeoDataFrame,
    labels: np.ndarray,
    meta: dict[str, Any],
    result: PartitionResult | None,
    instance: PartitionInstance | None,
    near: float,
    total: float,
    *,
    lock_codes: Mapping[int, str] | None = None,
) -> CommunityPlan:
    cid = task.community_id
    b = task.buildings
    config = task.config
    members = pd.Series(labels, index=b["building_id"].astype(str).to_numpy())
    previous: Any = None
    if task.previous_assignment is not None and len(task.previous_assignment):
        previous = task.previous_assignment
    elif task.locked is not None and "grid_id" in task.locked.columns:
        previous = task.locked[["grid_id", "geometry"]]
    # a locked grid keeps the code given with it; a grid that continues the previous
    # grid of that code then takes another
    locks: dict[Any, str] = dict(lock_codes or {})
    known: dict[Any, str] = {
        lab: code
        for lab, code in _persisting_codes(task, labels, instance).items()
        if lab not in locks and code not in locks.values()
    }
    codes = assign_grid_codes(
        cid,
        polys,
        previous,
        members=members,
        fill_gaps=task.previous_assignment is None,
        known={**known, **locks},
        retired=task.used_codes,
    )
    labels_sorted = np.asarray(polys.index)
    grid_ids = [codes[lab] for lab in labels_sorted]
    hh = b["households"].to_numpy(np.int64)
    hh_grid = np.zeros(len(labels_sorted), dtype=np.int64)
    value_grid = np.zeros(len(labels_sorted), dtype=np.float64)
    exact = task.value if task.exact_value is None else task.exact_value
    if len(labels):
        pos = np.searchsorted(labels_sorted, labels)
        np.add.at(hh_grid, pos, hh)
        np.add.at(value_grid, pos, np.asarray(exact, dtype=np.float64))
    area = shapely.area(polys.geometry.to_numpy())
    perimeter = shapely.length(polys.geometry.to_numpy())
    pp = np.where(perimeter > 0, 4 * np.pi * area / np.maximum(perimeter, 1e-9) ** 2, 0.0)
    grids = gpd.GeoDataFrame(
        {
            "grid_id": grid_ids,
            "community_id": cid,
            "households": hh_grid,
            "workload": np.round(value_grid, 2),
            "n_buildings": polys["n_buildings"].to_numpy(np.int64),
            "area_m2": np.round(area, 1),
            "deviation": np.round((value_grid - config.target) / config.target, 4),
            "in_band": (value_grid >= config.min) & (value_grid <= config.max),
            "polsby_popper": np.round(pp, 4),
        },
        geometry=polys.geometry.to_numpy(),
        crs=polys.crs,
    )
    if result is not None and instance is not None:
        # the exact balanced value: the workload unrounded, and the land-area term of
        # --area-weight from each grid polygon as drawn (the solver balanced rounded
        # values on the cells before the boundaries were straightened)
        exact_grids = task.exact_value is not None or bool(config.area_weight)
        quality = partition_quality(
            instance,
            labels,
            config,
            grid_area=area,
            grid_perimeter=perimeter,
            unit_value=np.asarray(exact, dtype=np.float64) if exact_grids else None,
        )
        if config.area_weight:  # the balanced value includes the land-area term
            value = np.asarray(quality.value, dtype=np.float64)
            grids["workload"] = np.round(value, 2)
            grids["deviation"] = np.round((value - config.target) / config.target, 4)
            grids["in_band"] = (value >= config.min) & (value <= config.max)
        grids["single_building_over_max"] = quality.excluded
        meta["quality"] = quality.summary()
        if exact_grids:
            _note_exact_band(meta, quality, result, task)
    else:
        grids["single_building_over_max"] = False
    assignment = pd.DataFrame(
        {
            "building_id": b["building_id"].astype(str).to_numpy(),
            "grid_id": [codes[lab] for lab in labels] if len(labels) else [],
            "community_id": cid,
        }
    )
    if task.exact_value is not None:  # each building's workload (hand edits balance it)
        assignment["workload"] = np.round(np.asarray(task.exact_value, dtype=np.float64), 6)
    return CommunityPlan(cid, grids.sort_values("grid_id"), assignment, meta, near, total)


def _run_ordered(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int,
    executor: Executor | None,
    progress: Callable[[int, int], None] | None,
) -> list[R]:
    """Apply ``fn`` to every item through an executor; results in input order."""
    total = len(items)
    out: list[R | None] = [None] * total
    if executor is None and (workers <= 1 or total <= 1):
        for i, item in enumerate(items):
            out[i] = fn(item)
            if progress:
                progress(i + 1, total)
        return [r for r in out if r is not None]
    own = executor is None
    pool: Executor = executor or ProcessPoolExecutor(max_workers=min(workers, total))
    try:
        futures: dict[Future[R], int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
        from concurrent.futures import as_completed

        for done, fut in enumerate(as_completed(futures), start=1):
            out[futures[fut]] = fut.result()
            if progress:
                progress(done, total)
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
    return [r for r in out if r is not None]


def _locked_by_community(
    locked: gpd.GeoDataFrame | None, communities: gpd.GeoDataFrame, metric: Any
) -> dict[str, gpd.GeoDataFrame]:
    if locked is None or len(locked) == 0:
        return {}
    lm = locked.to_crs(metric)
    geoms = lm.geometry.to_numpy()
    bent = ~shapely.is_valid(geoms)
    if bent.any():  # valid as given, bent by the reprojection (nanometres): straightened
        geoms = geoms.copy()
        geoms[bent] = [polygonal_part(shapely.make_valid(g)) for g in geoms[bent]]
        lm = lm.set_geometry(gpd.GeoSeries(geoms, index=lm.index, crs=lm.crs))
    out: dict[str, gpd.GeoDataFrame] = {}
    comm = communities.to_crs(metric)
    area = shapely.area(lm.geometry.to_numpy())
    inside = np.zeros(len(lm))
    most = np.zeros(len(lm))  # the largest part of each lock in one community
    for cid, geom in zip(comm["community_id"], comm.geometry, strict=True):
        inter = shapely.area(shapely.intersection(lm.geometry.to_numpy(), geom))
        most = np.maximum(most, inter)
        if "community_id" in lm.columns:
            mask = (lm["community_id"].astype(str) == str(cid)).to_numpy()
        else:
            mask = inter > 0.5 * area
        inside[mask] = inter[mask]
        mine = lm[mask]
        if len(mine):
            clipped = mine.copy()
            clipped["geometry"] = shapely.intersection(mine.geometry.to_numpy(), geom)
            out[str(cid)] = clipped.reset_index(drop=True)
    # a grid belongs to one community: a locked grid reaching out of it would lose land
    names = _locked_names(lm)

    def outside(k: int) -> str:
        if "community_id" in lm.columns:
            where = f"its community {lm['community_id'].iloc[k]}"
        elif inside[k] > 0:
            where = "the community holding most of it"
        elif most[k] > 0:  # no community holds more than half of it
            return (
                f"no community holds more than {most[k] / area[k]:.0%} of the locked grid; "
                "a grid belongs to one community"
            )
        else:
            return "the locked grid lies in no community"
        return f"{1 - inside[k] / area[k]:.0%} of the locked grid lies outside {where}; " + (
            "a grid belongs to one community"
        )

    problems = [
        Problem("--locked", names[k], outside(k))
        for k in range(len(lm))
        if area[k] > 0 and inside[k] < (1 - LOCKED_SLACK) * area[k]
    ]
    # a grid code names its community ({community_id}-NNN): a locked grid whose code
    # names another community than the one it lies in would be coded as neither
    if "grid_id" in lm.columns:
        lies = {
            k: str(cid)
            for cid, mine in out.items()
            for k in np.flatnonzero(
                lm["grid_id"].astype(str).isin(mine["grid_id"].astype(str)).to_numpy()
            ).tolist()
        }
        for k, given in enumerate(_lock_codes(lm)):
            if given is None:
                continue
            code = str(given)
            named = _GRID_CODE.fullmatch(code)
            if named is None:
                example = f"{lies.get(k, 'C01')}-001"
                problems.append(
                    Problem(
                        "--locked",
                        names[k],
                        f"{code!r} is not a grid code ({{community_id}}-NNN, e.g. {example}): "
                        "give the grid's code, or no grid_id to number it afresh",
                    )
                )
            elif k in lies and named.group(1) != lies[k]:
                problems.append(
                    Problem(
                        "--locked",
                        names[k],
                        f"the code names community {named.group(1)} but the locked grid "
                        f"lies in community {lies[k]}; grid codes are {{community_id}}-NNN",
                    )
                )
    if problems:
        raise InputError(problems[:50])
    return out


def _empty_locks(
    locked: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame,
    community_id: str,
    community: shapely.Geometry,
) -> list[Problem]:
    """Locked grids holding none of the community's buildings (all demolished, say).

    Such a grid cannot be kept: a grid is its buildings' land, and its land
    would go to its neighbours.
    """
    if locked is None or not len(locked):
        return []
    names = _locked_names(locked)
    pts = onto_community(building_points(buildings), community)
    return [
        Problem(
            "--locked",
            names[k],
            f"holds none of community {community_id}'s buildings now (all removed?): "
            "leave it out of --locked",
        )
        for k, poly in enumerate(locked.geometry.to_numpy())
        if not points_in(pts, poly).any()
    ]


def partition_inputs(
    inputs: Inputs,
    config: PartitionConfig,
    *,
    weights: Mapping[str, float] | None = None,
    barriers: str | gpd.GeoDataFrame = "major",
    locked: gpd.GeoDataFrame | None = None,
    previous: PreviousPlan | None = None,
    workers: int = 2,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> PlanFrames:
    """Partition every community of prepared inputs into grids.

    Parameters
    ----------
    inputs
        Prepared inputs (:func:`gridder.inputs.load_inputs`).
    config
        Band, target, seed, limits (``balance_on="workload"`` balances the
        weighted sum of ``weights`` instead of households).
    weights
        Workload weights per building column (default ``{"households": 1}``).
    barriers
        ``"major"`` (major streets cut grids), ``"none"`` (no street is a
        barrier), or a frame of extra barrier lines/polygons (rivers,
        railways) added to the major streets.
    locked
        Polygons of grids to keep exactly (with ``grid_id`` to keep their codes).
    previous
        An earlier plan to re-plan from with as few moves as possible.
    workers
        Worker processes (communities are independent); ``executor`` overrides.
    executor
        Any ``concurrent.futures`` executor (a Dask client's, say).
    progress
        Called with ``(communities done, total)``.
    parameters
        Extra run parameters recorded in ``plan_meta``.

    Returns
    -------
    PlanFrames
        Grids, assignments, communities and ``plan_meta`` (WGS84).

    Raises
    ------
    SolverError
        When the finished plan breaks a guarantee (never expected: a bug).
    """
    started = time.perf_counter()
    metric = inputs.metric_crs
    weights = dict(weights or {"households": 1.0})
    communities = inputs.communities
    buildings = inputs.metric("buildings")
    inside = buildings[buildings["community_id"].notna()].copy()
    if previous is not None and len(inside):
        ids = set(inside["building_id"].astype(str))
        shared = len(ids & set(previous.assignment.index))
        if shared == 0:
            raise InputError.single(
                "--previous",
                str(previous.plan_id),
                "the plan shares no building id with the buildings: not a plan of these data",
            )
        if shared < 0.5 * len(ids):
            log.warning(
                "--previous: only %d of %d buildings were in the previous plan", shared, len(ids)
            )
    exact = None
    solve_config = config
    if config.balance_on == "workload":
        # the solver balances whole numbers (in hundredths of a band of 2-4, say: each
        # building's workload rounded after scaling); grids report the exact workload
        source = str(inputs.sources.get("buildings", {}).get("file", "buildings"))
        exact = workload(inside, weights, source=source).astype(np.float64)
        scale = workload_scale(config.target, config.max - config.min, exact.tolist())
        solve_config = config.scaled(scale)
        value = np.round(exact * solve_config.value_scale).astype(np.int64)
    else:
        value = inside["households"].to_numpy(np.int64)
    inside["_value"] = value
    inside["_exact"] = value if exact is None else exact
    streets = inputs.metric("streets") if inputs.streets is not None else None
    if streets is not None and isinstance(barriers, str) and barriers == "none":
        streets = streets.assign(highway=None, barrier=False)
    extra = None
    if isinstance(barriers, gpd.GeoDataFrame):
        extra = barriers.to_crs(metric)
        # a river or railway drawn as an area cuts along its outline
        geoms = extra.geometry.to_numpy()
        areal = np.isin(shapely.get_type_id(geoms), [3, 6])
        if areal.any():
            geoms = geoms.copy()
            geoms[areal] = shapely.boundary(geoms[areal])
            extra = extra.set_geometry(gpd.GeoSeries(geoms, index=extra.index, crs=metric))
    compounds = inputs.metric("compounds") if inputs.compounds is not None else None
    locked_map = _locked_by_community(locked, communities, metric)
    comm_m = communities.to_crs(metric)
    # each community's buildings in building_id order: the plan does not depend on the
    # order of the rows in the file (ids are unique, validated)
    order = np.argsort(inside["building_id"].astype(str).to_numpy(), kind="stable")
    groups = dict(tuple(inside.iloc[order].groupby("community_id", sort=False)))
    tasks = []
    empty_locks: list[Problem] = []
    for cid, geom in zip(comm_m["community_id"].astype(str), comm_m.geometry, strict=True):
        if cid not in groups:
            log.warning("community %s holds no building: it is one grid without households", cid)
        mine = groups.get(cid, inside.iloc[0:0]).drop(columns=["_value", "_exact"])
        mine = mine.reset_index(drop=True)
        empty_locks += _empty_locks(locked_map.get(cid), mine, cid, geom)
        val = groups[cid]["_value"].to_numpy() if cid in groups else np.empty(0, np.int64)
        exact_val = (
            groups[cid]["_exact"].to_numpy(np.float64)
            if cid in groups and exact is not None
            else None
        )
        prev_assign = prev_grids = None
        if previous is not None:
            ids = mine["building_id"].astype(str)
            prev_grids = previous.grids[previous.grids["community_id"].astype(str) == cid]
            # only this community's previous grids: a building whose grid belonged to
            # another community (a border moved, a community split, renamed or merged)
            # is new here, and its code changes with it
            own = set(prev_grids["grid_id"].astype(str))
            a = previous.assignment
            prev_assign = a[a.index.isin(ids) & a.astype(str).isin(own)]
        tasks.append(
            CommunityTask(
                community_id=cid,
                geometry=geom,
                buildings=mine.drop(columns=["footprint"], errors="ignore")
                if "footprint" not in mine.columns or mine["footprint"].isna().all()
                else mine,
                value=val,
                streets=_clip(streets, geom),
                barriers=_clip(extra, geom),
                compounds=_clip(compounds, geom),
                locked=locked_map.get(cid),
                previous_assignment=prev_assign,
                previous_grids=prev_grids,
                used_codes=() if previous is None else tuple(previous.used_codes(cid)),
                config=config,
                exact_value=exact_val,
                solve_config=solve_config,
            )
        )
    if empty_locks:
        raise InputError(empty_locks[:50])
    plans = _run_ordered(
        _plan_community, tasks, workers=workers, executor=executor, progress=progress
    )
    frames = _assemble(plans, inputs, metric)
    if streets is not None and len(streets):
        # the streets as this run used them, so that hand edits cut along the same barriers
        kept = [c for c in ("highway", "name", "barrier") if c in streets.columns]
        near = _clip(streets, shapely.union_all(comm_m.geometry.to_numpy()))
        if near is not None:
            frames.streets = near[[*kept, "geometry"]].to_crs(WGS84).reset_index(drop=True)
    violations = plan_violations(
        grids=frames.grids,
        assignments=frames.assignments,
        communities=frames.communities,
        building_ids=inside["building_id"].astype(str),
    )
    if violations:
        lines = "; ".join(str(v) for v in violations[:10])
        msg = f"the plan breaks {len(violations)} guarantee(s): {lines}"
        raise SolverError(msg)
    frames.meta = _meta(
        plans,
        frames,
        inputs,
        config,
        weights=weights,
        barriers=barriers if isinstance(barriers, str) else "file",
        previous=previous,
        parameters={
            "community_workers": workers,
            # balance units per unit of the band (workloads solved in hundredths, say)
            "workload_scale": solve_config.value_scale,
            **dict(parameters or {}),
        },
        elapsed=time.perf_counter() - started,
    )
    return frames


def _assemble(plans: Iterable[CommunityPlan], inputs: Inputs, metric: Any) -> PlanFrames:
    plans = list(plans)
    grids = pd.concat([p.grids for p in plans], ignore_index=True)
    grids = gpd.GeoDataFrame(grids, geometry="geometry", crs=metric).to_crs(WGS84)
    assignment = pd.concat([p.assignment for p in plans], ignore_index=True)
    b = inputs.buildings.set_index("building_id")
    b.index = b.index.astype(str)
    rows = b.loc[assignment["building_id"]]
    assignments = gpd.GeoDataFrame(
        {
            "building_id": assignment["building_id"].to_numpy(),
            "grid_id": assignment["grid_id"].to_numpy(),
            "community_id": assignment["community_id"].to_numpy(),
            "households": rows["households"].to_numpy(np.int64),
            "households_estimated": rows["households_estimated"].to_numpy(bool),
            "compound_id": rows["compound_id"].to_numpy(object),
        },
        geometry=rows.geometry.to_numpy(),
        crs=WGS84,
    )
    if "workload" in assignment.columns:  # --balance-on workload
        assignments["workload"] = assignment["workload"].to_numpy(np.float64)
    communities = inputs.communities.copy()
    for col in ("street_id", "district_id"):
        if col in communities.columns:
            lookup = dict(zip(communities["community_id"], communities[col], strict=True))
            grids[col] = grids["community_id"].map(lookup)
    return PlanFrames(grids=grids, assignments=assignments, communities=communities)


def _versions() -> dict[str, str]:
    import geopandas
    import ortools
    import shapely as shp

    return {
        "gridder": __version__,
        "ortools": ortools.__version__,
        "shapely": shp.__version__,
        "geos": shp.geos_version_string,
        "geopandas": geopandas.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _meta(
    plans: list[CommunityPlan],
    frames: PlanFrames,
    inputs: Inputs,
    config: PartitionConfig,
    *,
    weights: Mapping[str, float],
    barriers: str,
    previous: PreviousPlan | None,
    parameters: Mapping[str, Any] | None,
    elapsed: float,
) -> dict[str, Any]:
    g = frames.grids
    counted = ~g["single_building_over_max"].to_numpy(bool)
    in_band = g["in_band"].to_numpy(bool)
    dev = np.abs(g["deviation"].to_numpy(float))
    near = sum(p.boundary_near_m for p in plans)
    total = sum(p.boundary_total_m for p in plans)
    a = frames.assignments
    # household-weighted distance to the grid's household-weighted centre (CONTRACT §6)
    am = a.to_crs(inputs.metric_crs)
    xy = shapely.get_coordinates(am.geometry.to_numpy())
    w = am["households"].to_numpy(float)
    frame = pd.DataFrame(
        {"g": am["grid_id"].to_numpy(), "x": xy[:, 0] * w, "y": xy[:, 1] * w, "w": w}
    )
    sums = frame.groupby("g")[["x", "y", "w"]].sum()
    cx = (sums["x"] / sums["w"].replace(0, np.nan)).reindex(am["grid_id"]).to_numpy()
    cy = (sums["y"] / sums["w"].replace(0, np.nan)).reindex(am["grid_id"]).to_numpy()
    d = np.hypot(xy[:, 0] - cx, xy[:, 1] - cy)
    ok = w > 0
    wdist = float(np.sum(d[ok] * w[ok]) / w[ok].sum()) if ok.any() else None
    compound = a["compound_id"].fillna("").astype(str)
    single = compound.groupby(a["grid_id"].to_numpy()).nunique().le(1)
    per_comm = [p.meta for p in plans]
    lower = sum(int(m.get("lower_bound_out_of_band", 0) or 0) for m in per_comm)
    # plans that never cross a major street: the zone-level exact bound where it was proven
    lower_streets = sum(
        int((m.get("lower_bound_respecting_barriers") or {}).get("with_band_bound", 0) or 0)
        for m in per_comm
    )
    n_counted = int(counted.sum())
    quality = {
        "n_grids": len(g),
        "n_counted": n_counted,
        # no counted grid (every one a single building above --max): no share, no deviation
        "in_band_share": float(in_band[counted].mean()) if n_counted else None,
        "in_band_ceiling": max(0.0, 1.0 - lower / n_counted) if n_counted else None,
        "lower_bound_out_of_band": lower,
        # a plan that never crosses a major street may need other grids than this one:
        # what is proven is a number of grids out of band, not a share of this plan's
        "lower_bound_out_of_band_respecting_major_streets": lower_streets,
        "out_of_band": int((~in_band[counted]).sum()),
        "max_deviation": float(dev[counted].max()) if n_counted else None,
        "mean_polsby_popper": float(g["polsby_popper"].mean()) if len(g) else None,
        # a household-weighted mean (CONTRACT §6): none without households
        "weighted_distance_m": None if wdist is None else round(wdist, 2),
        "single_compound_share": float(single.mean()) if len(single) else 1.0,
        "boundary_on_street_share": (near / total) if total > 0 else None,
        "contiguity_share": float(
            np.mean([m.get("quality", {}).get("contiguity_share", 1.0) for m in per_comm])
        )
        if per_comm
        else 1.0,
        "households": int(g["households"].sum()),
        "households_min": int(g["households"].min()) if len(g) else 0,
        "households_max": int(g["households"].max()) if len(g) else 0,
        # the balanced value (the grids' workload: households, a workload, or either with
        # the land term of --area-weight)
        "workload_min": float(g["workload"].min()) if len(g) else 0.0,
        "workload_max": float(g["workload"].max()) if len(g) else 0.0,
        "solve_time_s": round(sum(float(m.get("solve_time_s", 0.0)) for m in per_comm), 3),
        "elapsed_s": round(elapsed, 3),
    }
    statuses = sorted({str(m.get("status")) for m in per_comm})
    meta: dict[str, Any] = {
        "plan_id": f"plan-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {
            **config.to_dict(),
            "weights": dict(weights),
            "barriers": barriers,
            **dict(parameters or {}),
        },
        "seed": config.seed,
        "versions": _versions(),
        "solver": {
            "status": statuses[0] if len(statuses) == 1 else ",".join(statuses),
            "limit_hit": any(bool(m.get("limit_hit")) for m in per_comm),
            "communities": per_comm,
        },
        "quality": quality,
        "unassigned_buildings": inputs.unassigned["building_id"].astype(str).tolist()
        if len(inputs.unassigned)
        else [],
        "unassigned_reasons": inputs.unassigned_reasons(),
        "buildings_moved_into_their_community": {
            str(r.building_id): round(float(r.distance_m), 1) for r in inputs.moved_in.itertuples()
        },
        "inputs": inputs.sources,
        "metric_crs": f"EPSG:{inputs.metric_crs.to_epsg()}",
    }
    if previous is not None:
        meta["previous_plan_id"] = previous.plan_id
        # codes used before and not now: never given to another area by a later re-plan
        used = {*previous.grids["grid_id"].astype(str), *previous.retired}
        meta["retired_grids"] = sorted(used - set(frames.grids["grid_id"].astype(str)))
        meta["replan"] = _moved(previous.assignment, frames.assignments)
        # each community's moves as written (CONTRACT §6, by grid code): the notes tell the
        # steps of its re-plan, each with the share moved at that step
        a = frames.assignments
        by_community = dict(tuple(a.groupby(a["community_id"].astype(str), sort=False)))
        for m in per_comm:
            mine = by_community.get(str(m["community_id"]), a.iloc[0:0])
            moved = _moved(previous.assignment, mine)
            m["households_moved"] = moved["households_moved"]
            m["moved_share"] = moved["moved_share"]
        bounds = [m.get("moved_lower_bound") for m in per_comm]
        meta["replan"]["households_moved_lower_bound"] = sum(int(b or 0) for b in bounds)
        # grids locked by hand (gridder edit --lock) stay locked in the plan that follows:
        # they were kept exactly, so later edits and re-plans keep them too
        kept = set(frames.grids["grid_id"].astype(str))
        hand = [g for g in previous.locked_grids if g in kept]
        if hand:
            meta["locked_grids"] = hand
    return meta


def _moved(old: pd.Series, new: gpd.GeoDataFrame) -> dict[str, Any]:
    """Moved buildings and households between two assignments (CONTRACT §6)."""
    now = pd.Series(new["grid_id"].to_numpy(), index=new["building_id"].astype(str).to_numpy())
    hh = pd.Series(new["households"].to_numpy(), index=now.index)
    both = now.index.intersection(old.index)
    moved = both[now.loc[both].to_numpy() != old.loc[both].astype(str).to_numpy()]
    total = int(hh.loc[both].sum())
    moved_hh = int(hh.loc[moved].sum())
    return {
        "buildings_kept": len(both),
        "buildings_moved": len(moved),
        "households_moved": moved_hh,
        "moved_share": moved_hh / total if total else 0.0,
        "buildings_added": len(now.index.difference(old.index)),
        "buildings_removed": len(old.index.difference(now.index)),
    }
