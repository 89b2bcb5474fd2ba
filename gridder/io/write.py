"""Writing GeoPackages atomically: plan files (CONTRACT §3), coverage files (§4), inputs.

Every writer builds the whole file under a temporary name in the target's
directory and renames it into place at the end, so a failure never leaves a
partial file behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from gridder.errors import InputError, Problem
from gridder.schema import WGS84

__all__ = ["atomic_path", "read_meta", "write_geopackage", "write_plan"]

log = logging.getLogger(__name__)

META_LAYER = "plan_meta"


def check_targets(targets: Iterable[str | os.PathLike[str]], option: str = "--out") -> list[Path]:
    """Refuse (exit 2) output files that cannot be written, before any of them is.

    A command that writes several files (a Shapefile's parts, a diff's CSVs)
    renames them into place at the end: one that is a directory would fail
    after the others were replaced, leaving a mixed set.
    """
    paths = [Path(t) for t in targets]
    problems = [
        Problem(option, str(p), "is a directory; name the file to write")
        for p in paths
        if p.is_dir()
    ]
    problems += [
        Problem(option, str(p), f"{p.parent} is a file, not a directory")
        for p in paths
        if p.parent.exists() and not p.parent.is_dir()
    ]
    if problems:
        raise InputError(problems)
    return paths


def check_geopackage_target(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Refuse (exit 2) an output that cannot be a GeoPackage file: a directory, another suffix."""
    text = os.fspath(path)
    target = Path(text)
    if target.is_dir() or text.endswith(("/", "\\")):
        raise InputError.single(option, text, "is a directory; name the .gpkg file to write")
    if target.suffix.lower() != ".gpkg":
        raise InputError.single(option, text, "writes a GeoPackage: name it FILE.gpkg")
    return target


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=suffix or target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # drivers refuse to create over an existing empty file
    try:
        yield tmp
        tmp.replace(target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _to_wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is None:
        msg = "refusing to write a layer without a CRS"
        raise ValueError(msg)
    return frame.to_crs(WGS84) if not frame.crs.equals(WGS84) else frame


def _meta_frame(meta: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": list(meta.keys()),
            "value": [json.dumps(v, ensure_ascii=False, default=str) for v in meta.values()],
        }
    )


def write_geopackage(
    path: str | os.PathLike[str],
    layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame],
    *,
    meta: Mapping[str, Any] | None = None,
    meta_layer: str = META_LAYER,
    empty_geometry_types: Mapping[str, str] | None = None,
) -> Path:
    """Write several layers (and an optional key/value JSON table) into one GeoPackage.

    Geometry layers are written in WGS84 (EPSG:4326) whatever CRS they carry;
    plain DataFrames become attribute tables. The file appears atomically.

    Parameters
    ----------
    path
        Target ``.gpkg`` file; replaced if it exists.
    layers
        Layer name → frame, written in order.
    meta
        Key → JSON-serialisable value, written as table ``meta_layer``.
    meta_layer
        Name of the metadata table.
    empty_geometry_types
        Layer name → geometry type (``"MultiPolygon"``) declared when that layer
        has no feature; GDAL would otherwise declare ``Unknown`` (it infers the
        type from the features).

    Returns
    -------
    Path
        The written file.
    """
    with atomic_path(path) as tmp:
        for name, frame in layers.items():
            if isinstance(frame, gpd.GeoDataFrame):
                # each feature keeps its type: a layer of Polygons and a few MultiPolygons
                # (grids of a community in parts) is a GEOMETRY layer, not all MultiPolygons
                declared = (empty_geometry_types or {}).get(name) if not len(frame) else None
                pyogrio.write_dataframe(
                    _to_wgs84(frame),
                    tmp,
                    layer=name,
                    driver="GPKG",
                    promote_to_multi=False,
                    geometry_type=declared,
                )
            else:
                pyogrio.write_dataframe(pd.DataFrame(frame), tmp, layer=name, driver="GPKG")
        if meta is not None:
            pyogrio.write_dataframe(_meta_frame(meta), tmp, layer=meta_layer, driver="GPKG")
    log.info("wrote %s (%s)", path, ", ".join([*layers, *([meta_layer] if meta else [])]))
    return Path(path)


def write_plan(
    path: str | os.PathLike[str],
    *,
    grids: gpd.GeoDataFrame,
    assignments: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    meta: Mapping[str, Any],
    extra_layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame] | None = None,
) -> Path:
    """Write a plan GeoPackage (CONTRACT §3): grids, assignments, communities, plan_meta."""
    layers: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {
        "grids": grids,
        "assignments": assignments,
        "communities": communities,
    }
    layers.update(extra_layers or {})
    return write_geopackage(path, layers, meta=meta)


def read_meta(path: str | os.PathLike[str], *, layer: str = META_LAYER) -> dict[str, Any]:
    """Read a key/value JSON table (``plan_meta``) back into a dict."""
    frame = pyogrio.read_dataframe(path, layer=layer, read_geometry=False)
    return {str(k): json.loads(v) for k, v in zip(frame["key"], frame["value"], strict=True)}
