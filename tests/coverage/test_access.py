"""Network distances equal networkx's Dijkstra on the same graph; exact same-edge cases."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from gridder.coverage.access import nearest_facility, pairwise_within
from gridder.graph.streets import WalkNetwork

CRS = "EPSG:32650"


def _nx_nearest(G, n_targets, sources, cutoff):
    dist, paths = nx.multi_source_dijkstra(
        G, [("f", k) for k in sources], cutoff=cutoff, weight="weight"
    )
    d = np.array([dist.get(("b", i), np.nan) for i in range(n_targets)])
    src = np.array([paths[("b", i)][0][1] if ("b", i) in paths else -1 for i in range(n_targets)])
    return d, src


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_equals_networkx(synth, seed):
    streets = synth.lattice_edges(10, 10, 80.0, drop=0.15, jitter=12.0, seed=seed)
    net = WalkNetwork.from_streets(streets)
    b = net.snap(synth.random_points(300, 720, seed=seed + 10))
    f = net.snap(synth.random_points(12, 720, seed=seed + 20))
    groups = [np.arange(0, 5), np.arange(5, 12)]
    res = nearest_facility(net, f, b, cutoff_m=400.0, groups=groups)
    G = synth.reference_graph(net, {"b": b, "f": f})
    for grp, r in zip(groups, res, strict=True):
        d, _ = _nx_nearest(G, len(b), grp, 400.0)
        assert np.array_equal(np.isnan(d), np.isnan(r.dist))
        ok = ~np.isnan(d)
        assert np.allclose(d[ok], r.dist[ok], atol=1e-6)
        # the facility named is at the reported distance (ties may name another)
        d_named = np.array(
            [
                nx.dijkstra_path_length(G, ("b", i), ("f", int(r.source[i])))
                for i in np.flatnonzero(ok)[:40]
            ]
        )
        assert np.allclose(d_named, r.dist[np.flatnonzero(ok)[:40]], atol=1e-6)
        assert np.isin(r.source[ok], grp).all()
        assert (r.source[~ok] == -1).all()


def test_same_edge_is_exact():
    streets = gpd.GeoDataFrame(
        {"highway": [None]}, geometry=[shapely.LineString([(0, 0), (1000, 0)])], crs=CRS
    )
    net = WalkNetwork.from_streets(streets)
    b = net.snap([shapely.Point(400, 10)])
    f = net.snap([shapely.Point(450, -5), shapely.Point(0, 0)])
    r = nearest_facility(net, f, b, cutoff_m=2000)[0]
    assert r.dist[0] == pytest.approx(10 + 50 + 5)
    assert r.source[0] == 0
    # via the ends only it would be 10 + 400 (to the node at 0) — the direct path wins
    r2 = nearest_facility(net, f, b, cutoff_m=2000, groups=[np.array([1])])[0]
    assert r2.dist[0] == pytest.approx(410)


def test_cutoff_gives_nan_not_huge(synth):
    streets = synth.lattice_edges(6, 6, 100.0)
    net = WalkNetwork.from_streets(streets)
    b = net.snap([shapely.Point(0, 0), shapely.Point(500, 500)])
    f = net.snap([shapely.Point(0, 10)])
    r = nearest_facility(net, f, b, cutoff_m=300)[0]
    assert r.dist[0] == pytest.approx(10)
    assert np.isnan(r.dist[1]) and r.source[1] == -1


def test_pairwise_within_matches_networkx(synth):
    streets = synth.lattice_edges(8, 8, 90.0, drop=0.1, jitter=10.0, seed=4)
    net = WalkNetwork.from_streets(streets)
    b = net.snap(synth.random_points(80, 630, seed=7))
    c = net.snap(synth.random_points(15, 630, seed=8))
    m = pairwise_within(net, c, b, cutoff_m=250.0, chunk=4).toarray()
    G = synth.reference_graph(net, {"b": b, "c": c})
    for j in range(len(c)):
        lengths = nx.single_source_dijkstra_path_length(G, ("c", j), cutoff=250.0)
        want = np.array([lengths.get(("b", i), 0.0) for i in range(len(b))])
        assert np.allclose(np.maximum(want, 0), m[:, j], atol=1e-6)
