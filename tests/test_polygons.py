"""Grid polygons from labels, boundary-on-street share and grid codes (issue 3, parts 3-4)."""

from __future__ import annotations

import logging
from collections import deque

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import LineString, MultiPolygon, box

from gridder.graph import build_tessellation
from gridder.polygons import (
    assign_grid_codes,
    boundary_on_street_lengths,
    boundary_on_street_share,
    grid_order,
    grid_polygons,
)

CRS = "EPSG:32650"


# --- tiny synthetic fixtures, built in code ----------------------------------------------


def buildings_at(xy) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return gpd.GeoDataFrame(
        {"building_id": [f"B{i:03d}" for i in range(len(xy))], "households": 10},
        geometry=shapely.points(xy),
        crs=CRS,
    )


def lattice(nx_: int, ny_: int, spacing: float, origin=(0.0, 0.0)) -> np.ndarray:
    xs = origin[0] + spacing / 2 + np.arange(nx_) * spacing
    ys = origin[1] + spacing / 2 + np.arange(ny_) * spacing
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    return np.column_stack([X.ravel(), Y.ravel()])


def bfs_labels(n: int, edges: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Random contiguous labels: BFS growth on the adjacency graph from ``k`` seeds."""
    nbrs: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    rng = np.random.default_rng(seed)
    lab = np.full(n, -1)
    queue: deque[int] = deque()
    for g, s in enumerate(rng.choice(n, min(k, n), replace=False)):
        lab[s] = g
        queue.append(int(s))
    while queue:
        u = queue.popleft()
        for v in rng.permutation(nbrs[u]):
            if lab[v] < 0:
                lab[v] = lab[u]
                queue.append(int(v))
    assert (lab >= 0).all()
    return lab


def assert_grids_valid(grids: gpd.GeoDataFrame, tess, labels: np.ndarray) -> None:
    """The plan guarantees of CONTRACT §3 for one community's grids."""
    community = tess.community
    area = community.area
    geoms = grids.geometry.values
    assert shapely.is_valid(geoms).all()
    assert abs(grids["area_m2"].sum() - area) <= 1e-4 * area  # no gap (with no overlap)
    assert abs(shapely.union_all(geoms).area - area) <= 1e-4 * area  # no overlap
    assert shapely.coverage_is_valid(geoms)
    assert (
        abs(shapely.symmetric_difference(shapely.union_all(geoms), community).area) <= 1e-4 * area
    )
    # each building within 0.5 m of its own grid
    own = grids.geometry.loc[labels].values
    assert shapely.dwithin(shapely.points(tess.points), own, 0.5).all()
    # one connected polygon per grid (MultiPolygon only where the community is in parts)
    assert (grids["n_parts"] <= shapely.get_num_geometries(community)).all()
    assert grids["n_buildings"].sum() == tess.n


@pytest.fixture
def street_block():
    """160 × 80 m community, a residential street at x = 80, a 8 × 4 lattice of buildings."""
    community = box(0, 0, 160, 80)
    streets = gpd.GeoDataFrame(
        {"highway": ["residential"]}, geometry=[LineString([(80, -5), (80, 85)])], crs=CRS
    )
    b = buildings_at(lattice(8, 4, 20.0))
    tess = build_tessellation("C1", community, b, streets)
    return community, streets, b, tess


# --- grid polygons -----------------------------------------------------------------------


def test_two_grids_split_on_the_street(street_block):
    community, streets, _, tess = street_block
    labels = (tess.points[:, 0] > 80).astype(int)
    grids = grid_polygons(tess, labels)
    assert grids.index.tolist() == [0, 1] and grids.index.name == "label"
    assert_grids_valid(grids, tess, labels)
    assert grids.geometry.iloc[0].equals_exact(box(0, 0, 80, 80), 1e-6) or (
        shapely.symmetric_difference(grids.geometry.iloc[0], box(0, 0, 80, 80)).area < 1e-6
    )
    assert grids["n_buildings"].tolist() == [16, 16]
    assert boundary_on_street_share(grids, community, streets) == pytest.approx(1.0)
    assert grids.crs == tess.crs


def test_unsmoothed_grids_are_unions_of_cells(street_block):
    _, _, _, tess = street_block
    labels = bfs_labels(tess.n, tess.adjacency.edges, 5, seed=3)
    grids = grid_polygons(tess, labels, smooth=0)
    for lab, geom in grids.geometry.items():
        cells = shapely.union_all(tess.cells.values[labels == lab])
        assert shapely.symmetric_difference(cells, geom).area < 1e-6


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), k=st.integers(1, 12), smooth=st.sampled_from([0.0, 4.0, 30.0]))
def test_random_contiguous_labels_tile(seed, k, smooth):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 200, (80, 2))
    streets = gpd.GeoDataFrame(
        {"highway": ["residential", "primary"]},
        geometry=[LineString([(-5, 70), (205, 120)]), LineString([(120, -5), (90, 205)])],
        crs=CRS,
    )
    tess = build_tessellation("C1", box(0, 0, 200, 200), buildings_at(xy), streets)
    labels = bfs_labels(tess.n, tess.adjacency.edges, k, seed)
    grids = grid_polygons(tess, labels, smooth=smooth)
    assert_grids_valid(grids, tess, labels)
    assert (grids["n_parts"] == 1).all()


def test_smoothing_straightens_zigzags_but_keeps_buildings_inside():
    rng = np.random.default_rng(7)
    xy = np.column_stack([rng.uniform(5, 195, 200), rng.uniform(5, 95, 200)])
    tess = build_tessellation("C1", box(0, 0, 200, 100), buildings_at(xy), None)
    labels = (tess.points[:, 0] > 100).astype(int)
    raw = grid_polygons(tess, labels, smooth=0)
    smooth = grid_polygons(tess, labels, smooth=8.0)
    assert_grids_valid(smooth, tess, labels)
    n_raw = len(shapely.get_coordinates(raw.geometry.values))
    n_smooth = len(shapely.get_coordinates(smooth.geometry.values))
    assert n_smooth < n_raw
    # the outline of the community is untouched
    outline = shapely.union_all(smooth.geometry.values)
    assert shapely.symmetric_difference(outline, tess.community).area < 1e-6


def test_smoothed_boundaries_stay_within_the_tolerance_and_shorten():
    rng = np.random.default_rng(11)
    xy = np.column_stack([rng.uniform(5, 295, 300), rng.uniform(5, 195, 300)])
    tess = build_tessellation("C1", box(0, 0, 300, 200), buildings_at(xy), None)
    labels = bfs_labels(tess.n, tess.adjacency.edges, 6, seed=3)
    raw = grid_polygons(tess, labels, smooth=0)
    smooth = grid_polygons(tess, labels, smooth=12.0)
    assert_grids_valid(smooth, tess, labels)
    assert smooth.length.sum() < 0.99 * raw.length.sum()
    for r, s_ in zip(raw.geometry.values, smooth.geometry.values, strict=True):
        # no point of a smoothed grid boundary lies farther than the tolerance from the cells'
        assert shapely.hausdorff_distance(shapely.boundary(r), shapely.boundary(s_)) <= 12.0 + 1e-6


def test_smoothing_never_cuts_a_footprint():
    # rows of 20 × 8 m houses laid like bricks: a straight boundary would cut through them
    centres = np.array(
        [(12 + i * 24 + 12 * (j % 2), 8 + j * 14) for j in range(8) for i in range(10)]
    )
    b = buildings_at(centres)
    b["footprint"] = [box(x - 10, y - 4, x + 10, y + 4) for x, y in centres]
    tess = build_tessellation("C1", box(0, 0, 260, 112), b, None)
    footprints = b["footprint"].to_numpy()
    for seed in range(4):
        labels = bfs_labels(tess.n, tess.adjacency.edges, 5, seed)
        raw = grid_polygons(tess, labels, smooth=0)
        grids = grid_polygons(tess, labels, smooth=12.0)
        assert_grids_valid(grids, tess, labels)
        assert grids.length.sum() < 0.99 * raw.length.sum()  # it did straighten
        own = grids.geometry.loc[labels].to_numpy()
        outside = shapely.area(shapely.difference(footprints, own))
        assert (outside <= 0.02 * shapely.area(footprints) + 0.5).all()
        # a plain coverage simplification of the same tolerance would cut houses
        plain = shapely.coverage_simplify(raw.geometry.to_numpy(), 12.0, simplify_boundary=False)
        plain_own = plain[np.searchsorted(raw.index.to_numpy(), labels)]
        assert (shapely.area(shapely.difference(footprints, plain_own)) > 0.5).sum() > 10


def test_fixed_grids_keep_their_cells_exactly(street_block):
    _, _, _, tess = street_block
    labels = bfs_labels(tess.n, tess.adjacency.edges, 4, seed=2)
    raw = grid_polygons(tess, labels, smooth=0)
    grids = grid_polygons(tess, labels, smooth=30.0, fixed=[int(labels[0])])
    assert_grids_valid(grids, tess, labels)
    fixed = int(labels[0])
    assert shapely.symmetric_difference(grids.geometry[fixed], raw.geometry[fixed]).area < 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_straightened_grids_tile_a_community_with_a_hole_and_a_detached_part(seed):
    rng = np.random.default_rng(seed)
    hole = box(120, 70, 180, 130)
    community = box(0, 0, 300, 200).difference(hole).union(box(320, 0, 360, 40))
    xy = rng.uniform(0, 1, (150, 2)) * [300, 200]
    xy = xy[~shapely.contains_xy(hole, xy[:, 0], xy[:, 1])]
    b = buildings_at(xy)
    if seed % 2:
        b["footprint"] = [box(x - 3, y - 3, x + 3, y + 3) for x, y in xy]
    streets = gpd.GeoDataFrame(
        {"highway": ["residential"]}, geometry=[LineString([(-5, 60), (305, 140)])], crs=CRS
    )
    tess = build_tessellation("C1", community, b, streets)
    labels = bfs_labels(tess.n, tess.adjacency.edges, 6, seed)
    grids = grid_polygons(tess, labels)
    assert_grids_valid(grids, tess, labels)


def test_multipolygon_community(caplog):
    community = MultiPolygon([box(0, 0, 100, 40), box(150, 0, 170, 20)])
    tess = build_tessellation("C1", community, buildings_at(lattice(5, 2, 20.0)), None)
    labels = (tess.points[:, 0] > 50).astype(int)
    grids = grid_polygons(tess, labels)
    assert_grids_valid(grids, tess, labels)
    assert grids["n_parts"].tolist() == [1, 2]  # the eastern grid holds the detached part
    assert grids.geom_type.tolist() == ["Polygon", "MultiPolygon"]


def test_non_contiguous_labels_are_reported(street_block, caplog):
    _, _, _, tess = street_block
    labels = np.zeros(tess.n, dtype=int)
    labels[[0, tess.n - 1]] = 1  # two far corners in one grid
    with caplog.at_level(logging.WARNING):
        grids = grid_polygons(tess, labels)
    assert grids.loc[1, "n_parts"] == 2
    assert "not one connected polygon" in caplog.text


def test_labels_as_series(street_block):
    _, _, b, tess = street_block
    labels = np.where(tess.points[:, 0] > 80, "east", "west")
    by_index = grid_polygons(tess, pd.Series(labels, index=b.index))
    by_id = grid_polygons(tess, pd.Series(labels, index=b["building_id"]).iloc[::-1])
    assert by_index.index.tolist() == ["east", "west"]
    assert by_id.index.tolist() == ["east", "west"]
    np.testing.assert_allclose(by_index["area_m2"], by_id["area_m2"])
    with pytest.raises(ValueError, match="grid label"):
        grid_polygons(tess, pd.Series(labels[:5], index=b["building_id"][:5]))
    with pytest.raises(ValueError, match="labels"):
        grid_polygons(tess, labels[:-1])


# --- boundary on streets ----------------------------------------------------------------


def test_boundary_share_off_street_and_with_compound_edges(street_block):
    community, streets, _, tess = street_block
    labels = (tess.points[:, 1] > 40).astype(int)  # split north/south, across the street
    grids = grid_polygons(tess, labels)
    near, total = boundary_on_street_lengths(grids, community, streets)
    assert total == pytest.approx(160.0, abs=0.5)
    assert near == pytest.approx(30.0, abs=1.5)  # 15 m either side of the street
    edge = np.array([LineString([(0, 40), (160, 40)])], dtype=object)
    assert boundary_on_street_share(grids, community, streets, edge) == pytest.approx(1.0)
    one = grid_polygons(tess, np.zeros(tess.n, dtype=int))
    assert np.isnan(boundary_on_street_share(one, community, streets))
    no_streets = boundary_on_street_share(grids, community, streets.iloc[:0])
    assert no_streets == 0.0


def test_boundary_share_in_wgs84_matches_metric(street_block):
    community, streets, _, tess = street_block
    origin = shapely.affinity.translate  # move the block to Nanjing's UTM zone
    labels = bfs_labels(tess.n, tess.adjacency.edges, 4, seed=1)
    grids = grid_polygons(tess, labels)
    dx, dy = 667000.0, 3546500.0
    moved = grids.set_geometry(grids.geometry.translate(dx, dy))
    comm = origin(community, dx, dy)
    st_moved = streets.set_geometry(streets.geometry.translate(dx, dy))
    metric = boundary_on_street_share(moved, comm, st_moved)
    wgs = moved.to_crs(4326)
    comm_wgs = gpd.GeoSeries([comm], crs=CRS).to_crs(4326).iloc[0]
    share = boundary_on_street_share(wgs, comm_wgs, st_moved.to_crs(4326))
    assert share == pytest.approx(metric, abs=0.02)


# --- grid codes ---------------------------------------------------------------------------


def three_by_three() -> gpd.GeoDataFrame:
    cells = [box(x, y, x + 100, y + 100) for y in (200, 100, 0) for x in (0, 100, 200)]
    labels = [7, 3, 5, 1, 8, 0, 2, 6, 4]  # arbitrary labels
    return gpd.GeoDataFrame(geometry=cells, index=pd.Index(labels, name="label"), crs=CRS)


def test_codes_read_west_to_east_north_to_south():
    grids = three_by_three()
    codes = assign_grid_codes("C7", grids)
    # reading order: north row first, west to east
    assert [codes[lab] for lab in grids.index] == [f"C7-{i:03d}" for i in range(1, 10)]
    shuffled = grids.sample(frac=1.0, random_state=0)
    assert assign_grid_codes("C7", shuffled) == codes  # independent of row order


def test_codes_tolerate_ragged_rows():
    # grids whose representative points differ a little in y still read as one row
    geoms = [box(0, 0, 100, 100), box(100, 10, 200, 95), box(200, -8, 300, 100)]
    order = grid_order(np.array(geoms, dtype=object))
    assert order.tolist() == [0, 1, 2]


def test_codes_kept_across_a_replan_by_polygons():
    old = three_by_three()
    old_codes = assign_grid_codes("C7", old)
    previous = gpd.GeoDataFrame(
        {"grid_id": [old_codes[lab] for lab in old.index]}, geometry=old.geometry.values, crs=CRS
    )
    # new plan: same grids under new labels, except the NE grid is split in two
    geoms = list(old.geometry.values)
    ne = geoms[2]
    geoms[2] = box(200, 200, 300, 260)
    geoms.append(box(200, 260, 300, 300))
    new = gpd.GeoDataFrame(geometry=geoms, index=pd.Index(range(100, 110)), crs=CRS)
    codes = assign_grid_codes("C7", new, previous)
    for k in range(9):
        if k != 2:
            assert codes[100 + k] == previous["grid_id"].iloc[k]
    assert ne.area * 0.6 == new.geometry.iloc[2].area
    assert codes[102] == previous["grid_id"].iloc[2]  # the larger piece keeps the code
    assert codes[109] == "C7-010"  # the new grid gets the next number
    assert len(set(codes.values())) == 10


def test_locked_codes_of_a_first_plan_leave_no_gaps():
    """A first plan locking one grid coded C7-005: the others take 001-004 and 006-009."""
    grids = three_by_three()
    locked = gpd.GeoDataFrame({"grid_id": ["C7-005"]}, geometry=[grids.geometry.iloc[8]], crs=CRS)
    codes = assign_grid_codes("C7", grids, locked, fill_gaps=True)
    assert codes[grids.index[8]] == "C7-005"
    assert sorted(codes.values()) == [f"C7-{k:03d}" for k in range(1, 10)]
    later = assign_grid_codes("C7", grids, locked)  # a re-plan never reuses a retired code
    assert sorted(later.values())[-1] == "C7-013"


def test_codes_kept_across_a_replan_by_members():
    members_old = pd.Series(
        ["C1-001"] * 4 + ["C1-002"] * 4 + ["C1-003"] * 2, index=[f"B{i}" for i in range(10)]
    )
    members_new = pd.Series(["a"] * 4 + ["b"] * 3 + ["c"] * 3, index=[f"B{i}" for i in range(10)])
    grids = gpd.GeoDataFrame(
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)],
        index=pd.Index(["a", "b", "c"]),
        crs=CRS,
    )
    codes = assign_grid_codes("C1", grids, members_old, members=members_new)
    assert codes["a"] == "C1-001"  # Jaccard 1
    assert codes["b"] == "C1-002"  # Jaccard 3/4
    assert codes["c"] == "C1-003"  # Jaccard 2/3
    members_new2 = pd.Series(["a"] * 10, index=[f"B{i}" for i in range(10)])
    codes2 = assign_grid_codes("C1", grids.iloc[:1], members_old, members=members_new2)
    assert codes2 == {"a": "C1-004"}  # no grid persists (Jaccard 0.4): a fresh number
    with pytest.raises(ValueError, match="members"):
        assign_grid_codes("C1", grids, members_old)


def test_codes_of_another_community_are_not_reused():
    grids = three_by_three().iloc[:1]
    previous = gpd.GeoDataFrame(
        {"grid_id": ["OTHER-005"]}, geometry=[grids.geometry.iloc[0]], crs=CRS
    )
    assert list(assign_grid_codes("C7", grids, previous).values()) == ["C7-001"]


# --- real data ------------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nanjing_random_labellings_tile(nanjing, seed):
    community, _, streets, tess = nanjing
    labels = bfs_labels(tess.n, tess.adjacency.edges, 40, seed)
    grids = grid_polygons(tess, labels)
    assert_grids_valid(grids, tess, labels)
    assert (grids["n_parts"] == 1).all()
    share = boundary_on_street_share(grids, community, streets, tess.compound_edges())
    assert 0.0 < share <= 1.0


@pytest.mark.shared_data
def test_nanjing_codes_ordered_and_stable(nanjing):
    _, _, _, tess = nanjing
    labels = bfs_labels(tess.n, tess.adjacency.edges, 40, seed=5)
    grids = grid_polygons(tess, labels)
    codes = assign_grid_codes("NJ", grids)
    assert sorted(codes.values()) == [f"NJ-{i:03d}" for i in range(1, 41)]
    # reading order: rows of a typical grid's height, north first, west to east within a row
    xy = shapely.get_coordinates(shapely.point_on_surface(grids.geometry.values))
    h = np.median(np.sqrt(grids["area_m2"]))
    row = np.floor((xy[:, 1].max() - xy[:, 1]) / h)
    by_code = np.argsort([codes[lab] for lab in grids.index])
    assert (np.diff(row[by_code]) >= 0).all()
    same_row = np.diff(row[by_code]) == 0
    assert (np.diff(xy[by_code, 0])[same_row] > 0).all()
    # re-planning with a few buildings moved keeps the codes of the grids that persist
    previous = gpd.GeoDataFrame(
        {"grid_id": [codes[lab] for lab in grids.index]},
        geometry=grids.geometry.values,
        crs=grids.crs,
    )
    moved = labels.copy()
    a, b = tess.adjacency.edges[
        np.flatnonzero(labels[tess.adjacency.edges[:, 0]] != labels[tess.adjacency.edges[:, 1]])[:5]
    ].T
    moved[a] = labels[b]
    regrids = grid_polygons(tess, moved)
    recodes = assign_grid_codes("NJ", regrids, previous)
    kept = sum(recodes[lab] == codes[lab] for lab in regrids.index if lab in codes)
    assert kept >= 38
    by_members = assign_grid_codes(
        "NJ",
        regrids,
        pd.Series([codes[lab] for lab in labels], index=tess.building_ids),
        members=pd.Series(moved, index=tess.building_ids),
    )
    assert by_members == recodes


def test_straightening_never_sweeps_a_boundary_over_a_barrier_line() -> None:
    from gridder.polygons import _bad_edges

    old = np.array([shapely.LineString([(0, 0), (0, 50), (50, 50)])], dtype=object)
    new = np.array([shapely.LineString([(0, 0), (50, 50)])], dtype=object)  # cuts the corner
    nothing = np.empty(0, dtype=object)
    points = np.array([shapely.Point(500, 500)], dtype=object)
    assert not _bad_edges(old, new, points, nothing)[0]
    river = np.array([shapely.LineString([(-10, 40), (60, 40)])], dtype=object)
    assert _bad_edges(old, new, points, nothing, river)[0]  # the corner holds the river
    along = np.array([shapely.LineString([(0, -10), (0, 60)])], dtype=object)
    assert not _bad_edges(old, new, points, nothing, along)[0]  # the old boundary's own street
