"""Households covered per scope (all / community / grid), facility type and threshold.

The ``summary`` table of CONTRACT §4: for each facility type and threshold, the
households of each scope and how many of them live within the threshold's network
distance of a facility of that type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["covered_table", "summarize"]

FloatArray = npt.NDArray[np.float64]


def _scopes(buildings: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    scopes: list[tuple[str, pd.Series]] = [
        ("all", pd.Series("all", index=buildings.index, dtype=object))
    ]
    for scope, col in (("community", "community_id"), ("grid", "grid_id")):
        if col in buildings.columns:
            scopes.append((scope, buildings[col].astype(object)))
    return scopes


def covered_table(
    buildings: pd.DataFrame,
    covered: Mapping[tuple[Any, ...], npt.NDArray[np.bool_]],
    key_names: tuple[str, ...],
) -> pd.DataFrame:
    """Households and households covered per scope for each key's coverage mask.

    Parameters
    ----------
    buildings
        With ``households`` and optional ``community_id`` / ``grid_id``.
    covered
        Key (e.g. ``(facility_type, minutes, distance_m)``) → boolean mask over buildings.
    key_names
        Column names of the key's parts.

    Returns
    -------
    pandas.DataFrame
        ``scope``, ``scope_id``, the key columns, ``households``, ``households_covered``,
        ``share`` (NaN where a scope has no households). Buildings with no grid or
        community are left out of that scope.
    """
    hh = pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy(float)
    frames = []
    for scope, ids in _scopes(buildings):
        valid = ids.notna().to_numpy()
        codes, uniques = pd.factorize(ids[valid], sort=True)
        if len(uniques) == 0:
            continue
        total = np.bincount(codes, weights=hh[valid], minlength=len(uniques))
        for key, mask in covered.items():
            cov = np.bincount(codes, weights=hh[valid] * mask[valid], minlength=len(uniques))
            part = pd.DataFrame({"scope": scope, "scope_id": np.asarray(uniques, dtype=object)})
            for name, value in zip(key_names, key, strict=True):
                part[name] = value
            part["households"] = total.round().astype(np.int64)
            part["households_covered"] = cov.round().astype(np.int64)
            frames.append(part)
    cols = ["scope", "scope_id", *key_names, "households", "households_covered", "share"]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = out["households_covered"] / out["households"].where(out["households"] > 0)
    out["share"] = share.astype(float)
    return out[cols]


def summarize(
    buildings: pd.DataFrame,
    distances: Mapping[str, FloatArray],
    thresholds: Sequence[tuple[float, float]],
) -> pd.DataFrame:
    """Build the ``summary`` table (CONTRACT §4).

    Parameters
    ----------
    buildings
        With ``households`` and optional ``community_id`` / ``grid_id``.
    distances
        Facility type → network metres per building (NaN when unreachable).
    thresholds
        ``(minutes, distance_m)`` pairs.

    Returns
    -------
    pandas.DataFrame
        ``scope``, ``scope_id``, ``facility_type``, ``minutes``, ``distance_m``,
        ``households``, ``households_covered``, ``share``.
    """
    masks = {
        (ftype, minutes, float(dist_m)): np.asarray(d <= dist_m)
        for ftype, d in distances.items()
        for minutes, dist_m in thresholds
    }
    return covered_table(buildings, masks, ("facility_type", "minutes", "distance_m"))
