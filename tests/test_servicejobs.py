"""`gridder coverage` and `gridder site` end to end: a plan and files in, GeoPackages out."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
import shapely.affinity

from gridder.cli import main
from gridder.datasets.synthetic import generate_city
from gridder.io.write import read_meta, write_geopackage
from gridder.schema import COVERAGE_COLUMNS


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("svc")
    city = generate_city(4, 3, seed=7)
    b = city.buildings.to_crs(32650)
    pts = b.geometry.to_numpy()[[5, 100, 200]]
    facilities = gpd.GeoDataFrame(
        {"facility_id": ["K1", "K2", "S1"], "type": ["kindergarten", "kindergarten", "社区服务站"]},
        geometry=list(pts),
        crs=32650,
    ).to_crs(4326)
    write_geopackage(
        d / "inputs.gpkg",
        {
            "communities": city.communities,
            "buildings": city.buildings,
            "streets": city.streets,
            "facilities": facilities,
        },
    )
    g = d / "inputs.gpkg"
    assert (
        main(
            [
                "partition",
                "--communities",
                f"{g}:communities",
                "--buildings",
                f"{g}:buildings",
                "--streets",
                f"{g}:streets",
                "--workers",
                "1",
                "--time-limit",
                "2",
                "--out",
                str(d / "plan.gpkg"),
            ]
        )
        == 0
    )
    return d


def _coverage(d: Path, out: Path, *extra: str) -> int:
    g = d / "inputs.gpkg"
    return main(
        [
            "coverage",
            "--plan",
            str(d / "plan.gpkg"),
            "--streets",
            f"{g}:streets",
            "--facilities",
            f"{g}:facilities",
            "--out",
            str(out),
            *extra,
        ]
    )


def test_coverage_file_has_the_contract_layers(files: Path) -> None:
    out = files / "coverage.gpkg"
    assert _coverage(files, out) == 0
    layers = {str(n) for n in pyogrio.list_layers(out)[:, 0]}
    assert "compliance" not in layers  # only with --standard
    for name, cols in COVERAGE_COLUMNS.items():
        if name == "compliance":
            continue
        assert name in layers
        frame = pyogrio.read_dataframe(out, layer=name, read_geometry=False)
        assert set(cols) <= set(frame.columns)
    access = pyogrio.read_dataframe(out, layer="access")
    plan = pyogrio.read_dataframe(files / "plan.gpkg", layer="assignments")
    assert set(access["facility_type"]) == {"kindergarten", "社区服务站"}
    assert len(access) == 2 * len(plan)  # every building × every type
    # the facilities carry their catalogue category, as the access layer does (README)
    fac = pyogrio.read_dataframe(out, layer="facilities", read_geometry=False)
    by_type = dict(zip(fac["type"], fac["category"], strict=True))
    assert by_type["kindergarten"] == "kindergarten"
    assert by_type["社区服务站"] == "community_service_station"
    pairs = access[["facility_type", "category"]].drop_duplicates()
    assert all(
        by_type[t] == c for t, c in zip(pairs["facility_type"], pairs["category"], strict=True)
    )
    # walking minutes follow distance and speed (4.5 km/h)
    ok = access["dist_m"].notna()
    np.testing.assert_allclose(
        access.loc[ok, "walk_min"], access.loc[ok, "dist_m"] / 75.0, rtol=1e-6
    )
    summary = pyogrio.read_dataframe(out, layer="summary", read_geometry=False)
    overall = summary[(summary["scope"] == "all") & (summary["facility_type"] == "kindergarten")]
    for row in overall.itertuples():
        covered = access[
            (access["facility_type"] == "kindergarten") & (access["dist_m"] <= row.minutes * 75.0)
        ]
        assert int(row.households_covered) == int(covered["households"].sum())
    meta = read_meta(out, layer="coverage_meta")
    assert meta["plan_id"] == read_meta(files / "plan.gpkg")["plan_id"]
    from gridder.planfile import PlanFile, assignment_digest

    assert meta["plan_assignment_digest"] == assignment_digest(
        PlanFile.read(files / "plan.gpkg").assignments
    )


def test_standard_writes_compliance(files: Path) -> None:
    out = files / "coverage_std.gpkg"
    assert _coverage(files, out, "--standard", "gb50180", "--isochrones", "hull") == 0
    compliance = pyogrio.read_dataframe(out, layer="compliance", read_geometry=False)
    assert set(COVERAGE_COLUMNS["compliance"]) <= set(compliance.columns)
    assert set(compliance["level"]) == {5, 10, 15}
    # the kindergarten type is mapped onto the catalogue's kindergarten category
    access = pyogrio.read_dataframe(out, layer="access", read_geometry=False)
    assert access.loc[access["facility_type"] == "kindergarten", "category"].notna().all()


def test_site_add_and_cover_all(files: Path) -> None:
    cov = files / "coverage.gpkg"
    if not cov.exists():
        assert _coverage(files, cov) == 0
    sites = files / "sites.gpkg"
    assert (
        main(
            [
                "site",
                "--coverage",
                str(cov),
                "--type",
                "kindergarten",
                "--add",
                "2",
                "--minutes",
                "5",
                "--out",
                str(sites),
            ]
        )
        == 0
    )
    got = pyogrio.read_dataframe(sites, layer="sites")
    assert 1 <= len(got) <= 2  # sites that would gain nobody are not proposed
    assert (got["households_gained"] >= 0).all()
    run = read_meta(sites, layer="sites_meta")
    assert run["status"] == "OPTIMAL" and run["distance_m"] == pytest.approx(375.0)
    assert (
        main(
            [
                "site",
                "--coverage",
                str(cov),
                "--type",
                "kindergarten",
                "--cover-all",
                "--minutes",
                "5",
                "--out",
                str(files / "all.gpkg"),
            ]
        )
        == 0
    )
    assert len(pyogrio.read_dataframe(files / "all.gpkg", layer="sites")) >= 2
    # a category of the standard, by its Chinese name: the types mapped to it count together
    access = pyogrio.read_dataframe(cov, layer="access", read_geometry=False)
    kinds = access.dropna(subset=["category"]).groupby("category")["facility_type"].unique()
    assert "kindergarten" in kinds.index
    by_zh = files / "zh.gpkg"
    argv = ["site", "--coverage", str(cov), "--type", "幼儿园", "--add", "2", "--minutes", "5"]
    assert main([*argv, "--out", str(by_zh)]) == 0
    same = pyogrio.read_dataframe(sites, layer="sites")
    got_zh = pyogrio.read_dataframe(by_zh, layer="sites")
    assert set(got_zh["facility_type"]) == {"kindergarten"}
    if list(kinds["kindergarten"]) == ["kindergarten"]:  # one type: the same proposal
        assert got_zh["households_gained"].tolist() == same["households_gained"].tolist()


def test_bad_requests_exit_2(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cov = files / "coverage.gpkg"
    if not cov.exists():
        assert _coverage(files, cov) == 0
    assert (
        main(
            [
                "site",
                "--coverage",
                str(cov),
                "--type",
                "hospital",
                "--add",
                "1",
                "--out",
                str(files / "x.gpkg"),
            ]
        )
        == 2
    )
    assert "no such facility type" in capsys.readouterr().err
    # access holds distances up to the coverage's longest threshold only (15 min here):
    # a longer threshold would count buildings the existing facilities reach as uncovered
    longer = ["site", "--coverage", str(cov), "--type", "kindergarten", "--add", "1"]
    assert main([*longer, "--distance-m", "1500", "--out", str(files / "z.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "measured walking distances up to 1125 m" in err and "--minutes 20" in err
    assert "give --distance-m 1125 or less" in err and "without --standard" not in err
    assert not (files / "z.gpkg").exists()
    assert _coverage(files, files / "y.gpkg", "--minutes", "five") == 2
    assert (
        main(
            [
                "coverage",
                "--plan",
                str(files / "nope.gpkg"),
                "--streets",
                "a.geojson",
                "--facilities",
                "b.geojson",
                "--out",
                str(files / "z.gpkg"),
            ]
        )
        == 2
    )
    assert not (files / "x.gpkg").exists() and not (files / "y.gpkg").exists()
    # an --out naming an input (the plan; the coverage) would replace it: refused
    plan = files / "plan.gpkg"
    kept = plan.read_bytes(), cov.read_bytes()
    assert _coverage(files, plan) == 2
    assert main([*longer, "--out", str(cov)]) == 2
    assert "is also the input --coverage" in capsys.readouterr().err
    assert (plan.read_bytes(), cov.read_bytes()) == kept


def test_site_candidates_are_validated(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A candidates file is checked as every input is: bad geometry, or sites that can
    reach no household (another city's points), exit 2 and write nothing."""
    cov = files / "coverage.gpkg"
    if not cov.exists():
        assert _coverage(files, cov) == 0
    b = pyogrio.read_dataframe(files / "inputs.gpkg", layer="buildings").to_crs(32650)
    pts = list(b.geometry.to_numpy()[[10, 150]])
    argv = ["site", "--coverage", str(cov), "--type", "kindergarten", "--add", "1"]

    def run(name: str, frame: gpd.GeoDataFrame) -> int:
        path = files / f"{name}.gpkg"
        write_geopackage(path, {"candidates": frame})
        out = files / f"{name}_sites.gpkg"
        code = main([*argv, "--candidates", str(path), "--minutes", "5", "--out", str(out)])
        assert out.exists() == (code == 0)
        return code

    good = gpd.GeoDataFrame({"candidate_id": ["A", "B"]}, geometry=pts, crs=32650).to_crs(4326)
    assert run("good", good) == 0
    sited = pyogrio.read_dataframe(files / "good_sites.gpkg", layer="sites")
    assert set(sited["candidate_id"]) <= {"A", "B"}
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    x, y = pts[0].x, pts[0].y
    bad = gpd.GeoDataFrame(
        {"candidate_id": ["A", "T"]},
        geometry=[pts[0], shapely.affinity.translate(bowtie, x, y)],
        crs=32650,
    ).to_crs(4326)
    assert run("bowtie", bad) == 2
    assert "candidate_id=T (row 2): invalid geometry" in " ".join(capsys.readouterr().err.split())
    empty = good.set_geometry([None, None], crs=4326)
    assert run("nulls", empty) == 2
    assert "empty or missing geometry" in " ".join(capsys.readouterr().err.split())
    far = good.to_crs(32650).translate(50_000, 0).to_crs(4326)
    assert run("far", good.set_geometry(far)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "candidate_id=A" in err and "beyond the 375 m threshold" in err


def test_site_candidate_ids_are_unique_and_present(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cov = files / "coverage.gpkg"
    if not cov.exists():
        assert _coverage(files, cov) == 0
    b = pyogrio.read_dataframe(files / "inputs.gpkg", layer="buildings").to_crs(32650)
    pts = list(b.geometry.to_numpy()[[10, 150, 200]])
    frame = gpd.GeoDataFrame({"candidate_id": ["K1", "K1", ""]}, geometry=pts, crs=32650)
    write_geopackage(files / "dups.gpkg", {"candidates": frame.to_crs(4326)})
    out = files / "dups_sites.gpkg"
    argv = ["site", "--coverage", str(cov), "--type", "kindergarten", "--add", "1"]
    assert main([*argv, "--candidates", str(files / "dups.gpkg"), "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "candidate_id=K1: duplicate id (rows 1, 2)" in err and "row 3: empty candidate_id" in err
    assert not out.exists()


def _site(cov: Path, out: Path, *extra: str) -> int:
    return main(["-q", "site", "--coverage", str(cov), "--out", str(out), *extra])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--capacity", "nan", "--capacity: nan: expected a number of households per site"),
        ("--capacity", "inf", "--capacity: inf: expected a number of households per site"),
        ("--capacity", "0", "--capacity: 0.0: expected a number of households per site"),
        ("--capacity", "-1", "--capacity: -1.0: expected a number of households per site"),
        ("--minutes", "0", "--minutes: 0.0: expected a number of minutes above 0"),
        ("--minutes", "nan", "--minutes: nan: expected a number of minutes above 0"),
        ("--minutes", "-5", "--minutes: -5.0: expected a number of minutes above 0"),
        ("--minutes", "inf", "--minutes: inf: expected a number of minutes above 0"),
        ("--distance-m", "0", "--distance-m: 0.0: expected a network distance above 0 m"),
        ("--distance-m", "nan", "--distance-m: nan: expected a network distance above 0 m"),
        ("--distance-m", "-300", "--distance-m: -300.0: expected a network distance above 0"),
        ("--distance-m", "inf", "--distance-m: inf: expected a network distance above 0 m"),
        ("--candidate-spacing", "0", "--candidate-spacing: 0.0: expected a spacing above 0 m"),
        ("--candidate-spacing", "nan", "--candidate-spacing: nan: expected a spacing above"),
        ("--candidate-spacing", "-100", "--candidate-spacing: -100.0: expected a spacing"),
    ],
)
def test_site_options_must_be_finite_and_positive(
    files: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    cov = files / "coverage.gpkg"
    if not cov.exists():
        assert _coverage(files, cov) == 0
    out = files / "bad_option.gpkg"
    for mode in (["--add", "1"], ["--cover-all"]):
        argv = ["--type", "kindergarten", *mode, f"{option}={value}"]
        assert _site(cov, out, *argv) == 2
        err = capsys.readouterr().err
        assert message in err and "unexpected" not in err
        assert not out.exists()


def test_site_threshold_is_one_of_minutes_or_distance(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cov = files / "coverage.gpkg"
    if not cov.exists():
        assert _coverage(files, cov) == 0
    out = files / "both.gpkg"
    with pytest.raises(SystemExit) as info:  # argparse: exit 2 with the usage
        _site(
            cov,
            out,
            "--type",
            "kindergarten",
            "--add",
            "1",
            "--minutes",
            "5",
            "--distance-m",
            "300",
        )
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert not out.exists()
    from gridder.errors import InputError
    from gridder.servicejobs import site_job

    with pytest.raises(InputError, match="not both"):
        site_job(
            coverage=str(cov),
            facility_type="kindergarten",
            out=str(out),
            add=1,
            minutes=5,
            distance_m=300,
        )


def test_site_capacity_beyond_every_household_is_no_limit(files: Path) -> None:
    cov = files / "coverage.gpkg"
    if not cov.exists():
        assert _coverage(files, cov) == 0
    argv = ["--type", "kindergarten", "--add", "2", "--minutes", "5"]
    assert _site(cov, files / "free.gpkg", *argv) == 0
    assert _site(cov, files / "huge.gpkg", *argv, "--capacity", "1e30") == 0
    free = pyogrio.read_dataframe(files / "free.gpkg", layer="sites")
    huge = pyogrio.read_dataframe(files / "huge.gpkg", layer="sites")
    assert huge["households_gained"].tolist() == free["households_gained"].tolist()
    assert read_meta(files / "huge.gpkg", layer="sites_meta")["capacity"] == 1e30


def test_site_cover_all_names_a_building_too_large_for_one_site(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cov = files / "coverage.gpkg"
    if not cov.exists():
        assert _coverage(files, cov) == 0
    access = pyogrio.read_dataframe(cov, layer="access", read_geometry=False)
    mine = access[(access["facility_type"] == "kindergarten") & ~(access["dist_m"] <= 375.0)]
    largest = int(mine["households"].max())
    biggest = set(mine.loc[mine["households"] == largest, "building_id"].astype(str))
    out = files / "too_small.gpkg"
    argv = ["--type", "kindergarten", "--cover-all", "--minutes", "5"]
    assert _site(cov, out, *argv, "--capacity", str(largest - 1)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--capacity: building_id=" in err and f"{largest:,} households not yet covered" in err
    assert any(f"building_id={b}:" in err for b in biggest)
    assert f"give --capacity {largest} or more" in err and "unexpected" not in err
    assert not out.exists()
    # large enough for every building, but too few candidates reach some of them: still
    # the planner's option to change, named as such (not "the model is infeasible", exit 1)
    assert _site(cov, out, *argv, "--capacity", str(largest)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"--capacity: {float(largest)}: the candidate sites cannot serve" in err
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"not a geopackage\n", "truncated"])
def test_site_unreadable_coverage_exits_2(
    files: Path, capsys: pytest.CaptureFixture[str], content: bytes | str
) -> None:
    cov = files / "coverage.gpkg"
    if not cov.exists():
        assert _coverage(files, cov) == 0
    bad = files / "broken_coverage.gpkg"
    bad.write_bytes(cov.read_bytes()[:50_000] if content == "truncated" else content)
    out = files / "broken_sites.gpkg"
    assert _site(bad, out, "--type", "kindergarten", "--add", "1") == 2
    err = capsys.readouterr().err
    assert f"{bad}: cannot read the coverage file" in err and "unexpected" not in err
    assert not out.exists()


def test_site_a_category_no_facility_belongs_to(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Siting the first facilities of a life-circle category missing everywhere: every
    building is uncovered, the threshold is the distance of the category's level."""
    std = files / "coverage_std.gpkg"
    if not std.exists():
        assert _coverage(files, std, "--standard", "gb50180", "--isochrones", "hull") == 0
    plain = files / "coverage.gpkg"
    if not plain.exists():
        assert _coverage(files, plain) == 0
    access = pyogrio.read_dataframe(std, layer="access", read_geometry=False)
    assert "health_station" not in set(access["category"].dropna())
    total = int(access.drop_duplicates("building_id")["households"].sum())
    for cov, name in [(std, "health_station"), (std, "社区卫生服务站"), (plain, "health_station")]:
        out = files / "first.gpkg"
        out.unlink(missing_ok=True)
        assert _site(cov, out, "--type", name, "--add", "2") == 0
        run = read_meta(out, layer="sites_meta")
        assert run["facility_type"] == "health_station" and run["category_absent"] is True
        assert run["distance_m"] == pytest.approx(300.0)  # its 5-minute level
        assert run["households_covered_before"] == 0 and run["households_total"] == total
        sites = pyogrio.read_dataframe(out, layer="sites")
        assert 1 <= len(sites) <= 2 and (sites["households_gained"] > 0).all()
        assert set(sites["facility_type"]) == {"health_station"}
    # and set covering, and a threshold given
    out = files / "first_all.gpkg"
    assert _site(std, out, "--type", "health_station", "--cover-all", "--distance-m", "200") == 0
    run = read_meta(out, layer="sites_meta")
    assert run["distance_m"] == 200.0
    assert run["households_covered_after"] + run["households_uncoverable"] == total
    # a type name the catalogue maps to an absent category is not guessed: the hint says how
    assert _site(std, files / "clinic.gpkg", "--type", "clinic", "--add", "1") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no such facility type" in err and "give --type health_station" in err


def test_site_default_threshold_is_the_category_level_of_compliance(files: Path) -> None:
    std = files / "coverage_std.gpkg"
    if not std.exists():
        assert _coverage(files, std, "--standard", "gb50180", "--isochrones", "hull") == 0
    compliance = pyogrio.read_dataframe(std, layer="compliance", read_geometry=False)
    judged = compliance[(compliance["scope"] == "all") & (compliance["category"] == "kindergarten")]
    assert judged["distance_m"].tolist() == [300.0]  # not the longest level's 1000 m
    for name in ("kindergarten", "幼儿园"):  # the verbatim type, the category's Chinese name
        out = files / "level.gpkg"
        out.unlink(missing_ok=True)
        assert _site(std, out, "--type", name, "--add", "1") == 0
        run = read_meta(out, layer="sites_meta")
        assert run["distance_m"] == pytest.approx(300.0) and run["category_absent"] is False
        assert run["households_covered_before"] > 0  # the existing kindergartens count


def test_coverage_repeated_minutes_count_once(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    once = files / "coverage.gpkg"
    if not once.exists():
        assert _coverage(files, once) == 0  # --minutes 5,15
    out = files / "coverage_55.gpkg"
    assert _coverage(files, out, "--minutes", "15,5,5") == 0
    assert "--minutes 15,5,5 repeats a threshold: computing 5,15 once each" in " ".join(
        capsys.readouterr().err.split()
    )
    meta = read_meta(out, layer="coverage_meta")
    assert [t["minutes"] for t in meta["thresholds"]] == [5.0, 15.0]
    assert meta["parameters"]["minutes"] == [5.0, 15.0]
    for layer in ("isochrones", "gaps", "summary"):
        got = pyogrio.read_dataframe(out, layer=layer, read_geometry=False)
        want = pyogrio.read_dataframe(once, layer=layer, read_geometry=False)
        assert len(got) == len(want), layer
        assert set(got["minutes"]) == set(want["minutes"]), layer


def _facilities_file(files: Path, name: str, geometries: list, ids: list[str]) -> Path:
    frame = gpd.GeoDataFrame(
        {"facility_id": ids, "type": ["kindergarten"] * len(ids)}, geometry=geometries, crs=32650
    )
    path = files / name
    frame.to_crs(4326).to_file(path, driver="GeoJSON")
    return path


def _coverage_with(files: Path, facilities: Path, out: Path) -> int:
    g = files / "inputs.gpkg"
    argv = ["-q", "coverage", "--plan", str(files / "plan.gpkg"), "--streets", f"{g}:streets"]
    return main([*argv, "--facilities", str(facilities), "--out", str(out)])


def test_off_network_facilities_name_their_file(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = pyogrio.read_dataframe(files / "inputs.gpkg", layer="buildings").to_crs(32650)
    far = [shapely.affinity.translate(p, 50_000, 0) for p in b.geometry.to_numpy()[[5, 100]]]
    path = _facilities_file(files, "far_kindergartens.geojson", far, ["KG-1", "KG-2"])
    out = files / "far_coverage.gpkg"
    assert _coverage_with(files, path, out) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{path}: facility_id=KG-1: lies" in err and "from the walking network" in err
    assert "- facilities:" not in err
    assert not out.exists()


def test_facility_geometry_is_a_point_or_an_area(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = pyogrio.read_dataframe(files / "inputs.gpkg", layer="buildings").to_crs(32650)
    p, q = b.geometry.to_numpy()[[5, 100]]
    out = files / "shape_coverage.gpkg"
    for name, geom, kind in [
        ("line", shapely.LineString([p, q]), "LineString"),
        ("lines", shapely.MultiLineString([[p, q], [q, p]]), "MultiLineString"),
        ("points", shapely.MultiPoint([p, q]), "MultiPoint"),
    ]:
        path = _facilities_file(files, f"fac_{name}.geojson", [p, geom], ["KG-1", "KG-2"])
        assert _coverage_with(files, path, out) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"{path}: facility_id=KG-2 (row 2): geometry is {kind}, expected Point" in err
        assert not out.exists()
    # areas (their centroid is used) and a MultiPoint of one point are places
    two = shapely.MultiPolygon([q.buffer(10), shapely.affinity.translate(q.buffer(10), 40, 0)])
    ok = _facilities_file(
        files, "fac_areas.geojson", [p.buffer(20), two, shapely.MultiPoint([q])], ["A", "B", "C"]
    )
    assert _coverage_with(files, ok, out) == 0
    # an OpenStreetMap extract maps some POIs as route relations: taken as the reader gives them
    from gridder.errors import InputError
    from gridder.validate import validate_layer

    frame = gpd.GeoDataFrame(
        {"facility_id": ["relation/1"], "type": ["pub"], "_row": [1]},
        geometry=[shapely.MultiLineString([[(24.9, 60.1), (24.91, 60.11)]])],
        crs=4326,
    )
    assert len(validate_layer(frame, "facilities", source="helsinki.osm.pbf")) == 1
    with pytest.raises(InputError, match="geometry is MultiLineString"):
        validate_layer(frame, "facilities", source="register.geojson")
