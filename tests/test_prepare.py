"""Preparing inputs: household estimation, community attachment, representative points."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridder.errors import InputError
from gridder.prepare import HouseholdRule, attach_communities, estimate_households, prepare

UTM = 32650


def _buildings(rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
    geoms = [r.pop("geometry") for r in rows]
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=4326)


def test_household_rule_of_the_contract() -> None:
    frame = _buildings(
        [
            {"building_id": "a", "building": "apartments", "levels": 6.0, "geometry": None},
            {"building_id": "b", "building": "yes", "height": 30.0, "geometry": None},
            {"building_id": "c", "building": "yes", "geometry": None},  # no size tag
            {
                "building_id": "d",
                "building": "yes",
                "levels": 3.0,
                "shop": "bakery",
                "geometry": None,
            },
            {"building_id": "e", "building": "house", "geometry": None},  # default 4 levels
            {"building_id": "f", "building": "dormitory", "levels": 1.0, "geometry": None},
            {"building_id": "g", "building": "office", "levels": 9.0, "geometry": None},
            {"building_id": "h", "building": "apartments", "households": 77.0, "geometry": None},
        ]
    )
    area = np.array([800.0, 400.0, 400.0, 400.0, 100.0, 10.0, 1000.0, 500.0])
    hh, est = estimate_households(frame, area, HouseholdRule())
    # 800*6/80=60; 400*(30/3)/80=50; 0; 0 (shop); 100*4/80=5; max(1, 0.125)=1; 0; given
    assert hh.tolist() == [60, 50, 0, 0, 5, 1, 0, 77]
    assert est.tolist() == [True] * 7 + [False]


def test_household_rule_is_configurable(tmp_path: object) -> None:
    frame = _buildings([{"building_id": "a", "building": "residential", "geometry": None}])
    rule = HouseholdRule(m2_per_household=100.0, default_levels=5.0)
    hh, _ = estimate_households(frame, np.array([1000.0]), rule)
    assert hh.tolist() == [50]


def test_household_rule_from_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rule.yaml"
    path.write_text("m2_per_household: 90\nresidential_types: [apartments]\n", encoding="utf-8")
    rule = HouseholdRule.from_file(path)
    assert rule.m2_per_household == 90 and rule.residential_types == ("apartments",)
    path.write_text("m2_per_hh: 90\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown household rule keys: m2_per_hh"):
        HouseholdRule.from_file(path)


def test_attach_by_point_in_polygon_with_deterministic_boundary_rule() -> None:
    comm = gpd.GeoDataFrame(
        {"community_id": ["B", "A"]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        crs=4326,
    )
    bld = _buildings(
        [
            {"building_id": "in-B", "geometry": shapely.Point(0.5, 0.5)},
            {"building_id": "edge", "geometry": shapely.Point(1.0, 0.5)},  # on both: smallest id
            {"building_id": "out", "geometry": shapely.Point(5, 5)},
            {"building_id": "own", "community_id": "B", "geometry": shapely.Point(1.5, 0.5)},
        ]
    )
    got = attach_communities(bld, comm)
    assert got.tolist() == ["B", "A", None, "B"]


def test_prepare_reports_outside_buildings_and_keeps_them() -> None:
    square = shapely.box(118.78, 32.04, 118.79, 32.05)
    comm = gpd.GeoDataFrame({"community_id": ["C1"]}, geometry=[square], crs=4326)
    footprint = shapely.box(118.781, 32.041, 118.7812, 32.0412)
    ell = shapely.Polygon(
        [
            (118.783, 32.043),
            (118.786, 32.043),
            (118.786, 32.0432),
            (118.7832, 32.0432),
            (118.7832, 32.046),
            (118.783, 32.046),
        ]
    )
    bld = _buildings(
        [
            {"building_id": "fp", "building": "apartments", "levels": 10.0, "geometry": footprint},
            {"building_id": "ell", "building": "residential", "geometry": ell},
            {"building_id": "far", "households": 12.0, "geometry": shapely.Point(118.9, 32.1)},
        ]
    )
    inputs = prepare(comm, bld)
    b = inputs.buildings.set_index("building_id")
    assert len(b) == 3  # nothing dropped
    assert pd.isna(b.loc["far", "community_id"])
    assert inputs.unassigned["building_id"].tolist() == ["far"]
    # the representative point of an L-shaped footprint lies inside it (a centroid would not)
    assert ell.contains(b.loc["ell", "geometry"])
    assert not ell.contains(ell.centroid)
    area = gpd.GeoSeries([footprint], crs=4326).to_crs(UTM).area.iloc[0]
    assert b.loc["fp", "footprint_m2"] == pytest.approx(area)
    assert b.loc["fp", "households"] == round(area * 10 / 80)
    assert inputs.metric_crs.to_epsg() == UTM
    report = inputs.report()
    assert report["buildings_outside_communities"] == 1
    assert report["households_total"] == int(b["households"].sum())


def test_buildings_just_outside_the_community_they_name_are_moved_in() -> None:
    """A ledger point 10 m outside its community is pulled 1 m inside; 300 m is an error."""
    square = shapely.box(118.78, 32.04, 118.79, 32.05)
    comm = gpd.GeoDataFrame({"community_id": ["C1"]}, geometry=[square], crs=4326)
    deg_per_m = 1 / 94_400  # east-west at 32°N, about
    near = shapely.Point(118.79 + 10 * deg_per_m, 32.045)
    straddling = shapely.box(118.7899, 32.042, 118.7901 + 40 * deg_per_m, 32.0422)

    def rows(at: shapely.Point) -> list[dict[str, object]]:
        return [
            {
                "building_id": "in",
                "households": 5.0,
                "community_id": "C1",
                "geometry": square.centroid,
            },
            {"building_id": "near", "households": 7.0, "community_id": "C1", "geometry": at},
            {"building_id": "fp", "households": 9.0, "community_id": "C1", "geometry": straddling},
        ]

    inputs = prepare(comm, _buildings(rows(near)))
    b = inputs.buildings.set_index("building_id")
    metric = gpd.GeoDataFrame(geometry=[square], crs=4326).to_crs(inputs.metric_crs).geometry[0]
    pts = gpd.GeoSeries(b.geometry, crs=4326).to_crs(inputs.metric_crs)
    assert pts["in"].equals(gpd.GeoSeries([square.centroid], crs=4326).to_crs(inputs.metric_crs)[0])
    assert metric.contains(pts["near"]) and 0.9 < metric.exterior.distance(pts["near"]) < 1.1
    assert metric.contains(pts["fp"])  # a point on the footprint's part inside
    assert set(inputs.moved_in["building_id"]) == {"near", "fp"}
    moved = inputs.report()["buildings_moved_into_their_community"]
    assert 9 < moved["near"] < 11
    far = shapely.Point(118.79 + 300 * deg_per_m, 32.045)
    with pytest.raises(InputError, match=r"building_id=near.*lies 3\d\d\.\d m outside"):
        prepare(comm, _buildings(rows(far)))


def test_buildings_on_the_outline_or_overlapping_by_footprint_get_their_community() -> None:
    """A point on the outer edge off by coordinate noise, a footprint mostly outside.

    Both used to be reported inside no community.
    """
    square = shapely.box(118.78, 32.04, 118.79, 32.05)
    other = shapely.box(118.80, 32.04, 118.81, 32.05)
    comm = gpd.GeoDataFrame({"community_id": ["C1", "C2"]}, geometry=[square, other], crs=4326)
    deg_per_m = 1 / 94_400
    on_edge = shapely.Point(118.79 + 6e-10, 32.045)  # the reviewer's round-trip noise
    # 25% inside C1, the rest outside both: its representative point lies outside
    straddle = shapely.box(118.79 - 5 * deg_per_m, 32.046, 118.79 + 15 * deg_per_m, 32.0462)
    away = shapely.Point(118.79 + 3 * deg_per_m, 32.044)  # 3 m out, no footprint: stays out
    # 5% inside: a building of the land beyond, reported as inside no community
    grazing = shapely.box(118.79 - 1 * deg_per_m, 32.047, 118.79 + 19 * deg_per_m, 32.0472)
    bld = _buildings(
        [
            {"building_id": "edge", "households": 5.0, "geometry": on_edge},
            {"building_id": "fp", "households": 9.0, "geometry": straddle},
            {"building_id": "away", "households": 4.0, "geometry": away},
            {"building_id": "grazing", "households": 6.0, "geometry": grazing},
        ]
    )
    inputs = prepare(comm, bld)
    b = inputs.buildings.set_index("building_id")
    assert b.loc["edge", "community_id"] == "C1"
    assert b.loc["fp", "community_id"] == "C1"
    assert pd.isna(b.loc["away", "community_id"])
    assert sorted(inputs.unassigned["building_id"]) == ["away", "grazing"]
    # each says why: the community nearest it and how far
    away_row = inputs.unassigned.set_index("building_id").loc["away"]
    assert away_row["nearest_community_id"] == "C1"
    assert away_row["distance_m"] == pytest.approx(3.0, abs=0.3)
    reason = inputs.report()["unassigned_reasons"]["away"]
    assert "inside no community" in reason and "C1, 3." in reason and "4 households" in reason
    pts = gpd.GeoSeries(b.geometry, crs=4326).to_crs(inputs.metric_crs)
    metric = gpd.GeoSeries([square], crs=4326).to_crs(inputs.metric_crs)[0]
    assert metric.contains(pts["fp"])  # moved onto the footprint's part inside
    assert metric.distance(pts["edge"]) < 0.01


def test_buildings_take_the_compound_polygon_that_holds_them() -> None:
    square = shapely.box(118.78, 32.04, 118.79, 32.05)
    comm = gpd.GeoDataFrame({"community_id": ["C1"]}, geometry=[square], crs=4326)
    compounds = gpd.GeoDataFrame(
        {"compound_id": ["X1", "X2"]},
        geometry=[
            shapely.box(118.78, 32.04, 118.785, 32.045),
            shapely.box(118.78, 32.04, 118.79, 32.05),
        ],
        crs=4326,
    )
    bld = _buildings(
        [
            {"building_id": "in", "households": 10.0, "geometry": shapely.Point(118.781, 32.041)},
            {
                "building_id": "own",
                "households": 10.0,
                "compound_id": "Y",
                "geometry": shapely.Point(118.782, 32.042),
            },
            {"building_id": "x2", "households": 10.0, "geometry": shapely.Point(118.788, 32.048)},
            {"building_id": "out", "households": 10.0, "geometry": shapely.Point(118.9, 32.1)},
        ]
    )
    b = prepare(comm, bld, compounds=compounds).buildings.set_index("building_id")
    assert b.loc["in", "compound_id"] == "X1"  # inside both: the first in the layer's order
    assert b.loc["own", "compound_id"] == "Y"  # a building's own id wins
    assert b.loc["x2", "compound_id"] == "X2"
    assert pd.isna(b.loc["out", "compound_id"])
    plain = prepare(comm, bld).buildings.set_index("building_id")
    assert pd.isna(plain.loc["in", "compound_id"]) and plain.loc["own", "compound_id"] == "Y"


def test_overlapping_communities_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    comm = gpd.GeoDataFrame(
        {"community_id": ["C2", "C1", "C3"]},
        geometry=[
            shapely.box(118.78, 32.04, 118.79, 32.05),
            shapely.box(118.785, 32.04, 118.795, 32.05),  # half over C2
            shapely.box(118.795, 32.04, 118.80, 32.05),  # touches C1 only along an edge
        ],
        crs=4326,
    )
    bld = _buildings(
        [{"building_id": "b", "households": 5.0, "geometry": shapely.Point(118.787, 32.045)}]
    )
    with caplog.at_level("WARNING", logger="gridder.prepare"):
        inputs = prepare(comm, bld)
    overlaps = [r.getMessage() for r in caplog.records if "overlap" in r.getMessage()]
    assert len(overlaps) == 1 and "C2 and C1 overlap" in overlaps[0]
    assert "goes to C1" in overlaps[0]
    assert inputs.buildings["community_id"].tolist() == ["C1"]


def test_osm_height_text_is_read_as_the_pbf_reader_reads_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A GeoJSON/GeoPackage export of OSM keeps ``height`` as text ("12 m", "12,5")."""
    frame = _buildings(
        [
            {"building_id": "a", "building": "yes", "height": "12 m", "geometry": None},
            {"building_id": "b", "building": "yes", "height": "7,5", "geometry": None},
            {"building_id": "c", "building": "yes", "height": "tall", "geometry": None},
        ]
    )
    hh, _ = estimate_households(frame, np.array([400.0, 320.0, 400.0]), HouseholdRule())
    # 400 m² × (12 / 3) / 80 = 20; 320 × 2.5 / 80 = 10; "tall" holds no number: not sized
    assert hh.tolist() == [20, 10, 0]
    assert "1 building(s) have a height that holds no number (building_id=c" in caplog.text
