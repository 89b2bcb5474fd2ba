"""Totals up the administrative hierarchy: district → street (街道) → community (社区) → grid.

:func:`plan_hierarchy` sums a plan's grids per community and, where the
``communities`` layer carries ``street_id`` and ``district_id``, per street
and per district: households, workload, grids, buildings and the share of
grids within the band (single buildings above the maximum left out, as in
CONTRACT §6). Communities without a street or district id are grouped under
``""`` at that level.

Examples
--------
>>> table = plan_hierarchy("plan.gpkg")  # doctest: +SKIP
>>> table[table["level"] == "street"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Final

import numpy as np
import pandas as pd

from gridder.planfile import PlanFile

__all__ = ["LEVELS", "plan_hierarchy"]

#: Hierarchy levels, top down.
LEVELS: Final = ("district", "street", "community", "grid")
_ID: Final = {"district": "district_id", "street": "street_id", "community": "community_id"}
COLUMNS: Final = (
    "level",
    "district_id",
    "street_id",
    "community_id",
    "grid_id",
    "name",
    "households",
    "workload",
    "grids",
    "buildings",
    "grids_in_band",
    "in_band_share",
)


def _grid_table(plan: PlanFile) -> pd.DataFrame:
    """One row per grid with its community's street/district and its totals."""
    band = plan.band
    grids = pd.DataFrame(plan.grids.drop(columns=plan.grids.geometry.name))
    a = plan.assignments
    value = plan.balance_values()
    hh = pd.to_numeric(a.get("households", pd.Series(0, index=a.index)), errors="coerce").fillna(0)
    by = a["grid_id"]
    totals = pd.DataFrame(
        {
            "households": hh.groupby(by).sum(),
            "buildings": by.value_counts(),
            "value": value.groupby(by).sum(),
            "top": value.groupby(by).max(),
        }
    )
    t = totals.reindex(grids["grid_id"]).fillna(0)
    out = pd.DataFrame(
        {"grid_id": grids["grid_id"].to_numpy(), "community_id": grids["community_id"].to_numpy()}
    )
    out["households"] = t["households"].to_numpy()
    if "workload" in a.columns:
        wl = pd.to_numeric(a["workload"], errors="coerce").fillna(0).groupby(by).sum()
        out["workload"] = wl.reindex(grids["grid_id"]).fillna(0).to_numpy()
    elif "workload" in grids.columns:
        out["workload"] = pd.to_numeric(grids["workload"], errors="coerce").fillna(0).to_numpy()
    else:
        out["workload"] = out["households"]
    out["buildings"] = t["buildings"].astype(int).to_numpy()
    # a single building above the maximum (CONTRACT §6)
    excluded = (t["buildings"].to_numpy() == 1) & (t["top"].to_numpy() > band.max)
    v = t["value"].to_numpy()
    out["counted"] = ~excluded
    out["in_band"] = (v >= band.min) & (v <= band.max) & ~excluded
    comm = pd.DataFrame(plan.communities.drop(columns=plan.communities.geometry.name))
    keep = [c for c in ("community_id", "street_id", "district_id", "name") if c in comm.columns]
    comm = comm[keep].drop_duplicates("community_id")
    out = out.merge(comm, on="community_id", how="left")
    for c in ("street_id", "district_id", "name"):
        if c not in out.columns:
            out[c] = None
    out[["street_id", "district_id"]] = out[["street_id", "district_id"]].fillna("").astype(str)
    return out


def plan_hierarchy(
    plan: PlanFile | str | os.PathLike[str], *, include_grids: bool = True
) -> pd.DataFrame:
    """Totals per district, street, community (and grid), top down.

    Parameters
    ----------
    plan
        A plan file or :class:`~gridder.planfile.PlanFile`.
    include_grids
        Also list each grid (level ``grid``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; levels ``district``/``street`` appear only
        when the communities carry ``district_id``/``street_id``.
    """
    pf = plan if isinstance(plan, PlanFile) else PlanFile.read(plan)
    g = _grid_table(pf)
    comm_cols = set(pf.communities.columns)
    levels = [lv for lv in ("district", "street") if _ID[lv] in comm_cols] + ["community"]
    frames = []
    keys: list[str] = []
    for level in levels:
        keys = [*keys, _ID[level]]
        agg = (
            g.groupby(keys, sort=True, dropna=False)
            .agg(
                households=("households", "sum"),
                workload=("workload", "sum"),
                grids=("grid_id", "size"),
                buildings=("buildings", "sum"),
                grids_in_band=("in_band", "sum"),
                counted=("counted", "sum"),
                name=("name", "first"),
            )
            .reset_index()
        )
        if level != "community":
            agg["name"] = None
        agg["level"] = level
        frames.append(agg)
    if include_grids:
        grid_rows = g.assign(
            level="grid",
            grids=1,
            grids_in_band=g["in_band"].astype(int),
            counted=g["counted"].astype(int),
        )
        frames.append(grid_rows)
    out = pd.concat(frames, ignore_index=True)
    # no counted grid (every one a single building above --max): no share, not 100%
    out["in_band_share"] = np.where(
        out["counted"] > 0,
        out["grids_in_band"] / out["counted"].where(out["counted"] > 0, 1),
        np.nan,
    )
    for c in COLUMNS:
        if c not in out.columns:
            out[c] = None
    rank = out["level"].map({lv: i for i, lv in enumerate(LEVELS)})
    sort_keys = [k for k in ("district_id", "street_id", "community_id", "grid_id") if k in out]
    filled = out[sort_keys].fillna("").astype(str)
    order = np.lexsort([rank.to_numpy(), *[filled[k].to_numpy() for k in reversed(sort_keys)]])
    out = out.iloc[order].reset_index(drop=True)
    out["grids_in_band"] = out["grids_in_band"].astype(int)
    return out[list(COLUMNS)]
