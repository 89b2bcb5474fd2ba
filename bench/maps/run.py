"""Benchmark: gridder's offline maps vs folium's own output on a generated city.

City: 160 communities × 25 grids (4,000 grids) × 25 buildings (100,000 buildings),
made by tests/maps/conftest.py:make_city. Peer: what a planner gets from the
standard tools — ``GeoDataFrame.explore()`` for the grids plus
``folium.plugins.FastMarkerCluster`` for the buildings — saved with folium's
defaults (CDN links). Both pages are opened in headless Chromium with the network
cut: the peer as shipped (does it draw at all?) and with its Leaflet/MarkerCluster
CDN links rewritten to local copies (to time it fairly). Each browser run has
its own timeout.

    .venv/bin/python bench/maps/run.py [--runs 3] [--timeout 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "maps"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DONE = (
    "window.addEventListener('load', () => requestAnimationFrame(() => "
    "requestAnimationFrame(() => { window.__done = performance.now(); })));"
)


def make_city(out: Path) -> dict[str, Path]:
    spec = importlib.util.spec_from_file_location(
        "maps_conftest", ROOT / "tests" / "maps" / "conftest.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_city(out, nx=16, ny=10, k=5, per_grid=25, old=False)  # type: ignore


def peer_page(plan: Path, out: Path) -> tuple[Path, float]:
    import folium
    import pyogrio
    from folium.plugins import FastMarkerCluster

    t = time.perf_counter()
    grids = pyogrio.read_dataframe(plan, layer="grids")
    buildings = pyogrio.read_dataframe(plan, layer="assignments")
    fmap = grids.explore(
        column="households",
        tooltip=["grid_id", "households", "workload"],
        cmap="RdBu_r",
        tiles=None,
        legend=False,
    )  # its legend needs d3
    fmap.options["maxZoom"] = 19  # without tiles, MarkerCluster needs the map's maxZoom
    # its default callback needs Leaflet.awesome-markers (CDN only): use circle markers
    callback = (
        "function (row) { return L.circleMarker(new L.LatLng(row[0], row[1]), {radius: 4}); }"
    )
    FastMarkerCluster(
        list(zip(buildings.geometry.y, buildings.geometry.x, strict=True)),
        name="buildings",
        callback=callback,
    ).add_to(fmap)
    folium.LayerControl().add_to(fmap)
    path = out / "peer" / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    fmap.save(str(path))
    return path, time.perf_counter() - t


def localised(peer: Path, ours: Path) -> Path:
    """The peer page with its Leaflet and MarkerCluster CDN links pointed at local copies
    and every other CDN script/style removed (they cannot load offline)."""
    text = peer.read_text(encoding="utf-8")
    assets = ours.parent / "assets"
    swaps = {
        r"https://[^\"']*leaflet@[^\"']*/leaflet\.js": assets / "leaflet/leaflet.js",
        r"https://[^\"']*leaflet@[^\"']*/leaflet\.css": assets / "leaflet/leaflet.css",
        r"https://[^\"']*leaflet\.markercluster\.js": assets / "markercluster/markercluster.js",
        r"https://[^\"']*MarkerCluster\.css": assets / "markercluster/MarkerCluster.css",
        r"https://[^\"']*MarkerCluster\.Default\.css": assets
        / "markercluster/MarkerCluster.Default.css",
    }
    for pattern, local in swaps.items():
        text = re.sub(pattern, local.as_uri(), text)
    text = re.sub(r"<script src=\"https?://[^\"]+\"></script>", "", text)
    text = re.sub(r"<link rel=\"stylesheet\" href=\"https?://[^\"]+\"/>", "", text)
    path = peer.with_name("index-local.html")
    path.write_text(text, encoding="utf-8")
    return path


def open_times(url: str, runs: int, timeout_s: float, *, toggle: str | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {"load_ms": [], "errors": [], "drawn": None, "toggle_ms": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(offline=True, viewport={"width": 1280, "height": 860})
        context.add_init_script(DONE)
        for _ in range(runs):
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on(
                "console",
                lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None,
            )
            try:
                page.goto(url, timeout=timeout_s * 1000)
                page.wait_for_function("window.__done !== undefined", timeout=timeout_s * 1000)
                result["load_ms"].append(page.evaluate("window.__done"))
                result["drawn"] = page.evaluate(
                    "document.querySelectorAll('path.leaflet-interactive').length"
                )
                result["clusters"] = page.evaluate(
                    "document.querySelectorAll('.marker-cluster').length"
                )
                if toggle:
                    t = time.perf_counter()
                    page.locator(".leaflet-control-layers-overlays label", has_text=toggle).locator(
                        "input"
                    ).click()
                    page.wait_for_function(
                        "document.querySelectorAll('.marker-cluster').length > 0",
                        timeout=timeout_s * 1000,
                    )
                    result["toggle_ms"].append((time.perf_counter() - t) * 1000)
            except Exception as exc:  # a timeout is a result, not a crash
                result["errors"].append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            result["errors"] += errors[:3]
            page.close()
        browser.close()
    return result


def median(values: list[float]) -> str:
    return f"{statistics.median(values) / 1000:.2f} s" if values else "timeout/failed"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=200.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from gridder.maps import write_maps

    inputs = OUT / "city"
    t = time.perf_counter()
    files = (
        make_city(inputs)
        if not (inputs / "plan.gpkg").exists()
        else {k: inputs / f"{k}.gpkg" for k in ("plan", "coverage", "sites")}
    )
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    ours = write_maps(
        files["plan"],
        out_dir=OUT / "ours",
        coverage=files["coverage"],
        sites=files["sites"],
        tiles="none",
    )
    ours_write = time.perf_counter() - t
    peer, peer_write = peer_page(files["plan"], OUT)
    peer_local = localised(peer, ours)

    r_ours = open_times(ours.as_uri(), args.runs, args.timeout, toggle="楼栋")
    r_comm = open_times((ours.parent / "community-C080.html").as_uri(), args.runs, args.timeout)
    r_peer = open_times(peer.as_uri(), 1, args.timeout)
    r_peer_local = open_times(peer_local.as_uri(), args.runs, args.timeout)

    def size(p: Path) -> str:
        return f"{p.stat().st_size / 1e6:.1f} MB"

    ratio = (
        statistics.median(r_peer_local["load_ms"]) / statistics.median(r_ours["load_ms"])
        if r_ours["load_ms"] and r_peer_local["load_ms"]
        else float("nan")
    )
    chromium = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        f"## Run {dt.datetime.now().isoformat(timespec='seconds')}",
        "",
        f"- command: `.venv/bin/python bench/maps/run.py --runs {args.runs} "
        f"--timeout {args.timeout:g}`",
        f"- machine: {platform.machine()}, {platform.system()} {platform.release()}, "
        f"python {platform.python_version()}, {chromium}, headless, network cut",
        f"- city: 160 communities, 4,000 grids, 100,000 buildings, coverage and sites "
        f"(generated in {gen_s:.1f} s)",
        "",
        "| page | write | size | opens in (median) | drawn paths | errors |",
        "|---|---|---|---|---|---|",
        f"| gridder overview `index.html` (buildings layer off) | {ours_write:.1f} s (all "
        f"161 pages) | {size(ours)} | {median(r_ours['load_ms'])} | {r_ours['drawn']} | "
        f"{len(r_ours['errors'])} |",
        f"| gridder overview, switching buildings on (100,000, clustered) | | | "
        f"{median(r_ours['toggle_ms'])} more | | |",
        f"| gridder community page (25 grids, 625 buildings) | | "
        f"{size(ours.parent / 'community-C080.html')} | {median(r_comm['load_ms'])} | "
        f"{r_comm['drawn']} | {len(r_comm['errors'])} |",
        f"| peer as shipped: `explore()` + `FastMarkerCluster` (CDN links) | "
        f"{peer_write:.1f} s | {size(peer)} | {median(r_peer['load_ms'])} | "
        f"{r_peer['drawn']} | {len(r_peer['errors'])}: {'; '.join(r_peer['errors'][:2])[:160]} |",
        f"| peer with its CDN links made local | | {size(peer_local)} | "
        f"{median(r_peer_local['load_ms'])} | {r_peer_local['drawn']} | "
        f"{len(r_peer_local['errors'])}: {'; '.join(r_peer_local['errors'][:2])[:160]} |",
        "",
        f"Clusters on screen at load: gridder overview {r_ours.get('clusters')} (buildings "
        f"off), peer (local links) {r_peer_local.get('clusters')} (buildings always on).",
        "",
        f"Peer (local links) / gridder overview load time: {ratio:.1f}×. 'Opens in' = "
        "navigation start → two animation frames after the load event.",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    results = Path(__file__).with_name("RESULTS.md")
    head = "# Maps benchmark results\n\nAppended by `bench/maps/run.py`.\n\n"
    old = results.read_text(encoding="utf-8") if results.exists() else head
    results.write_text(old + report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
