"""compute_coverage end to end: contract columns, summaries add up, gaps, isochrones, bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import csgraph

from gridder.coverage import compute_coverage
from gridder.coverage.isochrones import IsochroneBuilder
from gridder.errors import InputError
from gridder.graph.streets import WalkNetwork
from gridder.schema import COVERAGE_COLUMNS as CONTRACT


@pytest.fixture
def job(synth):
    streets = synth.lattice_edges(16, 16, 80.0, drop=0.1, jitter=10.0, seed=1)
    buildings = synth.make_buildings(600, 1200.0)
    facilities = synth.make_facilities({"幼儿园": 3, "clinic": 2, "社区服务站": 2}, 1200.0)
    return streets, buildings, facilities


def test_contract_columns_and_access(job):
    streets, buildings, facilities = job
    r = compute_coverage(streets, buildings, facilities, minutes=(5, 15), standard=None)
    for name in ("access", "summary", "isochrones", "gaps"):
        frame = getattr(r, name)
        assert set(CONTRACT[name]) <= set(frame.columns), name
    assert len(r.access) == len(buildings) * 3
    assert (r.access.geometry.geom_type == "Point").all()
    assert set(r.isochrones.geometry.geom_type) <= {"Polygon", "MultiPolygon"}
    assert set(r.gaps.geometry.geom_type) <= {"Polygon"}
    assert r.access.crs == buildings.crs
    a = r.access
    reach = a["dist_m"].notna()
    assert (a.loc[reach, "dist_m"] <= 15 * 75 + 1e-9).all()
    assert np.allclose(a.loc[reach, "walk_min"], a.loc[reach, "dist_m"] / 75.0)
    assert a.loc[~reach, "nearest_facility_id"].isna().all()
    # the named facility is of the row's type
    types = dict(zip(facilities["facility_id"], facilities["type"], strict=True))
    named = a.loc[reach]
    assert (named["nearest_facility_id"].map(types) == named["facility_type"]).all()
    # categories come from the shipped catalogue even without a standard
    assert r.meta["categories"] == {
        "幼儿园": "kindergarten",
        "clinic": "health_station",
        "社区服务站": "community_service_station",
    }
    assert set(a.loc[a["facility_type"] == "幼儿园", "category"]) == {"kindergarten"}
    assert r.compliance is None


def test_summaries_add_up(job):
    streets, buildings, facilities = job
    r = compute_coverage(streets, buildings, facilities, isochrones="none")
    s = r.summary
    total_hh = int(buildings["households"].sum())
    for (ftype, minutes), grp in s.groupby(["facility_type", "minutes"]):
        all_row = grp[grp["scope"] == "all"].iloc[0]
        assert all_row["households"] == total_hh
        for scope in ("community", "grid"):
            part = grp[grp["scope"] == scope]
            assert part["households"].sum() == all_row["households"]
            assert part["households_covered"].sum() == all_row["households_covered"]
        d = r.distances[ftype].to_numpy()
        want = int(buildings["households"].to_numpy()[d <= minutes * 75.0].sum())
        assert all_row["households_covered"] == want
    assert (s["households_covered"] <= s["households"]).all()
    assert s["share"].between(0, 1).all()
    # a larger threshold never covers fewer households
    wide = s.pivot_table(
        index=["scope", "scope_id", "facility_type"], columns="minutes", values="households_covered"
    )
    assert (wide[15] >= wide[5]).all()


def test_gaps_never_contain_covered_buildings(job):
    streets, buildings, facilities = job
    r = compute_coverage(streets, buildings, facilities, isochrones="none", gap_link_m=120)
    pts = np.asarray(buildings.geometry.values, dtype=object)
    hh = buildings["households"].to_numpy()
    for (ftype, minutes), grp in r.gaps.groupby(["facility_type", "minutes"]):
        d = r.distances[ftype].to_numpy()
        covered = d <= minutes * 75.0
        tree = shapely.STRtree(np.asarray(grp.geometry.values, dtype=object))
        hit_b, _ = tree.query(pts[covered], predicate="intersects")
        assert len(hit_b) == 0
        unc = ~covered & (hh > 0)
        bi, _ = tree.query(pts[unc], predicate="intersects")
        assert len(np.unique(bi)) == unc.sum()  # every uncovered household is in a gap
        assert grp["households"].sum() == hh[unc].sum()
        assert (grp["households"] > 0).all()


def test_isochrones_contain_reachable_nodes_and_nothing_far(synth):
    # exact lattice with spacing > 2 × buffer: a node inside a polygon must lie on a reached
    # street within the buffer of its reached part
    streets = synth.lattice_edges(14, 14, 100.0, drop=0.12, seed=9)
    net = WalkNetwork.from_streets(streets)
    fac = synth.random_points(6, 1300, seed=4)
    anc = net.snap(fac)
    graph = net.with_virtual_nodes(anc)
    builder = IsochroneBuilder(net, buffer_m=30.0)
    for k in range(len(fac)):
        d = csgraph.dijkstra(graph, indices=net.n_nodes + k)[: net.n_nodes]
        for limit in (300.0, 700.0):
            for mode in ("buffer", "hull"):
                poly = builder.polygon(d, limit, anchor=anc.take([k]), point=fac[k], mode=mode)
                inside = shapely.contains_xy(shapely.buffer(poly, 1e-6), net.x, net.y)
                assert inside[d <= limit].all(), (k, limit, mode)
                if mode == "buffer":
                    assert (d[inside] <= limit + 30.0 + 1e-6).all()
                    assert shapely.contains(poly, fac[k]) or shapely.touches(poly, fac[k])
                    assert poly.within(shapely.buffer(fac[k], limit + 30.0 + 1))
            hull = builder.polygon(d, limit, anchor=anc.take([k]), point=fac[k], mode="hull")
            buf = builder.polygon(d, limit, anchor=anc.take([k]), point=fac[k])
            assert hull.area > 0 and buf.area > 0


def test_standard_compliance(job):
    streets, buildings, facilities = job
    r = compute_coverage(streets, buildings, facilities, standard="gb50180", isochrones="hull")
    c = r.compliance
    assert c is not None
    assert set(CONTRACT["compliance"]) <= set(c.columns)
    assert sorted(c["level"].unique()) == [5, 10, 15]
    assert set(r.summary["distance_m"]) == {300.0, 500.0, 1000.0}
    assert r.meta["categories"] == {
        "幼儿园": "kindergarten",
        "clinic": "health_station",
        "社区服务站": "community_service_station",
    }
    k = c[(c["scope"] == "all") & (c["category"] == "kindergarten")].iloc[0]
    d = r.distances["幼儿园"].to_numpy()
    assert k["households_covered"] == buildings["households"].to_numpy()[d <= 300].sum()
    assert k["missing"] == (k["share"] < 0.5)
    # no facility of a category: nobody covered, missing everywhere it has households
    school = c[c["category"] == "primary_school"]
    assert (school["households_covered"] == 0).all()
    assert (school["missing"] == (school["households"] > 0)).all()


def test_bad_input(job, synth):
    streets, buildings, facilities = job
    with pytest.raises(InputError, match="no facility of type 'library'"):
        compute_coverage(streets, buildings, facilities, types=["library"])
    far = pd.concat(
        [
            facilities,
            gpd.GeoDataFrame(
                [{"facility_id": "FAR", "type": "clinic"}],
                geometry=[shapely.Point(50_000, 50_000)],
                crs=facilities.crs,
            ),
        ],
        ignore_index=True,
    )
    # one facility outside the streets' area among many is left out, and said so
    r = compute_coverage(streets, buildings, far, isochrones="none")
    assert list(r.meta["facilities_off_network"]) == ["FAR"]
    assert "FAR" not in set(r.access["nearest_facility_id"].dropna())
    # every facility of a type off the network (or most of them) is an input error
    lone = far.assign(type=np.where(far["facility_id"] == "FAR", "library", far["type"]))
    with pytest.raises(InputError, match=r"facility_id=FAR: lies .* from the walking network"):
        compute_coverage(streets, buildings, lone)
    moved = facilities.assign(geometry=facilities.geometry.translate(40_000, 40_000))
    with pytest.raises(InputError, match="another coordinate system"):
        compute_coverage(streets, buildings, moved)
    with pytest.raises(InputError, match="no facilities"):
        compute_coverage(streets, buildings, facilities.iloc[:0])
    with pytest.raises(InputError, match="projected metric CRS"):
        compute_coverage(streets.to_crs(4326), buildings, facilities)
    with pytest.raises(InputError, match="missing column 'type'"):
        compute_coverage(streets, buildings, facilities.drop(columns="type"))
    with pytest.raises(InputError, match="no walkable street"):
        compute_coverage(streets.assign(highway="motorway"), buildings, facilities)


def test_disconnected_network_snaps_to_largest(synth, job):
    _, buildings, facilities = job
    streets = synth.lattice_edges(16, 16, 80.0, seed=1)
    island = gpd.GeoDataFrame(
        {"u": [1], "v": [2], "highway": ["footway"]},
        geometry=[shapely.LineString([(600, 600), (640, 600)])],
        crs=streets.crs,
    )
    r = compute_coverage(
        pd.concat([streets, island], ignore_index=True), buildings, facilities, isochrones="none"
    )
    assert len(r.components) == 1
    assert r.components.loc[0, "n_edges"] == 1


def test_deterministic(job):
    streets, buildings, facilities = job
    a = compute_coverage(streets, buildings, facilities)
    b = compute_coverage(streets, buildings, facilities)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    assert a.access["nearest_facility_id"].equals(b.access["nearest_facility_id"])
    assert all(shapely.equals(a.gaps.geometry.values, b.gaps.geometry.values))


def test_progress_and_full_coverage(synth):
    streets = synth.lattice_edges(6, 6, 60.0, seed=2)
    buildings = synth.make_buildings(40, 300.0, seed=3)
    facilities = synth.make_facilities({"站": 3}, 300.0, seed=4)
    calls = []
    r = compute_coverage(
        streets, buildings, facilities, minutes=(30,), progress=lambda *a: calls.append(a)
    )
    steps = {c[0] for c in calls}
    assert {"network", "snap", "distances", "summary", "isochrones", "gaps"} <= steps
    assert ("isochrones", 3, 3) in calls
    # 30 minutes of walking reach everything in a 300 m town: no gap, share 1
    assert len(r.gaps) == 0
    assert (r.summary.loc[r.summary["households"] > 0, "share"] == 1.0).all()
    assert r.access["dist_m"].notna().all()


def test_buildings_far_from_the_network_are_reported(job, caplog):
    streets, buildings, facilities = job
    _, ymin, xmax, ymax = streets.total_bounds
    far = buildings.iloc[[0]].copy()
    far["building_id"] = "FAR"
    far["geometry"] = [shapely.Point(xmax + 450, (ymin + ymax) / 2)]
    with caplog.at_level("WARNING", logger="gridder.coverage.compute"):
        r = compute_coverage(
            streets, pd.concat([buildings, far], ignore_index=True), facilities, isochrones="none"
        )
    assert r.meta["buildings_far_from_network"] == 1
    assert "1 building(s) lie more than 200 m" in caplog.text
    quiet = compute_coverage(streets, buildings, facilities, isochrones="none")
    assert quiet.meta["buildings_far_from_network"] == 0
