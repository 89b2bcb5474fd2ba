"""Hand edits of a plan: move buildings to a grid, lock or unlock a grid, undo the last edit.

:func:`apply_edit` is what ``gridder edit`` and ``POST /v1/plans/{id}/edits`` run.

A **move** puts buildings into a grid of their own community, then repairs
only the grids around it (:func:`gridder.editrepair.repair_after_move`):
grids the buildings left are reconnected, and the band is restored with the
fewest further single-building moves, moving at most ``3×`` the households of
the hand move. The community's tessellation is rebuilt with the current grid
polygons as zones (cells follow their outlines exactly), so the grids the edit
does not touch keep their polygons bit for bit, and only the changed grids get
new polygons. Streets come from the plan's ``streets`` layer when it has one.

An edit that would break a guarantee is refused with an :class:`InputError`
that says why: a building not in the plan, a grid of another community, a
locked grid, buildings that do not touch the grid they are moved to, a grid
cut in pieces that cannot be reconnected within the budget. The edited plan is
re-checked with :func:`gridder.testing.plan_violations` before it is written.

Every edit is appended to ``plan_meta.history`` (what moved, the rebalancing
moves, quality before and after, and what undo needs: the previous rows and
polygons of the changed grids, the plan_meta keys and the ``workers`` layer;
:mod:`gridder.edithistory`), so that an **undo** restores the plan as it
was, exactly, even after ``gridder workers`` re-staffed the edited plan. A
**lock** records the grid in ``plan_meta.locked_grids``: later edits never
change it (and the partition job should keep it on re-plans).

Examples
--------
>>> apply_edit("plan.gpkg", move=["B17", "B18"], to="C01-004")  # doctest: +SKIP
>>> apply_edit("plan.gpkg", lock="C01-004")  # doctest: +SKIP
>>> apply_edit("plan.gpkg", undo=True)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gridder.edithistory import grid_rows, now, record_edit, snapshot, undo_last
from gridder.editrepair import repair_after_move
from gridder.errors import InputError, Problem
from gridder.io.write import check_geopackage_target
from gridder.partition.check import grid_components, kept_part_ids
from gridder.partition.config import PartitionConfig, workload_scale
from gridder.partition.instance import PartitionInstance
from gridder.planfile import PlanFile, plan_quality, refresh_grid_stats
from gridder.polygons import grid_polygons
from gridder.schema import WGS84
from gridder.testing import plan_violations

__all__ = ["EditResult", "apply_edit"]

log = logging.getLogger(__name__)

Action = Literal["move", "lock", "unlock", "undo"]

#: The rebalancing may move at most this many times the households of the hand move.
BUDGET_FACTOR: Final = 3.0
#: Streets farther than this (m) from a community are ignored when rebuilding it.
STREET_MARGIN: Final = 100.0


@dataclass(frozen=True)
class EditResult:
    """What an edit did.

    Parameters
    ----------
    path
        The plan file written.
    action
        ``move``, ``lock``, ``unlock`` or ``undo`` (for an undo, the fields
        below describe the edit that was undone).
    community_id
        The community edited (``None`` for locks).
    hand_moves, rebalance_moves
        ``building_id``, ``from_grid``, ``to_grid``, ``households`` of each move.
    hand_households, rebalance_households
        Households moved by hand and by the rebalancing.
    changed_grids, removed_grids
        Grids whose buildings changed; grids left without buildings (removed).
    out_of_band
        Grids near the edit still outside the band.
    quality_before, quality_after
        Plan quality (:func:`gridder.planfile.plan_quality`).
    notes
        What a planner should know.
    """

    path: Path
    action: Action
    community_id: str | None = None
    hand_moves: list[dict[str, Any]] = field(default_factory=list)
    rebalance_moves: list[dict[str, Any]] = field(default_factory=list)
    hand_households: int = 0
    rebalance_households: int = 0
    changed_grids: list[str] = field(default_factory=list)
    removed_grids: list[str] = field(default_factory=list)
    out_of_band: list[str] = field(default_factory=list)
    quality_before: dict[str, Any] = field(default_factory=dict)
    quality_after: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def apply_edit(
    plan_path: str | os.PathLike[str],
    *,
    move: Sequence[str] | None = None,
    to: str | None = None,
    lock: str | None = None,
    unlock: str | None = None,
    undo: bool = False,
    out: str | os.PathLike[str] | None = None,
    plan_id: str | None = None,
) -> EditResult:
    """Apply one hand edit to a plan file and write it (in place, or to ``out``).

    Parameters
    ----------
    plan_path
        The plan GeoPackage.
    move
        ``building_id`` of the buildings to move (with ``to``).
    to
        The grid that receives them.
    lock, unlock
        A grid to lock (later edits and re-plans keep it) or unlock.
    undo
        Revert the last edit recorded in ``plan_meta.history``.
    out
        Write the edited plan here instead of over ``plan_path``.
    plan_id
        A new ``plan_id`` for the edited plan (useful with ``out`` in a plan store).

    Returns
    -------
    EditResult
        What changed.

    Raises
    ------
    InputError
        When the edit is not possible or would break a guarantee (exit 2, 422).
    """
    chosen = [move is not None, lock is not None, unlock is not None, undo]
    if sum(chosen) != 1:
        raise InputError.single(
            "edit",
            "",
            "give exactly one of: --move IDS --to GRID, --lock GRID, --unlock GRID, --undo",
        )
    if move is not None and not to:
        raise InputError.single("edit", "--to", "a move needs the grid that receives the buildings")
    if to is not None and move is None:
        raise InputError.single("edit", "--move", "--to needs the buildings to move (--move IDS)")
    if out is not None:
        check_geopackage_target(out)
    plan = PlanFile.read(plan_path)
    target_path = Path(out) if out is not None else plan.path
    if undo:
        result = _undo_result(undo_last(plan), target_path)
    else:
        before = snapshot(plan)
        if move is not None:
            result, entry = _move(plan, [str(b) for b in move], str(to), target_path)
        else:
            result, entry = _lock(plan, str(lock if lock is not None else unlock), lock is not None)
            result = EditResult(path=target_path, action=result.action, notes=result.notes)
        if plan_id is not None:
            plan.meta["plan_id"] = str(plan_id)
        record_edit(plan, entry, before)
    plan.write(target_path)
    log.info("%s edit written to %s", result.action, target_path)
    return result


# ---------------------------------------------------------------------- lock
def _lock(plan: PlanFile, grid_id: str, lock: bool) -> tuple[EditResult, dict[str, Any]]:
    ids = set(plan.grids["grid_id"])
    if grid_id not in ids:
        raise InputError.single(plan.source, f"grid_id={grid_id}", "no such grid in the plan")
    locked = plan.locked_grids
    if lock and grid_id in locked:
        raise InputError.single(plan.source, f"grid_id={grid_id}", "is already locked")
    if not lock and grid_id not in locked:
        raise InputError.single(plan.source, f"grid_id={grid_id}", "is not locked")
    new = sorted({*locked, grid_id}) if lock else [g for g in locked if g != grid_id]
    plan.meta["locked_grids"] = new
    action: Action = "lock" if lock else "unlock"
    entry = {"action": action, "time": now(), "grid_id": grid_id, "undo": {}}
    return EditResult(path=plan.path, action=action, notes=[f"grid {grid_id} {action}ed"]), entry


# ---------------------------------------------------------------------- move
def _check_move(plan: PlanFile, ids: list[str], to: str) -> tuple[str, list[str], list[str]]:
    """Validate a move; returns the community, the buildings to move, and notes."""
    src = plan.source
    grids = plan.grids
    a = plan.assignments
    if to not in set(grids["grid_id"]):
        raise InputError.single(src, f"grid_id={to}", "no such grid in the plan")
    cid = str(grids.loc[grids["grid_id"] == to, "community_id"].iloc[0])
    known = pd.Series(a["grid_id"].to_numpy(), index=a["building_id"].to_numpy())
    comm = pd.Series(a["community_id"].to_numpy(), index=a["building_id"].to_numpy())
    ids = list(dict.fromkeys(ids))
    problems = [Problem(src, f"building_id={b}", "not in the plan") for b in ids if b not in known]
    locked = set(plan.locked_grids)
    if to in locked:
        problems.append(
            Problem(src, f"grid_id={to}", "is locked: unlock it first (gridder edit --unlock)")
        )
    for b in ids:
        if b not in known:
            continue
        if comm[b] != cid:
            problems.append(
                Problem(
                    src,
                    f"building_id={b}",
                    f"is in community {comm[b]}, but grid {to} belongs to community {cid}: "
                    "a building can only move to a grid of its own community",
                )
            )
        elif known[b] in locked:
            problems.append(
                Problem(src, f"building_id={b}", f"is in locked grid {known[b]}; unlock it first")
            )
    if problems:
        raise InputError(problems)
    notes = []
    already = [b for b in ids if known[b] == to]
    todo = [b for b in ids if known[b] != to]
    if already:
        notes.append(f"{len(already)} building(s) already in {to}: {', '.join(already[:10])}")
    if not todo:
        raise InputError.single(src, f"grid_id={to}", "every building given is already in it")
    return cid, todo, notes


def _value_scale(plan: PlanFile) -> int:
    """Balance units per unit of the plan's band, as the partition solved it (workloads)."""
    if plan.band.balance_on != "workload":
        return 1
    recorded = plan.meta.get("parameters", {}).get("workload_scale")
    if isinstance(recorded, int) and recorded >= 1:
        return recorded
    band = plan.band
    values = plan.balance_values().to_numpy(dtype=float).tolist()
    return workload_scale(band.target, band.max - band.min, values)


def _kept_whole(
    plan: PlanFile, inst: PartitionInstance, labels: npt.NDArray[np.int64], scale: int
) -> list[int]:
    """Units of compounds ``--keep-compounds`` keeps whole and the plan holds whole.

    A plan made with the option: the rebalancing after a hand move leaves them
    where they are (the hand move itself may split one: the planner's choice).
    """
    if not plan.meta.get("parameters", {}).get("keep_compounds"):
        return []
    band = plan.band
    config = PartitionConfig(min=band.min * scale, max=band.max * scale, target=band.target * scale)
    part = kept_part_ids(inst, config)
    whole = [
        p for p in np.unique(part[part >= 0]).tolist() if len(np.unique(labels[part == p])) == 1
    ]
    return np.flatnonzero(np.isin(part, whole)).tolist()


def _community_model(
    plan: PlanFile, cid: str
) -> tuple[PartitionInstance, Any, gpd.GeoDataFrame, list[str]]:
    """The community's instance and tessellation, rebuilt with the grids as zones."""
    crs = plan.metric_crs()
    a = plan.assignments
    rows = a[a["community_id"] == cid]
    bm = rows.to_crs(crs)
    bm = bm.assign(geometry=shapely.centroid(bm.geometry.to_numpy()))
    grids = plan.grids
    gm = grids[grids["community_id"] == cid].to_crs(crs)
    comm = plan.communities
    geom = shapely.union_all(comm[comm["community_id"] == cid].to_crs(crs).geometry.to_numpy())
    streets = plan.layer("streets")
    sm = None
    if isinstance(streets, gpd.GeoDataFrame) and len(streets):
        sm = streets.to_crs(crs)
        near = sm.sindex.query(geom.buffer(STREET_MARGIN), predicate="intersects")
        sm = sm.iloc[np.sort(near)]
    exact = plan.balance_values().loc[rows.index].to_numpy(dtype=np.float64)
    value = np.rint(exact * _value_scale(plan))
    cols = [c for c in ("building_id", "households", "compound_id") if c in bm.columns]
    inst, tess = PartitionInstance.from_frames(
        cid,
        geom,
        gpd.GeoDataFrame(bm[cols], geometry=bm.geometry.to_numpy(), crs=crs, index=bm.index),
        value.astype(np.int64),
        sm,
        locked_polygons=gm.geometry,
    )
    labels = sorted(gm["grid_id"])
    return inst, tess, bm, labels


def _move(
    plan: PlanFile, ids: list[str], to: str, target_path: Path
) -> tuple[EditResult, dict[str, Any]]:
    if plan.band.balance_on == "workload" and "workload" not in plan.assignments.columns:
        raise InputError.single(
            plan.source,
            "assignments",
            "the plan balances workload but records no building's workload (a plan of an "
            "older gridder): partition it again before moving buildings by hand",
        )
    if plan.band.area_weight:
        raise InputError.single(
            plan.source,
            "plan_meta",
            f"the plan balances each grid's land too (--area-weight {plan.band.area_weight:g}), "
            "which a hand edit does not measure: re-plan with gridder partition --previous",
        )
    cid, todo, notes = _check_move(plan, ids, to)
    src = plan.source
    q_before = plan_quality(plan)
    inst, tess, bm, codes = _community_model(plan, cid)
    label_of = {g: i for i, g in enumerate(codes)}
    old = bm["grid_id"].map(label_of).to_numpy(dtype=np.int64)
    pos = {b: i for i, b in enumerate(bm["building_id"])}
    moved = np.array([pos[b] for b in todo], dtype=np.int64)
    t = label_of[to]
    sources = sorted({int(g) for g in old[moved]})
    lab = old.copy()
    lab[moved] = t
    before = grid_components(inst, old)
    after = grid_components(inst, lab)
    if after.get(t, 1) > before.get(t, 1):
        raise InputError.single(
            src,
            f"grid_id={to}",
            f"building(s) {', '.join(todo[:10])} do not touch grid {to}: moving them there "
            "would split it; move buildings on its border, or a connected chain that reaches it",
        )
    hh = np.rint(
        pd.to_numeric(bm.get("households", pd.Series(0, index=bm.index)), errors="coerce")
        .fillna(0)
        .to_numpy(np.float64)
    ).astype(np.int64)
    hand_hh = int(hh[moved].sum())
    budget = math.floor(BUDGET_FACTOR * hand_hh)
    band = plan.band
    scale = _value_scale(plan)  # the balance values as the partition solved them
    locked = [label_of[g] for g in plan.locked_grids if g in label_of]
    rep = repair_after_move(
        labels=lab,
        value=inst.value,
        households=hh,
        edges=inst.edges,
        edge_hard=inst.edge_hard,
        band=(band.min * scale, band.max * scale, band.target * scale),
        sources=sources,
        target=t,
        pinned=sorted({*moved.tolist(), *_kept_whole(plan, inst, old, scale)}),
        locked=locked,
        budget=budget,
        unit_names=inst.unit_ids,
        source_name=src,
    )
    new = rep.labels
    notes += rep.notes
    final = grid_components(inst, new)
    split = [codes[g] for g, c in final.items() if c > max(1, before.get(g, 1))]
    if split:
        raise InputError.single(src, "", f"the edit would split grid(s) {', '.join(split)}")
    entry, result = _write_back(
        plan,
        cid,
        tess=tess,
        bm=bm,
        codes=codes,
        old=old,
        new=new,
        moved=moved,
        hh=hh,
        target_path=target_path,
    )
    q_after = plan_quality(plan)
    plan.meta["quality"] = edited_quality(plan.meta.get("quality"), q_after)
    result = replace(
        result,
        hand_households=hand_hh,
        rebalance_households=sum(int(m["households"]) for m in result.rebalance_moves),
        out_of_band=[codes[g] for g in rep.out_of_band],
        quality_before=q_before,
        quality_after=q_after,
        notes=notes + result.notes,
    )
    entry.update(
        {
            "action": "move",
            "time": now(),
            "community_id": cid,
            "to": to,
            "moved": result.hand_moves,
            "rebalanced": result.rebalance_moves,
            "hand_households": result.hand_households,
            "rebalance_households": result.rebalance_households,
            "changed_grids": result.changed_grids,
            "removed_grids": result.removed_grids,
            "out_of_band": result.out_of_band,
            "quality_before": q_before,
            "quality_after": q_after,
        }
    )
    return result, entry


#: ``plan_quality`` keys → the names ``plan_meta.quality`` gives them (CONTRACT §6).
_QUALITY_KEYS: Final = {
    "n_grids": "n_grids",
    "n_counted": "n_counted",
    "in_band_share": "in_band_share",
    "out_of_band": "out_of_band",
    "max_deviation": "max_deviation",
    "polsby_popper_mean": "mean_polsby_popper",
    "weighted_distance_m": "weighted_distance_m",
    "single_compound_share": "single_compound_share",
    "households": "households",
    "households_min": "households_min",
    "households_max": "households_max",
}


def edited_quality(quality: Any, measured: dict[str, Any]) -> dict[str, Any]:
    """``plan_meta.quality`` after an edit: the measures recomputed from the plan's layers.

    The measures :func:`~gridder.planfile.plan_quality` computes replace the
    partition's; the others (boundary on streets, the ceiling, solve times)
    are the partition's and are listed under ``not_recomputed_after_edit``.
    """
    out = dict(quality) if isinstance(quality, dict) else {}
    for key, name in _QUALITY_KEYS.items():
        if key in measured:
            out[name] = measured[key]
    out["recomputed_after_edit"] = True
    skip = {"recomputed_after_edit", "not_recomputed_after_edit"}
    out["not_recomputed_after_edit"] = sorted(
        k for k in out if k not in set(_QUALITY_KEYS.values()) | skip
    )
    return out


def _write_back(
    plan: PlanFile,
    cid: str,
    *,
    tess: Any,
    bm: gpd.GeoDataFrame,
    codes: list[str],
    old: np.ndarray,
    new: np.ndarray,
    moved: np.ndarray,
    hh: np.ndarray,
    target_path: Path,
) -> tuple[dict[str, Any], EditResult]:
    """Update assignments and the changed grids in ``plan``; return the undo record."""
    changed_units = np.flatnonzero(old != new)
    hand = set(moved.tolist())
    ids = bm["building_id"].to_numpy()

    def rec(u: int) -> dict[str, Any]:
        return {
            "building_id": str(ids[u]),
            "from_grid": codes[int(old[u])],
            "to_grid": codes[int(new[u])],
            "households": int(hh[u]),
        }

    hand_moves = [rec(u) for u in moved.tolist()]
    rebalance = [rec(u) for u in changed_units.tolist() if u not in hand]
    changed_labels = sorted(
        {int(old[u]) for u in changed_units} | {int(new[u]) for u in changed_units}
    )
    alive = set(np.unique(new).tolist())
    removed = [codes[g] for g in changed_labels if g not in alive]
    polys = grid_polygons(tess, pd.Series(new, index=bm.index), smooth=0)
    grids = plan.grids
    undo_rows = grid_rows(grids, [codes[g] for g in changed_labels])
    # assignments
    a = plan.assignments
    new_codes = pd.Series([codes[int(g)] for g in new], index=bm.index)
    a.loc[bm.index, "grid_id"] = new_codes
    # grids: the changed ones get new polygons and statistics; empty ones go
    crs = bm.crs
    keep = ~grids["grid_id"].isin(removed)
    geoms = grids.geometry.to_numpy().copy()
    for g in changed_labels:
        if g in alive:
            i = int(np.flatnonzero(grids["grid_id"].to_numpy() == codes[g])[0])
            geoms[i] = gpd.GeoSeries([polys.geometry.loc[g]], crs=crs).to_crs(WGS84).iloc[0]
    grids = grids.set_geometry(gpd.GeoSeries(geoms, index=grids.index, crs=WGS84))
    area = pd.Series(polys["area_m2"].to_numpy(), index=[codes[int(g)] for g in polys.index])
    grids = refresh_grid_stats(
        plan, grids, [codes[g] for g in changed_labels if g in alive], area_m2=area
    )
    plan.grids = grids[keep.to_numpy()].copy()
    notes = []
    if removed:
        notes.append(f"grid(s) {', '.join(removed)} lost every building and were removed")
    if "workers" in plan.layers:
        plan.meta["workers_stale"] = True
        notes.append("the workers layer predates this edit: re-run gridder workers")
    violations = plan_violations(
        grids=plan.grids[plan.grids["community_id"] == cid],
        assignments=a[a["community_id"] == cid],
        communities=plan.communities[plan.communities["community_id"] == cid],
    )
    if violations:
        shown = "; ".join(str(v) for v in violations[:5])
        raise InputError.single(plan.source, "", f"the edit would break the plan: {shown}")
    entry = {
        "undo": {
            "grids": undo_rows,
            "assignments": [[m["building_id"], m["from_grid"]] for m in hand_moves + rebalance],
        }
    }
    result = EditResult(
        path=target_path,
        action="move",
        community_id=cid,
        hand_moves=hand_moves,
        rebalance_moves=rebalance,
        changed_grids=[codes[g] for g in changed_labels if g in alive],
        removed_grids=removed,
        notes=notes,
    )
    return entry, result


# ---------------------------------------------------------------------- undo
def _reversed(moves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Moves as an undo makes them: each building goes back from ``to_grid`` to ``from_grid``."""
    return [{**m, "from_grid": m.get("to_grid"), "to_grid": m.get("from_grid")} for m in moves]


def _undo_result(entry: dict[str, Any], target_path: Path) -> EditResult:
    """What an undo did: the undone edit's moves reversed, quality before and after swapped."""
    return EditResult(
        path=target_path,
        action="undo",
        community_id=entry.get("community_id"),
        hand_moves=_reversed(list(entry.get("moved") or [])),
        rebalance_moves=_reversed(list(entry.get("rebalanced") or [])),
        hand_households=int(entry.get("hand_households") or 0),
        rebalance_households=int(entry.get("rebalance_households") or 0),
        changed_grids=list(entry.get("changed_grids") or []),
        removed_grids=list(entry.get("removed_grids") or []),
        quality_before=dict(entry.get("quality_after") or {}),
        quality_after=dict(entry.get("quality_before") or {}),
        notes=[f"undid edit {entry['edit']} ({entry.get('action')})"],
    )
