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
