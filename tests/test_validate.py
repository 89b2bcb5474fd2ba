"""Bad input is refused with exit status 2, a message naming file, feature and problem,
and nothing written. Tiny fixtures built in code, one per case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from gridder.cli import main
from gridder.errors import InputError
from gridder.inputs import load_inputs, read_valid

SQUARE = shapely.box(118.78, 32.04, 118.79, 32.05)
BOWTIE = shapely.Polygon([(118.78, 32.04), (118.79, 32.05), (118.79, 32.04), (118.78, 32.05)])


def communities(
    tmp: Path, geoms: list[shapely.Geometry] | None = None, ids: list[str] | None = None
) -> str:
    geoms = geoms or [SQUARE]
    frame = gpd.GeoDataFrame(
        {"community_id": ids or [f"C{i}" for i in range(len(geoms))]}, geometry=geoms, crs=4326
    )
    frame.to_file(tmp / "communities.geojson", driver="GeoJSON")
    return str(tmp / "communities.geojson")


def buildings_csv(
    tmp: Path, rows: list[str], header: str = "building_id,households,lon,lat"
) -> str:
    path = tmp / "buildings.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(path)


GOOD_ROWS = ["B1,120,118.782,32.042", "B2,80,118.785,32.045", "B3,,118.788,32.048"]


def run_check(tmp: Path, *extra: str, comm: str | None = None, bld: str | None = None) -> int:
    out = tmp / "report.json"
    code = main(
        [
            "check",
            "--communities",
            comm or communities(tmp),
            "--buildings",
            bld or buildings_csv(tmp, GOOD_ROWS),
            "--json",
            str(out),
            *extra,
        ]
    )
    if code != 0:
        assert not out.exists(), "nothing may be written on bad input"
    return code


def test_good_input_passes(tmp_path: Path) -> None:
    assert run_check(tmp_path) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["buildings"] == 3
    assert report["households_given"] == 200
    assert report["buildings_with_households_estimated"] == 1


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (
            ["B1,120,118.782,32.042", "B1,80,118.785,32.045"],
            None,
            ["building_id=B1", "duplicate id"],
        ),
        (["B1,-5,118.782,32.042"], None, ["building_id=B1", "negative households"]),
        (
            ["B1,many,118.782,32.042"],
            None,
            ["building_id=B1", "households is not a number: 'many'"],
        ),
        (["B1,5,east,32.042"], None, ["row 2", "non-numeric or out-of-range coordinates"]),
        (["B1,5,218.7,32.042"], None, ["row 2", "out-of-range"]),
        ([",5,118.782,32.042"], None, ["row 2", "empty building_id"]),
        (["5,118.782,32.042"], "households,lon,lat", ["missing required column 'building_id'"]),
        (["B1,5"], "building_id,households", ["lon/lat"]),
    ],
)
def test_bad_buildings_refused(
    rows: list[str],
    header: str | None,
    expected: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bld = buildings_csv(tmp_path, rows, *([header] if header else []))
    assert run_check(tmp_path, bld=bld) == 2
    err = capsys.readouterr().err
    assert "buildings.csv" in err
    for text in expected:
        assert text in err


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    bld = buildings_csv(
        tmp_path, ["B1,-5,118.782,32.042", "B2,x,118.785,32.045", "B2,3,118.786,32.046"]
    )
    with pytest.raises(InputError) as info:
        load_inputs(
            communities=communities(tmp_path, ids=["C1", "C1"], geoms=[SQUARE, SQUARE]),
            buildings=bld,
        )
    text = str(info.value)
    assert len(info.value.problems) == 4
    for part in ("negative households", "not a number", "duplicate id", "communities.geojson"):
        assert part in text


def test_invalid_geometry_refused_then_repaired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    comm = communities(tmp_path, [BOWTIE], ["C1"])
    assert run_check(tmp_path, comm=comm) == 2
    err = capsys.readouterr().err
    assert "community_id=C1" in err and "Self-intersection" in err and "--fix-geometry" in err
    assert run_check(tmp_path, "--fix-geometry", comm=comm) == 0
    fixed = read_valid(comm, "communities", fix_geometry=True)
    assert fixed.geometry.is_valid.all()
    assert fixed.geometry.iloc[0].geom_type in {"Polygon", "MultiPolygon"}


def test_empty_geometry_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    comm = communities(tmp_path, [SQUARE, shapely.Polygon()], ["C1", "C2"])
    assert run_check(tmp_path, comm=comm) == 2
    assert "community_id=C2" in capsys.readouterr().err


def test_streets_without_geometry_are_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the shared Hefei extract's streets hold one empty LineString: it used to stop the run
    line = shapely.LineString([(118.781, 32.041), (118.789, 32.049)])
    streets = gpd.GeoDataFrame(
        {"highway": ["residential", "service"]}, geometry=[line, shapely.LineString()], crs=4326
    )
    streets.to_file(tmp_path / "streets.gpkg", driver="GPKG")
    with caplog.at_level("WARNING"):
        got = read_valid(str(tmp_path / "streets.gpkg"), "streets")
    assert len(got) == 1 and got.geometry.iloc[0].equals(line)
    assert any(
        "1 street(s) without geometry left out (row 2)" in r.getMessage() for r in caplog.records
    )
    assert run_check(tmp_path, "--streets", str(tmp_path / "streets.gpkg")) == 0


def test_single_point_multipoints_are_points(tmp_path: Path) -> None:
    pts = [shapely.MultiPoint([(118.782, 32.042)]), shapely.MultiPoint([(118.785, 32.045)])]
    frame = gpd.GeoDataFrame(
        {"building_id": ["B1", "B2"], "households": [120, 80]}, geometry=pts, crs=4326
    )
    frame.to_file(tmp_path / "mp.gpkg", driver="GPKG")
    got = read_valid(str(tmp_path / "mp.gpkg"), "buildings")
    assert (got.geom_type == "Point").all()
    two = gpd.GeoDataFrame(
        {"building_id": ["B1"], "households": [1]},
        geometry=[shapely.MultiPoint([(118.782, 32.042), (118.785, 32.045)])],
        crs=4326,
    )
    two.to_file(tmp_path / "mp2.gpkg", driver="GPKG")
    with pytest.raises(InputError, match="geometry is MultiPoint"):
        read_valid(str(tmp_path / "mp2.gpkg"), "buildings")


def test_wrong_geometry_type_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    comm = communities(tmp_path, [shapely.Point(118.78, 32.04)], ["C1"])
    assert run_check(tmp_path, comm=comm) == 2
    assert "geometry is Point, expected Polygon or MultiPolygon" in capsys.readouterr().err


def test_missing_and_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(tmp_path, comm=str(tmp_path / "nope.geojson")) == 2
    assert "nope.geojson: file not found" in capsys.readouterr().err
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("{ this is not json", encoding="utf-8")
    assert run_check(tmp_path, comm=str(garbage)) == 2
    assert "garbage.geojson: cannot" in capsys.readouterr().err
    (tmp_path / "x.dxf").write_text("0", encoding="utf-8")
    assert run_check(tmp_path, comm=str(tmp_path / "x.dxf")) == 2
    assert "unsupported file type .dxf" in capsys.readouterr().err
    (tmp_path / "broken.zip").write_bytes(b"PK not a zip")
    assert run_check(tmp_path, comm=str(tmp_path / "broken.zip")) == 2
    assert "broken.zip" in capsys.readouterr().err


def test_unknown_crs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(tmp_path, "--crs", "EPSG:999999") == 2
    assert "unknown CRS 'EPSG:999999'" in capsys.readouterr().err
    # projected coordinates in a file without a CRS
    bld = buildings_csv(tmp_path, ["B1,5,500000,3500000"])
    assert run_check(tmp_path, bld=bld) == 2
    assert "out-of-range" in capsys.readouterr().err


def test_unknown_community_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bld = buildings_csv(
        tmp_path, ["B1,5,118.782,32.042,C9"], header="building_id,households,lon,lat,community_id"
    )
    assert run_check(tmp_path, bld=bld) == 2
    assert "community_id 'C9' is not in the communities layer" in capsys.readouterr().err


def test_bad_columns_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(tmp_path, "--columns", "households") == 2
    assert "expected canonical=header" in capsys.readouterr().err


def test_no_traceback_from_the_real_command(tmp_path: Path) -> None:
    bld = buildings_csv(tmp_path, ["B1,-5,118.782,32.042"])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridder",
            "check",
            "--communities",
            communities(tmp_path),
            "--buildings",
            bld,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "negative households" in proc.stderr


def test_fractional_households_are_rounded_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = ["B1,12.5,118.782,32.042", "B2,80,118.785,32.045"]
    frame = read_valid(buildings_csv(tmp_path, rows), "buildings")
    assert "1 building(s) hold a fractional household count (building_id=B1" in caplog.text
    inputs = load_inputs(communities=communities(tmp_path), buildings=buildings_csv(tmp_path, rows))
    assert inputs.buildings["households"].tolist() == [12, 80]
    assert frame["households"].tolist() == [12.5, 80]


def test_osm_levels_text_reads_its_first_number(tmp_path: Path) -> None:
    """``building:levels`` as OSM exports hold it ("3;4", "5 floors", "12层") reads as the
    .osm.pbf reader reads it; text with no leading number stays bad input."""
    rows = [
        "a,3;4,118.781,32.041",
        "b,5 floors,118.782,32.042",
        "c,12层,118.783,32.043",
        "d,6,118.784,32.044",
    ]
    path = buildings_csv(tmp_path, rows, header="building_id,levels,lon,lat")
    got = read_valid(path, "buildings").set_index("building_id")["levels"]
    assert got.to_dict() == {"a": 3.0, "b": 5.0, "c": 12.0, "d": 6.0}
    bad = buildings_csv(tmp_path, ["a,many,118.781,32.041"], header="building_id,levels,lon,lat")
    with pytest.raises(InputError, match="levels is not a number: 'many'"):
        read_valid(bad, "buildings")


def test_csv_rows_are_named_by_their_line_and_empty_rows_left_out(tmp_path: Path) -> None:
    """A blank line does not shift the row numbers in messages; the ``,,,`` rows that
    spreadsheet exports append are no features (and no error)."""
    rows = ["a,10,118.781,32.041", "", "b,12,118.782,32.042", ",,,", " , , , "]
    path = buildings_csv(tmp_path, rows)
    got = read_valid(path, "buildings")
    assert got["building_id"].tolist() == ["a", "b"]
    assert got["_row"].tolist() == [2, 4]  # the lines in the file
    bad = buildings_csv(tmp_path, ["a,10,118.781,32.041", "", "", "b,12,east,32.042", ",,,"])
    with pytest.raises(InputError, match=r"row 5: non-numeric or out-of-range coordinates"):
        read_valid(bad, "buildings")


def test_one_header_mapped_for_two_layers(tmp_path: Path) -> None:
    """``--columns community_id=ID,building_id=ID``: an ``ID`` column in each file, each
    read as its own layer's id (the last mapping used to win for both, silently)."""
    comm = gpd.GeoDataFrame({"ID": ["C1"]}, geometry=[SQUARE], crs=4326)
    comm.to_file(tmp_path / "c.geojson", driver="GeoJSON")
    rows = ["B1,10,118.781,32.041", "B2,20,118.782,32.042"]
    b = buildings_csv(tmp_path, rows, header="ID,HH,lon,lat")
    mapping = "community_id=ID,building_id=ID,households=HH"
    argv = ["check", "--communities", str(tmp_path / "c.geojson"), "--buildings", b]
    assert main([*argv, "--columns", mapping, "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["communities"] == 1 and report["buildings"] == 2
    assert report["households_given"] == 30


def test_review_inputs_empty_geojson_blank_first_line_and_column_collisions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty GeoJSON (no columns at all) as --compounds is "none"; blank lines above a
    CSV header are no rows; one header for two columns of one layer is refused."""
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    path = tmp_path / "b.csv"
    path.write_text("\n\nbuilding_id,HH,lon,lat\nB1,10,118.781,32.041\nB2,x,118.782,32.042\n")
    argv = ["check", "--communities", communities(tmp_path), "--buildings", str(path)]
    assert main([*argv, "--compounds", str(empty), "--columns", "households=HH"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "holds no compounds: none are used" in err
    assert "building_id=B2 (row 5): households is not a number: 'x'" in err  # the file's line
    path.write_text("\n\nbuilding_id,HH,lon,lat\nB1,10,118.781,32.041\n")
    assert main([*argv, "--compounds", str(empty), "--columns", "households=HH"]) == 0
    capsys.readouterr()
    assert main([*argv, "--columns", "households=HH,population=hh"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "one header for households and population, both columns of the buildings" in err
