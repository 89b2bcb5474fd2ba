"""POST /v1/plans → GET /v1/jobs/{id}: partition jobs from referenced or uploaded inputs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def layers_of(gpkg: Path, *names: str) -> dict[str, str]:
    """Request fields naming layers of one GeoPackage on the server (``file.gpkg:layer``)."""
    return {name: f"{gpkg}:{name}" for name in names}


@contextmanager
def real_jobs(plans: Path) -> Iterator[TestClient]:
    """A client whose jobs run the real partition (``gridder.pipeline.partition_files``)."""
    plans.mkdir()
    settings = settings_for(plans, partition_runner="gridder.pipeline:partition_files")
    with TestClient(create_app(settings)) as client:
        yield client


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


@pytest.mark.parametrize(
    ("params", "loc", "says"),
    [
        ({"previous_plan_id": "nope"}, ["body", "params", "previous_plan_id"], "no plan 'nope'"),
        ({"locked_grids": ["C01-001"]}, ["body", "params"], "give previous_plan_id"),
        (
            {"previous_plan_id": "plan-a", "locked_grids": ["C01-001", "C09-999"]},
            ["body", "params", "locked_grids"],
            "C09-999",
        ),
        (
            {"previous_plan_id": "plan-a", "locked_grids": ["C01-001", "C01-001"]},
            ["body", "params", "locked_grids"],
            "listed twice",
        ),
        ({"crs": "EPSG:99999999"}, ["body", "params", "crs"], "unknown CRS"),
        ({"barriers": "/no/such/rivers.gpkg"}, ["body", "params", "barriers"], "no such file"),
        ({"area_weight": -1}, ["body", "params", "area_weight"], "greater than or equal"),
        ({"max_moved": 1.5}, ["body", "params", "max_moved"], "less than or equal"),
        ({"max_moved": 0.1}, ["body", "params"], "give previous_plan_id"),
        ({"locked_grids": []}, ["body", "params"], "give previous_plan_id"),
        ({"target": 250.7}, ["body", "params", "target"], "fractional part"),
        ({"min": 310}, ["body", "params"], "min <= target <= max"),
        ({"weights": {"households": 0}}, ["body", "params", "weights"], "above 0"),
        ({"weights": {"PatrolPts": 2, "patrolpts": 1}}, ["body", "params", "weights"], "twice"),
        ({"weights": {"households": -1}}, ["body", "params", "weights"], "finite number >= 0"),
        ({"columns": {"HH": "households"}}, ["body", "params", "columns"], "not a column"),
        ({"barriers": "DIR"}, ["body", "params", "barriers"], "a directory"),
    ],
)
def test_bad_replan_requests_are_422(
    client: TestClient, inputs: dict[str, Path], params: dict, loc: list[str], says: str
) -> None:
    """A re-plan's plan, locks, CRS and barrier file are checked before a job is queued."""
    if params.get("barriers") == "DIR":
        params = {**params, "barriers": str(inputs["communities"].parent)}
    body = {
        "communities": str(inputs["communities"]),
        "buildings": str(inputs["buildings"]),
        "params": params,
    }
    r = client.post("/v1/plans", json=body, headers=H)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"][: len(loc)] == loc and says in detail["msg"], detail


def test_multipart_refuses_unknown_and_repeated_parts(
    client: TestClient, inputs: dict[str, Path]
) -> None:
    """A form field the job would not read, or a part given twice, is a 422 (as in JSON)."""
    b = ("b.geojson", inputs["buildings"].read_bytes(), "application/geo+json")
    c = ("c.geojson", inputs["communities"].read_bytes(), "application/geo+json")
    r = client.post(
        "/v1/plans", files={"communities": c, "buildings": b}, data={"bogus": "1"}, headers=H
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "bogus"]
    twice = [("communities", c), ("buildings", b), ("buildings", b)]
    r = client.post("/v1/plans", files=twice, headers=H)
    assert r.status_code == 422 and "more than once" in r.json()["detail"][0]["msg"]
    r = client.post(
        "/v1/plans",
        files={"communities": c, "buildings": b, "barriers": c},
        data={"params": '{"barriers": "none"}'},
        headers=H,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "barriers"]


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
    with real_jobs(plans) as client:
        body = {
            **layers_of(src, "communities", "buildings", "streets"),
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
        # columns as --columns (contract name → header): a header no input has is an error
        body["buildings"] = f"{src}:buildings"
        body["params"] = {"seed": 3, "time_limit": 2, "columns": {"households": "HH_X"}}
        failed = wait(client, client.post("/v1/plans", json=body, headers=H).json()["job_id"])
        assert failed["status"] == "failed" and "no column 'HH_X'" in failed["error"]


def test_real_replan_job_keeps_locked_grids_and_moves_few_households(tmp_path: Path) -> None:
    """POST /v1/plans with previous_plan_id and locked_grids, as ``--previous`` and ``--locked``."""
    import geopandas as gpd
    import pyogrio

    from gridder.datasets.synthetic import generate_city
    from gridder.io.write import read_meta, write_geopackage

    city = generate_city(2, 2, seed=9)
    src = tmp_path / "inputs.gpkg"
    layers = {
        "communities": city.communities,
        "buildings": city.buildings,
        "streets": city.streets,
        "compounds": city.compounds,
    }
    write_geopackage(src, layers)
    plans = tmp_path / "plans"
    with real_jobs(plans) as client:
        body = {
            **layers_of(src, "communities", "buildings", "streets"),
            "params": {"seed": 1, "time_limit": 2},
        }
        first = wait(client, client.post("/v1/plans", json=body, headers=H).json()["job_id"], 180)
        assert first["status"] == "done", first
        first_file = plans / f"{first['plan_id']}.gpkg"
        grids = pyogrio.read_dataframe(first_file, layer="grids")
        old = pyogrio.read_dataframe(first_file, layer="assignments", read_geometry=False)
        keep = str(grids["grid_id"].iloc[0])
        # a year later: households +40% in the east half (not in the locked grid)
        later = city.buildings.copy()
        locked_ids = set(old.loc[old["grid_id"] == keep, "building_id"].astype(str))
        east = (later.geometry.x > later.geometry.x.median()) & ~later["building_id"].astype(
            str
        ).isin(locked_ids)
        later.loc[east, "households"] = (later.loc[east, "households"] * 1.4).round().astype(int)
        src2 = tmp_path / "later.gpkg"
        write_geopackage(src2, {**layers, "buildings": later})
        body = {
            **layers_of(src2, "communities", "buildings", "streets"),
            "compounds": f"{src2}:compounds",
            "params": {
                "seed": 1,
                "time_limit": 2,
                "keep_compounds": True,
                "max_moved": 0.5,
                "previous_plan_id": first["plan_id"],
                "locked_grids": [keep],
            },
        }
        r = client.post("/v1/plans", json=body, headers=H)
        assert r.status_code == 202, r.text
        second = wait(client, r.json()["job_id"], 180)
        assert second["status"] == "done", second
    new_file = plans / f"{second['plan_id']}.gpkg"
    meta = read_meta(new_file)
    assert meta["previous_plan_id"] == first["plan_id"]
    assert meta["parameters"]["locked_grids"] == [keep]
    assert meta["inputs"]["compounds"]["features"] == len(city.compounds)
    assert meta["parameters"]["keep_compounds"] is True
    assert meta["parameters"]["max_moved"] == 0.5
    new = pyogrio.read_dataframe(new_file, layer="assignments", read_geometry=False)
    got = set(new.loc[new["grid_id"] == keep, "building_id"].astype(str))
    assert got == locked_ids  # the locked grid keeps exactly its buildings …
    new_grids = gpd.read_file(new_file, layer="grids").set_index("grid_id")
    old_grid = grids.set_index("grid_id").geometry[keep]
    diff = new_grids.geometry[keep].symmetric_difference(old_grid)
    assert gpd.GeoSeries([diff], crs=4326).to_crs(32650).area.iloc[0] < 1.0  # … and shape
    replan = meta["replan"]
    assert 0 < replan["moved_share"] <= 0.5  # households moved to rebalance, most stay
    assert meta["quality"]["in_band_share"] >= 0.8


def test_real_job_with_an_uploaded_barrier_file(tmp_path: Path) -> None:
    """A river uploaded as ``barriers`` (multipart) is the job's ``--barriers``."""
    import geopandas as gpd
    import shapely

    from gridder.datasets.synthetic import generate_city
    from gridder.io.write import read_meta, write_geopackage

    city = generate_city(2, 2, seed=9)
    metric = city.buildings.to_crs(32650)
    squares = metric.assign(geometry=metric.geometry.buffer(12, cap_style="square"))
    x = float(metric.geometry.x.iloc[len(metric) // 2])  # through a building's middle
    _, y0, _, y1 = city.communities.to_crs(32650).total_bounds
    line = shapely.LineString([(x, y0 - 50), (x, y1 + 50)])
    river = gpd.GeoDataFrame({"name": ["河"]}, geometry=[line], crs=32650).to_crs(4326)
    river_file = tmp_path / "river.geojson"
    river.to_file(river_file, driver="GeoJSON")
    layers = tmp_path / "inputs.gpkg"
    write_geopackage(
        layers,
        {
            "communities": city.communities,
            "buildings": squares.to_crs(4326),
            "streets": city.streets,
        },
    )
    parts = {}
    for name in ("communities", "buildings", "streets"):
        one = tmp_path / f"{name}.gpkg"
        write_geopackage(one, {name: gpd.read_file(layers, layer=name)})
        parts[name] = (f"{name}.gpkg", one.read_bytes(), "application/geopackage+sqlite3")
    parts["barriers"] = ("river.geojson", river_file.read_bytes(), "application/geo+json")
    plans = tmp_path / "plans"
    with real_jobs(plans) as client:
        r = client.post("/v1/plans", files=parts, data={"params": '{"seed": 2}'}, headers=H)
        assert r.status_code == 202, r.text
        done = wait(client, r.json()["job_id"], 180)
    assert done["status"] == "done", done
    meta = read_meta(plans / f"{done['plan_id']}.gpkg")
    crossed = squares.loc[squares.geometry.intersection(line).length > 1.0, "building_id"]
    got = {b for c in meta["solver"]["communities"] for b in c["buildings_across_barriers"]}
    assert len(crossed) and got == set(crossed.astype(str))  # the river was used
    # the plan names the files the client sent, not the job's temporary copies
    assert meta["inputs"]["buildings"]["file"] == "uploaded buildings.gpkg"


def test_params_sent_as_a_file_part_are_read(client: TestClient, inputs: dict[str, Path]) -> None:
    """``-F params=@params.json`` is the params (UTF-8, a BOM allowed), not silently ignored."""
    files = {
        "communities": ("c.geojson", inputs["communities"].read_bytes(), "application/geo+json"),
        "buildings": ("b.geojson", inputs["buildings"].read_bytes(), "application/geo+json"),
    }
    for seed, content in ((21, b'{"seed": 21}'), (22, b'\xef\xbb\xbf{"seed": 22}')):
        params = ("params.json", content, "application/json")
        r = client.post("/v1/plans", files={**files, "params": params}, headers=H)
        assert r.status_code == 202, r.text
        done = wait(client, r.json()["job_id"])
        assert done["status"] == "done" and done["plan_id"] == f"job-{seed}", done
    for content, says in (
        (b'{"sed": 1}', None),
        (b'{"target": "250"}', "JSON number"),
        (b"\xff\xfe{", "not UTF-8"),
        (b" " * (1024 * 1024 + 1), "larger than"),
    ):
        params = ("params.json", content, "application/json")
        r = client.post("/v1/plans", files={**files, "params": params}, headers=H)
        assert r.status_code == 422, (content, r.text)
        error = r.json()["detail"][0]
        assert error["loc"][:2] == ["body", "params"], error
        assert says is None or says in error["msg"], error


def test_multipart_content_type_is_case_insensitive(
    client: TestClient, inputs: dict[str, Path]
) -> None:
    import httpx

    request = httpx.Request(
        "POST",
        "http://testserver/v1/plans",
        files={
            "communities": ("c.geojson", inputs["communities"].read_bytes()),
            "buildings": ("b.geojson", inputs["buildings"].read_bytes()),
        },
        data={"params": '{"seed": 23}'},
    )
    body = request.read()
    ctype = request.headers["content-type"].replace("multipart/form-data", "Multipart/Form-Data")
    r = client.post("/v1/plans", content=body, headers={"content-type": ctype, **H})
    assert r.status_code == 202, r.text
    assert wait(client, r.json()["job_id"])["plan_id"] == "job-23"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"--x\r\n", "Missing boundary"),  # sent with no boundary in the header
        (b"garbage", "Invalid multipart data"),
        (None, "Too many fields"),
    ],
)
def test_malformed_multipart_bodies_are_422(
    client: TestClient, content: bytes | None, says: str
) -> None:
    ctype = (
        "multipart/form-data" if says == "Missing boundary" else "multipart/form-data; boundary=x"
    )
    if content is None:  # nine text fields: more than the form has
        parts = [
            b'--x\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(9)
        ]
        content = b"".join(parts) + b"--x--\r\n"
    r = client.post("/v1/plans", content=content, headers={"content-type": ctype, **H})
    assert r.status_code == 422, r.text
    error = r.json()["detail"][0]
    assert error["loc"] == ["body"] and says in error["msg"], error


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min": True}, "min"),
        ({"seed": True}, "seed"),
        ({"target": "250"}, "target"),
        ({"max": "300"}, "max"),
        ({"time_limit": "5"}, "time_limit"),
        ({"time_limit": True}, "time_limit"),
        ({"area_weight": False}, "area_weight"),
        ({"area_weight": "0.5"}, "area_weight"),
    ],
)
def test_params_numbers_must_be_json_numbers(
    client: TestClient, inputs: dict[str, Path], params: dict, field: str
) -> None:
    """``true``, ``false`` and numeric strings are refused where a number belongs (422)."""
    body = {
        "communities": str(inputs["communities"]),
        "buildings": str(inputs["buildings"]),
        "params": params,
    }
    r = client.post("/v1/plans", json=body, headers=H)
    assert r.status_code == 422, r.text
    error = r.json()["detail"][0]
    assert error["loc"] == ["body", "params", field] and "JSON number" in error["msg"], error


def test_max_moved_must_be_a_json_number(client: TestClient, inputs: dict[str, Path]) -> None:
    body = {
        "communities": str(inputs["communities"]),
        "buildings": str(inputs["buildings"]),
        "params": {"previous_plan_id": "plan-a", "max_moved": "0.1"},
    }
    r = client.post("/v1/plans", json=body, headers=H)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "params", "max_moved"]
    body["params"] = {"target": 250.0, "seed": 24}  # a whole number written as a float is one
    done = wait(client, client.post("/v1/plans", json=body, headers=H).json()["job_id"])
    assert done["status"] == "done", done


def test_a_failed_job_names_the_uploaded_file(client: TestClient, inputs: dict[str, Path]) -> None:
    """The error names the client's file, not the server's temporary copy; server paths stay."""
    files = {
        "communities": ("nj_communities.geojson", inputs["communities"].read_bytes()),
        "buildings": ("nj_buildings_dup.geojson", inputs["buildings"].read_bytes()),
    }
    r = client.post("/v1/plans", files=files, data={"params": '{"seed": 13}'}, headers=H)
    done = wait(client, r.json()["job_id"])
    assert done["status"] == "failed", done
    assert done["error"].startswith("nj_buildings_dup.geojson: building_id=B7"), done["error"]
    assert "gridder-job-" not in done["error"]
    body = {
        "communities": str(inputs["communities"]),
        "buildings": str(inputs["buildings"]),
        "params": {"seed": 13},
    }
    done = wait(client, client.post("/v1/plans", json=body, headers=H).json()["job_id"])
    assert done["error"].startswith(f"{inputs['buildings']}: building_id=B7"), done["error"]


def test_the_first_plan_of_an_empty_store_becomes_active(
    tmp_path: Path, inputs: dict[str, Path]
) -> None:
    """``--plans`` over an empty directory: the first job's plan answers, activate or not."""
    plans = tmp_path / "empty-plans"
    plans.mkdir()
    body = {"communities": str(inputs["communities"]), "buildings": str(inputs["buildings"])}
    with TestClient(create_app(settings_for(plans))) as c:
        assert c.get("/health").json()["active_plan"] is None
        assert c.get("/v1/grids").status_code == 404
        first = wait(
            c,
            c.post("/v1/plans", json={**body, "params": {"seed": 31}}, headers=H).json()["job_id"],
        )
        assert first["status"] == "done" and first["activated"] is True, first
        assert c.get("/health").json()["active_plan"] == "job-31"
        assert c.get("/v1/grids").status_code == 200
        # the next plan is stored, not activated: the store has an active plan now
        second = wait(
            c,
            c.post("/v1/plans", json={**body, "params": {"seed": 32}}, headers=H).json()["job_id"],
        )
        assert second["status"] == "done" and second["activated"] is False, second
        assert c.get("/health").json()["active_plan"] == "job-31"
    # a restart follows the activation (active.json)
    with TestClient(create_app(settings_for(plans))) as c:
        assert c.get("/health").json()["active_plan"] == "job-31"
