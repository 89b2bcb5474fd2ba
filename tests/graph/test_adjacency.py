"""Tessellation of a community around its buildings and the adjacency built from it."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geo_builders import CRS, buildings_at, lattice, streets_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import LineString, MultiPolygon, Polygon, box

from gridder.errors import GridderError
from gridder.graph import build_tessellation
from gridder.graph.generators import GRID_SIZE
from gridder.partition.instance import PartitionInstance
from gridder.schema import MAJOR_HIGHWAYS


def assert_tiles(tess, community) -> None:
    """Cells tile the community: areas add up, no overlap, each holds its building."""
    cells = tess.cells
    pd.testing.assert_index_equal(cells.index, tess.index)
    area = community.area
    assert abs(tess.area.sum() - area) <= 1e-4 * area
    assert abs(cells.area.sum() - area) <= 1e-4 * area
    assert abs(shapely.union_all(cells.values).area - area) <= 1e-4 * area  # no overlap
    assert shapely.coverage_is_valid(cells.values)
    assert (tess.area > 0).all()
    # within the snapping grid (1 mm): a tiny cell's snapped edge may pass 0.06 mm off its
    # generator (hypothesis found one: n=51, two coincident points)
    inside = shapely.dwithin(shapely.points(tess.faces.generators), cells.values, GRID_SIZE)
    assert inside.all()
    n_parts = shapely.get_num_geometries(cells.values)
    assert n_parts.max() <= shapely.get_num_geometries(tess.community)


def assert_edges_well_formed(adj, n: int) -> None:
    e = adj.edges
    assert e.dtype == np.int64 and e.shape[1] == 2
    assert (e[:, 0] < e[:, 1]).all() and e.min(initial=0) >= 0 and e.max(initial=0) < n
    assert len(np.unique(e, axis=0)) == len(e)
    assert (np.lexsort((e[:, 1], e[:, 0])) == np.arange(len(e))).all()
    assert (adj.length >= 0.5).all()
    for arr in (adj.length, adj.hard, adj.soft, adj.street):
        assert len(arr) == len(e)


def edge_set(adj) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in adj.edges}


# --- synthetic cases -------------------------------------------------------------------


def test_street_square_tiles_and_flags(street_square):
    s = street_square
    tess = build_tessellation("C1", s.community, s.buildings, s.streets)
    assert_tiles(tess, s.community)
    adj = tess.adjacency
    assert_edges_well_formed(adj, tess.n)
    xy = tess.points
    west = xy[:, 0] < 100
    south = xy[:, 1] < 40
    a, b = adj.edges.T
    across_road = west[a] != west[b]
    across_street = (south[a] != south[b]) & west[a] & west[b]
    # 10 x 5 lattice: only the 4-neighbours are adjacent (corner contacts are not)
    assert len(adj.edges) == 9 * 5 + 10 * 4
    assert across_road.sum() == 5
    np.testing.assert_array_equal(adj.hard, across_road)
    assert adj.street[across_road | across_street].all()
    far = ~across_road & ~across_street
    assert not adj.street[far].any()
    assert not adj.soft.any()
    # lengths: each lattice cell is 20 x 20 m
    np.testing.assert_allclose(adj.length, 20.0, atol=1e-3)
    assert tess.components.max() == 0
    assert tess.components_soft.max() == 1  # the primary road cuts the graph in two


def test_cells_do_not_cross_streets_and_empty_blocks_are_absorbed():
    community = box(0, 0, 100, 100)
    # a street loop enclosing a block without buildings, plus two through streets
    loop = LineString([(40, 40), (60, 40), (60, 60), (40, 60), (40, 40)])
    streets = streets_of(
        [loop, LineString([(0, 80), (100, 80)]), LineString([(20, 0), (20, 100)])],
        ["service", "residential", None],
    )
    xy = np.array([[10, 10], [10, 90], [50, 20], [80, 50], [50, 90], [90, 90], [30, 50]])
    tess = build_tessellation("C1", community, buildings_at(xy), streets)
    assert_tiles(tess, community)
    blocks = shapely.get_parts(
        shapely.polygonize(
            shapely.get_parts(
                shapely.union_all(
                    [community.boundary, *shapely.intersection(streets.geometry.values, community)]
                )
            )
        )
    )
    # every cell except the one that absorbed the empty block lies in a single block
    overlaps = np.array(
        [(shapely.area(shapely.intersection(c, blocks)) > 1e-3).sum() for c in tess.cells]
    )
    assert (overlaps == 1).sum() == tess.n - 1
    absorbed = np.flatnonzero(overlaps == 2)
    assert len(absorbed) == 1
    assert tess.cells.iloc[absorbed[0]].contains(shapely.Point(50, 50))


def test_strip_between_compound_wall_and_street_is_split_between_its_buildings():
    # a walled compound set back 5 m from its streets: the strip between wall and
    # street holds no building. It goes to the compound's buildings beside it, each
    # the part nearest to it, not whole to one cell (which then rings the compound)
    community = box(0, 0, 120, 60)
    wall = box(5, 5, 55, 55)
    compounds = gpd.GeoDataFrame({"compound_id": ["X"]}, geometry=[wall], crs=CRS)
    streets = streets_of([LineString([(60, -5), (60, 65)])], ["residential"])
    xy = np.array([[15, 15], [45, 15], [15, 45], [45, 45], [90, 30]])
    tess = build_tessellation("C1", community, buildings_at(xy), streets, compounds=compounds)
    assert_tiles(tess, community)
    strip = shapely.difference(box(0, 0, 60, 60), wall)
    taken = shapely.area(shapely.intersection(tess.cells.values, strip))
    np.testing.assert_allclose(taken[:4], [strip.area / 4] * 4, rtol=1e-6)
    assert taken[4] == 0.0  # nothing across the street
    # each compound cell is its quarter of the land west of the street: no ring
    quarters = [box(0, 0, 30, 30), box(30, 0, 60, 30), box(0, 30, 30, 60), box(30, 30, 60, 60)]
    for cell, quarter in zip(tess.cells.values[:4], quarters, strict=True):
        assert cell.symmetric_difference(quarter).area < 1e-6
    # the building across the street touches only the two cells facing it, along it
    adj = tess.adjacency
    across = adj.edges[(adj.edges == 4).any(axis=1)].tolist()
    assert across == [[1, 4], [3, 4]]
    assert adj.street[(adj.edges == 4).any(axis=1)].all()


def compounds_of(polys):
    return gpd.GeoDataFrame(
        {"compound_id": [f"K{i}" for i in range(len(polys))]}, geometry=list(polys), crs=CRS
    )


def test_orphaned_strip_piece_does_not_cross_a_primary_road():
    # Tall compound A and compound B side by side, a strip around both, a primary road at
    # x=0 with one building west of it. B's building is the nearest of A's and B's to the
    # middle of the strip west of A; a Voronoi diagram of both compounds gave it that
    # piece, which does not touch its cell, and the piece then went to the longest shared
    # edge: across the primary road (a review of the first strip split)
    community = box(-40, 0, 65, 220)
    a, b = box(10, 10, 30, 210), box(35, 10, 60, 210)
    xy = np.array([[20, 209], [20, 11], [40, 110], [-20, 110]])
    streets = streets_of([LineString([(0, -5), (0, 225)])], ["primary"])
    tess = build_tessellation(
        "C", community, buildings_at(xy), streets, compounds=compounds_of([a, b])
    )
    west_building = tess.cells.values[3]
    east_of_road = box(0.01, 0, 65, 220)
    assert west_building.intersection(east_of_road).area < 1e-3


def test_strip_is_not_given_across_a_dead_end_street():
    # Compounds A and B either side of a dead-end street (x=55, from the south edge to
    # y=50). The strip around both is one block wrapping round the street's end: the 5 m
    # between A's wall and the street stay with A, not with B's building across it
    community = box(0, 0, 110, 60)
    a, b = box(5, 5, 50, 55), box(60, 5, 105, 55)
    xy = np.array([[8, 30], [62, 30], [100, 30]])
    streets = streets_of([LineString([(55, -5), (55, 50)])], ["residential"])
    tess = build_tessellation(
        "C", community, buildings_at(xy), streets, compounds=compounds_of([a, b])
    )
    between_a_and_street = box(50, 0, 55, 50)
    assert tess.cells.values[1].intersection(between_a_and_street).area < 1e-3


def test_land_in_front_of_one_compound_does_not_go_to_its_neighbour_compound():
    # Compounds A and B share a wall; the strip runs round both. B's building stands 1 m
    # from the shared wall, A's far west: the strip in front of A's wall stays with A
    # (nearest building or not), so B's cell does not wrap A's corner
    community = box(0, 0, 110, 60)
    a, b = box(5, 5, 55, 55), box(55, 5, 105, 55)
    xy = np.array([[10, 30], [56, 30], [100, 30]])
    tess = build_tessellation(
        "C", community, buildings_at(xy), None, compounds=compounds_of([a, b])
    )
    in_front_of_a = box(0, 0, 55, 60).difference(a)
    assert tess.cells.values[1].intersection(in_front_of_a).area < 1e-3


def test_wall_3cm_inside_its_streets_gives_no_ring():
    community = box(-60, -60, 160, 160)
    lines = [
        LineString([(-70, 0), (170, 0)]),
        LineString([(-70, 100), (170, 100)]),
        LineString([(0, -70), (0, 170)]),
        LineString([(100, -70), (100, 170)]),
    ]
    streets = streets_of(lines, ["residential"] * 4)
    wall = box(0.03, 0.03, 99.97, 99.97)
    xy = np.array(
        [[25, 25], [75, 25], [25, 75], [75, 75], [-30, 50], [130, 50], [50, -30], [50, 130]]
    )
    tess = build_tessellation(
        "C", community, buildings_at(xy), streets, compounds=compounds_of([wall])
    )
    # a 3 cm sliver between wall and streets is a strip too: no cell rings the compound
    assert (shapely.get_num_interior_rings(tess.cells.values) == 0).all()


def test_compound_ids_give_soft_edges():
    xy = lattice(4, 1, 10.0)
    b = buildings_at(xy, compound=["A", "A", None, "B"])
    tess = build_tessellation("C1", box(0, 0, 40, 10), b, None)
    assert tess.compound.tolist() == [0, 0, -1, 1]
    assert tess.compound_ids == ("A", "B")
    assert tess.adjacency.edges.tolist() == [[0, 1], [1, 2], [2, 3]]
    assert tess.adjacency.soft.tolist() == [False, True, True]
    edges = tess.compound_edges()
    assert len(edges) == 2
    np.testing.assert_allclose(sorted(shapely.get_coordinates(edges)[:, 0]), [20, 20, 30, 30])


def test_compound_polygons_cut_cells_and_name_buildings():
    community = box(0, 0, 100, 60)
    compound = box(10, 10, 50, 50)
    compounds = gpd.GeoDataFrame({"compound_id": ["X"]}, geometry=[compound], crs=CRS)
    xy = np.array([[20, 20], [40, 40], [60, 30], [90, 30], [5, 5]])
    tess = build_tessellation("C1", community, buildings_at(xy), None, compounds=compounds)
    assert_tiles(tess, community)
    assert tess.compound.tolist() == [0, 0, -1, -1, -1]
    inside = tess.cells.iloc[:2]
    assert abs(shapely.union_all(inside.values).area - compound.area) < 1e-3
    assert len(tess.compound_outlines) >= 1
    soft = {tuple(e) for e in tess.adjacency.edges[tess.adjacency.soft].tolist()}
    assert soft and all((a < 2) != (b < 2) for a, b in soft)


def test_barriers_lines_and_polygons_are_hard():
    community = box(0, 0, 120, 40)
    river = gpd.GeoDataFrame(geometry=[box(38, -5, 42, 45)], crs=CRS)  # a river polygon
    rail = gpd.GeoDataFrame(geometry=[LineString([(80, -5), (80, 45)])], crs=CRS)
    barriers = pd.concat([river, rail], ignore_index=True)
    xy = lattice(6, 2, 20.0)
    tess = build_tessellation("C1", community, buildings_at(xy), None, barriers=barriers)
    assert_tiles(tess, community)
    x = tess.points[:, 0]
    a, b = tess.adjacency.edges.T
    crosses = ((x[a] < 40) != (x[b] < 40)) | ((x[a] < 80) != (x[b] < 80))
    assert crosses.sum() == 4
    np.testing.assert_array_equal(tess.adjacency.hard, crosses)
    assert tess.components_soft.max() == 2


def test_dangling_major_street_is_hard_only_where_it_separates():
    # a primary street that ends half way: cells are not cut beyond its end
    community = box(0, 0, 100, 100)
    streets = streets_of([LineString([(50, -5), (50, 60)])], ["primary"])
    xy = lattice(4, 4, 25.0)
    tess = build_tessellation("C1", community, buildings_at(xy), streets)
    assert_tiles(tess, community)
    x, y = tess.points.T
    a, b = tess.adjacency.edges.T
    across = (x[a] < 50) != (x[b] < 50)
    hard = tess.adjacency.hard
    assert hard[across & (y[a] < 50) & (y[b] < 50)].all()
    assert not hard[across & (y[a] > 75) & (y[b] > 75)].any()  # north of the street's end
    assert not hard[~across].any()
    assert tess.components_soft.max() == 0  # still connected around the street's end


def test_locked_polygons_are_followed_exactly():
    community = box(0, 0, 100, 100)
    # a locked grid whose outline is not a Voronoi edge; part of it holds no building
    locked = Polygon([(0, 0), (55, 0), (55, 35), (30, 62), (0, 62)])
    xy = np.array([[10, 10], [40, 10], [15, 40], [80, 20], [80, 80], [20, 90], [50, 50]])
    inside = shapely.contains(locked, shapely.points(xy))
    assert inside.tolist() == [True, True, True, False, False, False, False]
    plain = build_tessellation("C1", community, buildings_at(xy), None)
    tess = build_tessellation(
        "C1",
        community,
        buildings_at(xy),
        None,
        locked_polygons=gpd.GeoSeries([locked], crs=CRS),
    )
    assert_tiles(tess, community)
    union = shapely.union_all(tess.cells.values[inside])
    assert shapely.symmetric_difference(union, locked).area < 1e-2  # 1 mm snapping
    plain_union = shapely.union_all(plain.cells.values[inside])
    assert shapely.symmetric_difference(plain_union, locked).area > 100  # not by accident


def test_footprints_stay_whole_in_their_cells():
    community = box(0, 0, 100, 40)
    slab = box(5, 5, 95, 15)  # a long slab; a point-Voronoi cell of its neighbour cuts it
    tower = box(85, 25, 95, 35)
    b = buildings_at([[50, 10], [90, 30]])
    plain = build_tessellation("C1", community, b, None)
    assert shapely.area(shapely.intersection(slab, plain.cells.iloc[1])) > 10
    b["footprint"] = [slab, tower]
    tess = build_tessellation("C1", community, b, None)
    assert_tiles(tess, community)
    assert shapely.area(shapely.difference(slab, tess.cells.iloc[0])) < 1e-3
    assert shapely.area(shapely.difference(tower, tess.cells.iloc[1])) < 1e-3
    assert tess.adjacency.edges.tolist() == [[0, 1]]
    b["footprint"] = [None, tower]  # unknown footprints are fine
    assert_tiles(build_tessellation("C1", community, b, None), community)


# --- degenerate cases ------------------------------------------------------------------


def test_one_building_gets_the_whole_community():
    community = Polygon([(0, 0), (30, 0), (30, 30), (0, 30)], [[(10, 10), (20, 10), (20, 20)]])
    tess = build_tessellation("C1", community, buildings_at([[5, 5]]), None)
    assert_tiles(tess, community)
    assert tess.adjacency.m == 0
    assert tess.cells.iloc[0].equals(tess.community)


def test_two_buildings():
    tess = build_tessellation("C1", box(0, 0, 20, 10), buildings_at([[5, 5], [15, 5]]), None)
    assert_tiles(tess, box(0, 0, 20, 10))
    assert tess.adjacency.edges.tolist() == [[0, 1]]
    np.testing.assert_allclose(tess.adjacency.length, [10.0])
    np.testing.assert_allclose(tess.area, [100.0, 100.0])


def test_coincident_points_each_get_a_cell():
    xy = np.array([[50, 50], [50, 50], [50, 50], [50.01, 50], [20, 20]])
    community = box(0, 0, 100, 100)
    tess = build_tessellation("C1", community, buildings_at(xy), None)
    assert_tiles(tess, community)
    moved = np.hypot(*(tess.faces.generators - xy).T)
    assert moved.max() < 0.5  # every building stays well within 0.5 m of its cell
    edges = edge_set(tess.adjacency)
    assert {(0, 1), (1, 2), (2, 3)} <= edges | {(0, 3)}
    assert len(tess.cells) == 5


def test_collinear_points():
    xy = np.column_stack([np.arange(5, 100, 10), np.full(10, 5.0)])
    community = box(0, 0, 100, 10)
    tess = build_tessellation("C1", community, buildings_at(xy), None)
    assert_tiles(tess, community)
    assert tess.adjacency.edges.tolist() == [[i, i + 1] for i in range(9)]


def test_points_on_and_outside_the_boundary_are_snapped_in(caplog):
    community = box(0, 0, 100, 100)
    xy = np.array([[0, 50], [100.4, 50], [50, -3], [50, 50], [20, 80]])
    tess = build_tessellation("C1", community, buildings_at(xy), None)
    assert_tiles(tess, community)
    assert tess.faces.snapped.tolist() == [False, True, True, False, False]
    assert "outside the community" in caplog.text
    assert shapely.contains(community, shapely.points(tess.faces.generators[1:3])).all()
    np.testing.assert_allclose(tess.points, xy)  # the instance keeps the given points


def test_many_points_outside_one_corner_each_get_a_cell():
    # 25 buildings far outside a corner all snap to the same spot, plus duplicates there
    community = Polygon([(0, 0), (100, 0), (100, 100), (0, 100)])
    rng = np.random.default_rng(3)
    outside = np.array([150.0, 150.0]) + rng.uniform(0, 30, (25, 2))
    xy = np.vstack([outside, outside[:5], lattice(3, 3, 30.0)])
    tess = build_tessellation("C1", community, buildings_at(xy), None)
    assert_tiles(tess, community)
    assert tess.faces.snapped[:30].all() and not tess.faces.snapped[30:].any()
    assert np.hypot(*(tess.faces.generators[:30] - [100, 100]).T).max() < 5.0


def test_multipolygon_community_part_without_buildings():
    main = box(0, 0, 100, 50)
    islet = box(200, 0, 220, 20)
    community = MultiPolygon([main, islet])
    xy = lattice(5, 2, 20.0)
    tess = build_tessellation("C1", community, buildings_at(xy), None)
    assert_tiles(tess, community)
    kinds = tess.cells.geom_type.value_counts()
    assert kinds.get("MultiPolygon", 0) == 1
    owner = tess.cells[tess.cells.geom_type == "MultiPolygon"].index[0]
    assert tess.points[owner, 0] == xy[:, 0].max()  # the nearest building took the islet


def test_multipolygon_community_parts_with_buildings_are_bridged():
    """Parts whose cells share no boundary are joined by one soft bridge between the nearest cells.

    Without it each part holding households was a grid of its own (a 30-household
    islet: a grid out of band the plan could have avoided, CONTRACT §3 allowing a
    MultiPolygon grid in a community of several parts).
    """
    from gridder.graph.adjacency import BRIDGE_LENGTH

    community = MultiPolygon([box(0, 0, 40, 20), box(100, 0, 140, 20)])
    xy = np.vstack([lattice(2, 1, 20.0), lattice(2, 1, 20.0, origin=(100, 0))])
    tess = build_tessellation("C1", community, buildings_at(xy), None)
    assert_tiles(tess, community)
    assert (tess.cells.geom_type == "Polygon").all()
    assert tess.components.tolist() == [0, 0, 0, 0]
    adj = tess.adjacency
    assert_edges_well_formed(adj, tess.n)
    k = int(np.flatnonzero((adj.edges == [1, 2]).all(axis=1))[0])  # the two nearest cells
    assert adj.length[k] == BRIDGE_LENGTH and adj.soft[k] and not adj.hard[k]
    assert adj.m == 3
    # a major street between the parts makes the bridge hard
    street = streets_of([LineString([(70, -10), (70, 30)])], ["primary"])
    hard = build_tessellation("C1", community, buildings_at(xy), street).adjacency
    k = int(np.flatnonzero((hard.edges == [1, 2]).all(axis=1))[0])
    assert hard.hard[k]


def test_concave_block_cells_stay_connected():
    # a U-shaped community: the Voronoi cell of a building in one arm reaches across the gap
    community = Polygon(
        [(0, 0), (100, 0), (100, 100), (70, 100), (70, 20), (30, 20), (30, 100), (0, 100)]
    )
    xy = np.array([[15, 90], [85, 90], [50, 10], [15, 30], [85, 30]])
    tess = build_tessellation("C1", community, buildings_at(xy), None)
    assert_tiles(tess, community)
    assert (tess.cells.geom_type == "Polygon").all()


def test_no_buildings_and_bad_geometry_raise():
    empty = buildings_at(np.empty((0, 2)))
    with pytest.raises(GridderError, match="without buildings"):
        build_tessellation("C1", box(0, 0, 10, 10), empty, None)
    with pytest.raises(GridderError, match="empty geometry"):
        build_tessellation("C1", Polygon(), buildings_at([[1, 1]]), None)
    wgs = buildings_at([[1, 1]]).set_crs(4326, allow_override=True)
    with pytest.raises(GridderError, match="metric CRS"):
        build_tessellation("C1", box(0, 0, 10, 10), wgs, None)


def test_polygon_building_geometry_uses_a_point_inside():
    b = buildings_at([[5, 5], [15, 5]])
    b.geometry = [box(2, 2, 8, 8), box(12, 2, 18, 8)]
    tess = build_tessellation("C1", box(0, 0, 20, 10), b, None)
    np.testing.assert_allclose(tess.area, [100.0, 100.0])


def test_deterministic(street_square):
    s = street_square
    t1 = build_tessellation("C1", s.community, s.buildings, s.streets)
    t2 = build_tessellation("C1", s.community, s.buildings, s.streets)
    np.testing.assert_array_equal(t1.adjacency.edges, t2.adjacency.edges)
    np.testing.assert_array_equal(t1.area, t2.area)
    assert all(a.equals(b) for a, b in zip(t1.cells, t2.cells, strict=True))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 60),
    seed=st.integers(0, 10_000),
    n_streets=st.integers(0, 4),
    dup=st.booleans(),
)
def test_random_communities_tile(n, seed, n_streets, dup):
    rng = np.random.default_rng(seed)
    angle = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radius = rng.uniform(60, 100, 9)
    community = shapely.make_valid(
        Polygon(np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]))
    )
    xy = shapely.get_coordinates(
        shapely.points(rng.uniform(-100, 100, (4 * n + 20, 2)))[
            shapely.contains(community, shapely.points(rng.uniform(-100, 100, (4 * n + 20, 2))))
        ]
    )
    xy = rng.uniform(-60, 60, (n, 2)) if len(xy) < n else xy[:n]
    if dup and n > 2:
        xy[1] = xy[0]
    ends = rng.uniform(-120, 120, (n_streets, 4))
    streets = streets_of(
        [LineString([e[:2], e[2:]]) for e in ends],
        rng.choice(["primary", "residential"], n_streets).tolist(),
    )
    tess = build_tessellation("C1", community, buildings_at(xy), streets)
    assert_tiles(tess, tess.community)
    assert_edges_well_formed(tess.adjacency, tess.n)


# --- PartitionInstance.from_frames -----------------------------------------------------


def test_from_frames_fills_every_field(street_square):
    s = street_square
    b = s.buildings.assign(compound_id=["K"] * 25 + [None] * 25)
    value = np.arange(50)
    locked = pd.Series({"B000": 3, "B001": 3})
    previous = np.arange(50) % 4
    inst, tess = PartitionInstance.from_frames(
        "C1", s.community, b, value, s.streets, locked_labels=locked, previous_labels=previous
    )
    assert inst.n == 50 and inst.community_id == "C1"
    assert inst.unit_ids.tolist() == b["building_id"].tolist()
    np.testing.assert_array_equal(inst.value, value)
    np.testing.assert_array_equal(inst.households, np.full(50, 10))
    np.testing.assert_allclose(inst.xy, shapely.get_coordinates(b.geometry.values))
    np.testing.assert_array_equal(inst.edges, tess.adjacency.edges)
    assert inst.edge_hard.sum() == 5 and inst.edge_soft.any()
    assert inst.locked.tolist() == [3, 3] + [-1] * 48
    np.testing.assert_array_equal(inst.previous, previous)
    np.testing.assert_allclose(inst.area.sum(), s.community.area)
    assert inst.compound.tolist() == [0] * 25 + [-1] * 25
    for arr in (inst.value, inst.households, inst.edges, inst.compound, inst.locked):
        assert arr.dtype == np.int64


def test_from_frames_rejects_bad_values(street_square):
    s = street_square
    with pytest.raises(GridderError, match="values for"):
        PartitionInstance.from_frames("C1", s.community, s.buildings, np.ones(3), s.streets)
    with pytest.raises(GridderError, match="non-negative"):
        PartitionInstance.from_frames("C1", s.community, s.buildings, -np.ones(50), s.streets)
    with pytest.raises(GridderError, match="integers"):
        PartitionInstance.from_frames("C1", s.community, s.buildings, np.full(50, 0.5), s.streets)


# --- real data -------------------------------------------------------------------------


@pytest.mark.shared_data
def test_nanjing_tessellation_tiles(nanjing):
    community, buildings, _, tess = nanjing
    assert tess.n == len(buildings) > 1000
    assert_tiles(tess, community)
    assert_edges_well_formed(tess.adjacency, tess.n)
    assert tess.components.max() == 0


@pytest.mark.shared_data
def test_nanjing_barrier_flags(nanjing):
    community, _, streets, tess = nanjing
    major = streets[streets["highway"].isin(MAJOR_HIGHWAYS)]
    # "sides" of the major roads: blocks cut by major roads only
    lines = shapely.intersection(major.geometry.values, community)
    sides = shapely.get_parts(
        shapely.polygonize(shapely.get_parts(shapely.union_all([community.boundary, *lines])))
    )
    sides = sides[shapely.within(shapely.point_on_surface(sides), community)]
    tree = shapely.STRtree(sides)
    pi, si = tree.query(shapely.points(tess.faces.generators), predicate="intersects")
    side = np.full(tess.n, -1)
    side[pi] = si
    adj = tess.adjacency
    a, b = adj.edges.T
    different = side[a] != side[b]
    assert different.sum() > 20
    assert adj.hard[different].all()  # every edge across a major road is hard
    # a hard edge between buildings on the same side must straddle a dead-end major road
    # or have its shared boundary run along one
    major_lines = shapely.union_all(major.geometry.values)
    same_hard = np.flatnonzero(adj.hard & ~different)
    g = tess.faces.generators
    links = shapely.linestrings(np.stack([g[a[same_hard]], g[b[same_hard]]], 1))
    along = np.array(
        [near_share(shared_boundary(tess, a[k], b[k]), major_lines, 1.0) >= 0.5 for k in same_hard],
        dtype=bool,
    )
    assert (shapely.crosses(links, major_lines) | along).all()
    assert len(same_hard) <= 0.1 * adj.hard.sum()


@pytest.mark.shared_data
def test_nanjing_footprints_stay_with_their_buildings(nanjing, nanjing_gpkg):
    community, buildings, streets, plain = nanjing
    footprints = gpd.read_file(nanjing_gpkg, layer="buildings").to_crs(buildings.crs)
    with_fp = buildings.assign(footprint=footprints.geometry.values)
    tess = build_tessellation("NJ", community, with_fp, streets)
    assert_tiles(tess, community)
    fp = footprints.geometry.values
    own = shapely.area(shapely.intersection(fp, tess.cells.values)) / shapely.area(fp)
    own_plain = shapely.area(shapely.intersection(fp, plain.cells.values)) / shapely.area(fp)
    assert own.mean() >= 0.98 > own_plain.mean()
    assert (own < 0.99).sum() < 0.2 * (own_plain < 0.99).sum()


@pytest.mark.shared_data
def test_nanjing_street_flags(nanjing):
    _, _, streets, tess = nanjing
    adj = tess.adjacency
    street_lines = shapely.union_all(streets.geometry.values)
    rng = np.random.default_rng(0)
    for flag in (True, False):
        picks = rng.choice(np.flatnonzero(adj.street == flag), 60, replace=False)
        for k in picks:
            i, j = adj.edges[k]
            share = near_share(shared_boundary(tess, i, j), street_lines, 5.0)
            assert (share >= 0.45) if flag else (share <= 0.55), (i, j, share)


def shared_boundary(tess, i, j):
    cells = tess.cells
    return shapely.intersection(cells.iloc[i].boundary, cells.iloc[j].boundary)


def near_share(line, target, distance: float) -> float:
    """Share of a line's length within ``distance`` of ``target`` (sampled every 0.25 m)."""
    pieces = shapely.get_parts(shapely.segmentize(shapely.line_merge(line), 0.25))
    coords, idx = shapely.get_coordinates(pieces, return_index=True)
    same = idx[1:] == idx[:-1]
    p, q = coords[:-1][same], coords[1:][same]
    seg = np.hypot(*(q - p).T)
    near = shapely.dwithin(shapely.points((p + q) / 2), target, distance)
    return float(seg[near].sum() / seg.sum()) if seg.sum() else 0.0
