"""The coverage GeoPackage's layers keep the geometry types of CONTRACT §4."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

from gridder.servicejobs import coverage_job


def _coverage(files: dict[str, Path], out: Path, isochrones: str) -> Path:
    path, _ = coverage_job(
        plan=str(files["plan"]),
        streets=str(files["streets"]),
        facilities=str(files["facilities"]),
        out=str(out),
        isochrones=isochrones,
    )
    return path


def test_isochrones_none_writes_an_empty_polygon_layer(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """``--isochrones none``: no features, but still a MultiPolygon layer, not GEOMETRY."""
    path = _coverage(files, tmp_path / "none.gpkg", "none")
    info = pyogrio.read_info(path, layer="isochrones")
    assert info["features"] == 0
    assert info["geometry_type"] == "MultiPolygon"
    # the same fields, of the same types, as a layer with isochrones
    full = pyogrio.read_info(_coverage(files, tmp_path / "buffer.gpkg", "buffer"), "isochrones")
    assert full["features"] > 0
    assert full["geometry_type"] in ("Polygon", "MultiPolygon")
    assert info["fields"].tolist() == full["fields"].tolist()
    assert info["dtypes"].tolist() == full["dtypes"].tolist()
    frame = gpd.read_file(path, layer="isochrones")
    assert frame.empty and frame.crs is not None and frame.crs.to_epsg() == 4326
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
