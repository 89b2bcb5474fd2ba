"""Fixtures of tiny synthetic communities for the tessellation and adjacency tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from geo_builders import buildings_at, lattice, streets_of
from shapely import LineString, box


@pytest.fixture
def street_square() -> SimpleNamespace:
    """200 × 100 m community; a primary road at x = 100, a residential street at y = 40 (west)."""
    community = box(0, 0, 200, 100)
    xy = lattice(10, 5, 20.0)  # 50 buildings, 20 m apart, none on a street
    streets = streets_of(
        [LineString([(100, -10), (100, 110)]), LineString([(-10, 40), (100, 40)])],
        ["primary", "residential"],
    )
    return SimpleNamespace(community=community, buildings=buildings_at(xy), streets=streets)
