"""Against a real uvicorn server on 127.0.0.1: correctness, concurrency, plan switch, fuzzing."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import shapely
from api_factory import KEY, Server, make_coverage

from api.settings import hash_api_key
from gridder.io.crs import wgs84_to_bd09, wgs84_to_gcj02
from gridder.plan import Plan

pytestmark = pytest.mark.server


def truth_points(plan_path: Path, n: int, seed: int) -> tuple[np.ndarray, list[str | None]]:
    """Random points ≥ 1 m from every grid boundary and shapely's answer on the plan's polygons."""
    import geopandas as gpd
    import pyogrio

    grids = pyogrio.read_dataframe(plan_path, layer="grids")
    metric = grids.to_crs(grids.estimate_utm_crs())
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = metric.total_bounds
    pts = shapely.points(rng.uniform([x0 - 40, y0 - 40], [x1 + 40, y1 + 40], (n, 2)))
    edges = shapely.union_all(shapely.boundary(metric.geometry.values))
    pts = pts[shapely.distance(pts, edges) > 1.0]
    pi, gi = shapely.STRtree(metric.geometry.values).query(pts, predicate="within")
    truth: list[str | None] = [None] * len(pts)
    for p, g in zip(pi, gi, strict=True):
        truth[p] = grids["grid_id"].iloc[g]
    wgs = shapely.get_coordinates(gpd.GeoSeries(pts, crs=metric.crs).to_crs(4326).values)
    return wgs, truth


@pytest.fixture(scope="module")
def truth_b(server: Server) -> tuple[np.ndarray, list[str | None]]:
    return truth_points(server.plans_dir / "plan-b.gpkg", 1500, seed=11)  # type: ignore[attr-defined]


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_lookups_match_shapely(server: Server, truth_b: tuple, crs: str) -> None:
    wgs, truth = truth_b
    assert sum(t is not None for t in truth) > 500 and sum(t is None for t in truth) > 20
    if crs == "gcj02":
        x, y = wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
    elif crs == "bd09":
        x, y = wgs84_to_bd09(wgs[:, 0], wgs[:, 1])
    else:
        x, y = wgs[:, 0], wgs[:, 1]
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/locate", json={"points": np.column_stack([x, y]).tolist(), "crs": crs})
        assert r.status_code == 200
        got = [None if v is None else v["grid_id"] for v in r.json()["results"]]
        assert got == truth
        wrong = 0
        for i in range(0, len(truth), 25):
            r = c.get("/v1/locate", params={"lon": x[i], "lat": y[i], "crs": crs})
            answer = r.json()["grid_id"] if r.status_code == 200 else None
            assert r.status_code in (200, 404)
            wrong += answer != truth[i]
        assert wrong == 0


def test_error_bodies_over_http(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.get("/v1/locate", params={"lon": 0, "lat": 0})
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"
        assert "no grid" in r.json()["detail"]
        r = c.get("/v1/locate", params={"lon": "east", "lat": 0})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "lon"]
        r = c.post("/v1/locate", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422
        big = b'{"points": [' + b",".join([b"[118.78, 32.04]"] * 100_001) + b"]}"
        r = c.post("/v1/locate", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "batch limit 100000" in r.json()["detail"]
        huge = b" " * (17 * 1024 * 1024)
        r = c.post("/v1/locate", content=huge, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "too large" in r.json()["detail"]
        r = c.post("/v1/plans/plan-a/activate", headers={"X-API-Key": "guess"})
        assert r.status_code == 403


def test_coverage_answers_only_for_its_plan_over_http(server: Server) -> None:
    # the server's coverage file was made for plan-b; plan-a's grid ids are the same
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.get("/v1/coverage/summary", params={"plan_id": "nope"})
        assert r.status_code == 404 and r.json() == {"detail": "no plan 'nope' in the store"}
        r = c.get("/v1/coverage/summary", params={"plan_id": "plan-a"})
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"
        assert r.json()["detail"] == (
            "no coverage for plan 'plan-a'; "
            "the coverage file coverage.gpkg was made for plan 'plan-b'"
        )
        r = c.get("/v1/coverage/summary", params={"plan_id": "plan-b"})
        assert r.status_code == 200 and len(r.json()["rows"]) == 3
        assert '"households":1000,"households_covered":850,' in r.text


def test_coverage_for_a_missing_plan_warns_at_start(plans_template: Path, tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    for name in ("plan-a.gpkg", "plan-b.gpkg"):
        shutil.copy(plans_template / name, plans / name)
    cov = make_coverage(tmp_path / "coverage.gpkg", plan_id="plan-z")
    log = tmp_path / "server.log"
    srv = Server({"GRIDDER_PLANS_DIR": str(plans), "GRIDDER_COVERAGE_FILE": str(cov)}, log=log)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            for params in ({}, {"plan_id": "plan-a"}, {"plan_id": "plan-b"}):
                r = c.get("/v1/coverage/summary", params=params)
                assert r.status_code == 404 and "made for plan 'plan-z'" in r.json()["detail"]
    finally:
        srv.stop()
    text = log.read_text(encoding="utf-8")
    assert "coverage.gpkg was made for plan 'plan-z'" in text
    assert "not among the loaded plans (plan-a, plan-b)" in text


def test_minor_api_items_over_http(server: Server) -> None:
    a = Plan.open(server.plans_dir / "plan-a.gpkg").building("B9")  # type: ignore[attr-defined]
    gx, gy = (float(v) for v in wgs84_to_gcj02(a["lon"], a["lat"]))
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.head("/health")
        assert r.status_code == 200
        for crs, (x, y) in (("GCJ02", (gx, gy)), ("EPSG:4326", (a["lon"], a["lat"]))):
            r = c.get("/v1/locate", params={"lon": x, "lat": y, "crs": crs, "plan_id": "plan-a"})
            assert r.status_code == 200 and r.json()["grid_id"] == a["grid_id"], crs
        r = c.post("/v1/locate", json={"points": [[gx, gy]], "crs": "Gcj02", "plan_id": "plan-a"})
        assert r.status_code == 200
        assert r.json() == {
            "results": [{"grid_id": a["grid_id"], "community_id": a["community_id"]}],
            "plan_id": "plan-a",
        }
        r = c.post(
            "/v1/locate",
            params={"plan_id": "plan-b"},
            json={"points": [[gx, gy]], "plan_id": "plan-a"},
        )
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "plan_id"]
        r = c.post("/v1/locate", json={"points": [[True, False]]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "body"
        r = c.get("/v1/buildings/B9", params={"plan_id": "plan-a"})
        assert r.status_code == 200 and f'"households":{a["households"]},' in r.text


def test_concurrent_clients_zero_errors(server: Server, truth_b: tuple) -> None:
    wgs, truth = truth_b
    c = httpx.Client(base_url=server.url, timeout=30)
    c.post("/v1/plans/plan-b/activate", headers={"X-API-Key": KEY}).raise_for_status()

    def worker(k: int) -> tuple[int, int]:
        errors = wrong = 0
        rng = np.random.default_rng(k)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i in rng.integers(0, len(truth), 200):
                r = client.get("/v1/locate", params={"lon": wgs[i, 0], "lat": wgs[i, 1]})
                if r.status_code not in (200, 404):
                    errors += 1
                    continue
                answer = r.json()["grid_id"] if r.status_code == 200 else None
                wrong += answer != truth[i]
        return errors, wrong

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(worker, range(8)))
    assert sum(e for e, _ in results) == 0
    assert sum(w for _, w in results) == 0
    c.close()


def test_plan_switch_under_load_fails_no_request(server: Server) -> None:
    plans = {p: Plan.open(server.plans_dir / f"{p}.gpkg") for p in ("plan-a", "plan-b")}  # type: ignore[attr-defined]
    rng = np.random.default_rng(5)
    b = plans["plan-a"]
    pts = [
        (b.building(f"B{i}")["lon"], b.building(f"B{i}")["lat"]) for i in rng.integers(1, 96, 40)
    ]
    expected = {p: [plan.locate(x, y) for x, y in pts] for p, plan in plans.items()}
    stop = threading.Event()
    failures: list[Any] = []
    seen: set[str] = set()
    counts = [0]

    def reader(k: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            i = k
            while not stop.is_set():
                x, y = pts[i % len(pts)]
                try:
                    r = client.get("/v1/locate", params={"lon": x, "lat": y})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                counts[0] += 1
                want = expected.get(r.json().get("plan_id"), [None] * len(pts))[i % len(pts)]
                if r.status_code != (200 if want else 404):
                    failures.append((r.status_code, r.text))
                elif want and r.json()["grid_id"] != want.grid_id:
                    failures.append(("wrong", r.json(), want))
                else:
                    seen.add(r.json().get("plan_id", "404"))
                i += 1

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    with httpx.Client(base_url=server.url, timeout=30) as admin:
        for k in range(10):
            target = "plan-a" if k % 2 == 0 else "plan-b"
            r = admin.post(f"/v1/plans/{target}/activate", headers={"X-API-Key": KEY})
            assert r.status_code == 200
            time.sleep(0.15)
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert {"plan-a", "plan-b"} <= seen
    assert counts[0] > 200


def test_schemathesis_fuzzing_finds_no_5xx(server: Server) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    failures: list[str] = []
    calls = [0]
    deadline = time.monotonic() + 50
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=15,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                if time.monotonic() > deadline:
                    return
                for headers in ({}, {"X-API-Key": KEY}):
                    response = case.call(base_url=server.url, headers=headers, timeout=30)
                    calls[0] += 1
                    if response.status_code >= 500:
                        where = f"{case.method} {case.formatted_path}"
                        failures.append(f"{where}: {response.status_code} {response.text[:200]}")
                    elif response.status_code >= 400:
                        assert "detail" in response.json()

            try:
                run()
            except Unsatisfiable:  # nothing negative to generate (e.g. GET /health)
                assert mode is GenerationMode.NEGATIVE
    assert failures == []
    assert calls[0] > 100


def test_a_replan_job_over_http_in_a_worker_process(tmp_path: Path) -> None:
    """The production set-up: the real runner in a spawned process, a plan then a re-plan.

    The re-plan names the first plan by id, locks one of its grids and caps the moves;
    the locked grid answers for its buildings in the activated re-plan.
    """
    import geopandas as gpd
    import pyogrio

    from gridder.datasets.synthetic import generate_city
    from gridder.io.write import read_meta, write_geopackage

    city = generate_city(2, 2, seed=4)
    src = tmp_path / "inputs.gpkg"
    layers = {"communities": city.communities, "buildings": city.buildings}
    write_geopackage(src, {**layers, "streets": city.streets, "compounds": city.compounds})
    later = city.buildings.assign(households=(city.buildings["households"] * 1.3).round())
    src2 = tmp_path / "later.gpkg"
    write_geopackage(src2, {**layers, "buildings": later, "streets": city.streets})
    plans = tmp_path / "plans"
    plans.mkdir()
    env = {
        "GRIDDER_PLANS_DIR": str(plans),
        "GRIDDER_API_KEY_HASHES": hash_api_key(KEY),
        "GRIDDER_JOB_EXECUTOR": "process",
        "GRIDDER_INPUT_ROOTS": str(tmp_path),
        "GRIDDER_REFRESH_SECONDS": "0.5",
    }
    srv = Server(env, log=tmp_path / "server.log")
    try:
        with httpx.Client(base_url=srv.url, timeout=30, headers={"X-API-Key": KEY}) as c:

            def run(body: dict[str, Any]) -> dict[str, Any]:
                r = c.post("/v1/plans", json=body)
                assert r.status_code == 202, r.text
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline:
                    job = c.get(f"/v1/jobs/{r.json()['job_id']}").json()
                    if job["status"] in {"done", "failed"}:
                        return job
                    time.sleep(0.2)
                raise AssertionError("the job did not finish")

            first = run(
                {
                    "communities": f"{src}:communities",
                    "buildings": f"{src}:buildings",
                    "streets": f"{src}:streets",
                    "compounds": f"{src}:compounds",
                    "params": {"seed": 1, "time_limit": 2},
                }
            )
            assert first["status"] == "done", first
            grids = pyogrio.read_dataframe(plans / f"{first['plan_id']}.gpkg", layer="grids")
            keep = str(grids["grid_id"].iloc[0])
            bad = c.post(
                "/v1/plans",
                json={
                    "communities": f"{src2}:communities",
                    "buildings": f"{src2}:buildings",
                    "params": {"previous_plan_id": first["plan_id"], "locked_grids": ["X-1"]},
                },
            )
            assert bad.status_code == 422 and "X-1" in bad.json()["detail"][0]["msg"]
            second = run(
                {
                    "communities": f"{src2}:communities",
                    "buildings": f"{src2}:buildings",
                    "streets": f"{src2}:streets",
                    "params": {
                        "seed": 1,
                        "time_limit": 2,
                        "previous_plan_id": first["plan_id"],
                        "locked_grids": [keep],
                        "max_moved": 0.2,
                    },
                    "activate": True,
                }
            )
            assert second["status"] == "done" and second["activated"], second
            meta = read_meta(plans / f"{second['plan_id']}.gpkg")
            assert meta["previous_plan_id"] == first["plan_id"]
            assert meta["parameters"]["locked_grids"] == [keep]
            old = pyogrio.read_dataframe(
                plans / f"{first['plan_id']}.gpkg", layer="assignments", read_geometry=False
            )
            inside = old.loc[old["grid_id"] == keep, "building_id"].astype(str)
            b = gpd.read_file(src2, layer="buildings").set_index("building_id")
            for bid in inside[:5]:
                pt = b.geometry[bid]
                got = c.get("/v1/locate", params={"lon": pt.x, "lat": pt.y}).json()
                assert got["plan_id"] == second["plan_id"] and got["grid_id"] == keep
    finally:
        srv.stop()


def test_batch_locate_honours_crs_in_the_query(server: Server) -> None:
    """``?crs=`` on POST works as ``?plan_id=``: alone it counts; with the body, both agree."""
    b = Plan.open(server.plans_dir / "plan-b.gpkg").building("B3")  # type: ignore[attr-defined]
    bx, by = (float(v) for v in wgs84_to_bd09(b["lon"], b["lat"]))
    found = {"results": [{"grid_id": b["grid_id"], "community_id": b["community_id"]}]}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for query, body in (
            ({"crs": "bd09"}, {}),
            ({"crs": "BD-09"}, {"crs": "bd09"}),  # the same system once normalised
        ):
            r = c.post(
                "/v1/locate",
                params={"plan_id": "plan-b", **query},
                json={"points": [[bx, by]], **body},
            )
            assert r.status_code == 200, (query, body, r.text)
            assert r.json() == {**found, "plan_id": "plan-b"}, (query, body)
        r = c.post(
            "/v1/locate",
            params={"plan_id": "plan-b", "crs": "gcj02"},
            json={"points": [[bx, by]], "crs": "bd09"},
        )
        assert r.status_code == 422 and r.headers["content-type"] == "application/json"
        error = r.json()["detail"][0]
        assert error["loc"] == ["body", "crs"]
        assert "'bd09' in the body" in error["msg"] and "'gcj02' in the query" in error["msg"]
        r = c.post("/v1/locate", params={"crs": "mars"}, json={"points": [[bx, by]]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "crs"]
        # CGCS2000 is read as WGS84: the two agree
        r = c.post(
            "/v1/locate",
            params={"plan_id": "plan-b", "crs": "wgs84"},
            json={"points": [[b["lon"], b["lat"]]], "crs": "EPSG:4490"},
        )
        assert r.status_code == 200 and r.json() == {**found, "plan_id": "plan-b"}
        r = c.post("/v1/locate?crs=bd09&crs=gcj02", json={"points": [[bx, by]]})
        assert r.status_code == 422 and "more than once" in r.json()["detail"][0]["msg"]


def test_multipart_activate_takes_boolean_spellings_only(server: Server, tmp_path: Path) -> None:
    """``activate=maybe`` is a 422 naming the field and value, and no job starts."""
    empty = b'{"type": "FeatureCollection", "features": []}'
    files = {
        "communities": ("c.geojson", empty, "application/geo+json"),
        "buildings": ("b.geojson", empty, "application/geo+json"),
    }
    with httpx.Client(base_url=server.url, timeout=30, headers={"X-API-Key": KEY}) as c:
        for value in ("maybe", "", "2", "truee"):
            r = c.post("/v1/plans", files=files, data={"activate": value, "params": '{"seed": 41}'})
            assert r.status_code == 422, (value, r.text)
            error = r.json()["detail"][0]
            assert error["loc"] == ["body", "activate"] and repr(value) in error["msg"], value
        for value, seed, activated in (("OFF", 42, False), (" Yes ", 43, True)):
            r = c.post(
                "/v1/plans", files=files, data={"activate": value, "params": f'{{"seed": {seed}}}'}
            )
            assert r.status_code == 202, (value, r.text)
            deadline = time.monotonic() + 30
            job = r.json()
            while job["status"] not in {"done", "failed"} and time.monotonic() < deadline:
                time.sleep(0.05)
                job = c.get(f"/v1/jobs/{job['job_id']}").json()
            assert job["status"] == "done" and job["activated"] is activated, (value, job)
        time.sleep(1.0)  # past a store refresh: a refused request left no plan behind
        plans = [p["plan_id"] for p in c.get("/v1/plans").json()["plans"]]
        assert "job-41" not in plans and {"job-42", "job-43"} <= set(plans)
        c.post("/v1/plans/plan-b/activate").raise_for_status()


def test_coverage_summary_of_an_unknown_scope_id_is_404(server: Server) -> None:
    """An unknown grid or community is a 404 naming it and its scope, as on the other lookups."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for scope in ("grid", "community"):
            r = c.get(
                "/v1/coverage/summary",
                params={"plan_id": "plan-b", "scope": scope, "scope_id": "nope"},
            )
            assert r.status_code == 404 and r.headers["content-type"] == "application/json"
            assert r.json() == {
                "detail": f"{scope} 'nope' is not in plan plan-b (scope={scope}, scope_id=nope)"
            }
        r = c.get("/v1/coverage/summary", params={"plan_id": "plan-b", "scope_id": "nope"})
        assert r.status_code == 404 and "'nope'" in r.json()["detail"]
        r = c.get(
            "/v1/coverage/summary", params={"plan_id": "plan-b", "scope": "all", "scope_id": "x"}
        )
        assert r.status_code == 404 and "scope 'all' has no scope_id 'x'" in r.json()["detail"]
        r = c.get(
            "/v1/coverage/summary",
            params={"plan_id": "plan-b", "scope": "community", "scope_id": "C01"},
        )
        assert r.status_code == 200 and [row["scope_id"] for row in r.json()["rows"]] == ["C01"]
        r = c.get(  # a grid of the plan with no summary rows: no rows, not a 404
            "/v1/coverage/summary",
            params={"plan_id": "plan-b", "scope": "grid", "scope_id": "C01-001"},
        )
        assert r.status_code == 200 and r.json() == {"rows": []}


def _descendants(pid: int) -> dict[int, str]:
    """Live processes below ``pid`` (pid → command line), from /proc (psutil is not required)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":  # a zombie has ended
            parents[int(entry.name)] = int(fields[1])
            commands[int(entry.name)] = command
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = commands[child]
                frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_stopping_the_server_ends_the_job_process(tmp_path: Path) -> None:
    """SIGTERM while a job runs in its process: the server exits and leaves no process behind."""
    plans = tmp_path / "plans"
    plans.mkdir()
    inputs = tmp_path / "c.geojson"
    inputs.write_text('{"type": "FeatureCollection", "features": []}')
    env = {
        "GRIDDER_PLANS_DIR": str(plans),
        "GRIDDER_API_KEY_HASHES": hash_api_key(KEY),
        "GRIDDER_JOB_EXECUTOR": "process",
        "GRIDDER_PARTITION_RUNNER": "api_factory:fake_partition",
    }
    log = tmp_path / "server.log"
    srv = Server(env, log=log)
    seen: dict[int, str] = {}
    try:
        with httpx.Client(base_url=srv.url, timeout=30, headers={"X-API-Key": KEY}) as c:

            def job(seed: int, until: set[str]) -> dict[str, Any]:
                body = {"communities": str(inputs), "buildings": str(inputs)}
                r = c.post("/v1/plans", json={**body, "params": {"seed": seed}})
                assert r.status_code == 202, r.text
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    record = c.get(f"/v1/jobs/{r.json()['job_id']}").json()
                    if record["status"] in until:
                        return record
                    time.sleep(0.1)
                raise AssertionError(f"job {seed} never reached {until}")

            assert job(3, {"done", "failed"})["status"] == "done"  # a finished job first
            job(17, {"running"})  # then a long one, running at the stop
            deadline = time.monotonic() + 60
            while not any("multiprocessing" in cmd for cmd in seen.values()):
                assert time.monotonic() < deadline, "no job process appeared"
                seen.update(_descendants(srv.proc.pid))
                time.sleep(0.1)
        srv.proc.terminate()  # SIGTERM, as a service manager stops it
        # a graceful stop (uvicorn re-raises SIGTERM once it has shut down), not a kill
        assert srv.proc.wait(timeout=20) in (0, -signal.SIGTERM), log.read_text()
        assert "stopping the running job's process" in log.read_text()
        deadline = time.monotonic() + 10
        while [p for p in seen if _alive(p)] and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = {p: cmd for p, cmd in seen.items() if _alive(p)}
        assert survivors == {}, survivors
        text = log.read_text(encoding="utf-8", errors="replace")
        assert "leaked semaphore" not in text and "Traceback" not in text, text
    finally:
        for pid in seen:  # never leave a process behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        srv.stop()


def test_head_and_closed_static_files_over_http(plans_template: Path, tmp_path: Path) -> None:
    """uvicorn sends HEAD answers without a body; closed reads close /demo/ over HTTP too."""
    plans = tmp_path / "plans"
    plans.mkdir()
    shutil.copy(plans_template / "plan-b.gpkg", plans / "plan-b.gpkg")
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "plan.gpkg").write_bytes(b"plan")
    env = {
        "GRIDDER_PLANS_DIR": str(plans),
        "GRIDDER_DEMO_DIR": str(demo),
        "GRIDDER_API_KEY_HASHES": hash_api_key(KEY),
        "GRIDDER_READ_REQUIRES_KEY": "true",
    }
    srv = Server(env)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert c.get("/demo/plan.gpkg").status_code == 401
            assert c.get("/v1/grids").status_code == 401
            key = {"X-API-Key": KEY}
            get = c.get("/v1/grids", headers=key)
            head = c.head("/v1/grids", headers=key)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == get.headers["content-length"]
            # a browser: ?key= once, follows the 303 and keeps the cookie
            r = c.get("/demo/plan.gpkg", params={"key": KEY}, follow_redirects=True)
            assert r.status_code == 200 and r.content == b"plan" and r.url.path == "/demo/plan.gpkg"
            assert c.get("/demo/plan.gpkg").content == b"plan"
    finally:
        srv.stop()
