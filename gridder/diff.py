"""Compare two plans: which buildings changed grid, which grids changed, quality before/after.

:func:`diff_plans` compares by ids: a building is *moved* when it is in both
plans with a different ``grid_id``; the moved share is CONTRACT §6 "moved
households" (households of buildings in both plans whose grid changed, over
all households of those buildings; households as in the new plan). A grid is
*new* or *removed* when its id is in one plan only, *changed* when its member
buildings differ, *households_changed* when its buildings are the same but their
households differ (the data changed), *reshaped* when its buildings and
households are the same but its land grew or shrank by more than 1% (a
neighbouring grid gone, its land shared out), *unchanged* otherwise. Quality is
recomputed from each plan's layers (:func:`gridder.planfile.plan_quality`), with each plan's own
``plan_meta.quality`` kept beside it when present.

:func:`write_diff` writes CSV (three files: buildings, grids, summary; UTF-8
with a BOM so that Excel shows Chinese text) or one XLSX workbook.

Examples
--------
>>> diff = diff_plans("plan_2024.gpkg", "plan_2025.gpkg")  # doctest: +SKIP
>>> diff.summary["moved_share"]  # doctest: +SKIP
>>> write_diff(diff, "changes.xlsx")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import shapely

from gridder.errors import InputError
from gridder.io.write import atomic_path, check_targets
from gridder.planfile import PlanFile, plan_quality

__all__ = ["PlanDiff", "check_diff_path", "diff_plans", "write_diff"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanDiff:
    """The differences between two plans.

    Parameters
    ----------
    buildings
        One row per building that moved, appeared or disappeared: ``change``
        (``moved``/``added``/``removed``), ``building_id``, ``community_id``,
        ``old_grid``, ``new_grid``, ``households``.
    grids
        One row per grid id of either plan: ``grid_id``, ``community_id``,
        ``status`` (``new``/``removed``/``changed``/``households_changed``/``reshaped``/
        ``unchanged``), ``area_m2_old``/``area_m2_new``,
        ``households_old``, ``households_new``, ``n_buildings_old``,
        ``n_buildings_new``, ``buildings_in``, ``buildings_out``.
    summary
        Counts, moved households and the moved share, plan ids.
    quality
        ``old`` and ``new`` quality measures.
    """

    buildings: pd.DataFrame
    grids: pd.DataFrame
    summary: dict[str, Any]
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def moved(self) -> pd.DataFrame:
        """The moved buildings only."""
        return self.buildings[self.buildings["change"] == "moved"]

    def quality_table(self) -> pd.DataFrame:
        """Quality measures side by side: ``measure``, ``old``, ``new``."""
        old, new = self.quality.get("old", {}), self.quality.get("new", {})
        keys = [k for k in old if not isinstance(old[k], dict)]
        keys += [k for k in new if k not in keys and not isinstance(new[k], dict)]
        return pd.DataFrame(
            {"measure": keys, "old": [old.get(k) for k in keys], "new": [new.get(k) for k in keys]}
        )

    def summary_table(self) -> pd.DataFrame:
        """The summary as ``item``/``value`` rows."""
        return pd.DataFrame({"item": list(self.summary), "value": list(self.summary.values())})


def _open(plan: PlanFile | str | os.PathLike[str]) -> PlanFile:
    return plan if isinstance(plan, PlanFile) else PlanFile.read(plan)


def _hh(frame: pd.DataFrame) -> pd.Series:
    if "households" not in frame.columns:
        return pd.Series(0.0, index=frame.index)
    return pd.to_numeric(frame["households"], errors="coerce").fillna(0.0)


def diff_plans(
    old: PlanFile | str | os.PathLike[str], new: PlanFile | str | os.PathLike[str]
) -> PlanDiff:
    """Compare two plans (see the module docstring).

    Parameters
    ----------
    old, new
        Plan files or :class:`~gridder.planfile.PlanFile` objects.
    """
    po, pn = _open(old), _open(new)
    ao = po.assignments.assign(households=_hh(po.assignments))
    an = pn.assignments.assign(households=_hh(pn.assignments))
    o = pd.DataFrame(
        {
            "grid_id": ao["grid_id"].to_numpy(),
            "community_id": ao["community_id"].to_numpy(),
            "households": ao["households"].to_numpy(),
        },
        index=pd.Index(ao["building_id"].to_numpy(), name="building_id"),
    )
    n = pd.DataFrame(
        {
            "grid_id": an["grid_id"].to_numpy(),
            "community_id": an["community_id"].to_numpy(),
            "households": an["households"].to_numpy(),
        },
        index=pd.Index(an["building_id"].to_numpy(), name="building_id"),
    )
    for frame, plan in ((o, po), (n, pn)):
        if not frame.index.is_unique:
            dup = frame.index[frame.index.duplicated()][0]
            raise InputError.single(plan.source, f"building_id={dup}", "repeated in assignments")
    both = o.index.intersection(n.index, sort=False)
    both = both.sort_values()
    moved_mask = o.loc[both, "grid_id"].to_numpy() != n.loc[both, "grid_id"].to_numpy()
    moved_ids = both[moved_mask]
    added = n.index.difference(o.index).sort_values()
    removed = o.index.difference(n.index).sort_values()
    rows = [
        pd.DataFrame(
            {
                "change": "moved",
                "building_id": moved_ids,
                "community_id": n.loc[moved_ids, "community_id"].to_numpy(),
                "old_grid": o.loc[moved_ids, "grid_id"].to_numpy(),
                "new_grid": n.loc[moved_ids, "grid_id"].to_numpy(),
                "households": n.loc[moved_ids, "households"].to_numpy(),
            }
        ),
        pd.DataFrame(
            {
                "change": "added",
                "building_id": added,
                "community_id": n.loc[added, "community_id"].to_numpy(),
                "old_grid": None,
                "new_grid": n.loc[added, "grid_id"].to_numpy(),
                "households": n.loc[added, "households"].to_numpy(),
            }
        ),
        pd.DataFrame(
            {
                "change": "removed",
                "building_id": removed,
                "community_id": o.loc[removed, "community_id"].to_numpy(),
                "old_grid": o.loc[removed, "grid_id"].to_numpy(),
                "new_grid": None,
                "households": o.loc[removed, "households"].to_numpy(),
            }
        ),
    ]
    buildings = (
        pd.concat([r for r in rows if len(r)], ignore_index=True)
        if any(len(r) for r in rows)
        else rows[0].iloc[0:0]
    )
    grids = _grid_changes(
        o, n, grids_old=po.grids, grids_new=pn.grids, area_old=_areas(po), area_new=_areas(pn)
    )
    both_hh = float(n.loc[both, "households"].sum())
    moved_hh = float(n.loc[moved_ids, "households"].sum())
    counts = grids["status"].value_counts()
    summary: dict[str, Any] = {
        "old_plan": str(po.meta.get("plan_id") or po.path.stem),
        "new_plan": str(pn.meta.get("plan_id") or pn.path.stem),
        "buildings_in_both": len(both),
        "buildings_moved": len(moved_ids),
        "buildings_added": len(added),
        "buildings_removed": len(removed),
        "households_in_both": round(both_hh),
        "households_moved": round(moved_hh),
        "moved_share": moved_hh / both_hh if both_hh > 0 else 0.0,
        "grids_in_old_plan": int(po.grids["grid_id"].nunique()),
        "grids_in_new_plan": int(pn.grids["grid_id"].nunique()),
        **{
            f"grids_{s}": int(counts.get(s, 0))
            for s in ("new", "removed", "changed", "households_changed", "reshaped", "unchanged")
        },
    }
    replan = pn.meta.get("replan")
    if (
        isinstance(replan, dict)
        and "households_moved_lower_bound" in replan
        and pn.meta.get("previous_plan_id") == po.meta.get("plan_id")
    ):
        # NEW was re-planned from OLD: the moves any plan with every grid in band needs
        summary["households_moved_lower_bound"] = int(replan["households_moved_lower_bound"])
    quality = {"old": plan_quality(po), "new": plan_quality(pn)}
    for key, plan in (("old", po), ("new", pn)):
        if isinstance(plan.meta.get("quality"), dict):
            quality[key]["plan_meta"] = plan.meta["quality"]
    return PlanDiff(buildings=buildings, grids=grids, summary=summary, quality=quality)


def _areas(plan: PlanFile) -> pd.Series:
    """Land area per grid id (m², in the plan's metric CRS)."""
    grids = plan.grids
    area = shapely.area(grids.to_crs(plan.metric_crs()).geometry.to_numpy())
    return pd.Series(area, index=grids["grid_id"].astype(str).to_numpy())


def _grid_changes(
    o: pd.DataFrame,
    n: pd.DataFrame,
    *,
    grids_old: pd.DataFrame,
    grids_new: pd.DataFrame,
    area_old: pd.Series,
    area_new: pd.Series,
) -> pd.DataFrame:
    """Per grid id: status, households, building counts and area in each plan, buildings in/out.

    Every grid of either plan has a row, a grid holding no building too (a
    community without buildings is one such grid).
    """
    empty: frozenset[str] = frozenset()
    members = []
    for assigned, grids in ((o, grids_old), (n, grids_new)):
        m = assigned.reset_index().groupby("grid_id")["building_id"].apply(frozenset)
        known = set(m.index) | set(grids["grid_id"].astype(str))
        members.append({g: m.get(g, empty) for g in known})
    mo, mn = members
    ho = o.groupby("grid_id")["households"].sum()
    hn = n.groupby("grid_id")["households"].sum()
    comm = pd.concat(
        [
            grids_old.set_index(grids_old["grid_id"].astype(str))["community_id"],
            o.groupby("grid_id")["community_id"].first(),
            grids_new.set_index(grids_new["grid_id"].astype(str))["community_id"],
            n.groupby("grid_id")["community_id"].first(),
        ]
    )
    comm = comm[~comm.index.duplicated(keep="last")]
    ids = sorted(set(mo) | set(mn))
    rows = []
    for g in ids:
        a, b = mo.get(g, None), mn.get(g, None)
        if a is None:
            status = "new"
        elif b is None:
            status = "removed"
        else:
            same_hh = abs(float(ho.get(g, 0.0)) - float(hn.get(g, 0.0))) < 1e-9
            ao, an = float(area_old.get(g, 0.0)), float(area_new.get(g, 0.0))
            same_land = abs(an - ao) <= max(0.01 * ao, 1.0)
            status = (
                "changed"
                if a != b
                else "households_changed"
                if not same_hh
                else "unchanged"
                if same_land
                else "reshaped"
            )
        a = a if a is not None else empty
        b = b if b is not None else empty
        rows.append(
            {
                "grid_id": g,
                "community_id": comm.get(g),
                "status": status,
                "households_old": round(float(ho.get(g, 0.0))),
                "households_new": round(float(hn.get(g, 0.0))),
                "n_buildings_old": len(a),
                "n_buildings_new": len(b),
                "buildings_in": len(b - a),
                "buildings_out": len(a - b),
                "area_m2_old": round(float(area_old.get(g, 0.0))),
                "area_m2_new": round(float(area_new.get(g, 0.0))),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "grid_id",
            "community_id",
            "status",
            "households_old",
            "households_new",
            "n_buildings_old",
            "n_buildings_new",
            "buildings_in",
            "buildings_out",
            "area_m2_old",
            "area_m2_new",
        ],
    )


def check_diff_path(path: str | os.PathLike[str]) -> Path:
    """The diff output path, refused (:class:`InputError`) unless it ends in .csv or .xlsx.

    Also when it, or one of the other CSV files it names, cannot be written.
    """
    path = Path(path)
    if path.suffix.lower() not in {".csv", ".xlsx"}:
        raise InputError.single(str(path), "", "diff output must end in .csv or .xlsx")
    check_targets(_diff_files(path))
    return path


def _diff_files(path: Path) -> list[Path]:
    """The files a diff writes: one .xlsx, or the buildings', grids' and summary CSVs."""
    if path.suffix.lower() == ".xlsx":
        return [path]
    return [
        path,
        path.with_name(f"{path.stem}_grids.csv"),
        path.with_name(f"{path.stem}_summary.csv"),
    ]


def write_diff(diff: PlanDiff, path: str | os.PathLike[str]) -> list[Path]:
    """Write a diff as CSV (``X.csv``, ``X_grids.csv``, ``X_summary.csv``) or one ``.xlsx``.

    Returns
    -------
    list of Path
        The files written.
    """
    path = check_diff_path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        with atomic_path(path) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as xl:
            diff.summary_table().to_excel(xl, sheet_name="summary", index=False)
            diff.buildings.to_excel(xl, sheet_name="buildings", index=False)
            diff.grids.to_excel(xl, sheet_name="grids", index=False)
            diff.quality_table().to_excel(xl, sheet_name="quality", index=False)
        return [path]
    out = _diff_files(path)
    summary = pd.concat(
        [
            diff.summary_table(),
            diff.quality_table()
            .melt(id_vars="measure", var_name="plan")
            .assign(item=lambda f: "quality_" + f["plan"] + "_" + f["measure"])[["item", "value"]],
        ],
        ignore_index=True,
    )
    # whole counts as whole numbers (a column of mixed values would print 115 as 115.0)
    summary["value"] = [
        int(v) if isinstance(v, float) and v.is_integer() and abs(v) >= 1 else v
        for v in summary["value"]
    ]
    # all three written before any is renamed into place: a failure leaves none changed
    with contextlib.ExitStack() as stack:
        for frame, target in zip((diff.buildings, diff.grids, summary), out, strict=True):
            tmp = stack.enter_context(atomic_path(target))
            frame.to_csv(tmp, index=False, encoding="utf-8-sig")
    return out
