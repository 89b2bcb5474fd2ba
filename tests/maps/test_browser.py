"""The maps in a real browser: Debian's headless Chromium with the network cut.

Each test opens a page, waits for ``window.gridderReady`` (set after the first
paint), and checks what Leaflet drew. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyogrio
import pytest

from gridder.maps import write_maps

pytestmark = pytest.mark.browser

TILE_HOSTS = ("tile.openstreetmap.org",)


def open_page(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("window.gridderReady !== undefined", timeout=30_000)


def errors(page: Any) -> list[tuple[str, str]]:
    return [(kind, text) for kind, text in page.gridder_console if kind in ("error", "pageerror")]


def count(page: Any, selector: str) -> int:
    return int(page.evaluate(f"document.querySelectorAll({selector!r}).length"))


def toggle(page: Any, label: str) -> None:
    page.locator(".leaflet-control-layers-overlays label", has_text=label).locator("input").click()


@pytest.fixture(scope="module")
def maps(city: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser_maps")
    write_maps(
        city["plan"],
        out_dir=out,
        coverage=city["coverage"],
        sites=city["sites"],
        compare=city["old_plan"],
        tiles="none",
    )
    return out


def test_overview_from_file_draws_every_grid_and_toggles(
    page: Any, maps: Path, city: dict[str, Path], artifacts: Path
) -> None:
    n_grids = len(pyogrio.read_dataframe(city["plan"], layer="grids"))
    open_page(page, (maps / "index.html").as_uri())
    assert errors(page) == []
    assert count(page, "path.gr-grid") == n_grids
    assert count(page, "path.gr-community") == 2
    assert count(page, "path.gr-compare") == 8
    assert count(page, ".gr-facility") == 3
    assert count(page, ".gr-site") >= 1
    assert count(page, "path.gr-iso") == 0  # walking areas start hidden
    assert count(page, "path.gr-gap") == 0  # and so do the gaps: the page opens on the grids
    toggle(page, "覆盖缺口 · 5分钟")
    assert count(page, "path.gr-gap") > 0
    toggle(page, "覆盖缺口 · 5分钟")
    assert count(page, "path.gr-gap") == 0

    toggle(page, "网格（按偏差着色）")
    assert count(page, "path.gr-grid") == 0
    toggle(page, "网格（按偏差着色）")
    assert count(page, "path.gr-grid") == n_grids
    toggle(page, "15分钟生活圈")
    assert count(page, "path.gr-iso") == 3  # one dissolved area per facility type

    assert count(page, ".gr-building, .marker-cluster") == 0
    toggle(page, "楼栋")
    page.wait_for_function("document.querySelectorAll('.gr-building, .marker-cluster').length > 0")
    n_buildings = page.evaluate(
        "(() => { let n = 0; gridderMap.eachLayer(l => { if (l.addLayers) "
        "n += l.getLayers().length; }); return n; })()"
    )
    assert n_buildings == len(pyogrio.read_dataframe(city["plan"], layer="assignments"))

    legend = page.inner_text(".gr-legend")
    assert "图例" in legend and "目标 250" in legend and "区间 200–300" in legend
    assert "测试社区1" in page.inner_text(".gr-summary")
    assert page.evaluate("document.fonts.check('900 12px \"Font Awesome 6 Free\"')")
    assert errors(page) == []
    page.screenshot(path=str(artifacts / "maps-overview.png"))


def test_grid_tooltip_and_popup_show_numbers_and_workers(
    page: Any, city: dict[str, Path], staffed_plan: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m"
    write_maps(staffed_plan, out_dir=out, coverage=city["coverage"], tiles="none")
    open_page(page, (out / "index.html").as_uri())
    first = page.locator("path.gr-grid").first  # grid C001-001: W001 and specialist S01
    first.hover(force=True)
    tip = page.locator(".gr-tooltip").first
    tip.wait_for()
    text = tip.inner_text()
    for word in ("网格", "户数", "工作量", "偏差", "楼栋数", "分钟", "网格员"):
        assert word in text, text
    first.click(force=True)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert "C001-001" in text and "W001 网格员, S01 专职网格员" in text, text
    assert popup.locator("a.gr-link").get_attribute("href").startswith("community-")
    summary = page.inner_text(".gr-summary")
    assert "网格员" in summary and "专职网格员" in summary
    assert errors(page) == []


def test_community_page_draws_its_buildings(
    page: Any, maps: Path, city: dict[str, Path], artifacts: Path
) -> None:
    assignments = pyogrio.read_dataframe(city["plan"], layer="assignments")
    open_page(page, (maps / "community-C001.html").as_uri())
    page.wait_for_function("document.querySelectorAll('.gr-building, .marker-cluster').length > 0")
    assert errors(page) == []
    assert count(page, "path.gr-grid") == 9
    n_buildings = page.evaluate(
        "(() => { let n = 0; gridderMap.eachLayer(l => { if (l.addLayers) "
        "n += l.getLayers().length; }); return n; })()"
    )
    assert n_buildings == int((assignments["community_id"] == "C001").sum())
    page.evaluate("gridderMap.setZoom(14, {animate: false})")
    assert count(page, ".gr-label") == 0  # grid codes only from zoom 15 on
    page.evaluate("gridderMap.setZoom(18, {animate: false})")
    page.wait_for_function("document.querySelectorAll('path.gr-building').length > 0")
    # no clustering when zoomed in (MarkerCluster removes its clusters asynchronously)
    page.wait_for_function("document.querySelectorAll('.marker-cluster').length === 0")
    assert count(page, ".marker-cluster") == 0
    labels = page.evaluate(
        "Array.from(document.querySelectorAll('.gr-label')).map(e => e.textContent)"
    )
    assert labels and set(labels) <= {f"{n:03d}" for n in range(1, 10)}
    page.evaluate("gridderMap.setZoom(16, {animate: false})")
    assert sorted(
        page.evaluate("Array.from(document.querySelectorAll('.gr-label')).map(e => e.textContent)")
    ) == [f"{n:03d}" for n in range(1, 10)]
    toggle(page, "网格（按偏差着色）")
    assert count(page, ".gr-label") == 0  # labels go with their layer
    toggle(page, "网格（按偏差着色）")
    page.evaluate("gridderMap.setZoom(18, {animate: false})")
    page.evaluate("gridderMap.fitBounds(gridderMap.getBounds().pad(-0.2), {animate: false})")
    page.screenshot(path=str(artifacts / "maps-community.png"))
    assert page.locator("a", has_text="返回总览").get_attribute("href") == "index.html"


def test_served_over_http_like_the_api(page: Any, maps: Path, http_root: Any) -> None:
    base = http_root(maps)
    open_page(page, base)
    assert errors(page) == []
    assert count(page, "path.gr-grid") == 18
    open_page(page, base + "community-C002.html")
    assert errors(page) == []
    assert count(page, "path.gr-grid") == 9
    outside = [u for u in page.gridder_requests if not u.startswith(base)]
    assert outside == []


def test_osm_tiles_offline_still_draws_the_map(
    page: Any, city: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "osm"
    write_maps(city["plan"], out_dir=out, coverage=city["coverage"], tiles="osm", lang="en")
    open_page(page, (out / "index.html").as_uri())
    assert count(page, "path.gr-grid") == 18
    remote = [u for u in page.gridder_requests if not u.startswith("file://")]
    assert remote and all(any(h in u for h in TILE_HOSTS) for u in remote)
    unexpected = [
        e for e in errors(page) if not (e[0] == "error" and "Failed to load resource" in e[1])
    ]
    assert unexpected == []
    assert "Legend" in page.inner_text(".gr-legend")
    assert "OpenStreetMap contributors, ODbL" in page.inner_text(".leaflet-control-attribution")


def test_hostile_names_render_as_text(page: Any, city: dict[str, Path], tmp_path: Path) -> None:
    from gridder.io.write import write_plan
    from gridder.mapdata import load_plan

    plan = load_plan(city["plan"])
    nasty = "社区</script><img src=x onerror=alert(1)>{{ x }}"
    path = write_plan(
        tmp_path / "nasty.gpkg",
        grids=plan.grids,
        assignments=plan.assignments,
        communities=plan.communities.assign(name=[nasty, "普通"]),
        meta=plan.meta,
    )
    out = tmp_path / "m"
    write_maps(path, out_dir=out, tiles="none")
    open_page(page, (out / "index.html").as_uri())
    assert errors(page) == []
    assert nasty in page.inner_text(".gr-summary")
    assert count(page, "img[src=x]") == 0
    assert count(page, "path.gr-grid") == 18


def test_the_api_docs_render_with_the_network_cut(page: Any, tmp_path: Path) -> None:
    """``gridder serve``'s ``/docs``: Swagger UI from the server itself, not a CDN."""
    from tests.test_serve import serving

    (tmp_path / "check.json").write_text('{"buildings": 3}', encoding="utf-8")
    with serving("--demo", str(tmp_path)) as url:
        page.goto(f"{url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "gridder grid service" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock", timeout=30_000)
        assert count(page, ".opblock") > 5
        assert errors(page) == []
        assert all(u.startswith(url) for u in page.gridder_requests)
