"""Fixtures of the workflow tests: real plans built in code with the partition engine."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_builder import build_plan, district_frames

from gridder.planfile import PlanFile


@pytest.fixture(scope="session")
def district_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated district (2 communities, 162 buildings, 24 grids) partitioned for real."""
    communities, buildings, streets = district_frames(nx=2, ny=1, seed=0)
    out = tmp_path_factory.mktemp("district") / "plan.gpkg"
    return build_plan(out, communities, buildings, streets)


@pytest.fixture
def plan_copy(district_plan: Path, tmp_path: Path) -> Path:
    """A private copy of the district plan that a test may edit."""
    target = tmp_path / "plan.gpkg"
    shutil.copy(district_plan, target)
    return target


def boundary_building(plan: PlanFile, source: str, target: str) -> str:
    """The building of grid ``source`` nearest grid ``target`` (a building on their border)."""
    crs = plan.metric_crs()
    a = plan.assignments.to_crs(crs)
    g = plan.grids.to_crs(crs).set_index("grid_id")
    mine = a[a["grid_id"] == source]
    d = shapely.distance(mine.geometry.to_numpy(), g.loc[target].geometry)
    return str(mine["building_id"].iloc[int(np.argmin(d))])


def neighbour_pairs(plan: PlanFile) -> list[tuple[str, str]]:
    """Pairs of grids of one community sharing a boundary (sorted)."""
    from gridder.workers import grid_adjacency

    ids = plan.grids["grid_id"].tolist()
    comm = plan.grids["community_id"].tolist()
    return sorted((ids[i], ids[j]) for i, j in grid_adjacency(plan).tolist() if comm[i] == comm[j])
