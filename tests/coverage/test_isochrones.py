"""Buffered isochrones: the quadtree block cache gives the same union of buffers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy.sparse import csgraph

from gridder.coverage.isochrones import IsochroneBuilder, _spread_bits, isochrones
from gridder.graph.noding import line_substrings
from gridder.graph.streets import WalkNetwork


def _direct(net, builder, node_dist, limit, anchor, point):
    """The definition, with no cache: buffers of reached edges, cut pieces and the leg."""
    full, pe, ps, pend = builder.reach(node_dist, limit)
    e, off, leg = int(anchor.edge[0]), float(anchor.offset[0]), float(anchor.leg[0])
    rest = limit - leg
    if rest > 0:
        pe, ps, pend = np.append(pe, e), np.append(ps, off - rest), np.append(pend, off + rest)
    pieces = line_substrings(net.edge_geometry, pe, ps, pend)
    lines = [*net.edge_geometry[full], *pieces[pieces != None]]  # noqa: E711
    if leg > 0:
        snapped = shapely.line_interpolate_point(net.edge_geometry[e], off)
        leg_line = shapely.LineString([point, snapped])
        lines.append(leg_line if rest >= 0 else shapely.line_interpolate_point(leg_line, limit))
    return shapely.union_all(shapely.buffer(np.asarray(lines, dtype=object), 30.0, quad_segs=2))


@pytest.mark.parametrize("block_m", [None, 40.0])
def test_cached_blocks_give_the_same_polygons(synth, block_m):
    # a dense lattice (short edges) and facilities close together: blocks are shared
    streets = synth.lattice_edges(30, 30, 25.0, drop=0.1, jitter=4.0, seed=5)
    net = WalkNetwork.from_streets(streets)
    fac = shapely.points(shapely.get_coordinates(synth.random_points(8, 300.0, seed=6)) + 200.0)
    anc = net.snap(fac)
    graph = net.with_virtual_nodes(anc)
    builder = IsochroneBuilder(net, buffer_m=30.0, block_m=block_m)
    fresh = IsochroneBuilder(net, buffer_m=30.0, block_m=block_m)
    for _ in range(2):  # the second pass builds and reuses cached blocks
        for k in range(len(fac)):
            d = csgraph.dijkstra(graph, indices=net.n_nodes + k, limit=400.0)
            for limit in (150.0, 400.0):
                got = builder.polygon(d, limit, anchor=anc.take([k]), point=fac[k])
                want = _direct(net, fresh, d, limit, anc.take([k]), fac[k])
                assert shapely.is_valid(got)
                diff = shapely.area(shapely.symmetric_difference(got, want))
                assert diff <= 1e-6 * want.area, (k, limit, diff)
    assert len(builder._blocks) > 0  # the cache was used


def test_isochrones_frame_is_deterministic_and_nested(synth):
    streets = synth.lattice_edges(20, 20, 30.0, drop=0.1, jitter=5.0, seed=2)
    net = WalkNetwork.from_streets(streets)
    fac = synth.random_points(5, 570.0, seed=3)
    anc = net.snap(fac)
    kw = {
        "points": fac,
        "facility_ids": [f"F{k}" for k in range(5)],
        "facility_types": ["a"] * 5,
        "thresholds": [(5, 150.0), (15, 400.0)],
    }
    a = isochrones(net, anc, **kw)
    b = isochrones(net, anc, **kw)
    assert all(shapely.equals(a.geometry.values, b.geometry.values))
    small = a[a["minutes"] == 5].geometry.values
    big = a[a["minutes"] == 15].geometry.values
    # a longer walk reaches a superset of the streets
    assert (shapely.area(shapely.difference(small, big)) < 1e-6).all()


def test_morton_bits():
    v = np.array([0, 1, 2, 3, 5], dtype=np.uint64)
    assert _spread_bits(v).tolist() == [0, 1, 4, 5, 17]


@pytest.mark.parametrize("mode", ["buffer", "hull"])
def test_buildings_set_back_from_the_street_lie_inside(synth, polygon_gaps, mode):
    from gridder.coverage import compute_coverage

    # streets 240 m apart, buildings in the blocks: access legs up to 120 m, far
    # more than the 30 m street buffer
    streets = synth.lattice_edges(7, 7, 240.0, seed=2)
    buildings = synth.make_buildings(400, 1440.0, seed=4)
    facilities = synth.make_facilities({"clinic": 2, "幼儿园": 3}, 1440.0, seed=5)
    r = compute_coverage(streets, buildings, facilities, minutes=(5, 10), isochrones=mode)
    assert r.access["geometry"].notna().all()
    n_far = 0
    for (ftype, minutes), (n, gap) in polygon_gaps(r).items():
        assert n > 0, (ftype, minutes)
        assert gap.max() < 1e-6, (ftype, minutes, gap.max())
        n_far += n
    assert n_far > 100
    assert (r.network.snap(buildings.geometry).leg > 60).sum() > 50
