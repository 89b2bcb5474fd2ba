"""The walking network: walkable rule, noding, components, snapping."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.ops import substring

from gridder.errors import GridderError, InputError
from gridder.graph.noding import line_substrings
from gridder.graph.streets import WalkNetwork, WalkRules, walkable_mask

CRS = "EPSG:32650"


def _lines(coords, **cols):
    return gpd.GeoDataFrame(cols, geometry=[shapely.LineString(c) for c in coords], crs=CRS)


def test_walkable_rule_defaults():
    frame = pd.DataFrame(
        {
            "highway": [
                "footway",
                "motorway",
                "trunk",
                "trunk",
                "residential",
                "service",
                "cycleway",
                "cycleway",
                "primary",
                "construction",
                None,
                "steps",
            ],
            "foot": [None, None, None, None, "no", None, None, "yes", None, None, None, None],
            "access": [
                None,
                None,
                None,
                None,
                None,
                "private",
                None,
                None,
                "private",
                None,
                None,
                None,
            ],
            "sidewalk": [None, None, "both", None, None, None, None, None, None, None, None, None],
        }
    )
    frame.loc[8, "foot"] = "yes"  # private primary with foot=yes stays walkable
    got = walkable_mask(frame).tolist()
    assert got == [True, False, True, False, False, False, False, True, True, False, True, True]


def test_walkable_rule_configurable():
    frame = pd.DataFrame({"highway": ["cycleway", "motorway"]})
    rules = WalkRules(foot_only_if_allowed=frozenset(), sidewalk_required=frozenset())
    assert walkable_mask(frame, rules).tolist() == [True, True]


def test_line_substrings_match_shapely_substring():
    rng = np.random.default_rng(0)
    lines = np.asarray(
        [shapely.LineString(rng.uniform(0, 100, (rng.integers(2, 7), 2))) for _ in range(30)],
        dtype=object,
    )
    idx = rng.integers(0, 30, 200)
    lengths = shapely.length(lines[idx])
    a = rng.uniform(0, 1, 200) * lengths
    b = np.minimum(a + rng.uniform(0, 1, 200) * lengths, lengths)
    got = line_substrings(lines, idx, a, b)
    for k in range(200):
        if b[k] <= a[k]:
            assert got[k] is None
            continue
        want = substring(lines[idx[k]], a[k], b[k])
        assert got[k].length == pytest.approx(b[k] - a[k], abs=1e-6)
        assert shapely.hausdorff_distance(got[k], want) < 1e-6


def test_plain_lines_are_noded_where_they_cross_and_near_ends():
    frame = _lines(
        [
            [(0, 0), (100, 0)],
            [(50, -50), (50, 50)],  # crosses the first: noded
            [(20, 0.6), (20, 40)],  # ends 0.6 m from the first: joined
            [(80, 1.5), (80, 40)],  # ends 1.5 m away: not joined
        ],
        highway=[None] * 4,
    )
    net = WalkNetwork.from_streets(frame)
    comps = net.components()
    assert len(comps) == 2
    main = comps.iloc[0]
    assert main["n_nodes"] == 8  # 2+2 ends, crossing, 2 ends of the near line, its foot
    assert main["length_m"] == pytest.approx(100 + 100 + 39.4 + 0.6, abs=1e-6)
    assert comps.iloc[1]["length_m"] == pytest.approx(38.5)


def test_plain_lines_bridge_not_joined_by_crossing():
    frame = _lines(
        [[(0, 0), (100, 0)], [(50, -50), (50, 50)]],
        highway=["residential", "footway"],
        bridge=[None, "yes"],
    )
    net = WalkNetwork.from_streets(frame)
    assert len(net.components()) == 2
    # the same lines on one level are joined
    frame2 = frame.assign(bridge=None)
    assert len(WalkNetwork.from_streets(frame2).components()) == 1


def test_osm_ids_join_only_by_ids():
    # a bridge crossing a street without a shared node id stays apart
    frame = _lines(
        [[(0, 0), (50, 0)], [(50, 0), (100, 0)], [(50, -50), (50, 50)]],
        u=[1, 2, 10],
        v=[2, 3, 11],
        highway=["residential", "residential", "footway"],
    )
    net = WalkNetwork.from_streets(frame)
    assert net.n_nodes == 5
    assert len(net.components()) == 2


def test_osm_edges_reversed_geometry_are_oriented():
    frame = _lines([[(0, 0), (50, 0)], [(100, 0), (50, 0)]], u=[1, 2], v=[2, 3])
    net = WalkNetwork.from_streets(frame)
    start = shapely.get_coordinates(shapely.get_point(net.edge_geometry, 0))
    assert np.allclose(start[:, 0], net.x[net.edge_u])
    assert net.graph[net.edge_u[1], net.edge_v[1]] == pytest.approx(50)


def test_snap_leg_and_offset(small_lattice):
    net = WalkNetwork.from_streets(small_lattice)
    pts = shapely.points(np.random.default_rng(5).uniform(0, 1100, (50, 2)))
    anc = net.snap(pts)
    assert anc.snapped.all()
    geo = net.edge_geometry[anc.edge]
    snapped = shapely.line_interpolate_point(geo, anc.offset)
    assert np.allclose(shapely.distance(pts, snapped), anc.leg, atol=1e-6)
    # nearest among the main component's edges
    main = net.edge_geometry[net.main_edges]
    brute = np.array([shapely.distance(p, main).min() for p in pts])
    assert np.allclose(brute, anc.leg, atol=1e-6)
    assert (net.component[net.edge_u[anc.edge]] == net.largest).all()


def test_small_components_report_nearest_points():
    frame = _lines([[(0, 0), (1000, 0)], [(0, 500), (30, 500)]], highway=[None, None])
    net = WalkNetwork.from_streets(frame)
    b = gpd.GeoDataFrame(
        {"building_id": ["near-small", "near-main"]},
        geometry=[shapely.Point(10, 490), shapely.Point(500, 5)],
        crs=CRS,
    )
    rep = net.small_components(buildings=b)
    assert len(rep) == 1
    assert rep.loc[0, "building_ids"] == ["near-small"]
    assert rep.loc[0, "length_m"] == pytest.approx(30)
    # still snapped onto the largest component
    assert net.component[net.edge_u[net.snap(b.geometry).edge]].tolist() == [net.largest] * 2


def test_bad_networks():
    with pytest.raises(InputError, match="no walkable street"):
        WalkNetwork.from_streets(_lines([[(0, 0), (1, 0)]], highway=["motorway"]))
    with pytest.raises(InputError, match="projected"):
        WalkNetwork.from_streets(_lines([[(0, 0), (1, 0)]]).set_crs(4326, allow_override=True))
    assert issubclass(InputError, GridderError)
