"""The FastAPI app through TestClient: answers, error bodies, keys and limits."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from api_factory import KEY, make_coverage, settings_for
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings, hash_api_key
from gridder.errors import NotFoundError
from gridder.io.crs import wgs84_to_bd09, wgs84_to_gcj02
from gridder.io.write import write_geopackage
from gridder.plan import Plan


def building(client: TestClient, bid: str) -> dict:
    r = client.get(f"/v1/buildings/{bid}")
    assert r.status_code == 200, r.text
    return r.json()


def test_health_and_openapi(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "active_plan": "plan-b"}
    doc = client.get("/openapi.json").json()
    for path in (
        "/v1/locate",
        "/v1/buildings/{building_id}",
        "/v1/grids",
        "/v1/grids/{grid_id}",
        "/v1/coverage/summary",
        "/v1/plans",
        "/v1/plans/{plan_id}",
        "/v1/plans/{plan_id}/activate",
        "/v1/jobs/{job_id}",
        "/health",
    ):
        assert path in doc["paths"], path
    batch = doc["paths"]["/v1/locate"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["examples"]
    assert "Location" in doc["components"]["schemas"]


def test_locate_get(client: TestClient) -> None:
    b = building(client, "B3")
    r = client.get("/v1/locate", params={"lon": b["lon"], "lat": b["lat"]})
    assert r.status_code == 200
    assert r.json() == {
        "grid_id": b["grid_id"],
        "community_id": b["community_id"],
        "plan_id": "plan-b",
    }
    gx, gy = wgs84_to_gcj02(b["lon"], b["lat"])
    bx, by = wgs84_to_bd09(b["lon"], b["lat"])
    for crs, (x, y) in (("gcj02", (gx, gy)), ("bd09", (bx, by))):
        r = client.get("/v1/locate", params={"lon": float(x), "lat": float(y), "crs": crs})
        assert r.json()["grid_id"] == b["grid_id"], crs
    r = client.get("/v1/locate", params={"lon": 0, "lat": 0})
    assert r.status_code == 404 and "no grid" in r.json()["detail"]


@pytest.mark.parametrize(
    ("name", "convert"),
    [
        ("GCJ02", wgs84_to_gcj02),
        ("Gcj02", wgs84_to_gcj02),
        ("gcj-02", wgs84_to_gcj02),
        ("BD09", wgs84_to_bd09),
        ("WGS84", None),
        ("EPSG:4326", None),
        ("epsg:4490", None),
        ("CGCS2000", None),
    ],
)
def test_crs_names_are_case_insensitive_and_take_epsg_codes(
    client: TestClient, name: str, convert: object
) -> None:
    b = building(client, "B3")
    x, y = (b["lon"], b["lat"]) if convert is None else convert(b["lon"], b["lat"])  # type: ignore[operator]
    r = client.get("/v1/locate", params={"lon": float(x), "lat": float(y), "crs": name})
    assert r.status_code == 200, r.text
    assert r.json()["grid_id"] == b["grid_id"]
    r = client.post("/v1/locate", json={"points": [[float(x), float(y)]], "crs": name})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["grid_id"] == b["grid_id"]


def test_unknown_crs_names_are_still_refused(client: TestClient) -> None:
    for name in ("EPSG:3857", "gcj", "", "wgs 84 x"):
        r = client.get("/v1/locate", params={"lon": 118.78, "lat": 32.04, "crs": name})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "crs"], name
        r = client.post("/v1/locate", json={"points": [[118.78, 32.04]], "crs": name})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "crs"], name


@pytest.mark.parametrize(
    "params",
    [
        {"lon": 200, "lat": 32},
        {"lon": "x", "lat": 32},
        {"lat": 32},
        {"lon": "nan", "lat": 32},
        {"lon": 118, "lat": 32, "crs": "mars"},
        {"lon": "inf", "lat": 1},
    ],
)
def test_locate_get_bad_requests_are_422_json(client: TestClient, params: dict) -> None:
    r = client.get("/v1/locate", params=params)
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], list) and r.json()["detail"][0]["loc"][0] == "query"


def test_locate_with_plan_id(client: TestClient, plans_dir: Path) -> None:
    a = Plan.open(plans_dir / "plan-a.gpkg").building("B9")
    r = client.get("/v1/locate", params={"lon": a["lon"], "lat": a["lat"], "plan_id": "plan-a"})
    assert r.json() == {
        "grid_id": a["grid_id"],
        "community_id": a["community_id"],
        "plan_id": "plan-a",
    }
    r = client.get("/v1/locate", params={"lon": 1, "lat": 1, "plan_id": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["detail"]


def test_locate_batch_order(client: TestClient) -> None:
    bs = [building(client, f"B{i}") for i in (12, 3, 77, 40, 1)]
    pts = [[b["lon"], b["lat"]] for b in bs]
    pts.insert(2, [10.0, 10.0])
    r = client.post("/v1/locate", json={"points": pts})
    assert r.status_code == 200
    body = r.json()
    expected = [{"grid_id": b["grid_id"], "community_id": b["community_id"]} for b in bs]
    expected.insert(2, None)
    assert body == {"results": expected, "plan_id": "plan-b"}
    gcj = [list(map(float, wgs84_to_gcj02(x, y))) for x, y in pts]
    r = client.post("/v1/locate", json={"points": gcj, "crs": "gcj02"})
    assert r.json()["results"] == expected
    assert client.post("/v1/locate", json={"points": []}).json()["results"] == []


def test_locate_batch_plan_id_in_body(client: TestClient, plans_dir: Path) -> None:
    a = Plan.open(plans_dir / "plan-a.gpkg").building("B9")
    expected = {"grid_id": a["grid_id"], "community_id": a["community_id"]}
    point = [[a["lon"], a["lat"]]]
    for params, body in (
        ({}, {"plan_id": "plan-a"}),
        ({"plan_id": "plan-a"}, {}),
        ({"plan_id": "plan-a"}, {"plan_id": "plan-a"}),
    ):
        r = client.post("/v1/locate", params=params, json={"points": point, **body})
        assert r.status_code == 200, (params, body, r.text)
        assert r.json() == {"results": [expected], "plan_id": "plan-a"}
    r = client.post(
        "/v1/locate", params={"plan_id": "plan-b"}, json={"points": point, "plan_id": "plan-a"}
    )
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "plan_id"]
    assert error["msg"] == (
        "plan_id 'plan-a' in the body differs from plan_id 'plan-b' in the query; "
        "give it once, or the same in both"
    )
    r = client.post("/v1/locate", json={"points": point, "plan_id": "nope"})
    assert r.status_code == 404 and r.json() == {"detail": "no plan 'nope' in the store"}


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"points": [[1]]}',
        b'{"points": [[1, 2, 3]]}',
        b'{"points": "x"}',
        b'{"points": [[500, 1]]}',
        b'{"points": [[1, 1]], "crs": "mars"}',
        b'{"pts": []}',
        b'{"points": [[NaN, 1]]}',
        b'{"points": [[true, false]]}',
        b'{"points": [[118.78, true]]}',
        b'{"points": [[false, 32.04]], "crs": "wgs84"}',
        b'{"points": [[118.78, 32.04]], "plan_id": ""}',
        b'{"points": [[118.78, 32.04]], "plan_id": 7}',
        b'{"points": [[118.78, 32.04]], "crs": true}',
        b"",
    ],
)
def test_locate_batch_bad_bodies_are_422(client: TestClient, body: bytes) -> None:
    r = client.post("/v1/locate", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] == "body"


def test_batch_limit_and_body_limit(plans_dir: Path) -> None:
    app = create_app(settings_for(plans_dir, batch_limit=10, max_body_bytes=2048))
    with TestClient(app) as c:
        r = c.post("/v1/locate", json={"points": [[118.78, 32.04]] * 11})
        assert r.status_code == 413 and "batch limit 10" in r.json()["detail"]
        assert c.post("/v1/locate", json={"points": [[118.78, 32.04]] * 10}).status_code == 200
        r = c.post("/v1/locate", json={"points": [[118.78, 32.04]] * 500})
        assert r.status_code == 413 and "2048 bytes" in r.json()["detail"]

        def chunks():  # no content-length: counted while streaming
            for _ in range(10):
                yield b" " * 1000

        r = c.post("/v1/locate", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "2048" in r.json()["detail"]


def test_buildings_and_grids(client: TestClient) -> None:
    b = building(client, "B1")
    assert set(b) >= {"building_id", "grid_id", "community_id", "households"}
    assert type(b["households"]) is int  # a JSON integer, not 48.0
    r = client.get("/v1/buildings/nope")
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    fc = client.get("/v1/grids")
    assert fc.status_code == 200 and fc.headers["content-type"] == "application/geo+json"
    assert len(fc.json()["features"]) == 24
    c1 = client.get("/v1/grids", params={"community_id": "C01"}).json()
    assert {f["properties"]["community_id"] for f in c1["features"]} == {"C01"}
    assert client.get("/v1/grids", params={"community_id": "C99"}).status_code == 404
    f = client.get("/v1/grids/C01-002").json()
    assert f["type"] == "Feature" and f["properties"]["grid_id"] == "C01-002"
    assert "workers" not in f["properties"]  # plan-b has no workers layer
    fa = client.get("/v1/grids/C01-002", params={"plan_id": "plan-a"}).json()
    assert [w["role"] for w in fa["properties"]["workers"]] == ["grid", "specialist"]
    assert client.get("/v1/grids/C01-999").status_code == 404


def test_coverage_summary(client: TestClient, plans_dir: Path) -> None:
    rows = client.get("/v1/coverage/summary").json()["rows"]
    assert len(rows) == 3
    r = client.get("/v1/coverage/summary", params={"scope": "community", "scope_id": "C01"})
    assert r.json()["rows"] == [
        {
            "scope": "community",
            "scope_id": "C01",
            "facility_type": "kindergarten",
            "minutes": 5.0,
            "households": 300,
            "households_covered": 270,
            "share": 0.9,
        }
    ]
    assert '"households":300,' in r.text  # counts are JSON integers, never 300.0
    assert client.get("/v1/coverage/summary", params={"scope": "street"}).status_code == 422
    with TestClient(create_app(settings_for(plans_dir))) as bare:
        r = bare.get("/v1/coverage/summary")
        assert r.status_code == 404 and "coverage" in r.json()["detail"]


def test_coverage_summary_answers_only_for_its_plan(client: TestClient) -> None:
    # the coverage file of the fixtures was made for plan-b (the active plan)
    r = client.get("/v1/coverage/summary", params={"plan_id": "nope"})
    assert r.status_code == 404 and r.json() == {"detail": "no plan 'nope' in the store"}
    r = client.get("/v1/coverage/summary", params={"plan_id": "plan-b", "scope": "all"})
    assert r.status_code == 200 and len(r.json()["rows"]) == 1
    r = client.get("/v1/coverage/summary", params={"plan_id": "plan-a"})
    assert r.status_code == 404
    assert r.json()["detail"] == (
        "no coverage for plan 'plan-a'; the coverage file coverage.gpkg was made for plan 'plan-b'"
    )
    client.post("/v1/plans/plan-a/activate", headers={"X-API-Key": KEY}).raise_for_status()
    r = client.get("/v1/coverage/summary")
    assert r.status_code == 404 and "made for plan 'plan-b'" in r.json()["detail"]
    assert len(client.get("/v1/coverage/summary", params={"plan_id": "plan-b"}).json()["rows"]) == 3


def test_coverage_of_an_unknown_plan_warns_at_start(
    plans_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cov = make_coverage(tmp_path / "other.gpkg", plan_id="plan-z")
    with caplog.at_level(logging.WARNING, logger="api.main"):
        app = create_app(settings_for(plans_dir, coverage_file=cov))
    warned = [r.getMessage() for r in caplog.records if r.name == "api.main"]
    assert len(warned) == 1 and "made for plan 'plan-z'" in warned[0]
    assert "not among the loaded plans (plan-a, plan-b)" in warned[0]
    with TestClient(app) as c:
        for params in ({}, {"plan_id": "plan-a"}):
            r = c.get("/v1/coverage/summary", params=params)
            assert r.status_code == 404 and "made for plan 'plan-z'" in r.json()["detail"]


def test_coverage_made_before_an_edit_is_refused(plans_dir: Path, tmp_path: Path) -> None:
    """An edit keeps the plan_id; the recorded assignment digest tells the plans apart."""
    from gridder.plan import Plan

    now = Plan.open(plans_dir / "plan-b.gpkg").assignment_digest
    for digest, status in ((now, 200), ("0123456789abcdef", 404)):
        cov = make_coverage(tmp_path / f"{status}.gpkg", plan_id="plan-b", digest=digest)
        with TestClient(create_app(settings_for(plans_dir, coverage_file=cov))) as c:
            r = c.get("/v1/coverage/summary", params={"plan_id": "plan-b"})
            assert r.status_code == status
            if status == 404:
                assert "before the plan was edited" in r.json()["detail"]


def test_coverage_naming_no_plan_is_served_with_a_warning(
    plans_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cov = make_coverage(tmp_path / "untagged.gpkg")  # no coverage_meta
    with caplog.at_level(logging.WARNING, logger="api.main"):
        app = create_app(settings_for(plans_dir, coverage_file=cov))
    assert any("names no plan" in r.getMessage() for r in caplog.records)
    with TestClient(app) as c:
        for params in ({}, {"plan_id": "plan-a"}):
            assert len(c.get("/v1/coverage/summary", params=params).json()["rows"]) == 3
        assert c.get("/v1/coverage/summary", params={"plan_id": "nope"}).status_code == 404


def test_coverage_counts_stored_as_floats_answer_integers(plans_dir: Path, tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "scope": ["all", "grid"],
            "scope_id": ["all", "C01-001"],
            "facility_type": ["clinic", "clinic"],
            "minutes": [15.0, 15.0],
            "households": [24461.0, None],  # a null makes the column REAL in the GeoPackage
            "households_covered": [20000.0, 3.0],
            "share": [0.8176, None],
        }
    )
    cov = write_geopackage(
        tmp_path / "float.gpkg",
        {"summary": rows},
        meta={"plan_id": "plan-b"},
        meta_layer="coverage_meta",
    )
    with TestClient(create_app(settings_for(plans_dir, coverage_file=cov))) as c:
        r = c.get("/v1/coverage/summary")
    assert r.status_code == 200
    assert [(x["households"], x["households_covered"]) for x in r.json()["rows"]] == [
        (24461, 20000),
        (None, 3),
    ]
    assert '"households":24461,"households_covered":20000,' in r.text


def test_head_health(client: TestClient) -> None:
    r = client.head("/health")
    assert r.status_code == 200 and r.content == b""


def test_plans_and_activation_need_a_key(client: TestClient, plans_dir: Path) -> None:
    listing = client.get("/v1/plans").json()
    assert listing["active_plan_id"] == "plan-b"
    assert [(p["plan_id"], p["active"]) for p in listing["plans"]] == [
        ("plan-a", False),
        ("plan-b", True),
    ]
    detail = client.get("/v1/plans/plan-a").json()
    assert detail["meta"]["solver"] == {"status": "OPTIMAL"} and detail["file"] == "plan-a.gpkg"
    assert client.get("/v1/plans/nope").status_code == 404
    r = client.post("/v1/plans/plan-a/activate")
    assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
    r = client.post("/v1/plans/plan-a/activate", headers={"X-API-Key": "wrong"})
    assert r.status_code == 403 and r.json()["detail"] == "the API key is not valid"
    r = client.post("/v1/plans/nope/activate", headers={"X-API-Key": KEY})
    assert r.status_code == 404
    r = client.post("/v1/plans/plan-a/activate", headers={"X-API-Key": KEY})
    assert r.status_code == 200 and r.json()["active"] is True
    assert client.get("/health").json()["active_plan"] == "plan-a"
    assert (plans_dir / "active.json").is_file()


def test_writes_disabled_without_keys_and_closed_reads(plans_dir: Path) -> None:
    with TestClient(create_app(settings_for(plans_dir, api_key_hashes=[]))) as c:
        r = c.post("/v1/plans/plan-a/activate", headers={"X-API-Key": KEY})
        assert r.status_code == 403 and "disabled" in r.json()["detail"]
    closed = settings_for(plans_dir, read_requires_key=True)
    with TestClient(create_app(closed)) as c:
        assert c.get("/v1/grids").status_code == 401
        assert c.get("/v1/grids", headers={"X-API-Key": "bad"}).status_code == 403
        assert c.get("/v1/grids", headers={"X-API-Key": KEY}).status_code == 200
        assert c.get("/health").status_code == 200  # liveness stays open


def test_unknown_routes_and_methods_are_json(client: TestClient) -> None:
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.delete("/v1/locate")
    assert r.status_code == 405 and "detail" in r.json()


def test_unexpected_errors_are_json_500_without_traceback(plans_dir: Path) -> None:
    app = create_app(settings_for(plans_dir))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text
    assert r.json()["detail"].startswith("internal error")


def _static_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """A maps folder (a page and a script) and an empty demo folder."""
    maps = tmp_path / "maps"
    (maps / "assets").mkdir(parents=True)
    (maps / "index.html").write_text("<html>网格</html>", encoding="utf-8")
    (maps / "assets" / "a.js").write_text("var a=1;")
    demo = tmp_path / "demo"
    demo.mkdir()
    return maps, demo


def test_static_maps_and_demo(plans_dir: Path, tmp_path: Path) -> None:
    maps, demo = _static_dirs(tmp_path)
    (demo / "plan.txt").write_text("demo")
    with TestClient(create_app(settings_for(plans_dir, maps_dir=maps, demo_dir=demo))) as c:
        assert "网格" in c.get("/maps/").text
        assert c.get("/maps/assets/a.js").text == "var a=1;"
        assert c.get("/maps/../../etc/passwd").status_code == 404
        assert c.get("/demo/plan.txt").text == "demo"
    with pytest.raises(NotFoundError):
        create_app(settings_for(plans_dir, maps_dir=tmp_path / "missing"))


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, plans_dir: Path) -> None:
    h1, h2 = hash_api_key("a"), hash_api_key("b")
    monkeypatch.setenv("GRIDDER_PLANS_DIR", str(plans_dir))
    monkeypatch.setenv("GRIDDER_API_KEY_HASHES", f"{h1}, {h2.upper()}")
    monkeypatch.setenv("GRIDDER_BATCH_LIMIT", "5")
    s = ApiSettings()
    assert s.plans_dir == plans_dir and s.api_key_hashes == [h1, h2] and s.batch_limit == 5
    monkeypatch.setenv("GRIDDER_API_KEY_HASHES", "not-a-hash")
    with pytest.raises(ValueError, match="SHA-256"):
        ApiSettings()
    monkeypatch.setenv("GRIDDER_API_KEY_HASHES", f'["{h1}"]')
    assert ApiSettings().api_key_hashes == [h1]


def test_single_plan_file_server(plans_dir: Path) -> None:
    s = ApiSettings(plan_file=plans_dir / "plan-a.gpkg", refresh_seconds=0)
    with TestClient(create_app(s)) as c:
        assert c.get("/health").json()["active_plan"] == "plan-a"
        assert [p["plan_id"] for p in c.get("/v1/plans").json()["plans"]] == ["plan-a"]


def test_closed_reads_cover_the_maps_and_demo_files(plans_dir: Path, tmp_path: Path) -> None:
    """With reads behind the key, /maps/ and /demo/ need it too: header, or ?key= then a cookie."""
    maps, demo = _static_dirs(tmp_path)
    (demo / "plan.gpkg").write_bytes(b"plan")
    (demo / "coverage.gpkg").write_bytes(b"coverage")
    settings = settings_for(plans_dir, maps_dir=maps, demo_dir=demo, read_requires_key=True)
    with TestClient(create_app(settings)) as c:
        for url in ("/maps/", "/maps/assets/a.js", "/demo/plan.gpkg", "/demo/coverage.gpkg"):
            r = c.get(url)
            assert r.status_code == 401 and "X-API-Key" in r.json()["detail"], url
            assert r.headers["content-type"] == "application/json"
            assert c.get(url, headers={"X-API-Key": "wrong"}).status_code == 403, url
            assert c.get(url, headers={"X-API-Key": KEY}).status_code == 200, url
        assert c.head("/demo/plan.gpkg").status_code == 401
        assert c.get("/demo/plan.gpkg", params={"key": "wrong"}).status_code == 403
        # a browser: ?key= once → 303 to the address without it, and a cookie for the rest
        r = c.get("/maps/", params={"key": KEY, "z": "3"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/maps/?z=3"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and KEY not in cookie
        assert "网格" in c.get("/maps/").text  # the client kept the cookie
        assert c.get("/maps/assets/a.js").text == "var a=1;"
        assert c.get("/demo/plan.gpkg").content == b"plan"
        assert c.get("/v1/grids").status_code == 401  # the cookie opens the static files only
        assert c.get("/health").status_code == 200
    # another server (or a restart): the cookie is worthless there
    with TestClient(create_app(settings)) as other:
        other.cookies.update(c.cookies)
        assert other.get("/maps/").status_code == 401
    # without keys configured, closed reads are refused as closed writes are
    closed = settings_for(plans_dir, maps_dir=maps, read_requires_key=True, api_key_hashes=[])
    with TestClient(create_app(closed)) as c:
        assert c.get("/maps/").status_code == 403
    with TestClient(create_app(settings_for(plans_dir, maps_dir=maps, demo_dir=demo))) as c:
        assert c.get("/demo/plan.gpkg").content == b"plan"  # open reads: open files


def test_grids_geojson_has_counterclockwise_exterior_rings(
    client: TestClient, plans_dir: Path, tmp_path: Path
) -> None:
    """RFC 7946 §3.1.6: the API's and ``gridder export``'s GeoJSON wind exteriors CCW."""
    import json

    import shapely
    from shapely.geometry import shape

    from gridder.export import export_plan

    def exteriors_ccw(features: list[dict]) -> list[bool]:
        rings = []
        for f in features:
            for part in shapely.get_parts(shape(f["geometry"])):
                rings.append(part.exterior.is_ccw)
                rings.extend(not hole.is_ccw for hole in part.interiors)
        return rings

    import pyogrio

    on_file = pyogrio.read_dataframe(plans_dir / "plan-b.gpkg", layer="grids")
    assert not any(g.exterior.is_ccw for g in on_file.geometry)  # GEOS winds them clockwise
    stored = Plan.open(plans_dir / "plan-b.gpkg").grids()["features"]
    assert all(exteriors_ccw(stored))  # the plan serialises them counterclockwise
    r = client.get("/v1/grids")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    served = r.json()["features"]
    assert len(served) == len(stored) and all(exteriors_ccw(served))
    # only the winding changed: same ids, properties and areas
    for got, want in zip(served, stored, strict=True):
        assert got["id"] == want["id"] and got["properties"] == want["properties"]
        assert shape(got["geometry"]).equals(shape(want["geometry"]))
    one = client.get("/v1/grids/C01-002").json()
    assert one["id"] == "C01-002" and all(exteriors_ccw([one]))
    part = client.get("/v1/grids", params={"community_id": "C02"}).json()["features"]
    assert {f["properties"]["community_id"] for f in part} == {"C02"} and all(exteriors_ccw(part))
    assert client.get("/v1/grids", params={"community_id": "nope"}).status_code == 404
    r = client.get("/v1/grids/nope")
    assert r.status_code == 404 and r.json() == {"detail": "grid 'nope' is not in plan plan-b"}
    # gridder export --format geojson too
    out = tmp_path / "grids.geojson"
    export_plan(plans_dir / "plan-b.gpkg", fmt="geojson", out=out)
    exported = json.loads(out.read_text(encoding="utf-8"))["features"]
    assert len(exported) == len(stored) and all(exteriors_ccw(exported))


def test_writes_without_a_key_are_401_before_the_body_is_read(client: TestClient) -> None:
    """No key is a 401 whatever the body: bad JSON, a bad edit, a malformed form."""
    for body in (b"{not json", b'{"bogus": 1}', b'{"move": 3}'):
        r = client.post(
            "/v1/plans/plan-a/edits", content=body, headers={"content-type": "application/json"}
        )
        assert r.status_code == 401, (body, r.text)
        assert "X-API-Key" in r.json()["detail"]
        r = client.post(
            "/v1/plans",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        assert r.status_code == 401, (body, r.text)
    # with the key, the same bodies are 422 naming the problem
    r = client.post(
        "/v1/plans/plan-a/edits",
        content=b"{not json",
        headers={"content-type": "application/json", "X-API-Key": KEY},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = client.post("/v1/plans/plan-a/edits", json={"bogus": 1}, headers={"X-API-Key": KEY})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "bogus"]
    doc = client.get("/openapi.json").json()["paths"]["/v1/plans/{plan_id}/edits"]["post"]
    schema = doc["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"move", "to", "lock", "unlock", "undo"}


@pytest.mark.parametrize(
    "url",
    [
        "/v1/locate?lon=118.78&lat=32.04&lon=0",
        "/v1/locate?lon=118.78&lat=32.04&crs=wgs84&crs=gcj02",
        "/v1/grids?community_id=C01&community_id=C02",
        "/v1/buildings/B3?plan_id=plan-a&plan_id=plan-b",
        "/v1/coverage/summary?scope=all&scope=grid",
        "/v1/plans/plan-a?plan_id=x&plan_id=y",
    ],
)
def test_a_query_parameter_given_twice_is_422(client: TestClient, url: str) -> None:
    name = url.rsplit("&", 1)[1].split("=", maxsplit=1)[0]
    r = client.get(url)
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == [
        {
            "loc": ["query", name],
            "msg": f"{name} is given more than once in the query; give it once",
            "type": "value_error",
        }
    ]


def test_batch_with_a_repeated_query_parameter_is_422(client: TestClient) -> None:
    for query in ("plan_id=plan-a&plan_id=plan-b", "crs=bd09&crs=gcj02"):
        r = client.post(f"/v1/locate?{query}", json={"points": [[118.78, 32.04]]})
        assert r.status_code == 422 and "more than once" in r.json()["detail"][0]["msg"], query


def test_head_wherever_get_works_and_allow_lists_every_method(client: TestClient) -> None:
    b = building(client, "B3")
    for url in (
        f"/v1/locate?lon={b['lon']}&lat={b['lat']}",
        "/v1/grids",
        "/v1/grids/C01-001",
        "/v1/plans",
        "/v1/plans/plan-a",
        "/v1/buildings/B3",
        "/v1/coverage/summary",
        "/docs",
    ):
        get, head = client.get(url), client.head(url)
        assert head.status_code == get.status_code == 200, (url, head.status_code)
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert client.head("/v1/grids/nope").status_code == 404
    assert client.head("/v1/locate?lon=east&lat=0").status_code == 422
    # HEAD is not an operation of its own in the OpenAPI document
    assert not [
        p for p, ops in client.get("/openapi.json").json()["paths"].items() if "head" in ops
    ]
    for method, url, allow in (
        ("PUT", "/v1/locate", "GET, HEAD, POST"),
        ("DELETE", "/v1/plans", "GET, HEAD, POST"),
        ("GET", "/v1/plans/plan-a/activate", "POST"),
        ("POST", "/v1/grids", "GET, HEAD"),
    ):
        r = client.request(method, url)
        assert r.status_code == 405 and r.headers["allow"] == allow, (method, url, r.headers)
        assert r.json() == {"detail": "Method Not Allowed"}


def test_openapi_documents_what_is_checked(plans_dir: Path) -> None:
    """``crs`` of the batch as its enum; 401/403 on reads when they need a key."""
    with TestClient(create_app(settings_for(plans_dir))) as c:
        doc = c.get("/openapi.json").json()
        post = doc["paths"]["/v1/locate"]["post"]
        crs = next(p for p in post["parameters"] if p["name"] == "crs")
        enum = next(s for s in crs["schema"]["anyOf"] if s.get("type") == "string")["enum"]
        assert enum == ["wgs84", "cgcs2000", "gcj02", "bd09"]
        assert "in any case" in crs["description"] and "EPSG:4326" in crs["description"]
        assert "401" not in doc["paths"]["/v1/grids"]["get"]["responses"]
        assert "422" in doc["paths"]["/v1/plans"]["post"]["responses"]
        r = c.post("/v1/locate", params={"crs": "GCJ-02"}, json={"points": [[118.78, 32.04]]})
        assert r.status_code == 200  # the enum's names, in any spelling
    with TestClient(create_app(settings_for(plans_dir, read_requires_key=True))) as c:
        paths = c.get("/openapi.json").json()["paths"]
        for path, method in (
            ("/v1/grids", "get"),
            ("/v1/locate", "get"),
            ("/v1/locate", "post"),
            ("/v1/plans", "get"),
            ("/v1/coverage/summary", "get"),
        ):
            assert {"401", "403"} <= set(paths[path][method]["responses"]), (path, method)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity"])
def test_a_coordinate_that_is_not_finite_says_so(client: TestClient, value: str) -> None:
    r = client.get("/v1/locate", params={"lon": value, "lat": 32.0})
    assert r.status_code == 422
    error = r.json()["detail"][0]
    assert error["loc"] == ["query", "lon"] and "finite number" in error["msg"], error
    r = client.get("/v1/locate", params={"lon": 118.7, "lat": value})
    assert "finite number" in r.json()["detail"][0]["msg"]
    body = b'{"points": [[118.7, %s]]}' % value.replace("nan", "NaN").encode()
    r = client.post("/v1/locate", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text


def test_a_compressed_body_is_415(client: TestClient) -> None:
    import gzip

    body = gzip.compress(b'{"points": [[118.78, 32.04]]}')
    for url, key in (("/v1/locate", {}), ("/v1/plans", {"X-API-Key": KEY})):
        r = client.post(
            url,
            content=body,
            headers={"content-type": "application/json", "content-encoding": "gzip", **key},
        )
        assert r.status_code == 415, r.text
        assert r.json() == {
            "detail": "Content-Encoding gzip not supported: send the body uncompressed"
        }
    r = client.post(
        "/v1/locate",
        json={"points": [[118.78, 32.04]]},
        headers={"content-encoding": "identity"},
    )
    assert r.status_code == 200
