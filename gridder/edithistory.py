"""The edit history of a plan (``plan_meta.history``) and exact undo.

Every hand edit (:mod:`gridder.edit`) appends one entry to
``plan_meta.history``. Besides what the edit did, an entry keeps under
``undo`` what an undo needs to put the plan back as it was, bit for bit:

- ``assignments``: ``[building_id, previous grid_id]`` of each moved building;
- ``grids``: the previous rows and polygons (WKB) of the grids the edit changed
  or removed, with their positions in the layer;
- ``meta``: the previous values of the ``plan_meta`` keys an edit may change
  (:data:`META_KEYS`), and ``meta_absent``, the keys that were absent;
- ``layers``: a copy of the layers that later workflow steps rewrite as a whole
  (:data:`SNAPSHOT_LAYERS`: the ``workers`` table written by ``gridder
  workers``), and ``layers_absent``, those the plan did not have. Undoing an
  edit after ``gridder workers`` ran on the edited plan therefore restores the
  workers as they were before the edit, not a staffing of grids that no longer
  exist.

:func:`record_edit` appends an entry, :func:`undo_last` pops the last one and
restores the plan from it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridder.errors import InputError
from gridder.planfile import PlanFile

__all__ = [
    "META_KEYS",
    "SNAPSHOT_LAYERS",
    "grid_rows",
    "now",
    "plain",
    "record_edit",
    "snapshot",
    "undo_last",
]

log = logging.getLogger(__name__)

#: plan_meta keys an edit, or a workflow step after it, may change (saved for undo).
META_KEYS: Final = ("locked_grids", "plan_id", "quality", "workers", "workers_stale")
#: Layers saved whole in each history entry, restored by undo.
SNAPSHOT_LAYERS: Final = ("workers",)


def plain(value: Any) -> Any:
    """A cell value as plain JSON (numpy scalars unwrapped; NaN kept as NaN)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def grid_rows(grids: gpd.GeoDataFrame, codes: list[str]) -> list[dict[str, Any]]:
    """Undo records of some grids: position, attribute values and polygon (hex WKB)."""
    ids = grids["grid_id"].to_numpy()
    geom = grids.geometry.name
    out = []
    for code in codes:
        i = int(np.flatnonzero(ids == code)[0])
        row = grids.iloc[i]
        out.append(
            {
                "pos": i,
                "grid_id": code,
                "row": {c: plain(row[c]) for c in grids.columns if c != geom},
                "wkb": shapely.to_wkb(row.geometry, hex=True),
            }
        )
    return out


def _layer_record(frame: gpd.GeoDataFrame | pd.DataFrame) -> dict[str, Any]:
    geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    cols = [c for c in frame.columns if c != geom]
    record: dict[str, Any] = {
        "columns": cols,
        "dtypes": [str(frame[c].dtype) for c in cols],
        "rows": [[plain(v) for v in row] for row in frame[cols].itertuples(index=False)],
    }
    if geom is not None:
        record["geometry"] = geom
        record["wkb"] = [shapely.to_wkb(g, hex=True) for g in frame.geometry.to_numpy()]
    return record


def _layer_frame(record: dict[str, Any]) -> gpd.GeoDataFrame | pd.DataFrame:
    cols = list(record["columns"])
    frame = pd.DataFrame(record["rows"], columns=cols)
    for c, dtype in zip(cols, record["dtypes"], strict=True):
        try:
            frame[c] = frame[c].astype(dtype)
        except (TypeError, ValueError):
            log.debug("history: column %s kept as %s, not %s", c, frame[c].dtype, dtype)
    if "geometry" not in record:
        return frame
    geoms = shapely.from_wkb(np.asarray(record["wkb"], dtype=object))
    return gpd.GeoDataFrame(
        frame, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326"
    ).rename_geometry(record["geometry"])


def snapshot(plan: PlanFile) -> dict[str, Any]:
    """What undo needs of the plan as a whole, taken before an edit changes it."""
    saved = {k: plan.meta[k] for k in META_KEYS if k in plan.meta}
    return {
        "meta": saved,
        "meta_absent": [k for k in META_KEYS if k not in saved],
        "history_absent": "history" not in plan.meta,
        "layers": {n: _layer_record(plan.layers[n]) for n in SNAPSHOT_LAYERS if n in plan.layers},
        "layers_absent": [n for n in SNAPSHOT_LAYERS if n not in plan.layers],
    }


def record_edit(plan: PlanFile, entry: dict[str, Any], before: dict[str, Any]) -> None:
    """Append ``entry`` (with the :func:`snapshot` ``before``) to ``plan_meta.history``."""
    entry.setdefault("undo", {}).update(before)
    history = list(plan.meta.get("history") or [])
    entry["edit"] = len(history) + 1
    history.append(entry)
    plan.meta["history"] = history


def _restore_grids(plan: PlanFile, rows: list[dict[str, Any]]) -> None:
    grids = plan.grids
    present = set(grids["grid_id"])
    restored = {
        r["grid_id"]: {**r["row"], grids.geometry.name: shapely.from_wkb(r["wkb"])} for r in rows
    }
    frame = grids.copy()
    for i, gid in enumerate(grids["grid_id"]):
        rec = restored.get(gid)
        if rec is None:
            continue
        for c, v in rec.items():
            frame.iat[i, frame.columns.get_loc(c)] = v
    for r in rows:
        if r["grid_id"] in present:
            continue
        rec = restored[r["grid_id"]]
        top = frame.iloc[: int(r["pos"])]
        bottom = frame.iloc[int(r["pos"]) :]
        line = gpd.GeoDataFrame([rec], geometry=frame.geometry.name, crs=frame.crs)
        line = line.astype({c: frame[c].dtype for c in frame.columns if c != frame.geometry.name})
        frame = gpd.GeoDataFrame(pd.concat([top, line, bottom], ignore_index=True), crs=frame.crs)
    plan.grids = frame.reset_index(drop=True)


def undo_last(plan: PlanFile) -> dict[str, Any]:
    """Revert the last edit of ``plan`` (in memory) and return its history entry.

    Raises
    ------
    InputError
        When the plan has no edit to undo.
    """
    history = list(plan.meta.get("history") or [])
    if not history:
        raise InputError.single(plan.source, "plan_meta history", "no edit to undo")
    entry: dict[str, Any] = history.pop()
    undo = entry.get("undo") or {}
    a = plan.assignments
    back = dict(undo.get("assignments") or [])
    if back:
        sel = a["building_id"].isin(back)
        a.loc[sel, "grid_id"] = a.loc[sel, "building_id"].map(back)
    rows = sorted(undo.get("grids") or [], key=lambda r: int(r["pos"]))
    if rows:
        _restore_grids(plan, rows)
    for name, record in (undo.get("layers") or {}).items():
        plan.layers[name] = _layer_frame(record)
    for name in undo.get("layers_absent") or []:
        plan.layers.pop(name, None)
    for k, v in (undo.get("meta") or {}).items():
        plan.meta[k] = v
    for k in undo.get("meta_absent") or []:
        plan.meta.pop(k, None)
    if history or not undo.get("history_absent", False):
        plan.meta["history"] = history
    else:
        plan.meta.pop("history", None)
    entry.setdefault("edit", len(history) + 1)
    return entry
