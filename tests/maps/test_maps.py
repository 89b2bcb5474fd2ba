"""write_maps without a browser: files, offline references, data, options, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from gridder.errors import InputError
from gridder.io.crs import wgs84_to_gcj02
from gridder.io.write import write_geopackage, write_plan
from gridder.mapdata import Band, display_geometries, load_plan
from gridder.maps import community_page_name, write_maps
from gridder.mapstyle import deviation_colors, grid_palette_index, parse_tiles

JSON_TAG = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)


def layers(page: Path) -> dict[str, dict]:
    """Each drawn layer's options and data, keyed by the options' className."""
    blobs = dict(JSON_TAG.findall(page.read_text(encoding="utf-8")))
    out: dict[str, dict] = {}
    for key, text in blobs.items():
        if key.endswith("_options"):
            options = json.loads(text)
            data = json.loads(blobs[key[: -len("_options")] + "_data"])
            name = options.get("className") or ("gr-buildings" if "codes" in options else key)
            out.setdefault(name, {"options": [], "data": []})
            out[name]["options"].append(options)
            out[name]["data"].append(data)
    return out


@pytest.fixture(scope="module")
def maps(city: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("maps")
    write_maps(
        city["plan"],
        out_dir=out,
        coverage=city["coverage"],
        sites=city["sites"],
        compare=city["old_plan"],
        tiles="none",
    )
    return out


def test_writes_overview_community_pages_and_assets(maps: Path, city: dict[str, Path]) -> None:
    grids = pyogrio.read_dataframe(city["plan"], layer="grids")
    pages = sorted(p.name for p in maps.glob("community-*.html"))
    assert pages == [community_page_name(c) for c in sorted(grids["community_id"].unique())]
    index = (maps / "index.html").read_text(encoding="utf-8")
    for page in pages:
        assert f"href='{page}'" in index
    for asset in (
        "leaflet/leaflet.js",
        "markercluster/markercluster.js",
        "gridder.js",
        "gridder.css",
        "fontawesome/webfonts/fa-solid-900.woff2",
    ):
        assert (maps / "assets" / asset).stat().st_size > 0


def test_no_cdn_and_every_reference_is_local(maps: Path) -> None:
    remote = re.compile(
        r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I
    )
    for path in [*maps.glob("*.html"), *maps.rglob("*.css"), maps / "assets" / "gridder.js"]:
        text = path.read_text(encoding="utf-8")
        links = [m for m in re.findall(r"<(?:script|link|img)\b[^>]*>", text) if remote.search(m)]
        assert not links, f"{path.name} references the network: {links[:3]}"
        if path.suffix == ".css":
            assert not remote.search(text), path
    page = (maps / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert refs, "no asset referenced"
    for ref in refs:
        assert not ref.startswith(("/", "http")) and (maps / ref).is_file(), ref


def test_every_grid_is_drawn_with_its_numbers(maps: Path, city: dict[str, Path]) -> None:
    grids = pyogrio.read_dataframe(city["plan"], layer="grids")
    drawn = layers(maps / "index.html")["gr-grid"]["data"][0]["features"]
    assert sorted(f["properties"]["code"] for f in drawn) == sorted(grids["grid_id"])
    by_code = {f["properties"]["code"]: f["properties"] for f in drawn}
    for gid, hh in zip(grids["grid_id"], grids["households"], strict=True):
        props = by_code[gid]
        assert props["hh"] == hh
        assert props["dev"] == f"{(hh - 250) / 250 * 100:+.1f}%"
        assert len(props["cov"]) == 6  # 3 types × (5, 15) minutes
        assert all(v is None or 0 <= v <= 100 for v in props["cov"])
    page = layers(maps / "community-C001.html")
    assert {f["properties"]["code"][:4] for f in page["gr-grid"]["data"][0]["features"]} == {"C001"}


def test_coordinates_are_rounded_to_six_decimals(maps: Path) -> None:
    text = (maps / "index.html").read_text(encoding="utf-8")
    numbers = re.findall(r"-?\d+\.(\d+)", "".join(b for _, b in JSON_TAG.findall(text)))
    assert numbers and max(len(d) for d in numbers) <= 6


def test_layers_present_with_counts(maps: Path, city: dict[str, Path]) -> None:
    drawn = layers(maps / "index.html")
    buildings = drawn["gr-buildings"]
    assignments = pyogrio.read_dataframe(city["plan"], layer="assignments")
    assert len(buildings["data"][0]["lat"]) == len(assignments)
    assert sum(len(d["lat"]) for d in drawn["gr-facility"]["data"]) == len(
        pyogrio.read_dataframe(city["coverage"], layer="facilities")
    )
    assert len(drawn["gr-site"]["data"][0]["lat"]) == len(
        pyogrio.read_dataframe(city["sites"], layer="sites")
    )
    assert len(drawn["gr-compare"]["data"][0]["features"]) == len(
        pyogrio.read_dataframe(city["old_plan"], layer="grids")
    )
    assert drawn["gr-compare"]["options"][0]["dashArray"]
    assert {o["fields"][0][0] for o in drawn["gr-iso"]["options"]} == {"m"}
    assert len(drawn["gr-iso"]["options"]) == 2  # one layer per minutes value
    assert drawn["gr-gap"]["data"], "gaps are drawn"
    community = layers(maps / "community-C001.html")["gr-buildings"]["data"][0]
    assert len(community["lat"]) == int((assignments["community_id"] == "C001").sum())


def test_chinese_by_default_english_on_request(city: dict[str, Path], tmp_path: Path) -> None:
    zh = write_maps(
        city["plan"], out_dir=tmp_path / "zh", coverage=city["coverage"], tiles="none"
    ).read_text(encoding="utf-8")
    en = write_maps(
        city["plan"], out_dir=tmp_path / "en", coverage=city["coverage"], tiles="none", lang="en"
    ).read_text(encoding="utf-8")
    for word in ("网格", "户数", "工作量", "偏差", "社区", "5分钟", "15分钟", "覆盖缺口", "图例"):
        assert word in zh, word
    for word in ("Grid", "Households", "Workload", "Deviation", "Legend", "15-minute walk"):
        assert word in en, word
    assert "户数" not in en
    assert "© OpenStreetMap contributors, ODbL" in zh


def test_amap_shifts_every_layer_to_gcj02(city: dict[str, Path], tmp_path: Path) -> None:
    wgs = layers(write_maps(city["plan"], out_dir=tmp_path / "w", tiles="none"))
    gcj = layers(write_maps(city["plan"], out_dir=tmp_path / "g", tiles="amap"))
    b_w, b_g = wgs["gr-buildings"]["data"][0], gcj["gr-buildings"]["data"][0]
    lon, lat = wgs84_to_gcj02(np.array(b_w["lon"]), np.array(b_w["lat"]))
    assert np.allclose(b_g["lon"], lon, atol=2e-6) and np.allclose(b_g["lat"], lat, atol=2e-6)
    shift = np.hypot(np.subtract(b_g["lon"], b_w["lon"]), np.subtract(b_g["lat"], b_w["lat"]))
    assert shift.min() > 1e-3  # hundreds of metres in Nanjing
    g_w = wgs["gr-grid"]["data"][0]["features"][0]["geometry"]["coordinates"][0][0]
    g_g = gcj["gr-grid"]["data"][0]["features"][0]["geometry"]["coordinates"][0][0]
    assert np.allclose(wgs84_to_gcj02(g_w[0], g_w[1]), g_g, atol=2e-6)
    assert "autonavi" in (tmp_path / "g" / "index.html").read_text(encoding="utf-8")


def test_tiles_options() -> None:
    from gridder.mapstyle import LABELS

    zh = LABELS["zh"]
    assert parse_tiles("osm", zh).url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert parse_tiles("none", zh).url is None
    assert parse_tiles("amap", zh).gcj02
    custom = parse_tiles("gcj02:https://example.test/{z}/{x}/{y}.png", zh)
    assert custom.gcj02 and custom.url == "https://example.test/{z}/{x}/{y}.png"
    assert "tk=KEY" in (parse_tiles("tianditu:KEY", zh).url or "")
    for bad in ("google", "https://example.test/tiles.png"):
        with pytest.raises(InputError, match="--tiles"):
            parse_tiles(bad, zh)


def test_tianditu_without_key_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridder.mapstyle import LABELS

    monkeypatch.delenv("GRIDDER_TIANDITU_KEY", raising=False)
    with pytest.raises(InputError, match="key"):
        parse_tiles("tianditu", LABELS["zh"])


def test_same_input_same_pages(city: dict[str, Path], tmp_path: Path) -> None:
    a = write_maps(city["plan"], out_dir=tmp_path / "a", coverage=city["coverage"], tiles="none")
    b = write_maps(city["plan"], out_dir=tmp_path / "b", coverage=city["coverage"], tiles="none")
    assert a.read_bytes() == b.read_bytes()
    assert (a.parent / "community-C002.html").read_bytes() == (
        b.parent / "community-C002.html"
    ).read_bytes()


def test_stale_community_pages_are_removed(city: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "community-GONE.html").write_text("old", encoding="utf-8")
    (tmp_path / "notes.html").write_text("mine", encoding="utf-8")
    write_maps(city["plan"], out_dir=tmp_path, tiles="none")
    assert not (tmp_path / "community-GONE.html").exists()
    assert (tmp_path / "notes.html").exists()


def test_bad_inputs_name_file_and_problem(city: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.gpkg.*file not found"):
        write_maps(tmp_path / "missing.gpkg", out_dir=tmp_path / "o")
    with pytest.raises(InputError, match="no 'grids' layer"):
        write_maps(city["coverage"], out_dir=tmp_path / "o")
    with pytest.raises(InputError, match="sites"):
        write_maps(city["plan"], out_dir=tmp_path / "o", sites=city["coverage"])
    other = write_geopackage(
        tmp_path / "other_sites.gpkg",
        {"sites": pyogrio.read_dataframe(city["sites"], layer="sites")},
        meta={"plan_id": "plan-of-another-city"},
        meta_layer="sites_meta",
    )
    with pytest.raises(InputError, match="plan-of-another-city"):
        write_maps(city["plan"], out_dir=tmp_path / "o", sites=other)
    with pytest.raises(InputError, match="--lang"):
        write_maps(city["plan"], out_dir=tmp_path / "o", lang="fr")
    broken = tmp_path / "broken.gpkg"
    plan = load_plan(city["plan"])
    write_plan(
        broken,
        grids=plan.grids.drop(columns=["households"]),
        assignments=plan.assignments,
        communities=plan.communities,
        meta={},
    )
    with pytest.raises(InputError, match=r"broken.gpkg:grids.*households"):
        write_maps(broken, out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def _coverage_for(city: dict[str, Path], plan_id: str | None, out: Path) -> Path:
    """A copy of the city's coverage file whose coverage_meta names ``plan_id``."""
    layers = {
        name: pyogrio.read_dataframe(city["coverage"], layer=name, read_geometry=name != "summary")
        for name in ("summary", "isochrones", "gaps", "facilities")
    }
    meta = {"coverage_id": "c-1"} if plan_id is None else {"coverage_id": "c-1", "plan_id": plan_id}
    return write_geopackage(out, layers, meta=meta, meta_layer="coverage_meta")


def test_coverage_of_another_plan_is_refused(city: dict[str, Path], tmp_path: Path) -> None:
    other = _coverage_for(city, "plan-other", tmp_path / "other_coverage.gpkg")
    with pytest.raises(InputError) as info:
        write_maps(city["plan"], out_dir=tmp_path / "o", coverage=other)
    message = str(info.value)
    assert "other_coverage.gpkg" in message
    assert "'plan-other'" in message and "'synthetic-0'" in message
    assert not (tmp_path / "o").exists()
    # the same plan, or a coverage file that records no plan: drawn
    write_maps(city["plan"], out_dir=tmp_path / "same", coverage=city["coverage"], tiles="none")
    unknown = _coverage_for(city, None, tmp_path / "unknown.gpkg")
    write_maps(city["plan"], out_dir=tmp_path / "unknown", coverage=unknown, tiles="none")


def test_a_file_that_is_not_a_coverage_file_is_refused(
    city: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(
        InputError, match=r"plan\.gpkg: has no 'summary' layer: not a coverage file"
    ):
        write_maps(city["plan"], out_dir=tmp_path / "o", coverage=city["plan"])
    with pytest.raises(InputError, match="looks like a plan file"):
        write_maps(city["plan"], out_dir=tmp_path / "o", coverage=city["plan"])
    with pytest.raises(InputError, match=r"sites\.gpkg: has no 'summary' layer.*its layers: sites"):
        write_maps(city["plan"], out_dir=tmp_path / "o", coverage=city["sites"])
    assert not (tmp_path / "o").exists()


def test_out_naming_an_existing_file_is_refused(city: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "plan_copy.gpkg"
    target.write_bytes(city["plan"].read_bytes())
    with pytest.raises(InputError, match=r"--out: .*plan_copy\.gpkg: names an existing file"):
        write_maps(city["plan"], out_dir=target)
    with pytest.raises(InputError, match=r"plan_copy\.gpkg is a file, not a folder"):
        write_maps(city["plan"], out_dir=target / "maps")
    # both option problems at once
    with pytest.raises(InputError, match=r"2 problems(.|\n)*--lang(.|\n)*--out"):
        write_maps(city["plan"], out_dir=target, lang="fr")
    assert target.read_bytes() == city["plan"].read_bytes()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other_plan", "was computed for plan 'plan-other'"),
        ("plan_as_coverage", "not a coverage file"),
        ("out_is_a_file", "names an existing file"),
    ],
)
def test_map_command_exits_2_with_the_message(
    city: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    message: str,
) -> None:
    from gridder.cli import main

    coverage, out = city["coverage"], tmp_path / "maps"
    if case == "other_plan":
        coverage = _coverage_for(city, "plan-other", tmp_path / "cov.gpkg")
    elif case == "plan_as_coverage":
        coverage = city["plan"]
    else:
        out = tmp_path / "plan.gpkg"
        out.write_bytes(b"not a folder")
    argv = ["map", "--plan", str(city["plan"]), "--coverage", str(coverage)]
    assert main([*argv, "--tiles", "none", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad input" in err and message in err and "unexpected" not in err


def test_text_from_the_data_cannot_break_the_page(city: dict[str, Path], tmp_path: Path) -> None:
    plan = load_plan(city["plan"])
    nasty = "社区</script><b>{{ x }}{% y %}{# z"
    comms = plan.communities.assign(name=[nasty, "普通"])
    path = write_plan(
        tmp_path / "nasty.gpkg",
        grids=plan.grids,
        assignments=plan.assignments,
        communities=comms,
        meta=plan.meta,
    )
    page = write_maps(path, out_dir=tmp_path / "m", tiles="none").read_text(encoding="utf-8")
    assert "</script><b>" not in page
    assert "社区&lt;/script&gt;&lt;b&gt;{{ x }}{% y %}{# z" in page  # the summary table
    names = [
        f["properties"]["name"]
        for f in layers(tmp_path / "m" / "index.html")["gr-community"]["data"][0]["features"]
    ]
    assert nasty in names


def test_in_band_share_in_summary(city: dict[str, Path], maps: Path) -> None:
    grids = pyogrio.read_dataframe(city["plan"], layer="grids")
    band = Band(250, 200, 300)
    share = band.in_band(grids["households"], grids["n_buildings"])
    expected = f"{np.nanmean(share) * 100:.1f}%"
    total_row = re.search(
        r"<tr class='gr-total'>(.*?)</tr>", (maps / "index.html").read_text(encoding="utf-8")
    ).group(1)
    assert expected in total_row
    assert f"{int(grids['households'].sum()):,}" in total_row


def test_in_band_leaves_out_single_big_buildings() -> None:
    band = Band(250, 200, 300)
    got = band.in_band([250, 350, 350, 150], [10, 1, 2, 1])
    assert got[0] == 1 and np.isnan(got[1]) and got[2] == 0 and got[3] == 0


def test_deviation_colours_diverge_around_the_target() -> None:
    band = Band(250, 200, 300)
    low, mid, high, far_low, far_high = deviation_colors([200, 250, 300, 0, 10_000], band)
    assert mid == "#f7f7f7"
    assert low == "#92c5de" and high == "#f4a582"
    assert far_low == "#2166ac" and far_high == "#b2182b"


def test_touching_grids_get_different_building_colours() -> None:
    boxes = np.array([shapely.box(i, j, i + 1, j + 1) for i in range(5) for j in range(5)])
    colour = grid_palette_index(shapely.buffer(boxes, 0.01))
    left, right = shapely.STRtree(boxes).query(boxes, predicate="touches")
    assert (colour[left] != colour[right]).all()


def test_display_simplification_keeps_a_valid_coverage() -> None:
    rng = np.random.default_rng(3)
    # a wiggly shared edge: vertices every 0.5 m with ±0.3 m noise
    ys = np.arange(0, 200.5, 0.5)
    xs = 100 + rng.uniform(-0.3, 0.3, len(ys))
    xs[0] = xs[-1] = 100
    edge = list(zip(xs, ys, strict=True))
    left = shapely.Polygon([(0, 0), *edge, (0, 200)])
    right = shapely.Polygon([(200, 0), (200, 200), *edge[::-1]])
    frame = gpd.GeoDataFrame({"c": ["A", "A"]}, geometry=[left, right], crs="EPSG:32650")
    out = display_geometries(
        frame.to_crs("EPSG:4326"), metric=frame.crs, tolerance_m=1.0, groups=frame["c"]
    )
    assert shapely.coverage_is_valid(out)
    assert (
        shapely.get_num_coordinates(out).sum()
        < shapely.get_num_coordinates(frame.geometry.values).sum() / 5
    )
    back = gpd.GeoSeries(out, crs="EPSG:4326").to_crs(frame.crs)
    assert abs(back.area.sum() - 40_000) < 40  # within 0.1 %
    assert back.iloc[0].intersection(back.iloc[1]).area < 1e-3


def test_workers_in_grid_popups_and_summary(staffed_plan: Path, tmp_path: Path) -> None:
    zh = write_maps(staffed_plan, out_dir=tmp_path / "zh", tiles="none")
    grid = layers(zh)["gr-grid"]
    assert ["wk", "网格员"] in grid["options"][0]["fields"]
    wk = {f["properties"]["code"]: f["properties"]["wk"] for f in grid["data"][0]["features"]}
    assert wk["C001-001"] == "W001 网格员, S01 专职网格员"
    assert wk["C001-003"] == "W003 网格员"
    assert wk["C002-001"] == "W010 网格员, W019 网格员"
    rows = dict(
        re.findall(
            r"<tr class='gr-\w+'><td class='gr-l'>(.*?)</td>(.*?)</tr>",
            zh.read_text(encoding="utf-8"),
        )
    )
    cells = {k: re.findall(r"<td>(.*?)</td>", v) for k, v in rows.items()}
    head = re.findall(r"<th>(.*?)</th>", zh.read_text(encoding="utf-8").split("gr-summary")[1])
    col = head.index("网格员")  # <th> and <td> cells after the name and id columns
    by_name = {re.sub(r"<[^>]+>", "", k): v for k, v in cells.items()}
    assert by_name["测试社区1"][col : col + 2] == ["9", "1"]
    assert by_name["测试社区2"][col : col + 2] == ["10", "0"]
    assert by_name["合计"][col : col + 2] == ["19", "1"]
    page = (tmp_path / "zh" / "community-C001.html").read_text(encoding="utf-8")
    assert "网格员 9 · 专职网格员 1" in page
    en = write_maps(staffed_plan, out_dir=tmp_path / "en", tiles="none", lang="en")
    props = layers(en)["gr-grid"]["data"][0]["features"][0]["properties"]
    assert props["wk"] == "W001 grid worker, S01 specialist"
    assert "Grid workers" in en.read_text(encoding="utf-8")


def test_without_workers_no_worker_column(maps: Path) -> None:
    grid = layers(maps / "index.html")["gr-grid"]
    assert all(f[0] != "wk" for f in grid["options"][0]["fields"])
    assert "网格员" not in (maps / "index.html").read_text(encoding="utf-8")


def test_grid_labels_and_outlines(maps: Path) -> None:
    overview = layers(maps / "index.html")["gr-grid"]["options"][0]
    page = layers(maps / "community-C001.html")["gr-grid"]["options"][0]
    assert overview["labels"] == {"field": "code", "minZoom": 16}
    assert page["labels"] == {"field": "lb", "minZoom": 15}
    assert page["weight"] > overview["weight"] >= 1
    for f in layers(maps / "community-C001.html")["gr-grid"]["data"][0]["features"]:
        p = f["properties"]
        assert p["lb"] == p["code"].removeprefix("C001-")
        lat, lon = p["_lp"]
        assert shapely.Polygon(f["geometry"]["coordinates"][0]).contains(shapely.Point(lon, lat))


def test_many_facility_types_open_on_the_everyday_ones() -> None:
    from gridder.mapstyle import shown_types

    few = ["幼儿园", "社区卫生服务站", "菜市场"]
    assert shown_types(few) == set(few)
    many = ["clinic", "community_centre", "kindergarten", "library", "park", "school"]
    assert shown_types(many) == {"community_centre", "kindergarten"}
    assert shown_types(["社区服务站", "幼儿园", "药店", "超市", "公园"]) == {"社区服务站", "幼儿园"}
    no_primary = ["clinic", "library", "park", "school", "pharmacy"]
    assert shown_types(no_primary) == set(no_primary)


def test_stale_workers_are_flagged_in_the_summary(staffed_plan: Path, tmp_path: Path) -> None:
    from gridder.planfile import PlanFile

    pf = PlanFile.read(staffed_plan)
    pf.meta["workers_stale"] = True
    stale = pf.write(tmp_path / "stale.gpkg")
    page = write_maps(stale, out_dir=tmp_path / "m", tiles="none").read_text(encoding="utf-8")
    assert "请重新运行 gridder workers" in page
    fresh = write_maps(staffed_plan, out_dir=tmp_path / "f", tiles="none")
    assert "gridder workers" not in fresh.read_text(encoding="utf-8")
