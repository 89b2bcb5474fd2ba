"""Exports of a plan that Chinese GIS and office tools open: GeoJSON, GeoPackage, Shapefile, Excel.

:func:`export_plan` writes

- ``geojson``: one layer (``grids`` unless ``layer`` names another);
- ``gpkg``: every layer of the plan, ``plan_meta`` included;
- ``shp``: one layer as a Shapefile with a ``.cpg`` naming its encoding
  (``UTF-8`` by default, or ``GBK`` for older ArcGIS on Chinese Windows), DBF field
  names shortened to 10 bytes without collisions (:func:`short_field_names`:
  first the plain 10-byte cut, which ``gridder.io`` reads back as the contract
  name, then a numbered cut where two names would collide), and a
  ``.fields.csv`` sidecar mapping each short name to the full one; a path
  ending in ``.zip`` gets the whole Shapefile zipped;
- ``xlsx``: a grid ledger (网格台账) with one sheet per community (grid code,
  households, workload, buildings, area, workers, and coverage shares when a
  coverage file is given), a hierarchy sheet (district → street → community)
  and a sheet describing the plan.

``crs="gcj02"`` converts coordinates to GCJ-02 for Amap/Tencent front ends
(the files still say EPSG:4326, as GCJ-02 has no EPSG code; the GeoPackage
records ``coordinates: GCJ-02`` in ``plan_meta``). Every file appears
atomically: nothing partial is left behind on failure.

Examples
--------
>>> export_plan("plan.gpkg", fmt="shp", out="grids.shp", encoding="gbk")  # doctest: +SKIP
>>> export_plan("plan.gpkg", fmt="xlsx", out="台账.xlsx", coverage="cov.gpkg")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridder.errors import InputError
from gridder.hierarchy import plan_hierarchy
from gridder.io.crs import wgs84_to_gcj02
from gridder.io.write import atomic_path, check_targets, write_geopackage
from gridder.planfile import PlanFile

__all__ = ["FORMATS", "export_plan", "short_field_names", "to_gcj02"]

log = logging.getLogger(__name__)

Format = Literal["geojson", "gpkg", "shp", "xlsx"]
FORMATS: Final = ("geojson", "gpkg", "shp", "xlsx")
_ENCODINGS: Final = {"utf-8": "UTF-8", "utf8": "UTF-8", "gbk": "GBK", "gb18030": "GB18030"}
_SHP_PARTS: Final = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_BAD_SHEET: Final = re.compile(r"[\[\]:*?/\\]")

#: Ledger columns: plan column → header (网格台账).
LEDGER: Final = {
    "grid_id": "网格编码 grid_id",
    "households": "户数 households",
    "workload": "工作量 workload",
    "n_buildings": "楼栋数 buildings",
    "area_m2": "面积(m²) area_m2",
    "workers": "网格员 workers",
}


def to_gcj02(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame (WGS84) with its coordinates converted to GCJ-02."""

    def shift(xy: np.ndarray) -> np.ndarray:
        x, y = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    geoms = shapely.transform(frame.geometry.to_numpy(), shift)
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))


def short_field_names(
    names: Sequence[str], *, encoding: str = "utf-8", width: int = 10
) -> dict[str, str]:
    """DBF field names of at most ``width`` bytes, unique (case-insensitive), deterministic.

    Each name keeps its plain cut to ``width`` bytes (on a character boundary)
    when that is free; a colliding name gets the shortest cut followed by
    ``_1``, ``_2``, … that is free. Names are taken in the given order.

    Returns
    -------
    dict
        Full name → short name.
    """
    used: set[str] = set()
    out: dict[str, str] = {}

    def cut(text: str, limit: int) -> str:
        while len(text.encode(encoding, errors="replace")) > limit:
            text = text[:-1]
        return text

    for name in names:
        short = cut(str(name), width)
        k = 0
        while short.lower() in used or not short:
            k += 1
            tail = f"_{k}"
            short = cut(str(name), width - len(tail)) + tail
        used.add(short.lower())
        out[str(name)] = short
    return out


def _layer(plan: PlanFile, name: str) -> gpd.GeoDataFrame | pd.DataFrame:
    frame = plan.layer(name)
    if frame is None:
        raise InputError.single(
            plan.source, f"layer {name}", f"no such layer (the plan has {', '.join(plan.layers)})"
        )
    return frame


#: File name endings of each export format.
_ENDINGS: dict[str, tuple[str, ...]] = {
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "shp": (".shp", ".zip"),
    "xlsx": (".xlsx",),
}


def export_plan(
    plan_path: str | os.PathLike[str],
    *,
    fmt: Format,
    out: str | os.PathLike[str],
    layer: str = "grids",
    encoding: str = "utf-8",
    crs: Literal["wgs84", "gcj02"] = "wgs84",
    coverage: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Export a plan (see the module docstring).

    Parameters
    ----------
    plan_path
        The plan GeoPackage.
    fmt
        ``geojson``, ``gpkg``, ``shp`` or ``xlsx``.
    out
        Output file (for ``shp``: ``X.shp`` or ``X.zip``).
    layer
        Layer for GeoJSON and Shapefile.
    encoding
        Shapefile attribute encoding: ``utf-8`` (default) or ``gbk`` (older ArcGIS
        on Chinese Windows); the ``.cpg`` says which.
    crs
        ``wgs84`` or ``gcj02`` coordinates.
    coverage
        A coverage file whose ``summary`` (scope ``grid``) adds coverage shares to the ledger.

    Returns
    -------
    list of Path
        The files written.
    """
    if fmt not in FORMATS:
        raise InputError.single("export", "--format", f"unknown format {fmt!r}; use {FORMATS}")
    if crs not in ("wgs84", "gcj02"):
        raise InputError.single("export", "--crs", f"unknown {crs!r}; use wgs84 or gcj02")
    endings = _ENDINGS[fmt]
    if Path(out).suffix.lower() not in endings:
        raise InputError.single(
            str(out),
            "--out",
            f"a {fmt} export is written to a file ending in {' or '.join(endings)}",
        )
    if Path(out).exists() and Path(plan_path).exists() and Path(out).samefile(plan_path):
        raise InputError.single(
            str(out), "--out", "is the plan being exported: writing it would replace the plan"
        )
    plan = PlanFile.read(plan_path)
    if crs == "gcj02":
        for name, frame in list(plan.layers.items()):
            if isinstance(frame, gpd.GeoDataFrame):
                plan.layers[name] = to_gcj02(frame)
        plan.meta["coordinates"] = "GCJ-02"
    out = check_targets([out])[0]
    if fmt == "gpkg":
        return [write_geopackage(out, plan.layers, meta=plan.meta)]
    if fmt == "geojson":
        frame = _layer(plan, layer)
        if not isinstance(frame, gpd.GeoDataFrame):
            raise InputError.single(
                plan.source, f"layer {layer}", "has no geometry; use xlsx or gpkg"
            )
        if crs == "gcj02":
            # GCJ-02 has no CRS code: claim none rather than WGS84 (CRS84)
            frame = frame.set_crs(None, allow_override=True)
        frame = _rfc7946_rings(frame)
        with atomic_path(out) as tmp, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="'crs' was not provided")
            pyogrio.write_dataframe(frame, tmp, driver="GeoJSON", layer=layer)
        return [out]
    if fmt == "shp":
        return _write_shp(plan, layer, out, encoding)
    return [_write_ledger(plan, out, coverage)]


def _rfc7946_rings(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame with polygon exterior rings counterclockwise and holes clockwise.

    RFC 7946 §3.1.6 requires it of GeoJSON; GDAL writes rings as given (its
    ``RFC7946=YES`` option would orient them but also reproject and round
    coordinates), and a plan's grids come out clockwise.
    """
    oriented = shapely.orient_polygons(np.asarray(frame.geometry.values), exterior_cw=False)
    out = frame.copy()
    out[frame.geometry.name] = gpd.GeoSeries(oriented, index=frame.index, crs=frame.crs)
    return out


def _write_shp(plan: PlanFile, layer: str, out: Path, encoding: str) -> list[Path]:
    enc = _ENCODINGS.get(encoding.lower().replace("_", "-"))
    if enc is None:
        raise InputError.single("export", "--encoding", f"unknown {encoding!r}; use gbk or utf-8")
    frame = _layer(plan, layer)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError.single(plan.source, f"layer {layer}", "has no geometry; use xlsx or gpkg")
    attrs = [c for c in frame.columns if c != frame.geometry.name]
    mapping = short_field_names(attrs, encoding=enc)
    renamed = frame.rename(columns=mapping)
    for c in renamed.columns:
        if c != renamed.geometry.name and renamed[c].dtype == bool:
            renamed[c] = renamed[c].astype(int)
    zipped = out.suffix.lower() == ".zip"
    stem = out.stem
    out.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{stem}.", dir=out.parent))
    try:
        shp = tmpdir / f"{stem}.shp"
        try:
            pyogrio.write_dataframe(renamed, shp, driver="ESRI Shapefile", encoding=enc)
        except (UnicodeEncodeError, pyogrio.errors.DataSourceError, ValueError) as exc:
            raise InputError.single(
                plan.source,
                f"layer {layer}",
                f"cannot be written as {enc} ({exc}); try --encoding utf-8",
            ) from exc
        (tmpdir / f"{stem}.cpg").write_text(enc, encoding="ascii")
        pd.DataFrame({"short": list(mapping.values()), "name": list(mapping)}).to_csv(
            tmpdir / f"{stem}.fields.csv", index=False, encoding="utf-8-sig"
        )
        parts = sorted(p for p in tmpdir.iterdir() if p.is_file())
        if zipped:
            with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                for p in parts:
                    zf.write(p, arcname=p.name)
            return [out]
        # every part checked before any is moved: a failure leaves no mixed set
        written = check_targets([out.parent / p.name for p in parts])
        for p, target in zip(parts, written, strict=True):
            p.replace(target)
        return written
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _sheet_name(text: str, used: set[str]) -> str:
    base = _BAD_SHEET.sub("_", text)[:31] or "sheet"
    name, k = base, 1
    while name.lower() in used:
        k += 1
        name = f"{base[: 31 - len(str(k)) - 1]}~{k}"
    used.add(name.lower())
    return name


def _coverage_columns(coverage: str | os.PathLike[str] | None) -> pd.DataFrame | None:
    """Grid coverage shares: one column per facility type and minutes, indexed by grid id.

    Columns are ordered by facility type, then by minutes as numbers (5, 10, 15).
    """
    if coverage is None:
        return None
    try:
        summary = pyogrio.read_dataframe(coverage, layer="summary", read_geometry=False)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError.single(str(coverage), "layer summary", f"cannot be read: {exc}") from exc
    need = {"scope", "scope_id", "facility_type", "minutes", "share"}
    if not need <= set(summary.columns):
        raise InputError.single(str(coverage), "layer summary", f"needs columns {sorted(need)}")
    grid = summary[summary["scope"] == "grid"].copy()
    if grid.empty:
        return None
    grid["_minutes"] = pd.to_numeric(grid["minutes"], errors="coerce")
    grid["facility_type"] = grid["facility_type"].astype(str)
    grid["col"] = [
        f"{t} {m:g}分钟覆盖率" for t, m in zip(grid["facility_type"], grid["_minutes"], strict=True)
    ]
    table = grid.pivot_table(index="scope_id", columns="col", values="share", aggfunc="first")
    # by facility type, then minutes as numbers (5, 10, 15), not as text (10, 15, 5)
    order = grid.drop_duplicates("col").sort_values(
        ["facility_type", "_minutes"], kind="stable", na_position="last"
    )
    return table[[c for c in order["col"] if c in table.columns]]


def _write_ledger(plan: PlanFile, out: Path, coverage: str | os.PathLike[str] | None) -> Path:
    grids = pd.DataFrame(plan.grids.drop(columns=plan.grids.geometry.name))
    workers = plan.layer("workers")
    if workers is not None and "grid_ids" in workers.columns:
        ids = workers["grid_ids"].astype(str).str.split(",")
        per = pd.DataFrame({"grid_id": ids, "worker_id": workers["worker_id"].astype(str)})
        per = per.explode("grid_id")
        staff = per.groupby("grid_id")["worker_id"].agg(",".join)
        grids["workers"] = grids["grid_id"].map(staff)
        if plan.meta.get("workers_stale"):
            log.warning(
                "%s was edited after its workers were assigned: the ledger's workers are the "
                "old assignment (run gridder workers again)",
                plan.path,
            )
    if coverage is not None:  # a coverage file, made for this plan (as gridder map checks)
        from gridder.mapdata import check_same_plan, load_coverage

        check_same_plan(
            (plan.meta.get("plan_id"), plan.source, plan.assignments), load_coverage(Path(coverage))
        )
    cover = _coverage_columns(coverage)
    comm = pd.DataFrame(plan.communities.drop(columns=plan.communities.geometry.name))
    names = dict(zip(comm["community_id"], comm.get("name", comm["community_id"]), strict=True))
    used: set[str] = set()
    with atomic_path(out) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as xl:
        info = pd.DataFrame(
            {
                "项目 item": ["plan_id", "created", "grids", "communities", "band", "coordinates"],
                "值 value": [
                    str(plan.meta.get("plan_id", plan.path.stem)),
                    str(plan.meta.get("created", "")),
                    len(grids),
                    len(comm),
                    f"{plan.band.min}–{plan.band.max} (target {plan.band.target}, "
                    f"{plan.band.balance_on})",
                    str(plan.meta.get("coordinates", "WGS84")),
                ],
            }
        )
        info.to_excel(xl, sheet_name=_sheet_name("说明 plan", used), index=False)
        hier = plan_hierarchy(plan, include_grids=False)
        hier.to_excel(xl, sheet_name=_sheet_name("层级汇总 hierarchy", used), index=False)
        for cid in sorted(grids["community_id"].unique()):
            mine = grids[grids["community_id"] == cid].sort_values("grid_id")
            cols = [c for c in LEDGER if c in mine.columns]
            sheet = mine[cols].rename(columns=LEDGER)
            if cover is not None:
                shares = cover.reindex(mine["grid_id"].astype(str))
                for c in cover.columns:
                    sheet[c] = shares[c].to_numpy()
            title = f"{cid} {names.get(cid, '')}".strip()
            sheet.to_excel(xl, sheet_name=_sheet_name(title, used), index=False)
    return out
