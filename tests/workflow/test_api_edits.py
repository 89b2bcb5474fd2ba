"""``POST /v1/plans/{plan_id}/edits`` behind the write key (router included as the lead will)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import boundary_building

with warnings.catch_warnings():
    # starlette prefers the httpx2 package for its TestClient; httpx still works.
    warnings.filterwarnings("ignore", message=".*install `httpx2`")
    from fastapi.testclient import TestClient

from api.main import create_app
from api.routes import edits
from api.settings import ApiSettings, hash_api_key
from gridder.planfile import PlanFile

KEY = "edit-key-1"


def _app(plans: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The app over a plans directory, with the edits router behind KEY."""
    settings = ApiSettings(
        plans_dir=plans,
        api_key_hashes=[hash_api_key(KEY)],
        refresh_seconds=0,
        jobs_dir=tmp_path / "jobs",
    )
    app = create_app(settings)
    app.include_router(edits.router, prefix="/v1")
    return app


@pytest.fixture
def client(district_plan: Path, tmp_path: Path) -> Iterator[TestClient]:
    plans = tmp_path / "plans"
    plans.mkdir()
    shutil.copy(district_plan, plans / "plan.gpkg")
    with TestClient(_app(plans, tmp_path)) as c:
        yield c


def test_edit_move_then_undo(client: TestClient, district_plan: Path) -> None:
    plan = PlanFile.read(district_plan)
    bid = boundary_building(plan, "C01-001", "C01-002")
    url = "/v1/plans/plan-test/edits"
    assert client.post(url, json={"move": [bid], "to": "C01-002"}).status_code == 401
    bad = client.post(url, json={"move": [bid], "to": "C01-002"}, headers={"X-API-Key": "x"})
    assert bad.status_code == 403
    r = client.post(url, json={"move": [bid], "to": "C01-002"}, headers={"X-API-Key": KEY})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hand_moves"][0]["building_id"] == bid
    assert body["rebalance_households"] <= 3 * body["hand_households"]
    # the lookups see the edited plan at once
    assert client.get(f"/v1/buildings/{bid}").json()["grid_id"] == "C01-002"
    meta = client.get("/v1/plans/plan-test").json()["meta"]
    assert meta["history"][-1]["action"] == "move"
    r = client.post(url, json={"undo": True}, headers={"X-API-Key": KEY})
    assert r.status_code == 200
    old = plan.assignments.set_index("building_id").loc[bid, "grid_id"]
    assert client.get(f"/v1/buildings/{bid}").json()["grid_id"] == old


def test_bad_edits_answer_422_with_a_reason(client: TestClient) -> None:
    url = "/v1/plans/plan-test/edits"
    h = {"X-API-Key": KEY}
    r = client.post(url, json={"move": ["NOPE"], "to": "C01-002"}, headers=h)
    assert r.status_code == 422
    assert "not in the plan" in str(r.json()["detail"])
    r = client.post(url, json={"lock": "C01-001", "undo": True}, headers=h)
    assert r.status_code == 422
    r = client.post(url, json={"move": ["B0001"]}, headers=h)
    assert r.status_code == 422
    assert client.post("/v1/plans/nope/edits", json={"undo": True}, headers=h).status_code == 404


def test_edits_to_a_plan_not_active_are_seen_by_its_lookups(
    district_plan: Path, tmp_path: Path
) -> None:
    import json
    import sqlite3

    plans = tmp_path / "plans"
    plans.mkdir()
    shutil.copy(district_plan, plans / "plan.gpkg")
    other = plans / "other.gpkg"
    shutil.copy(district_plan, other)
    with sqlite3.connect(other) as db:  # the same grids under another plan id
        db.execute("UPDATE plan_meta SET value = ? WHERE key = 'plan_id'", (json.dumps("plan-o"),))
        db.execute("UPDATE plan_meta SET value = ? WHERE key = 'created'", (json.dumps("2099"),))
    plan = PlanFile.read(district_plan)
    bid = boundary_building(plan, "C01-001", "C01-002")
    with TestClient(_app(plans, tmp_path)) as c:
        assert c.get("/health").json()["active_plan"] == "plan-o"
        q = {"plan_id": "plan-test"}
        assert c.get(f"/v1/buildings/{bid}", params=q).json()["grid_id"] == "C01-001"
        r = c.post(
            "/v1/plans/plan-test/edits",
            json={"move": [bid], "to": "C01-002"},
            headers={"X-API-Key": KEY},
        )
        assert r.status_code == 200, r.text
        # the copy in memory was stale: it answered C01-001 after the edit
        assert c.get(f"/v1/buildings/{bid}", params=q).json()["grid_id"] == "C01-002"
        assert c.get(f"/v1/buildings/{bid}").json()["grid_id"] == "C01-001"  # plan-o
