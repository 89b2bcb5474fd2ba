"""GridLocator: exact against shapely's STRtree, boundary rule, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gridder.locator import OUTSIDE, GridLocator


def voronoi(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    box = shapely.box(118.70, 32.00, 118.90, 32.15)
    seeds = rng.uniform([118.70, 32.00], [118.90, 32.15], (n, 2))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=box))
    return np.asarray(shapely.intersection(cells, box))


def reference(polys: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Lowest index among polygons that intersect (= cover) each point, by STRtree."""
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(shapely.points(xy), predicate="intersects")
    best = np.full(len(xy), np.iinfo(np.int64).max)
    np.minimum.at(best, pi, gi)
    return np.where(best == np.iinfo(np.int64).max, OUTSIDE, best)


@pytest.mark.parametrize("n", [1, 7, 500])
def test_matches_strtree_on_random_points(n: int) -> None:
    polys = voronoi(n, seed=n)
    loc = GridLocator(polys)
    rng = np.random.default_rng(1)
    xy = rng.uniform([118.69, 31.99], [118.91, 32.16], (50_000, 2))
    got = loc.locate_many(xy[:, 0], xy[:, 1])
    assert np.array_equal(got, reference(polys, xy))
    assert (got == OUTSIDE).sum() > 0  # some points lie outside the box
    singles = np.array([loc.locate(x, y) for x, y in xy[:500]])
    assert np.array_equal(singles, got[:500])


def test_vertices_and_edges_follow_the_lowest_index_rule() -> None:
    polys = voronoi(300, seed=3)
    loc = GridLocator(polys)
    # every vertex and every edge midpoint lies on a boundary shared by 2-3 cells
    rings = shapely.get_exterior_ring(polys)
    verts = shapely.get_coordinates(rings)
    mids = shapely.get_coordinates(shapely.line_interpolate_point(rings, 0.37, normalized=True))
    xy = np.vstack([verts, mids])
    got = loc.locate_many(xy[:, 0], xy[:, 1])
    assert np.array_equal(got, reference(polys, xy))
    assert (got != OUTSIDE).all()


def test_shared_edge_goes_to_lower_index() -> None:
    left, right = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    assert GridLocator([left, right]).locate(1.0, 0.5) == 0
    assert GridLocator([right, left]).locate(1.0, 0.5) == 0  # index, not position in space
    loc = GridLocator([right, left])
    assert loc.locate(1.5, 0.5) == 0
    assert loc.locate(0.5, 0.5) == 1
    assert loc.locate(2.0, 1.0) == 0  # outer corner is covered
    assert loc.locate(2.0 + 1e-9, 0.5) == OUTSIDE


def test_holes_multipolygons_gaps_nan() -> None:
    ring = shapely.box(0, 0, 10, 10).difference(shapely.box(4, 4, 6, 6))
    multi = shapely.MultiPolygon([shapely.box(20, 0, 21, 1), shapely.box(30, 0, 31, 1)])
    loc = GridLocator([ring, multi])
    x = np.array([5.0, 1.0, 20.5, 30.5, 25.0, np.nan, np.inf])
    y = np.array([5.0, 1.0, 0.5, 0.5, 0.5, 1.0, 1.0])
    assert loc.locate_many(x, y).tolist() == [OUTSIDE, 0, 1, 1, OUTSIDE, OUTSIDE, OUTSIDE]
    assert loc.locate(float("nan"), 1.0) == OUTSIDE
    assert loc.locate(4.0, 5.0) == 0  # on the hole's edge: covered


def test_empty_and_missing_geometries() -> None:
    empty = GridLocator([])
    assert empty.locate(1, 1) == OUTSIDE
    assert empty.locate_many([1.0], [1.0]).tolist() == [OUTSIDE]
    loc = GridLocator([None, shapely.Polygon(), shapely.box(0, 0, 1, 1)])
    assert loc.locate(0.5, 0.5) == 2
    assert loc.locate_many([], []).shape == (0,)
    with pytest.raises(ValueError, match="differ in length"):
        loc.locate_many([1.0, 2.0], [1.0])


def test_cell_cap_keeps_answers_exact() -> None:
    polys = voronoi(400, seed=9)
    rng = np.random.default_rng(2)
    xy = rng.uniform([118.70, 32.00], [118.90, 32.15], (20_000, 2))
    coarse = GridLocator(polys, max_cells=50)
    assert coarse._nx * coarse._ny <= 50
    assert np.array_equal(coarse.locate_many(xy[:, 0], xy[:, 1]), reference(polys, xy))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-1, 11), st.floats(-1, 11)), min_size=1, max_size=60),
    st.integers(2, 6),
)
def test_square_grid_property(points: list[tuple[float, float]], k: int) -> None:
    # A k×k grid of unit-ish squares: many shared edges and corners on exact coordinates.
    step = 10 / k
    cells = [
        shapely.box(i * step, j * step, (i + 1) * step, (j + 1) * step)
        for j in range(k)
        for i in range(k)
    ]
    polys = np.asarray(cells)
    loc = GridLocator(polys)
    xy = np.asarray(points, dtype=float)
    assert np.array_equal(loc.locate_many(xy[:, 0], xy[:, 1]), reference(polys, xy))
