"""Fixtures of the API tests: synthetic plan directories, settings, clients and a real server."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_factory import KEY, Server, make_coverage, make_plan, settings_for

with warnings.catch_warnings():
    # starlette 1.x prefers the httpx2 package for its TestClient; httpx still works.
    warnings.filterwarnings("ignore", message=".*install `httpx2`", category=UserWarning)
    from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import hash_api_key


@pytest.fixture(scope="session")
def plans_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two plans (plan-a with workers, plan-b newer) and plan-b's coverage file, built once."""
    root = tmp_path_factory.mktemp("plans_template")
    make_plan(
        root / "plan-a.gpkg",
        plan_id="plan-a",
        seed=0,
        workers=True,
        created="2024-06-01T00:00:00+00:00",
    )
    make_plan(root / "plan-b.gpkg", plan_id="plan-b", seed=1, created="2024-07-01T00:00:00+00:00")
    (root / "cov").mkdir()
    make_coverage(root / "cov" / "coverage.gpkg", plan_id="plan-b")
    return root


@pytest.fixture
def plans_dir(plans_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the plans directory (tests may activate or add plans)."""
    target = tmp_path / "plans"
    target.mkdir()
    for name in ("plan-a.gpkg", "plan-b.gpkg"):
        shutil.copy(plans_template / name, target / name)
    return target


@pytest.fixture
def coverage_file(plans_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "coverage.gpkg"
    shutil.copy(plans_template / "cov" / "coverage.gpkg", target)
    return target


@pytest.fixture
def client(plans_dir: Path, coverage_file: Path) -> Iterator[TestClient]:
    app = create_app(settings_for(plans_dir, coverage_file=coverage_file))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def server(plans_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server over a copy of the two plans, with the write key KEY."""
    root = tmp_path_factory.mktemp("server")
    plans = root / "plans"
    plans.mkdir()
    for name in ("plan-a.gpkg", "plan-b.gpkg"):
        shutil.copy(plans_template / name, plans / name)
    shutil.copy(plans_template / "cov" / "coverage.gpkg", root / "coverage.gpkg")
    env = {
        "GRIDDER_PLANS_DIR": str(plans),
        "GRIDDER_COVERAGE_FILE": str(root / "coverage.gpkg"),
        "GRIDDER_API_KEY_HASHES": hash_api_key(KEY),
        "GRIDDER_JOB_EXECUTOR": "thread",
        "GRIDDER_PARTITION_RUNNER": "api_factory:fake_partition",
        "GRIDDER_REFRESH_SECONDS": "0.5",
    }
    srv = Server(env)
    srv.plans_dir = plans  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.stop()
