"""POST /v1/plans → GET /v1/jobs/{id}: partition jobs from referenced or uploaded inputs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from api_factory import KEY, settings_for
from fastapi.testclient import TestClient

from api.main import create_app

H = {"X-API-Key": KEY}


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "inputs"
    folder.mkdir()
    out = {}
    for name in ("communities", "buildings", "streets"):
        out[name] = folder / f"{name}.geojson"
        out[name].write_text('{"type": "FeatureCollection", "features": []}')
    return out


def wait(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in {"done", "failed"}:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_job_from_referenced_paths(client: TestClient, inputs: dict[str, Path]) -> None:
    body = {
        "communities": str(inputs["communities"]),
        "buildings": str(inputs["buildings"]),
        "params": {"seed": 3, "target": 250},
        "activate": True,
    }
    assert client.post("/v1/plans", json=body).status_code == 401
    r = client.post("/v1/plans", json=body, headers=H)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in {"queued", "running", "done"}
    assert r.headers["location"] == f"/v1/jobs/{job['job_id']}"
    done = wait(client, job["job_id"])
    assert done["status"] == "done" and done["plan_id"] == "job-3" and done["activated"]
    assert done["progress"] == 1.0 and done["finished"] >= done["started"]
    plans = client.get("/v1/plans").json()
    assert plans["active_plan_id"] == "job-3"
    assert "job-3" in [p["plan_id"] for p in plans["plans"]]
    assert client.get("/v1/locate", params={"lon": 118.781, "lat": 32.041}).json()["plan_id"] == (
        "job-3"
    )
    # the same plan id again: the job fails and the first plan is untouched
    again = wait(client, client.post("/v1/plans", json=body, headers=H).json()["job_id"])
    assert again["status"] == "failed" and "already exists" in again["error"]


def test_job_from_uploads(client: TestClient, inputs: dict[str, Path]) -> None:
    files = {
        "communities": ("c.geojson", inputs["communities"].read_bytes(), "application/geo+json"),
        "buildings": ("b.geojson", inputs["buildings"].read_bytes(), "application/geo+json"),
    }
    r = client.post("/v1/plans", files=files, data={"params": '{"seed": 4}'}, headers=H)
    assert r.status_code == 202, r.text
    done = wait(client, r.json()["job_id"])
    assert done["status"] == "done" and done["plan_id"] == "job-4" and not done["activated"]
    assert client.get("/health").json()["active_plan"] == "plan-b"
    bad = {
        "communities": ("c.exe", b"MZ", "application/octet-stream"),
        "buildings": files["buildings"],
    }
    r = client.post("/v1/plans", files=bad, headers=H)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "communities"]
    r = client.post("/v1/plans", files=files, data={"params": '{"sed": 1}'}, headers=H)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "params", "sed"]


def test_failed_job_reports_the_input_problem(client: TestClient, inputs: dict[str, Path]) -> None:
    body = {
        "communities": str(inputs["communities"]),
        "buildings": str(inputs["buildings"]),
        "params": {"seed": 13},
    }
    done = wait(client, client.post("/v1/plans", json=body, headers=H).json()["job_id"])
    assert done["status"] == "failed"
    assert "building_id=B7" in done["error"] and "negative household" in done["error"]
    assert "Traceback" not in done["error"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"communities": "/no/such/file.gpkg", "buildings": "x"}, "communities"),
        ({"buildings": "x"}, "communities"),
        ({"communities": "C", "buildings": "B", "params": {"target": -1}}, "params"),
        ({"communities": "C", "buildings": "B", "extra": 1}, "extra"),
    ],
)
def test_bad_job_requests_are_422(
    client: TestClient, inputs: dict[str, Path], body: dict, where: str
) -> None:
    body = {
        k: (str(inputs["communities"]) if v == "C" else str(inputs["buildings"]) if v == "B" else v)
        for k, v in body.items()
    }
    r = client.post("/v1/plans", json=body, headers=H)
    assert r.status_code == 422, r.text
    assert where in r.json()["detail"][0]["loc"]
    assert client.get("/v1/jobs/nope").status_code == 404


def test_input_roots_restrict_referenced_paths(
    plans_dir: Path, inputs: dict[str, Path], tmp_path: Path
) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    app = create_app(settings_for(plans_dir, input_roots=[allowed]))
    body = {"communities": str(inputs["communities"]), "buildings": str(inputs["buildings"])}
    with TestClient(app) as c:
        r = c.post("/v1/plans", json=body, headers=H)
    assert r.status_code == 422 and "allowed input directory" in r.json()["detail"][0]["msg"]


def test_job_in_a_separate_process(plans_dir: Path, inputs: dict[str, Path]) -> None:
    app = create_app(settings_for(plans_dir, job_executor="process"))
    body = {
        "communities": str(inputs["communities"]),
        "buildings": str(inputs["buildings"]),
        "params": {"seed": 8},
    }
    with TestClient(app) as c:
        done = wait(c, c.post("/v1/plans", json=body, headers=H).json()["job_id"], timeout=120)
    assert done["status"] == "done" and done["plan_id"] == "job-8", done
    assert (plans_dir / "job-8.gpkg").is_file()


def test_no_plans_directory_refuses_jobs(plans_dir: Path, inputs: dict[str, Path]) -> None:
    from api.settings import ApiSettings

    s = ApiSettings(
        plan_file=plans_dir / "plan-a.gpkg", api_key_hashes=settings_for(plans_dir).api_key_hashes
    )
    body = {"communities": str(inputs["communities"]), "buildings": str(inputs["buildings"])}
    with TestClient(create_app(s)) as c:
        r = c.post("/v1/plans", json=body, headers=H)
    assert r.status_code == 400 and "--plans DIR" in r.json()["detail"]


def test_real_partition_job_end_to_end(tmp_path: Path) -> None:
    """The default runner, gridder.pipeline.partition_files, in a real job."""
    from gridder.datasets.synthetic import generate_city
    from gridder.io.write import write_geopackage

    city = generate_city(2, 3, seed=5)
    src = tmp_path / "inputs.gpkg"
    write_geopackage(
        src, {"communities": city.communities, "buildings": city.buildings, "streets": city.streets}
    )
    plans = tmp_path / "plans"
    plans.mkdir()
    settings = settings_for(plans, partition_runner="gridder.pipeline:partition_files")
    with TestClient(create_app(settings)) as client:
        body = {
            "communities": f"{src}:communities",
            "buildings": f"{src}:buildings",
            "streets": f"{src}:streets",
            "params": {"seed": 1, "time_limit": 2, "barriers": "major"},
            "activate": True,
        }
        r = client.post("/v1/plans", json=body, headers=H)
        assert r.status_code == 202, r.text
        done = wait(client, r.json()["job_id"], timeout=180)
        assert done["status"] == "done", done
        assert client.get("/v1/plans").json()["active_plan_id"] == done["plan_id"]
        # a building of the city is found in the new plan
        b = city.buildings.iloc[0]
        got = client.get("/v1/locate", params={"lon": b.geometry.x, "lat": b.geometry.y}).json()
        assert got["plan_id"] == done["plan_id"]
        assert got["grid_id"].startswith("C0000-")
        # bad input in a job: it fails with the input error's message, not a crash
        bad = tmp_path / "bad.csv"
        bad.write_text("building_id,households,lon,lat\nB1,-5,118.7,32.0\n", encoding="utf-8")
        body["buildings"] = str(bad)
        failed = wait(client, client.post("/v1/plans", json=body, headers=H).json()["job_id"])
        assert failed["status"] == "failed" and "negative households" in failed["error"]
