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
