"""A plan GeoPackage with all its layers, for the workflow steps that rewrite or export it.

:class:`PlanFile` reads every layer of a plan (CONTRACT §3: ``grids``,
``assignments``, ``communities``, ``plan_meta`` and whatever else the file holds,
e.g. ``workers`` or ``streets``) and writes them all back atomically, so that a
workflow step (workers, hand edits) changes only what it means to change.
:func:`plan_quality` recomputes the CONTRACT §6 measures that the plan's own
layers allow.

Examples
--------
>>> plan = PlanFile.read("plan.gpkg")  # doctest: +SKIP
>>> plan.band  # doctest: +SKIP
Band(min=200, max=300, target=250, balance_on='households', area_weight=0.0)
>>> plan.write("plan2.gpkg")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS

from gridder.errors import InputError, NotFoundError
from gridder.io.crs import local_metric_crs
from gridder.io.write import META_LAYER, read_meta, write_geopackage
from gridder.schema import WGS84

__all__ = ["Band", "PlanFile", "assignment_digest", "plan_quality", "refresh_grid_stats"]

log = logging.getLogger(__name__)

REQUIRED_LAYERS: Final = ("grids", "assignments", "communities", META_LAYER)
REQUIRED_COLUMNS: Final = {
    "grids": ("grid_id", "community_id"),
    "assignments": ("building_id", "grid_id", "community_id"),
    "communities": ("community_id",),
}


@dataclass(frozen=True)
class Band:
    """The band of a plan (from ``plan_meta.parameters``; CONTRACT defaults otherwise)."""

    min: int = 200
    max: int = 300
    target: int = 250
    balance_on: str = "households"
    #: ``--area-weight``: each grid's land (per hectare) adds to its balanced value.
    area_weight: float = 0.0

    def in_band(self, value: float) -> bool:
        """Whether a balance value lies within ``[min, max]``."""
        return self.min <= value <= self.max


@dataclass
class PlanFile:
    """Every layer of a plan file, in file order, plus ``plan_meta`` as a dict.

    Parameters
    ----------
    path
        The file the plan was read from.
    layers
        Layer name → frame (geometry layers in WGS84), ``plan_meta`` excluded.
    meta
        The ``plan_meta`` key/value table.
    """

    path: Path
    layers: dict[str, gpd.GeoDataFrame | pd.DataFrame]
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ I/O
    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PlanFile:
        """Read all layers of a plan file.

        Raises
        ------
        NotFoundError
            When the file does not exist.
        InputError
            When it is not a plan file (a layer or a column is missing).
        """
        path = Path(path)
        if not path.is_file():
            msg = f"{path}: no such plan file"
            raise NotFoundError(msg)
        try:
            names = [str(name) for name, _ in pyogrio.list_layers(path)]
        except DataSourceError as exc:
            raise InputError.single(str(path), "", f"not a GeoPackage: {exc}") from exc
        missing = [n for n in REQUIRED_LAYERS if n not in names]
        if missing:
            raise InputError.single(
                str(path), "", f"not a plan file: missing layer(s) {', '.join(missing)}"
            )
        layers: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {}
        for name in names:
            if name == META_LAYER:
                continue
            try:
                frame = pyogrio.read_dataframe(path, layer=name)
            except (DataSourceError, DataLayerError) as exc:
                raise InputError.single(str(path), f"layer {name}", f"unreadable: {exc}") from exc
            crs = getattr(frame, "crs", None)
            if isinstance(frame, gpd.GeoDataFrame) and crs is not None and not crs.equals(WGS84):
                frame = frame.to_crs(WGS84)
            layers[name] = frame
        for name, cols in REQUIRED_COLUMNS.items():
            absent = [c for c in cols if c not in layers[name].columns]
            if absent:
                raise InputError.single(str(path), f"layer {name}", f"missing column(s) {absent}")
            for c in cols:
                layers[name][c] = layers[name][c].astype(str)
        try:
            meta = read_meta(path)
        except (DataLayerError, KeyError, ValueError) as exc:
            raise InputError.single(str(path), f"layer {META_LAYER}", f"unreadable: {exc}") from exc
        return cls(path=path, layers=layers, meta=meta)

    def write(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write every layer and ``plan_meta`` atomically (to :attr:`path` by default)."""
        target = Path(path) if path is not None else self.path
        return write_geopackage(target, self.layers, meta=self.meta)

    # ------------------------------------------------------------------ access
    @property
    def grids(self) -> gpd.GeoDataFrame:
        """The ``grids`` layer (WGS84)."""
        frame = self.layers["grids"]
        assert isinstance(frame, gpd.GeoDataFrame)
        return frame

    @grids.setter
    def grids(self, frame: gpd.GeoDataFrame) -> None:
        self.layers["grids"] = frame

    @property
    def assignments(self) -> gpd.GeoDataFrame:
        """The ``assignments`` layer (WGS84 points)."""
        frame = self.layers["assignments"]
        assert isinstance(frame, gpd.GeoDataFrame)
        return frame

    @assignments.setter
    def assignments(self, frame: gpd.GeoDataFrame) -> None:
        self.layers["assignments"] = frame

    @property
    def communities(self) -> gpd.GeoDataFrame:
        """The ``communities`` layer (WGS84)."""
        frame = self.layers["communities"]
        assert isinstance(frame, gpd.GeoDataFrame)
        return frame

    def layer(self, name: str) -> gpd.GeoDataFrame | pd.DataFrame | None:
        """A layer by name, ``None`` when the plan has none."""
        return self.layers.get(name)

    @property
    def source(self) -> str:
        """The file name, for error messages."""
        return str(self.path)

    @property
    def band(self) -> Band:
        """The plan's band, from ``plan_meta.parameters``."""
        p = self.meta.get("parameters") or {}
        d = Band()
        return Band(
            min=int(p.get("min", d.min)),
            max=int(p.get("max", d.max)),
            target=int(p.get("target", d.target)),
            balance_on=str(p.get("balance_on", d.balance_on)),
            area_weight=float(p.get("area_weight") or 0.0),
        )

    def metric_crs(self) -> CRS:
        """The local metric CRS of the plan (UTM zone of the communities' centre)."""
        minx, miny, maxx, maxy = self.communities.total_bounds
        return local_metric_crs((minx + maxx) / 2.0, (miny + maxy) / 2.0)

    @property
    def locked_grids(self) -> list[str]:
        """Grid ids locked by hand (``plan_meta.locked_grids``)."""
        return [str(g) for g in self.meta.get("locked_grids") or []]

    def balance_values(self) -> pd.Series:
        """Balance value per building (``households`` or ``workload``), indexed like assignments."""
        a = self.assignments
        col = "workload" if self.band.balance_on == "workload" and "workload" in a else "households"
        if col not in a.columns:
            return pd.Series(0.0, index=a.index)
        return pd.to_numeric(a[col], errors="coerce").fillna(0.0)

    def grid_values(self) -> pd.Series:
        """Balance value per grid id, summed from the assignments."""
        return self.balance_values().groupby(self.assignments["grid_id"]).sum()


def _excluded(plan: PlanFile, band: Band) -> set[str]:
    """Grids left out of the band measures: a single building above the maximum (CONTRACT §6)."""
    a = plan.assignments
    value = plan.balance_values()
    counts = a["grid_id"].value_counts()
    single = set(counts[counts == 1].index)
    big = set(a.loc[value > band.max, "grid_id"])
    return single & big


def assignment_digest(assignments: pd.DataFrame) -> str:
    """A short fingerprint of which building is in which grid (``building_id``, ``grid_id``).

    A coverage file records the digest of the plan it was computed for, so that
    a plan edited since (same ``plan_id``, other assignments) is recognised.
    """
    pairs = sorted(
        zip(
            assignments["building_id"].astype(str).tolist(),
            assignments["grid_id"].astype(str).tolist(),
            strict=True,
        )
    )
    text = "\n".join(f"{b}\t{g}" for b, g in pairs)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def plan_quality(plan: PlanFile) -> dict[str, Any]:
    """CONTRACT §6 measures recomputed from a plan's layers (metric CRS).

    Returns
    -------
    dict
        ``n_grids``, ``in_band_share``, ``max_deviation``, ``polsby_popper_mean``,
        ``weighted_distance_m``, ``households``, ``n_counted``, ``out_of_band``,
        ``households_min``, ``households_max`` and, when the assignments carry
        compounds, ``single_compound_share``.
    """
    band = plan.band
    crs = plan.metric_crs()
    grids = plan.grids.to_crs(crs)
    values = plan.grid_values().reindex(grids["grid_id"]).fillna(0.0).to_numpy()
    skip = _excluded(plan, band)
    counted = ~grids["grid_id"].isin(skip).to_numpy()
    inb = (values >= band.min) & (values <= band.max)
    dev = np.abs(values - band.target) / band.target
    geoms = grids.geometry.to_numpy()
    perim = shapely.length(geoms)
    pp = np.where(perim > 0, 4 * np.pi * shapely.area(geoms) / np.maximum(perim, 1e-9) ** 2, 0.0)
    a = plan.assignments.to_crs(crs)
    hh = pd.to_numeric(a.get("households", pd.Series(0, index=a.index)), errors="coerce").fillna(0)
    xy = shapely.get_coordinates(shapely.centroid(a.geometry.to_numpy()))
    frame = pd.DataFrame({"g": a["grid_id"].to_numpy(), "w": hh.to_numpy(float)})
    frame["wx"] = frame["w"] * xy[:, 0]
    frame["wy"] = frame["w"] * xy[:, 1]
    sums = frame.groupby("g")[["w", "wx", "wy"]].transform("sum")
    cx = sums["wx"] / sums["w"].where(sums["w"] > 0, 1.0)
    cy = sums["wy"] / sums["w"].where(sums["w"] > 0, 1.0)
    dist = np.hypot(xy[:, 0] - cx.to_numpy(), xy[:, 1] - cy.to_numpy())
    total_w = float(frame["w"].sum())
    grid_hh = frame.groupby("g")["w"].sum()
    out = {
        "n_grids": len(grids),
        "in_band_share": float(inb[counted].mean()) if counted.any() else None,
        "max_deviation": float(dev[counted].max()) if counted.any() else None,
        "polsby_popper_mean": float(pp.mean()) if len(pp) else 0.0,
        "weighted_distance_m": float((dist * frame["w"]).sum() / total_w) if total_w else None,
        "households": round(float(hh.sum())),
        "n_counted": int(counted.sum()),
        "out_of_band": int((~inb[counted]).sum()),
        "households_min": round(float(grid_hh.min())) if len(grid_hh) else 0,
        "households_max": round(float(grid_hh.max())) if len(grid_hh) else 0,
    }
    if "compound_id" in a.columns:
        compound = a["compound_id"].fillna("").astype(str)
        single = compound.groupby(a["grid_id"].to_numpy()).nunique().le(1)
        out["single_compound_share"] = float(single.mean()) if len(single) else 1.0
    return out


def refresh_grid_stats(
    plan: PlanFile,
    grids: gpd.GeoDataFrame,
    changed: list[str],
    *,
    area_m2: pd.Series,
) -> gpd.GeoDataFrame:
    """Recompute the statistics columns of some grids from the plan's assignments.

    Parameters
    ----------
    plan
        The plan whose assignments are current.
    grids
        Its grids layer (changed in place and returned).
    changed
        ``grid_id`` of the grids to recompute.
    area_m2
        Area in square metres of the changed grids, indexed by ``grid_id``.
    """
    a = plan.assignments
    mine = a[a["grid_id"].isin(changed)]
    sel = grids["grid_id"].isin(changed).to_numpy()
    gid = grids.loc[sel, "grid_id"]
    for col in ("households", "workload"):
        if col not in grids.columns:
            continue
        src = col if col in a.columns else "households"
        if src not in a.columns:
            continue
        sums = pd.to_numeric(mine[src], errors="coerce").fillna(0).groupby(mine["grid_id"]).sum()
        vals = gid.map(sums).fillna(0)
        grids.loc[sel, col] = vals.astype(grids[col].dtype).to_numpy()
    if "n_buildings" in grids.columns:
        counts = mine.groupby("grid_id").size()
        grids.loc[sel, "n_buildings"] = gid.map(counts).fillna(0).astype(int).to_numpy()
    if "area_m2" in grids.columns:
        grids.loc[sel, "area_m2"] = np.round(gid.map(area_m2).to_numpy(dtype=float), 1)
    band = plan.band
    value = plan.grid_values()
    if "in_band" in grids.columns:
        grids.loc[sel, "in_band"] = [band.in_band(float(value.get(g, 0.0))) for g in gid]
    if "deviation" in grids.columns:
        grids.loc[sel, "deviation"] = [  # signed, as the partition writes it
            round((float(value.get(g, 0.0)) - band.target) / band.target, 4) for g in gid
        ]
    if "single_building_over_max" in grids.columns:
        skip = _excluded(plan, band)  # a tower that took in a neighbour is counted again
        grids.loc[sel, "single_building_over_max"] = [g in skip for g in gid]
    if "polsby_popper" in grids.columns:
        metric = grids.loc[sel].to_crs(plan.metric_crs()).geometry.to_numpy()
        perim = shapely.length(metric)
        grids.loc[sel, "polsby_popper"] = (
            4 * np.pi * shapely.area(metric) / np.maximum(perim, 1e-9) ** 2
        )
    return grids
