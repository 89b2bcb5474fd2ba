"""Suite-wide configuration: the ``shared_data`` marker and common paths.

Tests that read the real OpenStreetMap extracts in ``../shared/data`` carry
``@pytest.mark.shared_data``. They run when the folder exists; when it is
missing they fail under ``CI=true`` (CI always has it) and are otherwise
skipped, and the session ends by saying how many were not run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GRIDDER_SHARED_DATA", REPO.parent / "shared" / "data"))

_not_run: list[str] = []


@pytest.fixture(autouse=True)
def _logging_as_found() -> object:
    """Undo what a command run in a test did to logging (``-q`` sets the gridder logger
    to ERROR, which would hide warnings from later tests' ``caplog``)."""
    import logging

    logger = logging.getLogger("gridder")
    level, root = logger.level, logging.getLogger().level
    yield
    logger.setLevel(level)
    logging.getLogger().setLevel(root)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared_data") is None or SHARED_DATA.is_dir():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{SHARED_DATA} is missing; CI must provide ../shared/data")
    _not_run.append(item.nodeid)
    pytest.skip(f"needs {SHARED_DATA} (real OpenStreetMap extracts)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "shared" in str(r.longrepr)]
    if skipped or _not_run:
        count = max(len(skipped), len(_not_run))
        terminalreporter.write_line(
            f"{count} tests were not run because {SHARED_DATA} is missing "
            "(clone the project beside its shared/ folder to run them)",
            yellow=True,
        )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real OpenStreetMap extracts (``../shared/data``)."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def nanjing_gpkg(shared_data: Path) -> Path:
    """Central Nanjing extract: layers buildings, streets, landuse, pois."""
    return shared_data / "nanjing_gulou" / "nanjing_gulou.gpkg"


@pytest.fixture(scope="session")
def nanjing(nanjing_gpkg: Path) -> tuple:
    """A Nanjing test community: hull of the extract's buildings, its streets, tessellation."""
    import geopandas as gpd
    import shapely

    from gridder.graph import build_tessellation
    from gridder.io.crs import local_metric_crs

    crs = local_metric_crs(118.78, 32.04)
    raw = gpd.read_file(nanjing_gpkg, layer="buildings").to_crs(crs)
    streets = gpd.read_file(nanjing_gpkg, layer="streets").to_crs(crs)
    buildings = gpd.GeoDataFrame(
        {"building_id": [f"N{i}" for i in range(len(raw))], "households": 10},
        geometry=raw.geometry.representative_point().values,
        crs=crs,
    )
    community = shapely.buffer(
        shapely.convex_hull(shapely.union_all(buildings.geometry.values)), 20
    )
    tess = build_tessellation("NJ", community, buildings, streets)
    return community, buildings, streets, tess
