"""The coverage GeoPackage's layers keep the geometry types of CONTRACT §4."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

from gridder.io.write import write_geopackage
from gridder.servicejobs import coverage_job


@pytest.fixture
def files(synth, tmp_path: Path) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """A plan (its assignments), streets and facilities written to GeoPackages."""
    buildings = synth.make_buildings(40, 500.0)
    return {
        "plan": write_geopackage(
            tmp_path / "plan.gpkg", {"assignments": buildings}, meta={"plan_id": "p1"}
        ),
        "streets": write_geopackage(
            tmp_path / "streets.gpkg", {"streets": synth.lattice_edges(6, 6, 100.0)}
        ),
        "facilities": write_geopackage(
            tmp_path / "facilities.gpkg",
            {"facilities": synth.make_facilities({"clinic": 2}, 500.0)},
        ),
    }


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
